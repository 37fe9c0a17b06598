#include "core/pth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "core/pickle.h"
#include "core/zip.h"

typedef struct pth_tensor {
    char *name;
    rf_file_dtype dtype;
    int ndim;
    int64_t shape[RF_TENSOR_MAX_DIMS];
    int64_t stride[RF_TENSOR_MAX_DIMS]; /* in elements */
    int64_t offset;                     /* in elements */
    int64_t numel;
    int entry;                          /* the storage's zip entry */
} pth_tensor;

struct rf_pth {
    char *label;
    rf_mapped_file map;
    rf_zip zip;
    char *state_key;
    int count;
    pth_tensor *tensors;
    rf_name_index index;
    int skipped;
    const uint8_t **entry_data; /* per zip entry, once read */
    uint8_t **entry_owned;      /* inflated copies to free */
    uint64_t *entry_need;       /* per zip entry: bytes of the storages the pickle puts there */
};

/* The archive's folder: torch names every entry "<name>/...", and
 * "<name>/data.pkl" holds the pickle. */
static rf_status find_prefix(const rf_pth *pth, char **prefix) {
    for (int k = 0; k < pth->zip.count; k++) {
        const char *name = pth->zip.entries[k].name;
        const char *slash = strchr(name, '/');
        if (slash && slash != name && strcmp(slash, "/data.pkl") == 0) {
            *prefix = strndup(name, (size_t)(slash - name));
            return *prefix ? RF_OK : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        }
    }
    return RF_ERROR(RF_ERR_FORMAT, "%s: no \"<name>/data.pkl\" entry: a ZIP file, but not a PyTorch checkpoint", pth->label);
}

/* The entry "<prefix>/<folder><file>", or -1. */
static int find_entry(const rf_pth *pth, const char *prefix, const char *folder, const char *file) {
    size_t n = strlen(prefix) + strlen(folder) + strlen(file) + 2;
    char *name = malloc(n);
    if (!name) return -1;
    snprintf(name, n, "%s/%s%s", prefix, folder, file);
    int k = rf_zip_find(&pth->zip, name);
    free(name);
    return k;
}

/* Entry k's bytes; a deflated entry is inflated only when it is no larger
 * than `need`, what its readers use of it. */
static rf_status entry_bytes(rf_pth *pth, int k, uint64_t need, const uint8_t **data) {
    if (!pth->entry_data[k]) RF_TRY(rf_zip_read(&pth->zip, k, need, &pth->entry_data[k], &pth->entry_owned[k]));
    *data = pth->entry_data[k];
    return RF_OK;
}

static rf_status check_byte_order(rf_pth *pth, const char *prefix) {
    int k = find_entry(pth, prefix, "", "byteorder");
    if (k < 0) return RF_OK; /* written before torch recorded it: little-endian */
    const uint8_t *bytes = NULL;
    RF_TRY(entry_bytes(pth, k, 16, &bytes));
    uint64_t n = pth->zip.entries[k].size;
    if (n == 6 && memcmp(bytes, "little", 6) == 0) return RF_OK;
    if (n == 3 && memcmp(bytes, "big", 3) == 0)
        return RF_ERROR(RF_ERR_UNSUPPORTED, "%s: a big-endian checkpoint; re-save it on a little-endian machine", pth->label);
    return RF_ERROR(RF_ERR_FORMAT, "%s: unknown byteorder entry", pth->label);
}

