/* config.h — RF-DETR sizes as configurations, not code paths.
 *
 * One struct describes every size: `tiny` (a CPU-sized model for tests and
 * the built-in demo) and the official `nano`, `small`, `medium`, `base`,
 * whose numbers are RF-DETR's (rfdetr 1.11 config.py: RFDETR{Nano,Small,
 * Medium,Base}Config, the DINOv2-S backbone JSON, ModelDefaults). The
 * architecture is fixed as RF-DETR ships it: two-stage proposals, lite
 * reference-point refinement, box reparametrisation, LayerNorm projector
 * with one P4 level, post-norm decoder.
 *
 * A configuration travels with the weights: rfdetr_config_to_metadata
 * writes it as safetensors metadata ("rfdetr.*" string entries) and
 * rfdetr_config_from_metadata reads it back, so `predict` and `eval` rebuild
 * the model from the file alone. */
#ifndef RFDETR_MODEL_CONFIG_H
#define RFDETR_MODEL_CONFIG_H

#include <stdbool.h>

#include "rfdetr.h"

#define RFDETR_MAX_TAPS 8
#define RFDETR_MAX_VIT_DEPTH 64
#define RFDETR_MAX_DEC_LAYERS 16
#define RFDETR_MAX_PROJECTOR_BLOCKS 8

typedef struct rfdetr_config {
    char size[16];           /* "tiny", "nano", ...: the preset it came from */
    int resolution;          /* square input side in pixels */
    /* ---- backbone: windowed DINOv2-style ViT ---- */
    int patch_size;
    int num_windows;         /* windows per side (2 = 2x2 windows) */
    int vit_width, vit_depth, vit_heads, vit_mlp_ratio;
    int pos_embed_size;      /* side of the learned position table (RF-DETR's positional_encoding_size) */
    /* Hugging Face stage numbers whose hidden states are tapped: stage k is
     * the output of the first k blocks (stage 0 the embeddings), ascending.
     * The blocks that are not listed, up to the last stage, attend inside
     * their window; the listed ones globally (RF-DETR's rule, which makes
     * nano's global blocks 3/6/9 and base's 2/5/8/11, 0-based). */
    int out_feature_indexes[RFDETR_MAX_TAPS];
    int num_taps;
    /* ---- projector: C2f with `projector_blocks` bottlenecks to hidden_dim ---- */
    int projector_blocks;
    int hidden_dim;
    /* ---- decoder ---- */
    int dec_layers, sa_heads, ca_heads, dec_points, ffn_dim;
    int num_queries;         /* per group */
    int group_detr;          /* query groups at training (1 at inference) */
    /* Width of the class head: category ids 0..num_classes-1. An official
     * COCO checkpoint has 91 (RF-DETR's num_classes 90, plus one). */
    int num_classes;
    int num_select;          /* post-process top-k over queries x classes */
} rfdetr_config;

/* Names of the presets, NULL-terminated: tiny nano small medium base. */
extern const char *const rfdetr_size_names[];

/* The preset `size`. An unknown name is RF_ERR_INVALID_ARGUMENT listing the
 * known ones. */
rf_status rfdetr_config_preset(const char *size, rfdetr_config *out);

/* Changes the input resolution the way RF-DETR does: where the preset's
 * position table matches its own resolution (pos_embed_size = resolution /
 * patch_size: every preset but base) the table follows the new resolution;
 * base keeps DINOv2's 37 x 37 table and interpolates it at run time. The
 * resolution rule is checked (see rfdetr_config_check). */
rf_status rfdetr_config_set_resolution(rfdetr_config *cfg, int resolution);

/* Checks every field: positive sizes, widths divisible by head counts, taps
 * ascending within the depth, and the resolution rule — a multiple of
 * patch_size x num_windows — with a message that states the rule.
 * RF_ERR_INVALID_ARGUMENT naming the field otherwise. */
rf_status rfdetr_config_check(const rfdetr_config *cfg);
/* The same rule for an input of h x w pixels (a batch's actual size). */
rf_status rfdetr_config_check_input(const rfdetr_config *cfg, int height, int width);

/* Block i (0-based) attends globally (true) or inside its window. */
bool rfdetr_config_block_is_global(const rfdetr_config *cfg, int block);
/* Blocks the forward pass runs: up to the last tapped stage. */
int rfdetr_config_blocks_used(const rfdetr_config *cfg);

bool rfdetr_config_equal(const rfdetr_config *a, const rfdetr_config *b);
/* "nano: 384 px, patch 16, 2x2 windows, ..." for logs. */
const char *rfdetr_config_describe(const rfdetr_config *cfg, char *buf, size_t size);

/* ---- as file metadata ---------------------------------------------------------------------- */
/* Calls set(key, value, user) for every "rfdetr.*" entry (values are
 * decimal strings; out_feature_indexes "3,6,9,12"). */
rf_status rfdetr_config_to_metadata(const rfdetr_config *cfg,
                                    rf_status (*set)(void *user, const char *key, const char *value), void *user);
/* Reads the entries back through get(key, user) (NULL when absent).
 * *found is false when the file has no "rfdetr.format" entry (an official
 * checkpoint: the caller decides the configuration). A present but broken
 * configuration is RF_ERR_FORMAT naming the entry. */
rf_status rfdetr_config_from_metadata(const char *(*get)(void *user, const char *key), void *user,
                                      rfdetr_config *out, bool *found);

#endif /* RFDETR_MODEL_CONFIG_H */
