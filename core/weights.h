/* weights.h — one reader for both weight formats, so model import (issue 6)
 * loads official .pth checkpoints and our safetensors files alike.
 *
 * The format is decided by the file's full signature, not its name nor one
 * byte: a ZIP local header ("PK\3\4") is a PyTorch checkpoint (core/pth.h,
 * state dict chosen as rf_pth_open does), an 8-byte header length followed
 * by '{' is safetensors (core/safetensors.h), a pickle (0x80, protocol 2..5)
 * is torch's legacy format (refused by rf_pth_open with a message). Anything
 * else is "not a weights file"; a file that starts like one of them but
 * ends early is reported as truncated with its size. */
#ifndef RFDETR_WEIGHTS_H
#define RFDETR_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor_file.h"
#include "rfdetr.h"

typedef struct rf_weights rf_weights;

rf_status rf_weights_open(const char *path, rf_weights **out);
void rf_weights_close(rf_weights *weights);
/* "pth" or "safetensors". */
const char *rf_weights_format(const rf_weights *weights);

int rf_weights_count(const rf_weights *weights);
rf_status rf_weights_info_at(const rf_weights *weights, int i, rf_tensor_info *info);
int rf_weights_find(const rf_weights *weights, const char *name);
/* As rf_safetensors_get_f32 / rf_pth_read_f32. Not thread-safe for .pth. */
rf_status rf_weights_read_f32(rf_weights *weights, const char *name, float *out, size_t count);
rf_status rf_weights_read_i64(rf_weights *weights, const char *name, int64_t *out, size_t count);

#endif /* RFDETR_WEIGHTS_H */
