/* ops_conv.c — the GEMM-based image ops: conv2d (im2col + GEMM, col2im in
 * the backward pass) and the bicubic antialiased resize (two GEMMs with
 * host-built interpolation matrices). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "core/ops.h"
#include "core/ops_vision.h"

/* C[i] (+)= op(A[i]) op(B[i]) for i < batch on contiguous row-major
 * matrices at element offsets a_off / b_off / c_off of the tensors'
 * storage; a per-batch stride of 0 broadcasts that operand. */
typedef struct gemm_operand {
    const rf_tensor *t;
    size_t off;      /* elements past t's own offset */
    int64_t stride;  /* per batch entry */
} gemm_operand;

static bool gemm_bias(rf_ctx *ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k, gemm_operand a, gemm_operand b,
                      gemm_operand c, int64_t batch, float beta, const rf_tensor *row_bias) {
    if (ctx->status != RF_OK) return false;
    if (m == 0 || n == 0 || batch == 0) return true;
    rf_gemm_desc d = {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .alpha = 1.0f, .beta = beta,
                      .a = a.t->buffer, .a_offset = a.t->offset + a.off, .lda = ta ? m : k, .stride_a = a.stride,
                      .b = b.t->buffer, .b_offset = b.t->offset + b.off, .ldb = tb ? k : n, .stride_b = b.stride,
                      .c = c.t->buffer, .c_offset = c.t->offset + c.off, .ldc = n, .stride_c = c.stride,
                      .batch = batch, .compute = ctx->precision};
    if (row_bias) {
        d.bias = row_bias->buffer;
        d.bias_offset = row_bias->offset;
        d.bias_rows = true;
    }
    if (d.lda < 1) d.lda = 1;
    if (d.ldb < 1) d.ldb = 1;
    return rf_op_ok(ctx, rf_gemm(ctx->device, &d));
}

static bool gemm(rf_ctx *ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k, gemm_operand a, gemm_operand b,
                 gemm_operand c, int64_t batch, float beta) {
    return gemm_bias(ctx, ta, tb, m, n, k, a, b, c, batch, beta, NULL);
}

static gemm_operand whole(const rf_tensor *t, int64_t stride) { return (gemm_operand){t, 0, stride}; }

/* Records a tape node carrying a copy of the op's parameters. */
static rf_node *record(rf_ctx *ctx, const char *op, rf_backward_fn backward, rf_tensor *y, rf_tensor *const *inputs,
                       int n, const void *params, size_t size) {
    rf_node *node = rf_ctx_record(ctx, op, backward, y, inputs, n);
    void *copy = node ? rf_ctx_host_alloc(ctx, size) : NULL;
    if (!copy) return NULL;
    memcpy(copy, params, size);
    node->params = copy;
    return node;
}

/* ---- conv2d ---------------------------------------------------------------------- */

typedef struct conv_params {
    rf_im2col_args geom; /* sizes only; buffers are filled per launch */
    int64_t cout;
    bool direct;         /* 1x1, stride 1, no padding: col is x itself */
    bool patch;          /* kernel = stride, no padding, tiling the input exactly: col is x permuted */
} conv_params;

/* A patch embedding's col (N, C*kh*kw, Ho*Wo) is its input with axes
 * permuted, (n, c, i, j, oy, ox) <- x[n, c, oy*kh + i, ox*kw + j]: a strided
 * copy (one pass, no index arithmetic per tap), in either direction. */
static rf_copy_args patch_copy(const rf_im2col_args *g, rf_mem x, rf_mem col, bool to_col, bool accumulate) {
    rf_view xv = {x.buf, x.off, {g->c * g->h * g->w, g->h * g->w, g->w, 1, g->kh * g->w, g->kw}};
    rf_view cv = {col.buf, col.off,
                  {g->c * g->kh * g->kw * g->ho * g->wo, g->kh * g->kw * g->ho * g->wo, g->kw * g->ho * g->wo,
                   g->ho * g->wo, g->wo, 1}};
    return (rf_copy_args){.ndim = 6, .shape = {g->n, g->c, g->kh, g->kw, g->ho, g->wo}, .src = to_col ? xv : cv,
                          .dst = to_col ? cv : xv, .accumulate = accumulate};
}