/* Checks a tensor's view against its storage entry and records it. */
static rf_status add_tensor(rf_pth *pth, const char *prefix, const char *name, const rf_pickle_object *t) {
    const rf_pickle_object *storage = t->as.tensor.storage;
    pth_tensor *out = &pth->tensors[pth->count];
    memset(out, 0, sizeof *out);
    out->dtype = storage->as.storage.dtype;
    out->ndim = t->as.tensor.ndim;
    out->offset = t->as.tensor.offset;
    memcpy(out->shape, t->as.tensor.shape, sizeof out->shape);
    memcpy(out->stride, t->as.tensor.stride, sizeof out->stride);
    out->numel = rf_shape_numel(out->ndim, out->shape);
    if (out->numel < 0) return RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": invalid shape", pth->label, name);
    out->entry = find_entry(pth, prefix, "data/", storage->as.storage.key);
    if (out->entry < 0)
        return RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": its storage \"%s/data/%s\" is missing from the archive (truncated?)",
                        pth->label, name, prefix, storage->as.storage.key);
    uint64_t element = rf_file_dtype_size(out->dtype);
    uint64_t available = pth->zip.entries[out->entry].size / element;
    if ((uint64_t)storage->as.storage.numel > available)
        return RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": storage declares %lld elements but its entry holds %llu", pth->label,
                        name, (long long)storage->as.storage.numel, (unsigned long long)available);
    /* The highest element the view touches must lie inside the storage. */
    if (out->offset < 0) return RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": negative storage offset", pth->label, name);
    if (out->numel > 0) {
        uint64_t last = (uint64_t)out->offset;
        for (int d = 0; d < out->ndim; d++) {
            if (out->stride[d] < 0) return RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": negative stride", pth->label, name);
            uint64_t step = (uint64_t)(out->shape[d] - 1);
            if (step && (uint64_t)out->stride[d] > (UINT64_MAX - last) / step)
                return RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": view overflows", pth->label, name);
            last += step * (uint64_t)out->stride[d];
        }
        if (last >= available) {
            char shape[160];
            return RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": view %s at offset %lld reaches element %llu of a %llu-element storage",
                            pth->label, name, rf_shape_string(out->ndim, out->shape, shape, sizeof shape),
                            (long long)out->offset, (unsigned long long)last, (unsigned long long)available);
        }
    }
    uint64_t need = (uint64_t)storage->as.storage.numel * element; /* <= the entry's size, checked above */
    if (need > pth->entry_need[out->entry]) pth->entry_need[out->entry] = need;
    if (!(out->name = strdup(name))) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    pth->count++;
    return RF_OK;
}

static rf_status choose_state_dict(rf_pth *pth, const rf_pickle_object *root, const char *key, const rf_pickle_object **dict) {
    const char *chosen = key;
    const rf_pickle_object *d = NULL;
    if (key && *key) {
        d = rf_pickle_dict_get(root, key);
        if (!d || d->kind != RF_PICKLE_DICT)
            return RF_ERROR(RF_ERR_FORMAT, "%s: the checkpoint has no dict under \"%s\"", pth->label, key);
    } else if (key) {
        d = root;
    } else {
        static const char *const defaults[] = {"model", "state_dict"};
        for (int k = 0; k < 2 && !d; k++) {
            const rf_pickle_object *candidate = rf_pickle_dict_get(root, defaults[k]);
            if (candidate && candidate->kind == RF_PICKLE_DICT) {
                d = candidate;
                chosen = defaults[k];
            }
        }
        if (!d) {
            d = root;
            chosen = "";
        }
    }
    if (d->kind != RF_PICKLE_DICT) return RF_ERROR(RF_ERR_FORMAT, "%s: the checkpoint holds no dict of tensors", pth->label);
    if (!(pth->state_key = strdup(chosen))) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    *dict = d;
    return RF_OK;
}

