/* layers.h — the small compositions of core ops the model's parts share
 * (internal to model/ and export/, which mirrors the forward pass). All follow the ops' sticky-error contract: NULL in,
 * NULL out, the context keeps the first failure. */
#ifndef RFDETR_MODEL_LAYERS_H
#define RFDETR_MODEL_LAYERS_H

#include "core/ops.h"
#include "core/ops_vision.h"
#include "model/model.h"

/* Activations smaller than this are kept as they are (rf_stash): next to
 * a big model's they weigh little, and each stash is one more pass over
 * memory (a small model such as tiny then keeps its speed). */
#define STASH_MIN_BYTES ((size_t)1 << 20)

/* x (..., in) -> (..., out). */
static inline rf_tensor *rfdetr_apply_linear(rf_ctx *ctx, rf_tensor *x, rfdetr_linear l) {
    return rf_linear(ctx, x, l.w, l.b);
}

static inline rf_tensor *rfdetr_apply_norm(rf_ctx *ctx, rf_tensor *x, rfdetr_norm n, float eps) {
    return rf_layernorm(ctx, x, n.w, n.b, eps);
}

/* RF-DETR's MLP: ReLU between the linears. */
rf_tensor *rfdetr_apply_mlp(rf_ctx *ctx, rf_tensor *x, const rfdetr_mlp *mlp);

/* Box reparametrisation (bbox_reparam): delta (..., 4) against reference
 * boxes (..., 4) in (cx, cy, w, h): centre + delta_xy * wh, wh * exp(delta_wh). */
rf_tensor *rfdetr_box_reparam(rf_ctx *ctx, rf_tensor *delta, rf_tensor *ref);

/* t repeated along a new leading batch axis: (...) -> (batch, ...), with the
 * gradient summed back. */
rf_tensor *rfdetr_expand_batch(rf_ctx *ctx, rf_tensor *t, int64_t batch);

/* rf_concat for any number of inputs (rf_concat takes a handful). */
rf_tensor *rfdetr_concat_many(rf_ctx *ctx, rf_tensor *const *xs, int n, int dim);

/* ---- the model's parts (backbone.c, decoder.c) ---------------------------------------------------- */
/* images (B, 3, H, W) -> the projector's output (B, hidden, h, w); the
 * normalised taps into out->taps. */
rf_tensor *rfdetr_backbone_forward(rfdetr_model *m, rf_ctx *ctx, rf_tensor *images, rfdetr_outputs *out);
/* memory (B, hidden, h, w) -> proposals, decoder and heads into *out. */
void rfdetr_transformer_forward(rfdetr_model *m, rf_ctx *ctx, rf_tensor *memory, bool training, rfdetr_outputs *out);

/* ---- pieces the ONNX export shares with the forward pass ---------------------------------------- */
/* The ViT's position table for a gh x gw patch grid: (1, gh, gw, C),
 * interpolated bicubic + antialias when the grid is not the table's own. */
rf_tensor *rfdetr_patch_positions(rfdetr_model *m, rf_ctx *ctx, int64_t gh, int64_t gw);
/* The sine embedding of reference boxes as a linear map and a sine:
 * sin(box @ w^T + phase), w (2d, 4) and phase (2d) filled on the host. */
void rfdetr_sine_embed_weights(int64_t d, float *w, float *phase);
/* gen_encoder_output_proposals on an h x w map: props (h*w, 4) cell
 * centres 0.05 wide, zeroed where not inside (0.01, 0.99), and valid
 * (h*w) 1 or 0; returns whether every position is valid. */
bool rfdetr_encoder_proposals(int64_t h, int64_t w, float *props, float *valid);

#endif /* RFDETR_MODEL_LAYERS_H */
