/* model.h — RF-DETR in C: the parameters, the forward pass, weight import
 * and export, and post-processing.
 *
 * llm.c style: a config (model/config.h), a parameter struct whose tensors
 * point into one slab per device (core/tensor.h rf_params), and verbs:
 *
 *   rfdetr_model_create(device, config, seed, &m)   random init as RF-DETR
 *   rfdetr_model_load_weights(m, path, &report)     official .pth or safetensors
 *   rfdetr_model_forward(m, ctx, images, training, &out)
 *   rfdetr_postprocess(ctx, logits, boxes, ...)     top-k detections in pixels
 *   rfdetr_model_save(m, path)                      safetensors + configuration
 *   rfdetr_model_free(m)
 *
 * Every parameter is registered under its official RF-DETR state-dict key
 * (rfdetr 1.11: "backbone.0.encoder.encoder.encoder.layer.3.mlp.fc1.weight",
 * "transformer.decoder.layers.0.cross_attn.sampling_offsets.bias", ...) with
 * the official shape, so official checkpoints load by name without a rename
 * table. Everything lives on the model's own device; the forward pass runs
 * on a context (core/tensor.h) of that same device and records the tape
 * when the context's gradient recording is on.
 */
#ifndef RFDETR_MODEL_MODEL_H
#define RFDETR_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tensor.h"
#include "model/config.h"

/* ---- parameters ------------------------------------------------------------------------------- */
typedef struct rfdetr_linear {
    rf_tensor *w; /* (out, in) */
    rf_tensor *b; /* (out) or NULL */
} rfdetr_linear;

typedef struct rfdetr_norm {
    rf_tensor *w, *b; /* (C) each */
} rfdetr_norm;

#define RFDETR_MLP_MAX_LAYERS 3
typedef struct rfdetr_mlp { /* Linear, ReLU, ..., Linear (RF-DETR's MLP) */
    int layers;
    rfdetr_linear l[RFDETR_MLP_MAX_LAYERS];
} rfdetr_mlp;

typedef struct rfdetr_convx { /* conv (no bias) -> channel LayerNorm -> SiLU */
    rf_tensor *conv;          /* (out, in, k, k) */
    rfdetr_norm bn;
} rfdetr_convx;

typedef struct rfdetr_vit_block {
    rfdetr_norm norm1, norm2;
    rfdetr_linear query, key, value; /* the official tensors */
    /* The three above registered back to back, seen as one (3C, C) weight
     * and one (3C) bias: one GEMM instead of three. NULL when the slab
     * layout does not allow it (then three GEMMs). */
    rfdetr_linear qkv;
    rfdetr_linear dense;             /* attention.output.dense */
    rf_tensor *ls1, *ls2;            /* LayerScale lambda1 (C) */
    rfdetr_linear fc1, fc2;
} rfdetr_vit_block;

typedef struct rfdetr_dec_layer {
    rf_tensor *in_proj_w, *in_proj_b; /* self_attn: (3d, d), (3d) */
    rfdetr_linear out_proj;
    rfdetr_norm norm1, norm2, norm3;
    rfdetr_linear sampling_offsets, attention_weights, value_proj, output_proj; /* cross_attn */
    rfdetr_linear linear1, linear2;
} rfdetr_dec_layer;

