/* config.c — the presets, their checks and their metadata form. */
#include "model/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"

const char *const rfdetr_size_names[] = {"tiny", "nano", "small", "medium", "base", NULL};

/* The official sizes: DINOv2-S (dinov2_small.json) under RF-DETR's
 * decoder defaults; what differs per size (RFDETR{Nano,Small,Medium,Base}
 * Config) is in the table. */
typedef struct official_size {
    const char *name;
    int resolution, patch_size, num_windows, pos_embed_size, dec_layers;
    int taps[4];
} official_size;

static const official_size official_sizes[] = {
    {"nano", 384, 16, 2, 24, 2, {3, 6, 9, 12}},
    {"small", 512, 16, 2, 32, 3, {3, 6, 9, 12}},
    {"medium", 576, 16, 2, 36, 4, {3, 6, 9, 12}},
    /* base keeps DINOv2's 518 px grid (37 x 37), interpolated to 40 x 40 at run time */
    {"base", 560, 14, 4, 37, 3, {2, 5, 8, 11}},
};

static void official(const official_size *o, rfdetr_config *c) {
    *c = (rfdetr_config){.resolution = o->resolution, .patch_size = o->patch_size, .num_windows = o->num_windows,
                         .vit_width = 384, .vit_depth = 12, .vit_heads = 6, .vit_mlp_ratio = 4,
                         .pos_embed_size = o->pos_embed_size, .num_taps = 4, .projector_blocks = 3, .hidden_dim = 256,
                         .dec_layers = o->dec_layers, .sa_heads = 8, .ca_heads = 16, .dec_points = 2, .ffn_dim = 2048,
                         .num_queries = 300, .group_detr = 13, .num_classes = 91, .num_select = 300};
    memcpy(c->out_feature_indexes, o->taps, sizeof o->taps);
}

rf_status rfdetr_config_preset(const char *size, rfdetr_config *out) {
    rfdetr_config c;
    memset(&c, 0, sizeof c);
    if (!size) size = "";
    bool known = false;
    for (size_t i = 0; i < sizeof official_sizes / sizeof official_sizes[0] && !known; i++)
        if (strcmp(size, official_sizes[i].name) == 0) {
            official(&official_sizes[i], &c);
            known = true;
        }
    if (strcmp(size, "tiny") == 0) {
        /* The recipe measured to learn the shapes dataset on 2 CPU cores
         * (shared/reference/tiny-torch: 192 px, patch 16, ViT 128 x 4 blocks,
         * taps after blocks 2 and 4, hidden 128, one decoder layer, 50
         * queries x 4 groups, 3 classes). That reference ran without
         * windows (its --windows default of 1), so tiny does too; the
         * windowed path is covered by nano and by the micro parity fixture. */
        c = (rfdetr_config){.resolution = 192, .patch_size = 16, .num_windows = 1, .vit_width = 128, .vit_depth = 4,
                            .vit_heads = 4, .vit_mlp_ratio = 4, .pos_embed_size = 12, .out_feature_indexes = {2, 4},
                            .num_taps = 2, .projector_blocks = 3, .hidden_dim = 128, .dec_layers = 1, .sa_heads = 4,
                            .ca_heads = 4, .dec_points = 2, .ffn_dim = 512, .num_queries = 50, .group_detr = 4,
                            .num_classes = 3, .num_select = 100};
        known = true;
    }
    if (!known)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "unknown model size '%s' (known: tiny, nano, small, medium, base)", size);
    snprintf(c.size, sizeof c.size, "%s", size);
    *out = c;
    return RF_OK;
}

rf_status rfdetr_config_set_resolution(rfdetr_config *cfg, int resolution) {
    if (cfg->patch_size > 0 && cfg->pos_embed_size * cfg->patch_size == cfg->resolution)
        cfg->pos_embed_size = resolution / cfg->patch_size;
    cfg->resolution = resolution;
    return rfdetr_config_check(cfg);
}

rf_status rfdetr_config_check_input(const rfdetr_config *cfg, int height, int width) {
    int block = cfg->patch_size * cfg->num_windows;
    if (block <= 0)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "model config: patch_size and num_windows must be positive");
    if (height <= 0 || width <= 0 || height % block || width % block) {
        int bad = height <= 0 || height % block ? height : width;
        int lo = bad > 0 ? bad / block * block : 0;
        if (lo == 0) lo = block;
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                        "resolution %dx%d is not allowed for %s: each side must be a positive multiple of patch size x "
                        "windows = %d x %d = %d (nearest: %d or %d)",
                        height, width, cfg->size[0] ? cfg->size : "this model", cfg->patch_size, cfg->num_windows, block,
                        lo, lo + block);
    }
    return RF_OK;
}

#define CHECK_POSITIVE(field)                                                                                   \
    do {                                                                                                        \
        if (cfg->field <= 0)                                                                                    \
            return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "model config: %s must be positive, got %d", #field, cfg->field); \
    } while (0)