static void conv2d_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *x = node->in[0], *w = node->in[1], *b = node->in[2], *dy = node->out->grad, *col = node->saved[0];
    const conv_params *p = node->params;
    const rf_im2col_args *g = &p->geom;
    int64_t n = g->n, k = g->c * g->kh * g->kw, l = g->ho * g->wo, cout = p->cout;
    if (w->requires_grad) {
        /* dW (Cout, K) += dy[i] (Cout, L) col[i]^T, batch entries in order. */
        rf_tensor *dw = rf_grad_of(ctx, w);
        for (int64_t i = 0; dw && i < n && ctx->status == RF_OK; i++)
            gemm(ctx, false, true, cout, k, l, (gemm_operand){dy, (size_t)(i * cout * l), 0},
                 (gemm_operand){col, (size_t)(i * k * l), 0}, whole(dw, 0), 1, 1.0f);
    }
    if (b && b->requires_grad) {
        rf_tensor *db = rf_grad_of(ctx, b);
        rf_reduce_args a = {.op = RF_REDUCE_SUM, .ndim = 3, .shape = {n, cout, l}, .reduce_mask = 5u,
                            .x = rf_tensor_view(dy), .y = db ? rf_tensor_mem(db) : (rf_mem){0}, .accumulate = true};
        a.x.stride[0] = cout * l;
        a.x.stride[1] = l;
        a.x.stride[2] = 1;
        if (db && n && l) rf_op_ok(ctx, rf_kernel_reduce(ctx->device, &a));
    }
    if (!x->requires_grad) return;
    bool acc;
    rf_tensor *dx = rf_grad_for_write(ctx, x, &acc);
    if (!dx) return;
    if (p->direct) { /* dx[i] (Cin, L) (+)= W^T dy[i] */
        gemm(ctx, true, false, k, l, cout, whole(w, 0), whole(dy, cout * l), whole(dx, k * l), n, acc ? 1.0f : 0.0f);
        return;
    }
    rf_tensor *dcol = rf_ctx_tensor(ctx, RF_F32, 3, (int64_t[]){n, k, l});
    if (!dcol || !gemm(ctx, true, false, k, l, cout, whole(w, 0), whole(dy, cout * l), whole(dcol, k * l), n, 0.0f))
        return;
    if (p->patch) {
        rf_copy_args a = patch_copy(g, rf_tensor_mem(dx), rf_tensor_mem(dcol), false, acc);
        rf_op_ok(ctx, rf_kernel_copy(ctx->device, &a));
        return;
    }
    rf_col2im_args a = {g->n,     g->c,     g->h,  g->w,  g->kh, g->kw, g->stride_h, g->stride_w, g->pad_h,
                        g->pad_w, g->ho,    g->wo, rf_tensor_mem(dcol), rf_tensor_mem(dx), acc};
    rf_op_ok(ctx, rf_kernel_col2im(ctx->device, &a));
}