static rf_status load(rf_pth *pth, const uint8_t *data, size_t size, const char *key) {
    if (size >= 2 && data[0] == 0x80 && data[1] <= 5)
        return RF_ERROR(RF_ERR_UNSUPPORTED, "%s: the legacy (non-zip) torch.save format is not supported; re-save it with "
                                            "torch >= 1.6 defaults", pth->label);
    RF_TRY(rf_zip_open(&pth->zip, data, size, pth->label));
    pth->entry_data = calloc((size_t)pth->zip.count + 1, sizeof *pth->entry_data);
    pth->entry_owned = calloc((size_t)pth->zip.count + 1, sizeof *pth->entry_owned);
    pth->entry_need = calloc((size_t)pth->zip.count + 1, sizeof *pth->entry_need);
    if (!pth->entry_data || !pth->entry_owned || !pth->entry_need) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");

    char *prefix = NULL;
    RF_TRY(find_prefix(pth, &prefix));
    rf_status s = check_byte_order(pth, prefix);
    const uint8_t *pickle_bytes = NULL;
    int pickle_entry = find_entry(pth, prefix, "", "data.pkl");
    if (s == RF_OK) s = entry_bytes(pth, pickle_entry, RF_PTH_PICKLE_MAX_BYTES, &pickle_bytes);
    rf_pickle *pickle = NULL;
    rf_pickle_object *root = NULL;
    if (s == RF_OK) s = rf_pickle_load(pickle_bytes, (size_t)pth->zip.entries[pickle_entry].size, pth->label, &pickle, &root);
    const rf_pickle_object *dict = NULL;
    if (s == RF_OK) s = choose_state_dict(pth, root, key, &dict);
    if (s == RF_OK && dict->as.dict.count > 0) {
        pth->tensors = calloc((size_t)dict->as.dict.count, sizeof *pth->tensors);
        if (!pth->tensors) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    for (int k = 0; s == RF_OK && k < dict->as.dict.count; k++) {
        const rf_pickle_object *name = dict->as.dict.keys[k], *value = dict->as.dict.values[k];
        bool readable = name->kind == RF_PICKLE_STR && strlen(name->as.str.bytes) == name->as.str.length &&
                        value->kind == RF_PICKLE_TENSOR && value->as.tensor.storage->as.storage.dtype_known;
        if (readable)
            s = add_tensor(pth, prefix, name->as.str.bytes, value);
        else
            pth->skipped++;
    }
    if (s == RF_OK) {
        const char **names = malloc((size_t)(pth->count ? pth->count : 1) * sizeof *names);
        if (!names) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        for (int k = 0; s == RF_OK && k < pth->count; k++) names[k] = pth->tensors[k].name;
        if (s == RF_OK) {
            s = rf_name_index_build(&pth->index, names, pth->count);
            if (s != RF_OK) s = rf_error_prefix(s, "%s: state dict: ", pth->label);
        }
        free(names);
    }
    rf_pickle_free(pickle);
    free(prefix);
    return s;
}

rf_status rf_pth_open_memory(const void *data, size_t size, const char *label, const char *key, rf_pth **out) {
    *out = NULL;
    rf_pth *pth = calloc(1, sizeof *pth);
    if (!pth || !(pth->label = strdup(label ? label : "<memory>"))) {
        free(pth);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    rf_status s = load(pth, data, size, key);
    if (s != RF_OK) {
        rf_pth_close(pth);
        return s;
    }
    *out = pth;
    return RF_OK;
}

rf_status rf_pth_open_key(const char *path, const char *key, rf_pth **out) {
    *out = NULL;
    rf_mapped_file map;
    RF_TRY(rf_map_file(path, &map));
    rf_status s = rf_pth_open_memory(map.data, map.size, path, key, out);
    if (s != RF_OK) {
        rf_unmap_file(&map);
        return s;
    }
    (*out)->map = map; /* the reader owns the mapping from here on */
    return RF_OK;
}

rf_status rf_pth_open(const char *path, rf_pth **out) { return rf_pth_open_key(path, NULL, out); }

void rf_pth_close(rf_pth *pth) {
    if (!pth) return;
    for (int k = 0; k < pth->count; k++) free(pth->tensors[k].name);
    free(pth->tensors);
    if (pth->entry_owned)
        for (int k = 0; k < pth->zip.count; k++) free(pth->entry_owned[k]);
    free(pth->entry_owned);
    free(pth->entry_data);
    free(pth->entry_need);
    rf_name_index_free(&pth->index);
    rf_zip_close(&pth->zip);
    rf_unmap_file(&pth->map);
    free(pth->state_key);
    free(pth->label);
    free(pth);
}

int rf_pth_count(const rf_pth *pth) { return pth->count; }
int rf_pth_skipped_count(const rf_pth *pth) { return pth->skipped; }
const char *rf_pth_state_dict_key(const rf_pth *pth) { return pth->state_key; }
int rf_pth_find(const rf_pth *pth, const char *name) { return rf_name_index_find(&pth->index, name); }

rf_status rf_pth_info_at(const rf_pth *pth, int i, rf_tensor_info *info) {
    if (i < 0 || i >= pth->count)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: tensor index %d out of range [0, %d)", pth->label, i, pth->count);
    const pth_tensor *t = &pth->tensors[i];
    rf_tensor_info_set(info, t->name, t->dtype, t->ndim, t->shape);
    return RF_OK;
}

static bool is_contiguous(const pth_tensor *t) {
    int64_t expected = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expected) return false;
        expected *= t->shape[d];
    }
    return true;
}

