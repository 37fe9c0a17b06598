/* ops.h — differentiable tensor operations.
 *
 * Every op: checks that all operands live on the context's device (device
 * mismatch is an error, never a silent copy), checks shapes, allocates its
 * output in the context's arena, launches the device's kernel and, when
 * gradient recording is on and an input requires a gradient, records a tape
 * node whose backward pass calls the matching backward kernel.
 *
 * Ops return NULL after a failure (or when given NULL): the context keeps the
 * first error, see core/tensor.h. Shapes in comments are (B, T, C)-style.
 * Broadcasting follows NumPy: trailing axes align, size-1 axes stretch.
 */
#ifndef RFDETR_OPS_H
#define RFDETR_OPS_H

#include "core/tensor.h"

/* ---- elementwise ------------------------------------------------------------ */
rf_tensor *rf_add(rf_ctx *ctx, rf_tensor *a, rf_tensor *b);
rf_tensor *rf_sub(rf_ctx *ctx, rf_tensor *a, rf_tensor *b);
rf_tensor *rf_mul(rf_ctx *ctx, rf_tensor *a, rf_tensor *b);
rf_tensor *rf_div(rf_ctx *ctx, rf_tensor *a, rf_tensor *b);
rf_tensor *rf_scale(rf_ctx *ctx, rf_tensor *x, float alpha);
rf_tensor *rf_affine(rf_ctx *ctx, rf_tensor *x, float alpha, float beta); /* alpha*x + beta */
rf_tensor *rf_relu(rf_ctx *ctx, rf_tensor *x);
rf_tensor *rf_gelu(rf_ctx *ctx, rf_tensor *x);
rf_tensor *rf_silu(rf_ctx *ctx, rf_tensor *x);
rf_tensor *rf_sigmoid(rf_ctx *ctx, rf_tensor *x);
rf_tensor *rf_exp(rf_ctx *ctx, rf_tensor *x);
rf_tensor *rf_log_sigmoid(rf_ctx *ctx, rf_tensor *x);
rf_tensor *rf_tanh(rf_ctx *ctx, rf_tensor *x);
rf_tensor *rf_sqrt(rf_ctx *ctx, rf_tensor *x);
rf_tensor *rf_log(rf_ctx *ctx, rf_tensor *x);
rf_tensor *rf_sin(rf_ctx *ctx, rf_tensor *x);
/* log(x / (1 - x)) with x clamped to [eps, 1 - eps] (RF-DETR's inverse_sigmoid). */
rf_tensor *rf_inverse_sigmoid(rf_ctx *ctx, rf_tensor *x, float eps);
rf_tensor *rf_unary(rf_ctx *ctx, rf_unary_op op, rf_tensor *x, float alpha, float beta);

/* ---- reductions ------------------------------------------------------------------ */
/* Sum / mean over the axes whose bit is set in axes_mask (bit k = axis k). The
 * result keeps the reduced axes as size 1 when keepdim, else drops them. */
rf_tensor *rf_sum(rf_ctx *ctx, rf_tensor *x, unsigned axes_mask, bool keepdim);
rf_tensor *rf_mean(rf_ctx *ctx, rf_tensor *x, unsigned axes_mask, bool keepdim);
/* Sum of every element: a 1-element tensor of shape (1). */
rf_tensor *rf_sum_all(rf_ctx *ctx, rf_tensor *x);
/* Max over the last axis: values (..., ) with the last axis dropped; indices
 * (int32, same shape) through *indices when not NULL. */
rf_tensor *rf_max_last(rf_ctx *ctx, rf_tensor *x, rf_tensor **indices);

/* ---- normalization, softmax ------------------------------------------------------------ */
/* Softmax over the last axis. mask: NULL or (Lq, L) additive, broadcast over
 * the leading axes (x is (..., Lq, L)); -inf entries mask out. */