rf_tensor *rf_conv2d(rf_ctx *ctx, rf_tensor *x, rf_tensor *w, rf_tensor *b, int stride, int pad) {
    if (!rf_op_check_f32(ctx, "conv2d", x) || !rf_op_check_f32(ctx, "conv2d", w)) return NULL;
    if (b && !rf_op_check_f32(ctx, "conv2d", b)) return NULL;
    char xs[96], ws[96];
    if (x->ndim != 4 || w->ndim != 4 || x->shape[1] != w->shape[1])
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "conv2d: input %s (N, Cin, H, W) does not fit weight %s (Cout, Cin, kh, kw)",
                           rf_shape_str(x, xs, sizeof xs), rf_shape_str(w, ws, sizeof ws));
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "conv2d: bias %s must be (Cout) for weight %s",
                           rf_shape_str(b, xs, sizeof xs), rf_shape_str(w, ws, sizeof ws));
    int64_t n = x->shape[0], cin = x->shape[1], h = x->shape[2], wd = x->shape[3];
    int64_t cout = w->shape[0], kh = w->shape[2], kw = w->shape[3];
    if (stride < 1 || pad < 0 || kh < 1 || kw < 1 || h + 2 * pad < kh || wd + 2 * pad < kw)
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "conv2d: kernel %lldx%lld, stride %d, pad %d on a %lldx%lld input",
                           (long long)kh, (long long)kw, stride, pad, (long long)h, (long long)wd);
    int64_t ho = (h + 2 * pad - kh) / stride + 1, wo = (wd + 2 * pad - kw) / stride + 1;
    int64_t k = cin * kh * kw, l = ho * wo;
    x = rf_contiguous(ctx, x);
    w = rf_contiguous(ctx, w);
    if (!x || !w) return NULL;
    conv_params p = {{n, cin, h, wd, kh, kw, stride, stride, pad, pad, ho, wo, {0}, {0}}, cout,
                     kh == 1 && kw == 1 && stride == 1 && pad == 0,
                     kh == stride && kw == stride && pad == 0 && h % kh == 0 && wd % kw == 0};
    rf_tensor *col = x;
    if (!p.direct) {
        col = rf_ctx_tensor(ctx, RF_F32, 3, (int64_t[]){n, k, l});
        if (!col) return NULL;
        rf_im2col_args a = p.geom;
        a.x = rf_tensor_mem(x);
        a.col = rf_tensor_mem(col);
        rf_copy_args patch = patch_copy(&p.geom, a.x, a.col, true, false);
        if (n * k * l > 0 &&
            !rf_op_ok(ctx, p.patch ? rf_kernel_copy(ctx->device, &patch) : rf_kernel_im2col(ctx->device, &a)))
            return NULL;
    }
    rf_tensor *y = rf_ctx_tensor(ctx, RF_F32, 4, (int64_t[]){n, cout, ho, wo});
    if (!y) return NULL;
    if (b) b = rf_contiguous(ctx, b);
    /* y[i] (Cout, L) = W (Cout, K) col[i] (K, L) + b (one per row), W broadcast over the batch. */
    if (!gemm_bias(ctx, false, false, cout, l, k, whole(w, 0), whole(col, k * l), whole(y, cout * l), n, 0.0f, b))
        return NULL;
    rf_tensor *inputs[3] = {x, w, b};
    if (rf_needs_grad(ctx, inputs, 3)) {
        rf_node *node = record(ctx, "conv2d", conv2d_backward, y, inputs, 3, &p, sizeof p);
        if (!node) return NULL;
        node->saved[0] = col;
    }
    return y;
}

/* ---- bicubic antialiased resize -------------------------------------------------------- */

/* Keys' cubic convolution kernel with a = -0.5, the one PyTorch's
 * antialiased bicubic uses (its plain bicubic uses -0.75). */
static double cubic_aa(double x) {
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/* PyTorch's separable antialiased weights for one axis: output i is centred
 * at scale * (i + 0.5) in input coordinates; when shrinking, the cubic is
 * stretched by the scale (support 2 * scale) so it low-pass filters; each
 * row is normalized to sum to 1 over the taps inside the input, which is
 * how the borders are handled. */
void rf_bicubic_aa_matrix(int64_t in_size, int64_t out_size, double scale, double *m) {
    if (scale <= 0) scale = (double)in_size / (double)out_size;
    else scale = 1.0 / scale;
    double support = scale >= 1.0 ? 2.0 * scale : 2.0, invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
    int64_t max_taps = (int64_t)ceil(support) * 2 + 1;
    for (int64_t i = 0; i < out_size; i++) {
        double *row = m + i * in_size;
        for (int64_t j = 0; j < in_size; j++) row[j] = 0;
        double center = scale * ((double)i + 0.5);
        /* Truncation as in PyTorch; negative starts clamp to 0 anyway. */
        int64_t lo = (int64_t)(center - support + 0.5), hi = (int64_t)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        int64_t taps = hi - lo;
        if (taps > max_taps) taps = max_taps; /* rounding can add one */
        double total = 0;
        for (int64_t j = 0; j < taps; j++) total += row[lo + j] = cubic_aa(((double)(lo + j) - center + 0.5) * invscale);
        if (total != 0)
            for (int64_t j = 0; j < taps; j++) row[lo + j] /= total;
    }
}

typedef struct resize_params {
    int64_t planes, h, w, out_h, out_w;
} resize_params;

/* The matrix of one axis as a device tensor. */
static rf_tensor *aa_matrix_tensor(rf_ctx *ctx, int64_t in_size, int64_t out_size, double scale) {
    size_t count = (size_t)(in_size * out_size);
    float *f = rf_ctx_host_alloc(ctx, count * sizeof *f);
    if (!f) return NULL;
    double *m = malloc(count * sizeof *m);
    if (!m) return rf_ctx_fail(ctx, RF_ERR_OUT_OF_MEMORY, "resize: out of host memory");
    rf_bicubic_aa_matrix(in_size, out_size, scale, m);
    for (size_t i = 0; i < count; i++) f[i] = (float)m[i];
    free(m);
    return rf_ctx_from_host(ctx, RF_F32, 2, (int64_t[]){out_size, in_size}, f);
}

static void resize_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *x = node->in[0], *dy = node->out->grad, *ah = node->saved[0], *aw = node->saved[1];
    if (!x->requires_grad) return;
    const resize_params *p = node->params;
    bool acc;
    rf_tensor *dx = rf_grad_for_write(ctx, x, &acc);
    rf_tensor *dt = rf_ctx_tensor(ctx, RF_F32, 2, (int64_t[]){p->planes * p->h, p->out_w});
    if (!dx || !dt) return;
    /* dt[r] (H, out_w) = Ah^T dy[r]; dx (R*H, W) (+)= dt Aw */
    if (gemm(ctx, true, false, p->h, p->out_w, p->out_h, whole(ah, 0), whole(dy, p->out_h * p->out_w),
             whole(dt, p->h * p->out_w), p->planes, 0.0f))
        gemm(ctx, false, false, p->planes * p->h, p->w, p->out_w, whole(dt, 0), whole(aw, 0), whole(dx, 0), 1,
             acc ? 1.0f : 0.0f);
}