/* The tensor's elements, row-major and contiguous: in place when the view
 * is contiguous, else gathered into *gathered (free it). */
static rf_status contiguous_bytes(rf_pth *pth, const pth_tensor *t, const uint8_t **bytes, uint8_t **gathered) {
    *gathered = NULL;
    if (t->numel == 0) { /* nothing to read: the storage need not be inflated */
        *bytes = (const uint8_t *)"";
        return RF_OK;
    }
    const uint8_t *storage = NULL;
    RF_TRY(entry_bytes(pth, t->entry, pth->entry_need[t->entry], &storage));
    size_t element = rf_file_dtype_size(t->dtype);
    if (is_contiguous(t)) {
        *bytes = storage + (size_t)t->offset * element;
        return RF_OK;
    }
    uint8_t *out = malloc((size_t)t->numel * element);
    if (!out) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory copying \"%s\"", pth->label, t->name);
    int64_t index[RF_TENSOR_MAX_DIMS] = {0};
    int64_t position = t->offset; /* storage element of index */
    for (int64_t k = 0; k < t->numel; k++) {
        memcpy(out + (size_t)k * element, storage + (size_t)position * element, element);
        for (int d = t->ndim - 1; d >= 0; d--) { /* odometer step */
            if (++index[d] < t->shape[d]) {
                position += t->stride[d];
                break;
            }
            position -= (t->shape[d] - 1) * t->stride[d];
            index[d] = 0;
        }
    }
    *bytes = out;
    *gathered = out;
    return RF_OK;
}

static rf_status read_converted(rf_pth *pth, const char *name, size_t count, void *out, bool to_f32) {
    int i = rf_pth_find(pth, name);
    if (i < 0) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: no tensor named \"%s\" in the state dict", pth->label, name);
    rf_tensor_info info;
    RF_TRY(rf_pth_info_at(pth, i, &info));
    RF_TRY(rf_tensor_check_count(pth->label, &info, count));
    const uint8_t *bytes = NULL;
    uint8_t *gathered = NULL;
    RF_TRY(contiguous_bytes(pth, &pth->tensors[i], &bytes, &gathered));
    rf_status s = to_f32 ? rf_convert_to_f32(info.dtype, bytes, count, out, name)
                         : rf_convert_to_i64(info.dtype, bytes, count, out, name);
    free(gathered);
    return s == RF_OK ? s : rf_error_prefix(s, "%s: ", pth->label);
}

rf_status rf_pth_read_f32(rf_pth *pth, const char *name, float *out, size_t count) {
    return read_converted(pth, name, count, out, true);
}

rf_status rf_pth_read_i64(rf_pth *pth, const char *name, int64_t *out, size_t count) {
    return read_converted(pth, name, count, out, false);
}
