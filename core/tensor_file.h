/* tensor_file.h — what the weight-file readers (safetensors, PyTorch .pth)
 * share: the element types a file may hold, the description of one stored
 * tensor, conversion of stored elements to f32 / i64 on the host, a name
 * index, and read-only file mapping.
 *
 * Stored data is little-endian (both formats are, on every platform we
 * build for) and may be unaligned inside a file, so conversions read through
 * memcpy, never through a cast pointer. */
#ifndef RFDETR_TENSOR_FILE_H
#define RFDETR_TENSOR_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rfdetr.h"

/* Element types of stored tensors. The numbering is internal (files carry
 * names, never these numbers). */
typedef enum rf_file_dtype {
    RF_FILE_F32 = 0,
    RF_FILE_F16,
    RF_FILE_BF16,
    RF_FILE_F64,
    RF_FILE_I64,
    RF_FILE_I32,
    RF_FILE_I16,
    RF_FILE_I8,
    RF_FILE_U8,
    RF_FILE_U16,
    RF_FILE_U32,
    RF_FILE_U64,
    RF_FILE_BOOL,
    RF_FILE_F8_E4M3, /* sizes known so files validate; no conversion */
    RF_FILE_F8_E5M2,
    RF_FILE_COUNT
} rf_file_dtype;

/* Bytes per element. */
size_t rf_file_dtype_size(rf_file_dtype dtype);
/* The safetensors spelling: "F32", "BF16", "BOOL", ... */
const char *rf_file_dtype_name(rf_file_dtype dtype);
/* Parses a safetensors dtype name (exact, case-sensitive). */
bool rf_file_dtype_from_name(const char *name, size_t length, rf_file_dtype *out);
bool rf_file_dtype_is_float(rf_file_dtype dtype);

float rf_f16_to_f32(uint16_t bits);
float rf_bf16_to_f32(uint16_t bits);

#define RF_TENSOR_MAX_DIMS 8

/* One stored tensor. `name` belongs to the open file and lives until the
 * file is closed. */
typedef struct rf_tensor_info {
    const char *name;
    rf_file_dtype dtype;
    int ndim;                           /* 0 for a scalar */
    int64_t shape[RF_TENSOR_MAX_DIMS];
    int64_t numel;                      /* product of shape; 1 for a scalar */
} rf_tensor_info;

/* Fills *info (numel computed from the shape). */
void rf_tensor_info_set(rf_tensor_info *info, const char *name, rf_file_dtype dtype, int ndim, const int64_t *shape);

/* numel of a shape, or -1 when a dimension is negative or the product
 * overflows int64 (a malformed file). */
int64_t rf_shape_numel(int ndim, const int64_t *shape);

/* Converts `count` contiguous little-endian elements of `dtype` at `src`
 * (possibly unaligned) to f32 / i64. Integers convert to f32 exactly where
 * f32 can hold them; floats to i64 are refused (RF_ERR_UNSUPPORTED), as are
 * the fp8 types. `what` names the tensor in messages. */
rf_status rf_convert_to_f32(rf_file_dtype dtype, const void *src, size_t count, float *dst, const char *what);
rf_status rf_convert_to_i64(rf_file_dtype dtype, const void *src, size_t count, int64_t *dst, const char *what);

/* Checks that a caller's buffer of `count` elements matches the tensor:
 * RF_ERR_INVALID_ARGUMENT naming the file, tensor and both sizes if not. */
rf_status rf_tensor_check_count(const char *file, const rf_tensor_info *info, size_t count);

/* Formats a shape as "[3, 4]" into buf (always NUL-terminated). */
const char *rf_shape_string(int ndim, const int64_t *shape, char *buf, size_t size);

/* ---- name index: sorted positions for binary search ---------------------- */
typedef struct rf_name_entry {
    const char *name;       /* borrowed */
    int position;
} rf_name_entry;

typedef struct rf_name_index {
    int count;
    rf_name_entry *sorted;  /* by name */
} rf_name_index;

/* Builds the index over names[0..count) (borrowed, must outlive the index).
 * Two equal names are RF_ERR_FORMAT 'duplicate tensor name "x"'; callers
 * prefix the file name. */
rf_status rf_name_index_build(rf_name_index *index, const char *const *names, int count);
/* Position of `name`, or -1. */
int rf_name_index_find(const rf_name_index *index, const char *name);
void rf_name_index_free(rf_name_index *index);

/* ---- read-only whole-file mapping ----------------------------------------- */
typedef struct rf_mapped_file {
    const uint8_t *data;
    size_t size;
    void *mapping;          /* what munmap needs; NULL for an empty file */
} rf_mapped_file;

/* Maps a regular file read-only. RF_ERR_IO naming the path on failure. */
rf_status rf_map_file(const char *path, rf_mapped_file *out);
void rf_unmap_file(rf_mapped_file *mapped);

#endif /* RFDETR_TENSOR_FILE_H */