typedef struct rfdetr_model {
    rfdetr_config cfg;
    rf_device *device;
    rf_params *params;
    /* backbone.0.encoder.encoder.* (DINOv2 with windows) */
    rf_tensor *cls_token;   /* (1, 1, C) */
    rf_tensor *mask_token;  /* (1, C): unused at inference, kept for the key list */
    rf_tensor *pos_embed;   /* (1, 1 + P*P, C) */
    rfdetr_linear patch;    /* projection: (C, 3, p, p), (C) */
    rfdetr_vit_block blocks[RFDETR_MAX_VIT_DEPTH];
    rfdetr_norm vit_norm;   /* layernorm applied to every tapped stage */
    /* backbone.0.projector.stages.0: C2f then channel LayerNorm */
    rfdetr_convx c2f_cv1, c2f_cv2;
    rfdetr_convx c2f_m[RFDETR_MAX_PROJECTOR_BLOCKS][2]; /* bottleneck i: cv1, cv2 */
    rfdetr_norm proj_norm;
    /* transformer */
    rfdetr_dec_layer dec[RFDETR_MAX_DEC_LAYERS];
    rfdetr_norm dec_norm;
    rfdetr_mlp ref_point_head;
    rfdetr_linear *enc_output;   /* [group_detr] */
    rfdetr_norm *enc_output_norm;
    rfdetr_linear *enc_class;    /* enc_out_class_embed */
    rfdetr_mlp *enc_bbox;        /* enc_out_bbox_embed */
    /* heads and queries */
    rfdetr_linear class_embed;
    rfdetr_mlp bbox_embed;
    rf_tensor *refpoint_embed;   /* (Q * G, 4) */
    rf_tensor *query_feat;       /* (Q * G, d) */
    /* Class names by id (from the weights file, or NULL). */
    char **class_names;
    int class_name_count;
} rfdetr_model;

/* Builds the model on `device` and initialises every parameter as RF-DETR
 * does, from `seed` (Philox: the same values on every device): the ViT's
 * linears, patch embedding, position table and CLS token truncated normal
 * (std 0.02); the projector's convolutions torch's default; the
 * transformer's matrices Xavier-uniform; deformable attention's offsets as
 * its rotating grid; the class heads' bias -log((1 - 0.01) / 0.01); the box
 * heads' last layers and refpoint_embed zero; query_feat N(0, 1); the
 * per-group encoder heads copies of the decoder's heads. */
rf_status rfdetr_model_create(rf_device *device, const rfdetr_config *config, uint64_t seed, rfdetr_model **out);
/* The same parameters left at zero, for a load to fill (no time spent on
 * an initialisation that the weights replace). */
rf_status rfdetr_model_create_for_load(rf_device *device, const rfdetr_config *config, rfdetr_model **out);
void rfdetr_model_free(rfdetr_model *m);

/* Total parameter count (elements). */
int64_t rfdetr_model_param_count(const rfdetr_model *m);

/* ---- forward ---------------------------------------------------------------------------------- */
/* The outputs the trainer and post-processing need. Queries are group-major:
 * query i of group g is row g * num_queries + i (training: group_detr
 * groups; inference: group 0 only). Boxes are (cx, cy, w, h) normalised to
 * the input. All tensors live in the context's arena. */
typedef struct rfdetr_outputs {
    int layers;                               /* decoder layers */
    int groups;                               /* query groups in these outputs */
    int64_t batch, queries, classes;          /* queries = groups * num_queries */
    rf_tensor *logits[RFDETR_MAX_DEC_LAYERS]; /* (B, queries, classes) per layer; [layers-1] is the final one */
    rf_tensor *boxes[RFDETR_MAX_DEC_LAYERS];  /* (B, queries, 4) per layer */
    int64_t enc_queries;                      /* groups * min(num_queries, h*w) */
    rf_tensor *enc_logits;                    /* (B, enc_queries, classes): the two-stage proposals */
    rf_tensor *enc_boxes;                     /* (B, enc_queries, 4) */
    /* Intermediates, for debugging and tests. */
    int num_taps;
    rf_tensor *taps[RFDETR_MAX_TAPS];         /* (B, vit_width, h, w) normalised backbone stages */
    rf_tensor *memory;                        /* (B, hidden_dim, h, w) projector output */
    rf_tensor *reference;                     /* (B, queries, 4) reference boxes of the decoder */
} rfdetr_outputs;

/* images: (B, 3, H, W) ImageNet-normalised, on the model's device; H and W
 * multiples of patch_size x num_windows (any such size: the position table
 * is interpolated). training selects all query groups (Group DETR);
 * gradients are recorded when the context's recording is on. Errors (shape,
 * device, out of memory) come back as the context's sticky status. */
