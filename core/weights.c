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

/* The format from the file's full signature, never from one byte:
 *   PyTorch (zip)   "PK\3\4", a ZIP local file header;
 *   safetensors     an 8-byte little-endian header length, then '{';
 *   legacy torch    a pickle: 0x80 and a protocol of 2..5 (rf_pth_open
 *                   explains that format is not supported).
 * safetensors is tested first: its header length's low bytes can be
 * anything, 0x80 or "PK" included (1 file in ~256 starts with 0x80), while
 * the ninth byte of a ZIP is the low byte of its compression method (0 or
 * 8) and that of a torch pickle is never '{'. A file that starts like one
 * format but ends early is reported as truncated, with its size. */
typedef enum weights_kind { WEIGHTS_UNKNOWN, WEIGHTS_ZIP, WEIGHTS_SAFETENSORS, WEIGHTS_PICKLE } weights_kind;

static weights_kind kind_of(const unsigned char *magic, size_t got) {
    if (got >= 9 && magic[8] == '{') return WEIGHTS_SAFETENSORS;
    if (got >= 4 && memcmp(magic, "PK\3\4", 4) == 0) return WEIGHTS_ZIP;
    if (got >= 2 && magic[0] == 0x80 && magic[1] >= 2 && magic[1] <= 5) return WEIGHTS_PICKLE;
    return WEIGHTS_UNKNOWN;
}

/* A ZIP ends with its end-of-central-directory record ("PK\5\6", within
 * the last 22 + 65535 bytes); a PyTorch checkpoint cut short has none. */
static bool zip_has_end_record(FILE *f, long size) {
    long span = size < 22 + 65535 ? size : 22 + 65535;
    unsigned char *tail = malloc((size_t)span);
    bool found = false;
    if (tail && fseek(f, size - span, SEEK_SET) == 0 && fread(tail, 1, (size_t)span, f) == (size_t)span)
        for (long i = span - 22; i >= 0 && !found; i--) found = memcmp(tail + i, "PK\5\6", 4) == 0;
    free(tail);
    return found;
}

rf_status rf_weights_open(const char *path, rf_weights **out) {
    *out = NULL;
    unsigned char magic[9] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return RF_ERROR(RF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t got = fread(magic, 1, sizeof magic, f);
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    weights_kind kind = kind_of(magic, got);
    bool zip_complete = kind == WEIGHTS_ZIP && size > 0 && zip_has_end_record(f, size);
    fclose(f);
    if (size < 0) return RF_ERROR(RF_ERR_IO, "%s: cannot tell its size", path);
    if (kind == WEIGHTS_UNKNOWN && size < (long)sizeof magic)
        return RF_ERROR(RF_ERR_FORMAT, "%s: truncated: %ld bytes, too short for any weights file", path, size);
    if (kind == WEIGHTS_UNKNOWN)
        return RF_ERROR(RF_ERR_FORMAT,
                        "%s: not a weights file: it starts with %02x %02x %02x %02x, neither safetensors (an 8-byte header "
                        "length, then '{') nor a PyTorch checkpoint (a ZIP, \"PK\\3\\4\")",
                        path, magic[0], magic[1], magic[2], magic[3]);
    if (kind == WEIGHTS_ZIP && !zip_complete)
        return RF_ERROR(RF_ERR_FORMAT,
                        "%s: truncated: a PyTorch checkpoint (ZIP) of %ld bytes that lacks the record a complete ZIP "
                        "ends with; copy or download it again",
                        path, size);
    if (kind == WEIGHTS_SAFETENSORS) {
        uint64_t header = 0;
        for (int i = 7; i >= 0; i--) header = header << 8 | magic[i];
        if (header > (uint64_t)size - 8)
            return RF_ERROR(RF_ERR_FORMAT,
                            "%s: truncated: a safetensors file whose header alone needs %llu bytes, but the file has "
                            "%ld; copy it again",
                            path, (unsigned long long)header + 8, size);
    }
    rf_weights *w = calloc(1, sizeof *w);
    if (!w) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    rf_status s = kind == WEIGHTS_SAFETENSORS ? rf_safetensors_open(path, &w->st) : rf_pth_open(path, &w->pth);
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