#define CHECK_AT_MOST(field, most)                                                                            \
    do {                                                                                                      \
        if (cfg->field > (most))                                                                              \
            return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "model config: %s is %d, more than the %d this build allows", \
                            #field, cfg->field, (most));                                                      \
    } while (0)

rf_status rfdetr_config_check(const rfdetr_config *cfg) {
    CHECK_POSITIVE(resolution);
    CHECK_POSITIVE(patch_size);
    CHECK_POSITIVE(num_windows);
    CHECK_POSITIVE(vit_width);
    CHECK_POSITIVE(vit_depth);
    CHECK_POSITIVE(vit_heads);
    CHECK_POSITIVE(vit_mlp_ratio);
    CHECK_POSITIVE(pos_embed_size);
    CHECK_POSITIVE(num_taps);
    CHECK_POSITIVE(projector_blocks);
    CHECK_POSITIVE(hidden_dim);
    CHECK_POSITIVE(dec_layers);
    CHECK_POSITIVE(sa_heads);
    CHECK_POSITIVE(ca_heads);
    CHECK_POSITIVE(dec_points);
    CHECK_POSITIVE(ffn_dim);
    CHECK_POSITIVE(num_queries);
    CHECK_POSITIVE(group_detr);
    CHECK_POSITIVE(num_classes);
    CHECK_POSITIVE(num_select);
    /* Upper bounds far above every official size (base: 560 px, ViT 384 x
     * 12, hidden 256, 300 x 13 queries, 91 classes) and below what would make
     * the model or one activation absurd: a file's metadata is checked here
     * before anything is allocated from it. */
    CHECK_AT_MOST(resolution, 4096);
    CHECK_AT_MOST(patch_size, 64);
    CHECK_AT_MOST(num_windows, 16);
    CHECK_AT_MOST(vit_width, 4096);
    CHECK_AT_MOST(vit_heads, 64);
    CHECK_AT_MOST(vit_mlp_ratio, 16);
    CHECK_AT_MOST(pos_embed_size, 256);
    CHECK_AT_MOST(hidden_dim, 4096);
    CHECK_AT_MOST(sa_heads, 64);
    CHECK_AT_MOST(ca_heads, 64);
    CHECK_AT_MOST(dec_points, 64);
    CHECK_AT_MOST(ffn_dim, 16384);
    CHECK_AT_MOST(num_queries, 10000);
    CHECK_AT_MOST(group_detr, 64);
    CHECK_AT_MOST(num_classes, RF_MAX_CLASSES);
    CHECK_AT_MOST(num_select, 100000);
    if (cfg->vit_depth > RFDETR_MAX_VIT_DEPTH || cfg->dec_layers > RFDETR_MAX_DEC_LAYERS ||
        cfg->num_taps > RFDETR_MAX_TAPS || cfg->projector_blocks > RFDETR_MAX_PROJECTOR_BLOCKS)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                        "model config: at most %d ViT blocks, %d decoder layers, %d taps, %d projector blocks",
                        RFDETR_MAX_VIT_DEPTH, RFDETR_MAX_DEC_LAYERS, RFDETR_MAX_TAPS, RFDETR_MAX_PROJECTOR_BLOCKS);
    if (cfg->vit_width % cfg->vit_heads)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "model config: vit_width %d is not divisible by vit_heads %d",
                        cfg->vit_width, cfg->vit_heads);
    if (cfg->hidden_dim % cfg->sa_heads || cfg->hidden_dim % cfg->ca_heads || cfg->hidden_dim % 4)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                        "model config: hidden_dim %d must be divisible by 4, sa_heads %d and ca_heads %d",
                        cfg->hidden_dim, cfg->sa_heads, cfg->ca_heads);
    if (cfg->hidden_dim % 2)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "model config: hidden_dim must be even");
    for (int i = 0; i < cfg->num_taps; i++) {
        int s = cfg->out_feature_indexes[i];
        if (s < 1 || s > cfg->vit_depth || (i > 0 && s <= cfg->out_feature_indexes[i - 1]))
            return RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                            "model config: out_feature_indexes must ascend within 1..%d (the ViT depth), got %d at %d",
                            cfg->vit_depth, s, i);
    }
    return rfdetr_config_check_input(cfg, cfg->resolution, cfg->resolution);
}

bool rfdetr_config_block_is_global(const rfdetr_config *cfg, int block) {
    if (cfg->num_windows <= 1) return true;
    /* RF-DETR (dinov2.py compute_window_block_indexes) compares the 0-based
     * block index with the stage numbers themselves; we keep its rule. */
    for (int i = 0; i < cfg->num_taps; i++)
        if (cfg->out_feature_indexes[i] == block) return true;
    return block > cfg->out_feature_indexes[cfg->num_taps - 1];
}

int rfdetr_config_blocks_used(const rfdetr_config *cfg) { return cfg->out_feature_indexes[cfg->num_taps - 1]; }

