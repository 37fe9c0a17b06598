/* safetensors.h — reading and writing the safetensors format, our checkpoint
 * format and the one Hugging Face tools read.
 *
 * Layout: an 8-byte little-endian header length N; N bytes of JSON, an
 * object mapping each tensor name to {"dtype", "shape", "data_offsets":
 * [begin, end]} plus an optional "__metadata__" object of string values;
 * then the byte buffer, in which every tensor's little-endian elements lie
 * at [begin, end) counted from the buffer's start. The buffer is fully
 * covered, without holes or overlaps. Writers pad the header with spaces so
 * the buffer starts 8-byte aligned.
 *
 * A reader validates everything before it hands out a tensor (see
 * rf_safetensors_open); any violation is RF_ERR_FORMAT naming the file and,
 * where there is one, the tensor. */
#ifndef RFDETR_SAFETENSORS_H
#define RFDETR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor_file.h"
#include "rfdetr.h"

/* The largest header we accept (as the reference implementation does). */
#define RF_SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u)
/* The most "__metadata__" entries accepted: keys are looked up by a scan,
 * and ours are a few dozen; a 100 MB header of tiny keys would otherwise
 * cost a quadratic number of comparisons. */
#define RF_SAFETENSORS_MAX_METADATA 4096

/* ---- reading --------------------------------------------------------------- */
typedef struct rf_safetensors rf_safetensors;

/* Maps the file and validates it: size ≥ 8; header length within the file
 * and ≤ RF_SAFETENSORS_MAX_HEADER; the header is one strict JSON object
 * (trailing spaces allowed) whose tensors each have a known dtype, a shape
 * of at most RF_TENSOR_MAX_DIMS non-negative dimensions and two offsets;
 * names are unique; sorted by offset the tensors tile the byte buffer
 * exactly from 0 to its end; each span equals numel × element size. */
rf_status rf_safetensors_open(const char *path, rf_safetensors **out);
/* The same over bytes in memory, borrowed until close; `label` names the
 * bytes in messages. */
rf_status rf_safetensors_open_memory(const void *data, size_t size, const char *label, rf_safetensors **out);
void rf_safetensors_close(rf_safetensors *st);

/* Tensors are numbered 0..count-1 in the order of their data in the file. */
int rf_safetensors_count(const rf_safetensors *st);
rf_status rf_safetensors_info_at(const rf_safetensors *st, int i, rf_tensor_info *info);
/* Index of the named tensor, or -1. */
int rf_safetensors_find(const rf_safetensors *st, const char *name);
/* The tensor's raw little-endian bytes inside the mapping (may be
 * unaligned), valid until close; NULL when i is out of range. */
const void *rf_safetensors_data(const rf_safetensors *st, int i, size_t *nbytes);

/* Copies the named tensor into `out`, converting any float or integer dtype
 * to f32. `count` must equal the tensor's element count. Unknown names are
 * RF_ERR_INVALID_ARGUMENT. */
rf_status rf_safetensors_get_f32(const rf_safetensors *st, const char *name, float *out, size_t count);
/* The same to i64, for integer and BOOL tensors only. */
rf_status rf_safetensors_get_i64(const rf_safetensors *st, const char *name, int64_t *out, size_t count);

/* "__metadata__" entries: the value for `key` or NULL; and enumeration. */
const char *rf_safetensors_metadata(const rf_safetensors *st, const char *key);
int rf_safetensors_metadata_count(const rf_safetensors *st);
void rf_safetensors_metadata_at(const rf_safetensors *st, int i, const char **key, const char **value);

/* ---- writing --------------------------------------------------------------- */
typedef struct rf_safetensors_writer rf_safetensors_writer;

rf_status rf_safetensors_writer_create(rf_safetensors_writer **out);
/* Adds a tensor. The name and shape are copied; `data` (numel × element
 * size little-endian bytes) is borrowed and must stay valid until save or
 * free, so a trainer can point into one host copy of its parameter slab
 * instead of duplicating it. Duplicate names, "__metadata__", empty names
 * and more than RF_TENSOR_MAX_DIMS dimensions are RF_ERR_INVALID_ARGUMENT. */
rf_status rf_safetensors_writer_add(rf_safetensors_writer *w, const char *name, rf_file_dtype dtype, int ndim,
                                    const int64_t *shape, const void *data);
/* Sets a "__metadata__" string entry (replacing an earlier value). */
rf_status rf_safetensors_writer_set_metadata(rf_safetensors_writer *w, const char *key, const char *value);
/* Writes the file atomically (temporary file, fsync, rename): a failure
 * leaves any previous file untouched. Tensors are laid out by element size,
 * largest first, then in the order added, so every tensor's data is aligned
 * to its element size. The writer stays usable (save again elsewhere). */
rf_status rf_safetensors_writer_save(const rf_safetensors_writer *w, const char *path);
void rf_safetensors_writer_free(rf_safetensors_writer *w);

#endif /* RFDETR_SAFETENSORS_H */