rf_status rfdetr_model_forward(rfdetr_model *m, rf_ctx *ctx, rf_tensor *images, bool training, rfdetr_outputs *out);

/* ---- weights ---------------------------------------------------------------------------------- */
typedef struct rfdetr_load_report {
    int loaded;      /* parameters read from the file */
    int adapted;     /* loaded after RF-DETR's adaptations (class head tiled, queries sliced, positions interpolated) */
    int missing;     /* model parameters absent from the file */
    int unexpected;  /* file tensors the model does not have */
    int mismatched;  /* present with a shape that cannot be adapted */
    int ignored;     /* non-parameter entries skipped (empty buffers such as _kp_active_mask) */
} rfdetr_load_report;

/* Loads parameters by name from an official PyTorch checkpoint (.pth: its
 * 'model' state dict) or a safetensors file, as RF-DETR's loader does:
 * shapes must match, except that a class head of another width is tiled
 * or truncated row-wise (reinitialize_detection_head), query tables with
 * more rows keep their first groups / queries per group, and a position
 * table of another grid is interpolated bicubic + antialias. Missing,
 * unexpected or mis-shaped tensors are RF_ERR_FORMAT with their names; the
 * model is left unchanged then (nothing is written until all checks pass). */
rf_status rfdetr_model_load_weights(rfdetr_model *m, const char *path, rfdetr_load_report *report);

/* The configuration stored in a weights file. Our safetensors carry it as
 * metadata; an official checkpoint has none, so it is recognised from its
 * tensors (patch size, position grid, decoder depth -> nano/small/medium/
 * base; the class head's width -> num_classes). `size_hint` (NULL or a
 * preset name) decides when the file cannot. */
rf_status rfdetr_config_from_weights(const char *path, const char *size_hint, rfdetr_config *out);

/* rfdetr_config_from_weights + create + load_weights, and the class names
 * the file carries. `resolution` > 0 overrides the file's resolution (the
 * rule still applies). */
rf_status rfdetr_model_open(rf_device *device, const char *path, const char *size_hint, int resolution,
                            rfdetr_model **out);

/* Writes the parameters and the configuration (and class names, when set)
 * to a safetensors file, atomically. */
rf_status rfdetr_model_save(const rfdetr_model *m, const char *path);

/* Replaces the class names (copied); NULL/0 clears them. */
rf_status rfdetr_model_set_class_names(rfdetr_model *m, const char *const *names, int count);
/* The name of class `id`: the file's, else COCO's for 91-class models,
 * else NULL. */
const char *rfdetr_model_class_name(const rfdetr_model *m, int id);

/* ---- post-processing --------------------------------------------------------------------------- */
typedef struct rfdetr_detection {
    float score;   /* sigmoid probability */
    int label;     /* class id */
    float box[4];  /* x0, y0, x1, y1 in original image pixels, clamped to the image */
} rfdetr_detection;

/* RF-DETR's PostProcess: sigmoid of the logits (B, Q, C), the top
 * num_select (query, class) pairs per image by score (ties by lower index,
 * as a stable sort), their boxes (B, Q, 4) as corners scaled to each image's
 * original size (image_hw[b] = {height, width}) and clamped. Sigmoid, top-k
 * and gathering run on the context's device; the few selected boxes are
 * scaled on the host. out holds B * k entries, k = min(num_select, Q*C),
 * best first per image; *k_out receives k. */
rf_status rfdetr_postprocess(rf_ctx *ctx, rf_tensor *logits, rf_tensor *boxes, const int (*image_hw)[2],
                             int num_select, rfdetr_detection *out, int *k_out);

/* COCO's names by category id (RF-DETR's COCO_CLASSES; ids without a
 * class are NULL), for official 91-class checkpoints. */
const char *rfdetr_coco_class_name(int id);

#endif /* RFDETR_MODEL_MODEL_H */