bool rfdetr_config_equal(const rfdetr_config *a, const rfdetr_config *b) {
    /* Field by field: `size` is a label, not architecture. */
    rfdetr_config x = *a, y = *b;
    memset(x.size, 0, sizeof x.size);
    memset(y.size, 0, sizeof y.size);
    for (int i = x.num_taps; i < RFDETR_MAX_TAPS; i++) x.out_feature_indexes[i] = 0;
    for (int i = y.num_taps; i < RFDETR_MAX_TAPS; i++) y.out_feature_indexes[i] = 0;
    return memcmp(&x, &y, sizeof x) == 0;
}

const char *rfdetr_config_describe(const rfdetr_config *c, char *buf, size_t size) {
    snprintf(buf, size,
             "%s: %d px, patch %d, %dx%d windows, ViT %d x %d blocks (%d heads), hidden %d, %d decoder layer%s, "
             "%d queries x %d groups, %d classes",
             c->size[0] ? c->size : "custom", c->resolution, c->patch_size, c->num_windows, c->num_windows,
             c->vit_width, c->vit_depth, c->vit_heads, c->hidden_dim, c->dec_layers, c->dec_layers == 1 ? "" : "s",
             c->num_queries, c->group_detr, c->num_classes);
    return buf;
}

/* ---- metadata ---------------------------------------------------------------------------- */

typedef struct int_field {
    const char *key;
    size_t offset;
} int_field;

#define FIELD(name) {"rfdetr." #name, offsetof(rfdetr_config, name)}
static const int_field int_fields[] = {
    FIELD(resolution),  FIELD(patch_size),  FIELD(num_windows),      FIELD(vit_width),   FIELD(vit_depth),
    FIELD(vit_heads),   FIELD(vit_mlp_ratio), FIELD(pos_embed_size), FIELD(projector_blocks), FIELD(hidden_dim),
    FIELD(dec_layers),  FIELD(sa_heads),    FIELD(ca_heads),         FIELD(dec_points),  FIELD(ffn_dim),
    FIELD(num_queries), FIELD(group_detr),  FIELD(num_classes),      FIELD(num_select),
};
#undef FIELD

rf_status rfdetr_config_to_metadata(const rfdetr_config *cfg,
                                    rf_status (*set)(void *user, const char *key, const char *value), void *user) {
    char value[128];
    RF_TRY(set(user, "rfdetr.format", "1"));
    RF_TRY(set(user, "rfdetr.size", cfg->size));
    for (size_t i = 0; i < sizeof int_fields / sizeof int_fields[0]; i++) {
        snprintf(value, sizeof value, "%d", *(const int *)((const char *)cfg + int_fields[i].offset));
        RF_TRY(set(user, int_fields[i].key, value));
    }
    size_t n = 0;
    value[0] = 0;
    for (int i = 0; i < cfg->num_taps; i++)
        n += (size_t)snprintf(value + n, sizeof value - n, "%s%d", i ? "," : "", cfg->out_feature_indexes[i]);
    return set(user, "rfdetr.out_feature_indexes", value);
}

static bool parse_int(const char *s, int *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < -1000000000L || v > 1000000000L) return false;
    *out = (int)v;
    return true;
}

rf_status rfdetr_config_from_metadata(const char *(*get)(void *user, const char *key), void *user,
                                      rfdetr_config *out, bool *found) {
    *found = false;
    const char *format = get(user, "rfdetr.format");
    if (!format) return RF_OK;
    if (strcmp(format, "1") != 0)
        return RF_ERROR(RF_ERR_FORMAT, "model configuration format '%s' is newer than this build understands (1)", format);
    rfdetr_config c;
    memset(&c, 0, sizeof c);
    const char *size = get(user, "rfdetr.size");
    snprintf(c.size, sizeof c.size, "%s", size ? size : "");
    for (size_t i = 0; i < sizeof int_fields / sizeof int_fields[0]; i++) {
        const char *v = get(user, int_fields[i].key);
        if (!parse_int(v, (int *)((char *)&c + int_fields[i].offset)))
            return RF_ERROR(RF_ERR_FORMAT, "model configuration entry %s is %s%s%s", int_fields[i].key,
                            v ? "'" : "missing", v ? v : "", v ? "', not an integer" : "");
    }
    const char *taps = get(user, "rfdetr.out_feature_indexes");
    if (!taps) return RF_ERROR(RF_ERR_FORMAT, "model configuration entry rfdetr.out_feature_indexes is missing");
    const char *p = taps;
    while (*p) {
        if (c.num_taps == RFDETR_MAX_TAPS)
            return RF_ERROR(RF_ERR_FORMAT, "rfdetr.out_feature_indexes '%s': more than %d taps", taps, RFDETR_MAX_TAPS);
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > 100000 || (*end && *end != ','))
            return RF_ERROR(RF_ERR_FORMAT, "rfdetr.out_feature_indexes '%s' is not a list of integers", taps);
        c.out_feature_indexes[c.num_taps++] = (int)v;
        p = *end ? end + 1 : end;
    }
    rf_status s = rfdetr_config_check(&c);
    if (s != RF_OK) return rf_error_prefix(RF_ERR_FORMAT, "the file's model configuration is invalid: ");
    *out = c;
    *found = true;
    return RF_OK;
}
