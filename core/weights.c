#include "core/weights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "core/pth.h"
#include "core/safetensors.h"

struct rf_weights {
    rf_pth *pth;             /* exactly one of the two is set */
    rf_safetensors *st;
};

rf_status rf_weights_open(const char *path, rf_weights **out) {
    *out = NULL;
    unsigned char magic[9] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return RF_ERROR(RF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t got = fread(magic, 1, sizeof magic, f);
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    fclose(f);
    rf_weights *w = calloc(1, sizeof *w);
    if (!w) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    /* A safetensors file starts with its header's length (little-endian u64)
     * and then '{'; that length's low bytes can be anything, 'P' 'K' or 0x80
     * included (1 file in ~256 starts with 0x80), so recognise safetensors
     * first and only then look for a ZIP or a pickle. */
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--) header = header << 8 | magic[i];
    bool safetensors = got == sizeof magic && magic[8] == '{' && size >= 9 && header <= (uint64_t)size - 8;
    bool pytorch = !safetensors && ((got >= 2 && magic[0] == 'P' && magic[1] == 'K') || (got >= 1 && magic[0] == 0x80));
    rf_status s = pytorch ? rf_pth_open(path, &w->pth) : rf_safetensors_open(path, &w->st);
    if (s != RF_OK) {
        free(w);
        return s;
    }
    *out = w;
    return RF_OK;
}

void rf_weights_close(rf_weights *weights) {
    if (!weights) return;
    rf_pth_close(weights->pth);
    rf_safetensors_close(weights->st);
    free(weights);
}

const char *rf_weights_format(const rf_weights *weights) { return weights->pth ? "pth" : "safetensors"; }

int rf_weights_count(const rf_weights *weights) {
    return weights->pth ? rf_pth_count(weights->pth) : rf_safetensors_count(weights->st);
}

rf_status rf_weights_info_at(const rf_weights *weights, int i, rf_tensor_info *info) {
    return weights->pth ? rf_pth_info_at(weights->pth, i, info) : rf_safetensors_info_at(weights->st, i, info);
}

int rf_weights_find(const rf_weights *weights, const char *name) {
    return weights->pth ? rf_pth_find(weights->pth, name) : rf_safetensors_find(weights->st, name);
}

rf_status rf_weights_read_f32(rf_weights *weights, const char *name, float *out, size_t count) {
    return weights->pth ? rf_pth_read_f32(weights->pth, name, out, count)
                        : rf_safetensors_get_f32(weights->st, name, out, count);
}

rf_status rf_weights_read_i64(rf_weights *weights, const char *name, int64_t *out, size_t count) {
    return weights->pth ? rf_pth_read_i64(weights->pth, name, out, count)
                        : rf_safetensors_get_i64(weights->st, name, out, count);
}
