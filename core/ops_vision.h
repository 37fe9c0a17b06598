/* ops_vision.h — differentiable image and detection ops: convolution,
 * bicubic antialiased resize, bilinear grid sample, multi-scale deformable
 * attention, row gather and top-k.
 *
 * The same contract as core/ops.h: operands on the context's device (a
 * mismatch is an error), shapes checked, outputs in the context's arena,
 * a tape node when a gradient is needed, NULL after a failure with the
 * first error kept by the context. */
#ifndef RFDETR_OPS_VISION_H
#define RFDETR_OPS_VISION_H

#include "core/tensor.h"

/* ---- convolution ------------------------------------------------------------ */
/* torch.nn.functional.conv2d without groups or dilation:
 *   x (N, Cin, H, W), w (Cout, Cin, kh, kw), b (Cout) or NULL
 *   -> (N, Cout, (H + 2 pad - kh) / stride + 1, (W + 2 pad - kw) / stride + 1).
 * im2col + one batched GEMM (a 1x1 stride-1 unpadded conv is a GEMM on x
 * directly); the backward pass is GEMMs + col2im. */
rf_tensor *rf_conv2d(rf_ctx *ctx, rf_tensor *x, rf_tensor *w, rf_tensor *b, int stride, int pad);

/* ---- bicubic antialiased resize -------------------------------------------------- */
/* F.interpolate(x, size=(out_h, out_w), mode="bicubic", antialias=True,
 * align_corners=False) on x (C, H, W) or (N, C, H, W): two GEMMs with
 * interpolation matrices built on the host the way PyTorch builds its
 * separable antialiased weights; the backward pass is the transposed GEMMs. */
rf_tensor *rf_resize_bicubic_aa(rf_ctx *ctx, rf_tensor *x, int64_t out_h, int64_t out_w);
/* The same with F.interpolate's scale_factor semantics: source coordinates
 * map through 1 / scale (not in / out) while the output keeps the given
 * size, as when DINOv2 interpolates its position embeddings with
 * scale_factor=((h + 0.1) / h0, (w + 0.1) / w0) and out = floor(in * scale).
 * A scale <= 0 means "none" (in / out). */
rf_tensor *rf_resize_bicubic_aa_scaled(rf_ctx *ctx, rf_tensor *x, int64_t out_h, int64_t out_w, double scale_h,
                                       double scale_w);
/* The (out_size, in_size) row-major matrix of one axis: out = M in. scale as
 * above. Exposed for tests and for callers that cache it. */
void rf_bicubic_aa_matrix(int64_t in_size, int64_t out_size, double scale, double *m);

/* ---- sampling ------------------------------------------------------------------------ */
/* F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
 * align_corners=False): x (N, C, H, W), grid (N, Ho, Wo, 2) of (x, y) in
 * [-1, 1] -> (N, C, Ho, Wo); gradients to x and grid. */
rf_tensor *rf_grid_sample(rf_ctx *ctx, rf_tensor *x, rf_tensor *grid);

/* Multi-scale deformable attention core (ms_deform_attn_core_pytorch):
 *   value (B, S, H, D) with S = sum of h_l * w_l, levels stacked in order;
 *   level_hw: `levels` (h, w) pairs on the host;
 *   sampling_locations (B, Q, H, L, P, 2), normalized (x, y) in [0, 1];
 *   attention_weights (B, Q, H, L, P)
 *   -> (B, Q, H * D). Gradients to value, locations and weights. */
rf_tensor *rf_deform_attn(rf_ctx *ctx, rf_tensor *value, const int64_t (*level_hw)[2], int levels,
                          rf_tensor *sampling_locations, rf_tensor *attention_weights);

/* ---- selection ------------------------------------------------------------------------ */
/* out[b, i, :] = src[b, idx[b, i], :]: src (B, N, C) f32, indices (B, K)
 * int32 -> (B, K, C); also src (N, C) with indices (K) -> (K, C). An index
 * outside [0, N) gathers zeros. The gradient adds rows back (repeats sum). */
rf_tensor *rf_gather_rows(rf_ctx *ctx, rf_tensor *src, rf_tensor *indices);

/* The k largest entries along the last axis, sorted descending (ties by
 * ascending index, NaN largest): values (..., k) f32 and, through *indices
 * when not NULL, their int32 positions. No gradient (RF-DETR selects with
 * it, then gathers with rf_gather_rows). */
rf_tensor *rf_topk(rf_ctx *ctx, rf_tensor *x, int64_t k, rf_tensor **indices);

#endif /* RFDETR_OPS_VISION_H */
