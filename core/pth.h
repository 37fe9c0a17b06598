/* pth.h — reading tensors from PyTorch checkpoints (torch.save, the zip
 * format of torch ≥ 1.6) without Python.
 *
 * A checkpoint is a ZIP archive "<name>/data.pkl" (the pickled object),
 * "<name>/data/<key>" (one entry of raw little-endian elements per storage)
 * and small bookkeeping entries ("<name>/byteorder", "<name>/version").
 * The pickle is read by core/pickle.h, which never executes anything.
 *
 * RF-DETR saves {'model': state_dict, 'optimizer': ..., 'lr_scheduler': ...,
 * 'epoch': n, 'args': argparse.Namespace(...)} (its released weights carry
 * at least 'model' and 'args'). The reader picks the state dict: the
 * top-level 'model' entry when it is a dict, else a top-level
 * 'state_dict', else the top level itself; only its tensor values are
 * listed, everything else is ignored. Tensors may be views — any strides,
 * storage offsets and shared storages — and are copied out contiguously. */
#ifndef RFDETR_PTH_H
#define RFDETR_PTH_H

#include <stddef.h>
#include <stdint.h>

/* The most a checkpoint's data.pkl may inflate to: it holds names, shapes
 * and small metadata (RF-DETR's is tens of KB). */
#define RF_PTH_PICKLE_MAX_BYTES (64u << 20)

#include "core/tensor_file.h"
#include "rfdetr.h"

typedef struct rf_pth rf_pth;

/* Opens and validates the archive and the pickle, and checks every listed
 * tensor's dtype, shape, strides and offset against its storage entry.
 * Truncated archives, bad pickles and out-of-bounds views are RF_ERR_FORMAT;
 * opcodes or storage types outside the supported subset RF_ERR_UNSUPPORTED;
 * each message names the file (and the opcode with its byte offset, or the
 * tensor). */
rf_status rf_pth_open(const char *path, rf_pth **out);
/* The same with the state dict named explicitly: `key` is a top-level
 * entry ("model", "ema_model", ...), "" for the top level itself, NULL for
 * the default choice above. */
rf_status rf_pth_open_key(const char *path, const char *key, rf_pth **out);
/* Over bytes in memory, borrowed until close. */
rf_status rf_pth_open_memory(const void *data, size_t size, const char *label, const char *key, rf_pth **out);
void rf_pth_close(rf_pth *pth);

/* Tensors in state-dict order. */
int rf_pth_count(const rf_pth *pth);
rf_status rf_pth_info_at(const rf_pth *pth, int i, rf_tensor_info *info);
/* Index of the named tensor, or -1. */
int rf_pth_find(const rf_pth *pth, const char *name);
/* Which top-level entry held the state dict ("" for the top level). */
const char *rf_pth_state_dict_key(const rf_pth *pth);
/* Entries of the state dict that were not tensors, or were tensors of a
 * kind we do not read (complex, quantized, fp8), and were skipped. */
int rf_pth_skipped_count(const rf_pth *pth);

/* Copies the named tensor out contiguously (row-major), converting to f32
 * (any float or integer dtype) or i64 (integer and bool dtypes). `count`
 * must equal the element count. Not thread-safe: reading verifies and may
 * inflate storage entries, caching the result. */
rf_status rf_pth_read_f32(rf_pth *pth, const char *name, float *out, size_t count);
rf_status rf_pth_read_i64(rf_pth *pth, const char *name, int64_t *out, size_t count);

#endif /* RFDETR_PTH_H */