rf_tensor *rf_softmax(rf_ctx *ctx, rf_tensor *x, rf_tensor *mask);
/* LayerNorm over the last axis; gamma, beta (C) or both NULL. */
rf_tensor *rf_layernorm(rf_ctx *ctx, rf_tensor *x, rf_tensor *gamma, rf_tensor *beta, float eps);
/* LayerNorm over channels of NCHW (per pixel), RF-DETR's projector norm. */
rf_tensor *rf_channel_layernorm(rf_ctx *ctx, rf_tensor *x, rf_tensor *gamma, rf_tensor *beta, float eps);

/* ---- matrix products ------------------------------------------------------------------ */
/* a (..., m, k) x b (..., k, n) -> (..., m, n); the transposes apply to the
 * last two axes. Batch axes must match, or one side has none (broadcast). */
rf_tensor *rf_matmul(rf_ctx *ctx, rf_tensor *a, rf_tensor *b, bool trans_a, bool trans_b);
/* x (..., in) W (out, in) + b (out) -> (..., out), as torch.nn.Linear; b may be NULL. */
rf_tensor *rf_linear(rf_ctx *ctx, rf_tensor *x, rf_tensor *w, rf_tensor *b);

/* ---- shapes and copies ------------------------------------------------------------------ */
/* Views share storage with their input (no copy) where the layout allows. */
rf_tensor *rf_reshape(rf_ctx *ctx, rf_tensor *x, int ndim, const int64_t *shape); /* one -1 allowed */
rf_tensor *rf_permute(rf_ctx *ctx, rf_tensor *x, const int *perm);
rf_tensor *rf_transpose(rf_ctx *ctx, rf_tensor *x, int d0, int d1);
rf_tensor *rf_slice(rf_ctx *ctx, rf_tensor *x, int dim, int64_t start, int64_t end);
/* A contiguous copy (or x itself when already contiguous). */
rf_tensor *rf_contiguous(rf_ctx *ctx, rf_tensor *x);
rf_tensor *rf_concat(rf_ctx *ctx, rf_tensor *const *xs, int n, int dim);
/* Zero padding of the last two axes: (…, H, W) -> (…, H+top+bottom, W+left+right). */
rf_tensor *rf_pad2d(rf_ctx *ctx, rf_tensor *x, int64_t top, int64_t bottom, int64_t left, int64_t right);
/* Windowed ViT: (B, H, W, C) -> (B * wh * ww, H/wh * W/ww, C) with wh x ww windows
 * (window-major, then row-major inside a window), and back. */
rf_tensor *rf_window_partition(rf_ctx *ctx, rf_tensor *x, int64_t windows_h, int64_t windows_w);
rf_tensor *rf_window_reverse(rf_ctx *ctx, rf_tensor *x, int64_t batch, int64_t h, int64_t w, int64_t windows_h,
                             int64_t windows_w);

/* ---- attention ---------------------------------------------------------------------------- */
/* Multi-head scaled dot-product attention softmax(scale q k^T + mask) v:
 * q (B, H, Lq, D), k (B, H, Lk, D), v (B, H, Lk, Dv) -> (B, H, Lq, Dv);
 * mask NULL or (Lq, Lk) additive, no gradient (Group DETR's block-diagonal
 * mask has -inf between query groups). One fused kernel where the device
 * has one (the cpu: scores tile by tile, never the whole Lq x Lk matrix;
 * the result is then a view of (B, Lq, H, Dv) storage), else matmul +
 * softmax + matmul with the scale applied to q. */
rf_tensor *rf_attention(rf_ctx *ctx, rf_tensor *q, rf_tensor *k, rf_tensor *v, rf_tensor *mask, float scale);

/* ---- helpers for ops -------------------------------------------------------------------- */
/* Checks that t lives on ctx's device; records a device-mismatch error. */
bool rf_op_check_device(rf_ctx *ctx, const char *op, const rf_tensor *t);
bool rf_op_check_f32(rf_ctx *ctx, const char *op, const rf_tensor *t);
/* Launch-result helper for ops: records a failing kernel status. */
bool rf_op_ok(rf_ctx *ctx, rf_status s);

#endif /* RFDETR_OPS_H */
