#include "core/tensor_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/status.h"

static const struct {
    const char *name;
    size_t size;
} dtype_table[RF_FILE_COUNT] = {
    [RF_FILE_F32] = {"F32", 4},     [RF_FILE_F16] = {"F16", 2},   [RF_FILE_BF16] = {"BF16", 2},
    [RF_FILE_F64] = {"F64", 8},     [RF_FILE_I64] = {"I64", 8},   [RF_FILE_I32] = {"I32", 4},
    [RF_FILE_I16] = {"I16", 2},     [RF_FILE_I8] = {"I8", 1},     [RF_FILE_U8] = {"U8", 1},
    [RF_FILE_U16] = {"U16", 2},     [RF_FILE_U32] = {"U32", 4},   [RF_FILE_U64] = {"U64", 8},
    [RF_FILE_BOOL] = {"BOOL", 1},   [RF_FILE_F8_E4M3] = {"F8_E4M3", 1},
    [RF_FILE_F8_E5M2] = {"F8_E5M2", 1},
};

size_t rf_file_dtype_size(rf_file_dtype dtype) {
    return (unsigned)dtype < RF_FILE_COUNT ? dtype_table[dtype].size : 0;
}

const char *rf_file_dtype_name(rf_file_dtype dtype) {
    return (unsigned)dtype < RF_FILE_COUNT ? dtype_table[dtype].name : "?";
}

bool rf_file_dtype_from_name(const char *name, size_t length, rf_file_dtype *out) {
    for (int d = 0; d < RF_FILE_COUNT; d++) {
        if (strlen(dtype_table[d].name) == length && memcmp(dtype_table[d].name, name, length) == 0) {
            *out = (rf_file_dtype)d;
            return true;
        }
    }
    return false;
}

bool rf_file_dtype_is_float(rf_file_dtype dtype) {
    return dtype == RF_FILE_F32 || dtype == RF_FILE_F16 || dtype == RF_FILE_BF16 || dtype == RF_FILE_F64 ||
           dtype == RF_FILE_F8_E4M3 || dtype == RF_FILE_F8_E5M2;
}

static float f32_from_bits(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float rf_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mantissa << 13)); /* Inf, NaN */
    if (exponent != 0) return f32_from_bits(sign | ((exponent + 112) << 23) | (mantissa << 13));
    /* Zero or subnormal: value = mantissa * 2^-24, exact in f32. */
    float magnitude = (float)mantissa * (1.0f / 16777216.0f);
    return sign ? -magnitude : magnitude;
}

float rf_bf16_to_f32(uint16_t bits) { return f32_from_bits((uint32_t)bits << 16); }

int64_t rf_shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return -1;
        if (shape[d] != 0 && n > INT64_MAX / shape[d]) return -1;
        n *= shape[d];
    }
    return n;
}

void rf_tensor_info_set(rf_tensor_info *info, const char *name, rf_file_dtype dtype, int ndim, const int64_t *shape) {
    memset(info, 0, sizeof *info);
    info->name = name;
    info->dtype = dtype;
    info->ndim = ndim;
    if (ndim > 0) memcpy(info->shape, shape, (size_t)ndim * sizeof *shape);
    info->numel = rf_shape_numel(ndim, shape);
}

const char *rf_shape_string(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t used = 0;
    if (size == 0) return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

rf_status rf_tensor_check_count(const char *file, const rf_tensor_info *info, size_t count) {
    if ((uint64_t)info->numel == (uint64_t)count) return RF_OK;
    char shape[160];
    return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: tensor \"%s\" has %lld elements (shape %s), the caller expects %zu", file,
                    info->name, (long long)info->numel, rf_shape_string(info->ndim, info->shape, shape, sizeof shape),
                    count);
}

/* Little-endian loads from possibly unaligned memory: load_T(p, i) reads
 * element i of an array of T starting at p. */
#define DEFINE_LOAD(type)                                                        \
    static inline type load_##type(const void *p, size_t i) {                    \
        type v;                                                                  \
        memcpy(&v, (const uint8_t *)p + i * sizeof(type), sizeof(type));        \
        return v;                                                                \
    }
DEFINE_LOAD(uint8_t)
DEFINE_LOAD(int8_t)
DEFINE_LOAD(uint16_t)
DEFINE_LOAD(int16_t)
DEFINE_LOAD(uint32_t)
DEFINE_LOAD(int32_t)
DEFINE_LOAD(uint64_t)
DEFINE_LOAD(int64_t)
DEFINE_LOAD(double)
/* The loop of one conversion case: element i of `src` as `type`, bound to
 * v, becomes dst[i] = expr. */
#define CONVERT_EACH(type, expr)                              \
    for (size_t i = 0; i < count; i++) {                      \
        type v = load_##type(src, i);                         \
        dst[i] = (expr);                                      \
    }                                                         \
    break