rf_tensor *rf_resize_bicubic_aa_scaled(rf_ctx *ctx, rf_tensor *x, int64_t out_h, int64_t out_w, double scale_h,
                                       double scale_w) {
    if (!rf_op_check_f32(ctx, "resize_bicubic_aa", x)) return NULL;
    char xs[96];
    if ((x->ndim != 3 && x->ndim != 4) || out_h < 1 || out_w < 1 || x->shape[x->ndim - 1] < 1 || x->shape[x->ndim - 2] < 1)
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "resize_bicubic_aa: input %s must be (C, H, W) or (N, C, H, W), output %lldx%lld",
                           rf_shape_str(x, xs, sizeof xs), (long long)out_h, (long long)out_w);
    int64_t h = x->shape[x->ndim - 2], w = x->shape[x->ndim - 1];
    resize_params p = {rf_tensor_numel(x) / (h * w), h, w, out_h, out_w};
    x = rf_contiguous(ctx, x);
    rf_tensor *ah = aa_matrix_tensor(ctx, h, out_h, scale_h), *aw = aa_matrix_tensor(ctx, w, out_w, scale_w);
    rf_tensor *t = rf_ctx_tensor(ctx, RF_F32, 2, (int64_t[]){p.planes * h, out_w});
    int64_t shape[4];
    for (int i = 0; i < x->ndim - 2; i++) shape[i] = x->shape[i];
    shape[x->ndim - 2] = out_h;
    shape[x->ndim - 1] = out_w;
    rf_tensor *y = rf_ctx_tensor(ctx, RF_F32, x->ndim, shape);
    if (!x || !ah || !aw || !t || !y) return NULL;
    /* Along W for all rows at once, then along H per plane (Ah broadcast). */
    if (!gemm(ctx, false, true, p.planes * h, out_w, w, whole(x, 0), whole(aw, 0), whole(t, 0), 1, 0.0f) ||
        !gemm(ctx, false, false, out_h, out_w, h, whole(ah, 0), whole(t, h * out_w), whole(y, out_h * out_w), p.planes, 0.0f))
        return NULL;
    if (rf_needs_grad(ctx, (rf_tensor *const[]){x}, 1)) {
        rf_node *node = record(ctx, "resize_bicubic_aa", resize_backward, y, (rf_tensor *const[]){x}, 1, &p, sizeof p);
        if (!node) return NULL;
        node->saved[0] = ah;
        node->saved[1] = aw;
    }
    return y;
}

rf_tensor *rf_resize_bicubic_aa(rf_ctx *ctx, rf_tensor *x, int64_t out_h, int64_t out_w) {
    return rf_resize_bicubic_aa_scaled(ctx, x, out_h, out_w, 0.0, 0.0);
}