rf_status rf_convert_to_f32(rf_file_dtype dtype, const void *src, size_t count, float *dst, const char *what) {
    switch (dtype) {
    case RF_FILE_F32: if (count) memcpy(dst, src, count * sizeof(float)); break;
    case RF_FILE_F16: CONVERT_EACH(uint16_t, rf_f16_to_f32(v));
    case RF_FILE_BF16: CONVERT_EACH(uint16_t, rf_bf16_to_f32(v));
    case RF_FILE_F64: CONVERT_EACH(double, (float)v);
    case RF_FILE_I64: CONVERT_EACH(int64_t, (float)v);
    case RF_FILE_I32: CONVERT_EACH(int32_t, (float)v);
    case RF_FILE_I16: CONVERT_EACH(int16_t, (float)v);
    case RF_FILE_I8: CONVERT_EACH(int8_t, (float)v);
    case RF_FILE_U8: CONVERT_EACH(uint8_t, (float)v);
    case RF_FILE_U16: CONVERT_EACH(uint16_t, (float)v);
    case RF_FILE_U32: CONVERT_EACH(uint32_t, (float)v);
    case RF_FILE_U64: CONVERT_EACH(uint64_t, (float)v);
    case RF_FILE_BOOL: CONVERT_EACH(uint8_t, v ? 1.0f : 0.0f);
    default:
        return RF_ERROR(RF_ERR_UNSUPPORTED, "%s: conversion of %s to F32 is not supported", what, rf_file_dtype_name(dtype));
    }
    return RF_OK;
}

rf_status rf_convert_to_i64(rf_file_dtype dtype, const void *src, size_t count, int64_t *dst, const char *what) {
    switch (dtype) {
    case RF_FILE_I64: if (count) memcpy(dst, src, count * sizeof(int64_t)); break;
    case RF_FILE_I32: CONVERT_EACH(int32_t, v);
    case RF_FILE_I16: CONVERT_EACH(int16_t, v);
    case RF_FILE_I8: CONVERT_EACH(int8_t, v);
    case RF_FILE_U8: CONVERT_EACH(uint8_t, v);
    case RF_FILE_U16: CONVERT_EACH(uint16_t, v);
    case RF_FILE_U32: CONVERT_EACH(uint32_t, v);
    case RF_FILE_BOOL: CONVERT_EACH(uint8_t, v ? 1 : 0);
    case RF_FILE_U64:
        for (size_t i = 0; i < count; i++) {
            uint64_t v = load_uint64_t(src, i);
            if (v > (uint64_t)INT64_MAX)
                return RF_ERROR(RF_ERR_NUMERIC, "%s: U64 element %zu (%llu) does not fit I64", what, i,
                                (unsigned long long)v);
            dst[i] = (int64_t)v;
        }
        break;
    default:
        return RF_ERROR(RF_ERR_UNSUPPORTED, "%s: conversion of %s to I64 is not supported (not an integer type)", what,
                        rf_file_dtype_name(dtype));
    }
    return RF_OK;
}

/* ---- name index ------------------------------------------------------------ */

static int compare_name_entries(const void *a, const void *b) {
    const rf_name_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return (x->position > y->position) - (x->position < y->position);
}

rf_status rf_name_index_build(rf_name_index *index, const char *const *names, int count) {
    memset(index, 0, sizeof *index);
    if (count <= 0) return RF_OK;
    index->sorted = malloc((size_t)count * sizeof *index->sorted);
    if (!index->sorted) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory indexing %d names", count);
    for (int i = 0; i < count; i++) index->sorted[i] = (rf_name_entry){names[i], i};
    qsort(index->sorted, (size_t)count, sizeof *index->sorted, compare_name_entries);
    index->count = count;
    for (int i = 1; i < count; i++) {
        if (strcmp(index->sorted[i - 1].name, index->sorted[i].name) == 0) {
            rf_status s = RF_ERROR(RF_ERR_FORMAT, "duplicate tensor name \"%s\"", index->sorted[i].name);
            rf_name_index_free(index);
            return s;
        }
    }
    return RF_OK;
}

int rf_name_index_find(const rf_name_index *index, const char *name) {
    int lo = 0, hi = index->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(index->sorted[mid].name, name);
        if (c == 0) return index->sorted[mid].position;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

void rf_name_index_free(rf_name_index *index) {
    free(index->sorted);
    memset(index, 0, sizeof *index);
}

/* ---- mapping ---------------------------------------------------------------- */

rf_status rf_map_file(const char *path, rf_mapped_file *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return RF_ERROR(RF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return RF_ERROR(RF_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        static const uint8_t empty[1];
        out->data = empty;
        return RF_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd); /* the mapping keeps the file alive */
    if (p == MAP_FAILED) return RF_ERROR(RF_ERR_IO, "%s: cannot map %lld bytes: %s", path, (long long)st.st_size, strerror(map_errno));
    out->mapping = p;
    out->data = p;
    out->size = (size_t)st.st_size;
    return RF_OK;
}

void rf_unmap_file(rf_mapped_file *mapped) {
    if (mapped->mapping) munmap(mapped->mapping, mapped->size);
    memset(mapped, 0, sizeof *mapped);
}
