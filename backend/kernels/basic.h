/* basic.h — elementwise, broadcasting, copies, reductions, max, softmax and
 * layer norms: the math of every device (generic over RF_S) and the kernels
 * of the GPU backends. Part of the one kernel source (device.h).
 *
 * Rows are reduced by a work-group when neighbouring work items then read
 * neighbouring addresses (a row stored contiguously), and by one work item
 * per row when the rows themselves are the contiguous axis (a channel layer
 * norm on NCHW, a sum over a leading axis): the launchers pick by the
 * strides. Every kernel is deterministic: fixed summation orders, no
 * floating-point atomics. */
#ifndef RFDETR_KERNELS_BASIC_H
#define RFDETR_KERNELS_BASIC_H

#ifndef __OPENCL_VERSION__
#include "backend/kernels/common.h"
#include "backend/kernels/half.h"
#include "backend/kernels/ops.h"
#endif

RF_FN RF_S rf_unary_value(int op, RF_S x, RF_S alpha, RF_S beta) {
    switch (op) {
    case RF_UNARY_IDENTITY: return x;
    case RF_UNARY_AFFINE: return alpha * x + beta;
    case RF_UNARY_RELU: return x > RF_C(0.0) ? x : RF_C(0.0);
    /* erfc keeps the far negative tail: 1 + erf(z) cancels to 0. */
    case RF_UNARY_GELU: return RF_C(0.5) * x * rf_erfc(-x * RF_C(0.70710678118654752440));
    case RF_UNARY_SILU: return x * rf_sigmoid(x);
    case RF_UNARY_SIGMOID: return rf_sigmoid(x);
    case RF_UNARY_EXP: return exp(x);
    case RF_UNARY_LOG_SIGMOID: return fmin(x, RF_C(0.0)) - log1p(exp(-fabs(x)));
    case RF_UNARY_TANH: return tanh(x);
    case RF_UNARY_SQRT: return sqrt(x);
    case RF_UNARY_LOG: return log(x);
    case RF_UNARY_INVERSE_SIGMOID: {
        RF_S c = fmin(fmax(x, RF_C(0.0)), RF_C(1.0));
        return log(fmax(c, alpha) / fmax(RF_C(1.0) - c, alpha));
    }
    case RF_UNARY_SIN: return sin(x);
    /* From the float x holds (the reference's double came from one). */
    case RF_UNARY_ROUND_BF16: return rf_round_bf16((float)x);
    case RF_UNARY_ROUND_F16: return rf_round_f16((float)x);
    default: return RF_NAN;
    }
}

/* d f / d x at x (y = f(x) given for the forms that use it). */
RF_FN RF_S rf_unary_derivative(int op, RF_S x, RF_S y, RF_S alpha) {
    switch (op) {
    case RF_UNARY_IDENTITY: return RF_C(1.0);
    case RF_UNARY_AFFINE: return alpha;
    case RF_UNARY_RELU: return x > RF_C(0.0) ? RF_C(1.0) : RF_C(0.0);
    case RF_UNARY_GELU:
        return RF_C(0.5) * rf_erfc(-x * RF_C(0.70710678118654752440)) +
               x * exp(RF_C(-0.5) * x * x) * RF_C(0.39894228040143267794);
    case RF_UNARY_SILU: {
        RF_S s = rf_sigmoid(x);
        return s * (RF_C(1.0) + x * (RF_C(1.0) - s));
    }
    case RF_UNARY_SIGMOID: return y * (RF_C(1.0) - y);
    case RF_UNARY_EXP: return y;
    case RF_UNARY_LOG_SIGMOID: return rf_sigmoid(-x);
    case RF_UNARY_TANH: return RF_C(1.0) - y * y;
    case RF_UNARY_SQRT: return RF_C(0.5) / y;
    case RF_UNARY_LOG: return RF_C(1.0) / x;
    case RF_UNARY_INVERSE_SIGMOID: {
        /* torch.clamp passes the gradient where min <= x <= max. */
        if (x < RF_C(0.0) || x > RF_C(1.0)) return RF_C(0.0);
        RF_S g = RF_C(0.0);
        if (x >= alpha) g += RF_C(1.0) / x;
        if (RF_C(1.0) - x >= alpha) g += RF_C(1.0) / (RF_C(1.0) - x);
        return g;
    }
    case RF_UNARY_SIN: return cos(x);
    /* Straight through, as autocast's casts pass gradients. */
    case RF_UNARY_ROUND_BF16: return RF_C(1.0);
    case RF_UNARY_ROUND_F16: return RF_C(1.0);
    default: return RF_NAN;
    }
}

RF_FN RF_S rf_binary_value(int op, RF_S a, RF_S b) {
    switch (op) {
    case RF_BINARY_ADD: return a + b;
    case RF_BINARY_SUB: return a - b;
    case RF_BINARY_MUL: return a * b;
    case RF_BINARY_DIV: return a / b;
    default: return RF_NAN;
    }
}

/* Element (r, c) of a layer norm's rows: see rf_layernorm_args. */
RF_FN rf_long rf_ln_base(rf_long r, rf_long inner, rf_long outer_stride) {
    return (r / inner) * outer_stride + r % inner;
}

#ifdef RF_DEVICE_GPU

/* One kernel per op (ops.h's RF_UNARY_OPS), so the op folds away. */
#define RF_UNARY_KERNELS(unused, OP, name)                                                                       \
    RF_KERNEL unary_##name##_f32(rf_long n, RF_GLOBAL const float *x, rf_ulong x_off, RF_GLOBAL float *y,         \
                                 rf_ulong y_off, float alpha, float beta) {                                       \
        rf_long i = rf_global_id(0);                                                                              \
        if (i < n) y[y_off + i] = rf_unary_value(OP, x[x_off + i], alpha, beta);                                  \
    }                                                                                                             \
    RF_KERNEL unary_backward_##name##_f32(rf_long n, RF_GLOBAL const float *x, rf_ulong x_off,                    \
                                          RF_GLOBAL const float *y, rf_ulong y_off, RF_GLOBAL const float *dy,    \
                                          rf_ulong dy_off, RF_GLOBAL float *dx, rf_ulong dx_off, float alpha,     \
                                          int accumulate) {                                                       \
        rf_long i = rf_global_id(0);                                                                              \
        if (i >= n) return;                                                                                       \
        float g = rf_unary_derivative(OP, x[x_off + i], y[y_off + i], alpha) * dy[dy_off + i];                    \
        dx[dx_off + i] = accumulate ? dx[dx_off + i] + g : g;                                                     \
    }
RF_UNARY_OPS(RF_UNARY_KERNELS, _)

/* Floats to bf16/fp16 pairs and back (rf_convert_args): a work item per
 * 32-bit word when packing (whole words, no 16-bit stores), per value when
 * unpacking. */
#define RF_CONVERT_KERNELS(fmt)                                                                                   \
    RF_KERNEL to_##fmt##_f32(rf_long n, RF_GLOBAL const float *src, rf_ulong src_off, RF_GLOBAL rf_uint *dst,      \
                             rf_ulong dst_off) {                                                                   \
        rf_long w = rf_global_id(0);                                                                              \
        if (2 * w >= n) return;                                                                                   \
        rf_uint lo = rf_f32_to_##fmt(src[src_off + 2 * w]);                                                       \
        rf_uint hi = 2 * w + 1 < n ? rf_f32_to_##fmt(src[src_off + 2 * w + 1]) : 0u;                             \
        dst[dst_off + w] = (lo & 0xffffu) | (hi << 16);                                                           \
    }                                                                                                             \
    RF_KERNEL from_##fmt##_f32(rf_long n, RF_GLOBAL const rf_uint *src, rf_ulong src_off, RF_GLOBAL float *dst,    \
                               rf_ulong dst_off) {                                                                 \
        rf_long i = rf_global_id(0);                                                                              \
        if (i < n) dst[dst_off + i] = rf_##fmt##_to_f32(src[src_off + i / 2] >> (16 * (i % 2)));                  \
    }
RF_CONVERT_KERNELS(bf16)
RF_CONVERT_KERNELS(f16)

/* Binary ops and copies over a collapsed shape of up to three axes run
 * over an rf_launch_nd range with each operand's three strides (last axis
 * first) and one kernel per op; more axes take the _nd kernels, which
 * divide to find the leading axes' offsets. */
#define RF_BINARY_KERNEL(unused, OP, name)                                                                        \
    RF_KERNEL binary_##name##_f32(rf_long n0, rf_long n1, rf_long n2, RF_GLOBAL const float *a, rf_ulong a_off,   \
                                  rf_long a0, rf_long a1, rf_long a2, RF_GLOBAL const float *b, rf_ulong b_off,   \
                                  rf_long b0, rf_long b1, rf_long b2, RF_GLOBAL float *y, rf_ulong y_off,         \
                                  rf_long y0, rf_long y1, rf_long y2, int accumulate) {                           \
        RF_ND_LOOP(n0, n1, n2, i0, i1, i2) {                                                                      \
            float v = rf_binary_value(OP, a[a_off + i0 * a0 + i1 * a1 + i2 * a2], b[b_off + i0 * b0 + i1 * b1 + i2 * b2]); \
            RF_GLOBAL float *out = y + y_off + i0 * y0 + i1 * y1 + i2 * y2;                                        \
            *out = accumulate ? *out + v : v;                                                                     \
        }                                                                                                         \
    }
RF_BINARY_OPS(RF_BINARY_KERNEL, _)

RF_KERNEL binary_nd_f32(int op, int ndim, rf_long n0, rf_long n1, rf_long n2, rf_long8 shape, RF_GLOBAL const float *a,
                        rf_ulong a_off, rf_long8 sa, RF_GLOBAL const float *b, rf_ulong b_off, rf_long8 sb,
                        RF_GLOBAL float *y, rf_ulong y_off, rf_long8 sy, int accumulate) {
    RF_ND_LOOP(n0, n1, n2, i0, i1, i2) {
        float v = rf_binary_value(op, a[a_off + rf_nd3_offset(i0, i1, i2, ndim, shape, sa)],
                                  b[b_off + rf_nd3_offset(i0, i1, i2, ndim, shape, sb)]);
        RF_GLOBAL float *out = y + y_off + rf_nd3_offset(i0, i1, i2, ndim, shape, sy);
        *out = accumulate ? *out + v : v;
    }
}

RF_KERNEL copy_f32(rf_long n0, rf_long n1, rf_long n2, RF_GLOBAL const float *src, rf_ulong src_off, rf_long s0,
                   rf_long s1, rf_long s2, RF_GLOBAL float *dst, rf_ulong dst_off, rf_long d0, rf_long d1, rf_long d2,
                   int accumulate) {
    RF_ND_LOOP(n0, n1, n2, i0, i1, i2) {
        float v = src[src_off + i0 * s0 + i1 * s1 + i2 * s2];
        RF_GLOBAL float *out = dst + dst_off + i0 * d0 + i1 * d1 + i2 * d2;
        *out = accumulate ? *out + v : v;
    }
}

/* Four or five axes: the leading ones' indices come from i2 by two
 * divisions written out (no loop over axes), which PoCL hoists out of its
 * work-group loops, since i2 is one value per group. Range as rf_launch_nd
 * gives it; l2 is the size of the axis before i1's, l1 that of the one
 * before (with four axes the first, so the quotient j0 is 0). */
RF_KERNEL copy5_f32(rf_long n0, rf_long n1, rf_long n2, rf_long l1, rf_long l2, RF_GLOBAL const float *src,
                    rf_ulong src_off, rf_long s0, rf_long s1, rf_long s2, rf_long s3, rf_long s4, RF_GLOBAL float *dst,
                    rf_ulong dst_off, rf_long d0, rf_long d1, rf_long d2, rf_long d3, rf_long d4, int accumulate) {
    RF_ND_LOOP(n0, n1, n2, i0, i1, i2) {
        rf_long q = i2 / l2, j2 = i2 - q * l2, j0 = q / l1, j1 = q - j0 * l1;
        float v = src[src_off + i0 * s0 + i1 * s1 + j2 * s2 + j1 * s3 + j0 * s4];
        RF_GLOBAL float *out = dst + dst_off + i0 * d0 + i1 * d1 + j2 * d2 + j1 * d3 + j0 * d4;
        *out = accumulate ? *out + v : v;
    }
}

RF_KERNEL copy_nd_f32(int ndim, rf_long n0, rf_long n1, rf_long n2, rf_long8 shape, RF_GLOBAL const float *src,
                      rf_ulong src_off, rf_long8 ss, RF_GLOBAL float *dst, rf_ulong dst_off, rf_long8 sd,
                      int accumulate) {
    RF_ND_LOOP(n0, n1, n2, i0, i1, i2) {
        float v = src[src_off + rf_nd3_offset(i0, i1, i2, ndim, shape, ss)];
        RF_GLOBAL float *out = dst + dst_off + rf_nd3_offset(i0, i1, i2, ndim, shape, sd);
        *out = accumulate ? *out + v : v;
    }
}

RF_FN float rf_reduce_finish(int op, float sum, rf_long n_red) {
    if (op == RF_REDUCE_MEAN) return n_red ? sum / (float)n_red : RF_NAN;
    return sum;
}

/* One work item per output: walks the reduced axes in row-major order
 * (incrementally, no divisions in the loop). For outputs that are the
 * contiguous axis, so neighbouring items read neighbouring addresses. */
RF_KERNEL reduce_items_f32(int op, int kept_ndim, rf_long n_out, rf_long8 kept_shape, rf_long8 kept_stride,
                           int red_ndim, rf_long n_red, rf_long8 red_shape, rf_long8 red_stride,
                           RF_GLOBAL const float *x, rf_ulong x_off, RF_GLOBAL float *y, rf_ulong y_off,
                           int accumulate) {
    rf_long o = rf_global_id(0);
    if (o >= n_out) return;
    rf_long base = x_off + rf_nd_offset(o, kept_ndim, kept_shape, kept_stride);
    rf_long idx[RF_MAX_DIMS] = {0, 0, 0, 0, 0, 0};
    rf_long off = 0;
    rf_kahan acc = {0.0f, 0.0f};
    for (rf_long r = 0; r < n_red; r++) {
        float v = x[base + off];
        rf_kahan_add(&acc, op == RF_REDUCE_SUMSQ ? v * v : v);
        for (int k = red_ndim - 1; k >= 0; k--) {
            idx[k]++;
            off += rf_lane(red_stride, k);
            if (idx[k] < rf_lane(red_shape, k)) break;
            off -= idx[k] * rf_lane(red_stride, k);
            idx[k] = 0;
        }
    }
    float v = rf_reduce_finish(op, acc.sum, n_red);
    y[y_off + o] = accumulate ? y[y_off + o] + v : v;
}

/* reduce_items_f32 for one kept and one reduced axis (after collapsing):
 * bias gradients, row sums. Without the general kernel's index arrays,
 * PoCL vectorises it across outputs. */
RF_FN void rf_reduce_line_one(int op, rf_long o, rf_long kept_stride, rf_long n_red, rf_long red_stride,
                               RF_GLOBAL const float *x, RF_GLOBAL float *y, int accumulate) {
    RF_GLOBAL const float *xo = x + o * kept_stride;
    rf_kahan acc = {0.0f, 0.0f};
    for (rf_long r = 0; r < n_red; r++) {
        float v = xo[r * red_stride];
        rf_kahan_add(&acc, op == RF_REDUCE_SUMSQ ? v * v : v);
    }
    float v = rf_reduce_finish(op, acc.sum, n_red);
    y[o] = accumulate ? y[o] + v : v;
}

RF_KERNEL reduce_line_f32(int op, rf_long n_out, rf_long kept_stride, rf_long n_red, rf_long red_stride,
                          RF_GLOBAL const float *x, rf_ulong x_off, RF_GLOBAL float *y, rf_ulong y_off, int accumulate) {
    rf_long o = rf_global_id(0);
    if (o < n_out) rf_reduce_line_one(op, o, kept_stride, n_red, red_stride, x + x_off, y + y_off, accumulate);
}

#ifdef __OPENCL_VERSION__
/* reduce_line_f32 over contiguous outputs (kept stride 1), 16 per work item
 * in OpenCL's 16-wide vectors, for CPU-backed OpenCL: PoCL vectorises no
 * kernel that loops, so the loop is written vectorised (bias gradients are
 * sums down a column). Each lane runs the same compensated sum. */
RF_KERNEL reduce_line16_f32(int op, rf_long n_out, rf_long n_red, rf_long red_stride, RF_GLOBAL const float *x,
                            rf_ulong x_off, RF_GLOBAL float *y, rf_ulong y_off, int accumulate) {
    rf_long o = rf_global_id(0) * 16;
    if (o >= n_out) return;
    if (o + 16 > n_out) {
        for (; o < n_out; o++) rf_reduce_line_one(op, o, 1, n_red, red_stride, x + x_off, y + y_off, accumulate);
        return;
    }
    RF_GLOBAL const float *xo = x + x_off + o;
    float16 sum = 0.0f, comp = 0.0f;
    for (rf_long r = 0; r < n_red; r++) {
        float16 v = vload16(0, xo + r * red_stride);
        if (op == RF_REDUCE_SUMSQ) v = v * v;
        float16 yv = v - comp;
        float16 t = sum + yv;
        comp = (t - sum) - yv;
        sum = t;
    }
    if (op == RF_REDUCE_MEAN) sum = n_red ? sum / (float)n_red : (float16)RF_NAN;
    RF_GLOBAL float *yo = y + y_off + o;
    if (accumulate) sum += vload16(0, yo);
    vstore16(sum, 0, yo);
}
#endif

/* One work-group per output: the group strides over the reduced elements.
 * For reductions along the contiguous axis and for few, long reductions. */
RF_KERNEL reduce_groups_f32(int op, int kept_ndim, rf_long n_out, rf_long8 kept_shape, rf_long8 kept_stride,
                            int red_ndim, rf_long n_red, rf_long8 red_shape, rf_long8 red_stride,
                            RF_GLOBAL const float *x, rf_ulong x_off, RF_GLOBAL float *y, rf_ulong y_off,
                            int accumulate) {
    RF_LOCAL_ARRAY(float, buf, RF_GROUP);
    rf_long o = rf_group_id(0);
    rf_long base = x_off + rf_nd_offset(o, kept_ndim, kept_shape, kept_stride);
    rf_kahan acc = {0.0f, 0.0f};
    for (rf_long r = rf_local_id(0); r < n_red; r += rf_local_size(0)) {
        float v = x[base + rf_nd_offset(r, red_ndim, red_shape, red_stride)];
        rf_kahan_add(&acc, op == RF_REDUCE_SUMSQ ? v * v : v);
    }
    float v = rf_reduce_finish(op, rf_group_sum(acc.sum, buf), n_red);
    if (rf_local_id(0) == 0) y[y_off + o] = accumulate ? y[y_off + o] + v : v;
}

/* max_last's order: the first NaN is the maximum, else the larger value,
 * ties to the lower index. */
RF_FN int rf_max_before(float a, rf_long ia, float b, rf_long ib) {
    if (rf_isnan(a) || rf_isnan(b)) return rf_isnan(a) && (!rf_isnan(b) || ia < ib);
    return a > b || (a == b && ia < ib);
}

/* One work-group per row. */
RF_KERNEL max_last_f32(rf_long rows, rf_long cols, RF_GLOBAL const float *x, rf_ulong x_off, RF_GLOBAL float *values,
                       rf_ulong v_off, RF_GLOBAL int *indices, rf_ulong i_off) {
    RF_LOCAL_ARRAY(float, best_v, RF_GROUP);
    RF_LOCAL_ARRAY(rf_long, best_i, RF_GROUP);
    rf_long r = rf_group_id(0);
    int lid = rf_local_id(0);
    RF_GLOBAL const float *row = x + x_off + r * cols;
    float bv = -RF_INFINITY;
    rf_long bi = cols; /* none yet: loses to every element */
    for (rf_long c = lid; c < cols; c += rf_local_size(0))
        if (bi == cols || rf_max_before(row[c], c, bv, bi)) {
            bv = row[c];
            bi = c;
        }
    best_v[lid] = bv;
    best_i[lid] = bi;
    rf_barrier();
    for (int s = rf_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s && best_i[lid + s] < cols &&
            (best_i[lid] == cols || rf_max_before(best_v[lid + s], best_i[lid + s], best_v[lid], best_i[lid]))) {
            best_v[lid] = best_v[lid + s];
            best_i[lid] = best_i[lid + s];
        }
        rf_barrier();
    }
    if (lid == 0) {
        values[v_off + r] = best_v[0];
        indices[i_off + r] = (int)best_i[0];
    }
}

RF_KERNEL max_last_backward_f32(rf_long rows, rf_long cols, RF_GLOBAL const float *dy, rf_ulong dy_off,
                                RF_GLOBAL const int *indices, rf_ulong i_off, RF_GLOBAL float *dx, rf_ulong dx_off,
                                int accumulate) {
    rf_long i = rf_global_id(0);
    if (i >= rows * cols) return;
    rf_long r = i / cols, c = i - r * cols;
    float g = c == indices[i_off + r] ? dy[dy_off + r] : 0.0f;
    RF_GLOBAL float *out = dx + dx_off + i;
    *out = accumulate ? *out + g : g;
}

/* Softmax of row r by `step` cooperating work items starting at column
 * `first` (`buf` local memory when step > 1), or by one item (first 0,
 * step 1): the row's maximum, the sum of exponentials, then the outputs,
 * each pass with neighbouring items on neighbouring columns. A fully
 * masked row gives zeros, not NaN. */
RF_FN void rf_softmax_row(rf_long r, rf_long cols, rf_long first, rf_long step, RF_LOCAL float *buf,
                          RF_GLOBAL const float *x, RF_GLOBAL float *y, int has_mask, RF_GLOBAL const float *mask,
                          rf_long mask_rows) {
    RF_GLOBAL const float *row = x + r * cols;
    RF_GLOBAL const float *mrow = has_mask ? mask + (r % mask_rows) * cols : row;
    RF_GLOBAL float *out = y + r * cols;
    float mx = -RF_INFINITY;
    for (rf_long c = first; c < cols; c += step) mx = fmax(mx, row[c] + (has_mask ? mrow[c] : 0.0f));
    if (step > 1) mx = rf_group_max(mx, buf);
    int empty = mx == -RF_INFINITY; /* every work item reaches the barriers below, whatever the row holds */
    rf_kahan sum = {0.0f, 0.0f};
    for (rf_long c = first; c < cols && !empty; c += step)
        rf_kahan_add(&sum, exp(row[c] + (has_mask ? mrow[c] : 0.0f) - mx));
    float total = step > 1 ? rf_group_sum(sum.sum, buf) : sum.sum;
    float inv = empty ? 0.0f : 1.0f / total;
    for (rf_long c = first; c < cols; c += step)
        out[c] = empty ? 0.0f : exp(row[c] + (has_mask ? mrow[c] : 0.0f) - mx) * inv;
}

RF_FN void rf_softmax_backward_row(rf_long r, rf_long cols, rf_long first, rf_long step, RF_LOCAL float *buf,
                                   RF_GLOBAL const float *y, RF_GLOBAL const float *dy, RF_GLOBAL float *dx,
                                   int accumulate) {
    RF_GLOBAL const float *yr = y + r * cols, *dyr = dy + r * cols;
    RF_GLOBAL float *dxr = dx + r * cols;
    rf_kahan dot = {0.0f, 0.0f};
    for (rf_long c = first; c < cols; c += step) rf_kahan_add(&dot, yr[c] * dyr[c]);
    float d = step > 1 ? rf_group_sum(dot.sum, buf) : dot.sum;
    for (rf_long c = first; c < cols; c += step) {
        float g = yr[c] * (dyr[c] - d);
        dxr[c] = accumulate ? dxr[c] + g : g;
    }
}

/* A work-group per row (GPUs), or an item per row (rf_gpu_row_group_size 1:
 * CPU-backed OpenCL, which then vectorises across rows). */
#define RF_SOFTMAX_ARGS                                                                                           \
    rf_long rows, rf_long cols, RF_GLOBAL const float *x, rf_ulong x_off, RF_GLOBAL float *y, rf_ulong y_off,     \
        int has_mask, RF_GLOBAL const float *mask, rf_ulong mask_off, rf_long mask_rows
RF_KERNEL softmax_f32(RF_SOFTMAX_ARGS) {
    RF_LOCAL_ARRAY(float, buf, RF_GROUP);
    rf_softmax_row(rf_group_id(0), cols, rf_local_id(0), rf_local_size(0), buf, x + x_off, y + y_off, has_mask,
                   mask + mask_off, mask_rows);
}
RF_KERNEL softmax_items_f32(RF_SOFTMAX_ARGS) {
    rf_long r = rf_global_id(0);
    if (r < rows) rf_softmax_row(r, cols, 0, 1, 0, x + x_off, y + y_off, has_mask, mask + mask_off, mask_rows);
}

#ifdef __OPENCL_VERSION__
/* A float16's halves, lane by lane: swizzled (v.hi) they become a vector
 * shuffle, and Oclgrind 21.10's uninitialised-value plugin takes shuffle
 * mask element 11 for undef (it compares the mask with LLVM 14's
 * UndefValueVal), reporting lane 11 as uninitialised. Same values, same
 * order, on every device. */
#define RF_LANES_LO(v) ((float8)((v).s0, (v).s1, (v).s2, (v).s3, (v).s4, (v).s5, (v).s6, (v).s7))
#define RF_LANES_HI(v) ((float8)((v).s8, (v).s9, (v).sa, (v).sb, (v).sc, (v).sd, (v).se, (v).sf))

/* A float16's lanes summed in a fixed tree. */
RF_FN float rf_sum16(float16 v) {
    float8 a = RF_LANES_LO(v) + RF_LANES_HI(v);
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.lo + c.hi;
}
RF_FN float rf_max16(float16 v) {
    float8 a = fmax(RF_LANES_LO(v), RF_LANES_HI(v));
    float4 b = fmax(a.lo, a.hi);
    float2 c = fmax(b.lo, b.hi);
    return fmax(c.lo, c.hi);
}

/* softmax_items_f32 in OpenCL's 16-wide vectors along the row, for
 * CPU-backed OpenCL (PoCL vectorises no kernel that loops, and the
 * scalar exp was most of a softmax): the same three passes, each lane
 * compensating its own sum, the lanes then summed in a fixed tree, the
 * row's last cols % 16 columns one by one. */
RF_KERNEL softmax_items16_f32(RF_SOFTMAX_ARGS) {
    rf_long r = rf_global_id(0);
    if (r >= rows) return;
    RF_GLOBAL const float *row = x + x_off + r * cols;
    RF_GLOBAL const float *mrow = has_mask ? mask + mask_off + (r % mask_rows) * cols : row;
    RF_GLOBAL float *out = y + y_off + r * cols;
    rf_long full = cols / 16 * 16;
    float16 mx16 = -RF_INFINITY;
    for (rf_long c = 0; c < full; c += 16)
        mx16 = fmax(mx16, vload16(0, row + c) + (has_mask ? vload16(0, mrow + c) : (float16)0.0f));
    float mx = rf_max16(mx16);
    for (rf_long c = full; c < cols; c++) mx = fmax(mx, row[c] + (has_mask ? mrow[c] : 0.0f));
    if (mx == -RF_INFINITY) { /* fully masked: zeros, not NaN */
        for (rf_long c = 0; c < cols; c++) out[c] = 0.0f;
        return;
    }
    float16 sum = 0.0f, comp = 0.0f;
    for (rf_long c = 0; c < full; c += 16) {
        float16 e = exp(vload16(0, row + c) + (has_mask ? vload16(0, mrow + c) : (float16)0.0f) - mx);
        float16 yv = e - comp;
        float16 t = sum + yv;
        comp = (t - sum) - yv;
        sum = t;
    }
    rf_kahan tail = {0.0f, 0.0f};
    for (rf_long c = full; c < cols; c++) rf_kahan_add(&tail, exp(row[c] + (has_mask ? mrow[c] : 0.0f) - mx));
    float inv = 1.0f / (rf_sum16(sum) + tail.sum);
    for (rf_long c = 0; c < full; c += 16)
        vstore16(exp(vload16(0, row + c) + (has_mask ? vload16(0, mrow + c) : (float16)0.0f) - mx) * inv, 0, out + c);
    for (rf_long c = full; c < cols; c++) out[c] = exp(row[c] + (has_mask ? mrow[c] : 0.0f) - mx) * inv;
}
#endif

#define RF_SOFTMAX_BACKWARD_ARGS                                                                                  \
    rf_long rows, rf_long cols, RF_GLOBAL const float *y, rf_ulong y_off, RF_GLOBAL const float *dy,              \
        rf_ulong dy_off, RF_GLOBAL float *dx, rf_ulong dx_off, int accumulate
RF_KERNEL softmax_backward_f32(RF_SOFTMAX_BACKWARD_ARGS) {
    RF_LOCAL_ARRAY(float, buf, RF_GROUP);
    rf_softmax_backward_row(rf_group_id(0), cols, rf_local_id(0), rf_local_size(0), buf, y + y_off, dy + dy_off,
                            dx + dx_off, accumulate);
}
RF_KERNEL softmax_backward_items_f32(RF_SOFTMAX_BACKWARD_ARGS) {
    rf_long r = rf_global_id(0);
    if (r < rows) rf_softmax_backward_row(r, cols, 0, 1, 0, y + y_off, dy + dy_off, dx + dx_off, accumulate);
}

/* The layer norms' arguments, in rf_layernorm_args' order. */
#define RF_LN_LAYOUT rf_long rows, rf_long cols, rf_long inner, rf_long outer_stride, rf_long col_stride

/* Statistics and outputs of one row, by `step` cooperating work items
 * starting at column `first` (one item: first 0, step 1). `buf` is local
 * memory when step > 1. */
#define RF_LN_ROW_SUM(expr, result)                                                                                  \
    do {                                                                                                             \
        rf_kahan k_ = {0.0f, 0.0f};                                                                                  \
        for (rf_long c = first; c < cols; c += step) rf_kahan_add(&k_, (expr));                                      \
        result = step > 1 ? rf_group_sum(k_.sum, buf) : k_.sum;                                                      \
    } while (0)

RF_FN void rf_layernorm_row(RF_LN_LAYOUT, float eps, rf_long r, rf_long first, rf_long step, RF_LOCAL float *buf,
                            RF_GLOBAL const float *x, RF_GLOBAL float *y, RF_GLOBAL float *mean, RF_GLOBAL float *rstd,
                            int affine, RF_GLOBAL const float *gamma, RF_GLOBAL const float *beta) {
    rf_long base = rf_ln_base(r, inner, outer_stride);
    RF_GLOBAL const float *xr = x + base;
    float s, q;
    RF_LN_ROW_SUM(xr[c * col_stride], s);
    float mu = s / (float)cols;
    RF_LN_ROW_SUM((xr[c * col_stride] - mu) * (xr[c * col_stride] - mu), q);
    float rs = 1.0f / sqrt(q / (float)cols + eps);
    if (first == 0) {
        mean[r] = mu;
        rstd[r] = rs;
    }
    RF_GLOBAL float *yr = y + base;
    for (rf_long c = first; c < cols; c += step) {
        float v = (xr[c * col_stride] - mu) * rs;
        if (affine) v = v * gamma[c] + beta[c];
        yr[c * col_stride] = v;
    }
}

RF_FN void rf_layernorm_backward_row(RF_LN_LAYOUT, rf_long r, rf_long first, rf_long step, RF_LOCAL float *buf,
                                     RF_GLOBAL const float *x, RF_GLOBAL const float *mean,
                                     RF_GLOBAL const float *rstd, RF_GLOBAL const float *dy, RF_GLOBAL float *dx,
                                     int affine, RF_GLOBAL const float *gamma, int accumulate) {
    rf_long base = rf_ln_base(r, inner, outer_stride);
    float mu = mean[r], rs = rstd[r];
#define RF_LN_G (dy[base + c * col_stride] * (affine ? gamma[c] : 1.0f))
#define RF_LN_XHAT ((x[base + c * col_stride] - mu) * rs)
    float sg, sgx;
    RF_LN_ROW_SUM(RF_LN_G, sg);
    RF_LN_ROW_SUM(RF_LN_G * RF_LN_XHAT, sgx);
    float mg = sg / (float)cols, mgx = sgx / (float)cols;
    for (rf_long c = first; c < cols; c += step) {
        float v = rs * (RF_LN_G - mg - RF_LN_XHAT * mgx);
        rf_long at = base + c * col_stride;
        dx[at] = accumulate ? dx[at] + v : v;
    }
#undef RF_LN_G
#undef RF_LN_XHAT
}

/* One work-group per row (rows stored contiguously). */
RF_KERNEL layernorm_groups_f32(RF_LN_LAYOUT, float eps, RF_GLOBAL const float *x, rf_ulong x_off, RF_GLOBAL float *y,
                               rf_ulong y_off, RF_GLOBAL float *mean, rf_ulong mean_off, RF_GLOBAL float *rstd,
                               rf_ulong rstd_off, int affine, RF_GLOBAL const float *gamma, rf_ulong g_off,
                               RF_GLOBAL const float *beta, rf_ulong b_off) {
    RF_LOCAL_ARRAY(float, buf, RF_GROUP);
    rf_long r = rf_group_id(0);
    rf_layernorm_row(rows, cols, inner, outer_stride, col_stride, eps, r, rf_local_id(0), rf_local_size(0), buf,
                     x + x_off, y + y_off, mean + mean_off, rstd + rstd_off, affine, gamma + g_off, beta + b_off);
}

/* One work item per row (rows interleaved: neighbouring rows are
 * neighbouring addresses, e.g. a channel layer norm on NCHW). */
RF_KERNEL layernorm_items_f32(RF_LN_LAYOUT, float eps, RF_GLOBAL const float *x, rf_ulong x_off, RF_GLOBAL float *y,
                              rf_ulong y_off, RF_GLOBAL float *mean, rf_ulong mean_off, RF_GLOBAL float *rstd,
                              rf_ulong rstd_off, int affine, RF_GLOBAL const float *gamma, rf_ulong g_off,
                              RF_GLOBAL const float *beta, rf_ulong b_off) {
    rf_long r = rf_global_id(0);
    if (r >= rows) return;
    rf_layernorm_row(rows, cols, inner, outer_stride, col_stride, eps, r, 0, 1, 0, x + x_off, y + y_off,
                     mean + mean_off, rstd + rstd_off, affine, gamma + g_off, beta + b_off);
}

RF_KERNEL layernorm_backward_groups_f32(RF_LN_LAYOUT, RF_GLOBAL const float *x, rf_ulong x_off,
                                        RF_GLOBAL const float *mean, rf_ulong mean_off, RF_GLOBAL const float *rstd,
                                        rf_ulong rstd_off, RF_GLOBAL const float *dy, rf_ulong dy_off,
                                        RF_GLOBAL float *dx, rf_ulong dx_off, int affine,
                                        RF_GLOBAL const float *gamma, rf_ulong g_off, int accumulate) {
    RF_LOCAL_ARRAY(float, buf, RF_GROUP);
    rf_long r = rf_group_id(0);
    rf_layernorm_backward_row(rows, cols, inner, outer_stride, col_stride, r, rf_local_id(0), rf_local_size(0), buf,
                              x + x_off, mean + mean_off, rstd + rstd_off, dy + dy_off, dx + dx_off, affine,
                              gamma + g_off, accumulate);
}

RF_KERNEL layernorm_backward_items_f32(RF_LN_LAYOUT, RF_GLOBAL const float *x, rf_ulong x_off,
                                       RF_GLOBAL const float *mean, rf_ulong mean_off, RF_GLOBAL const float *rstd,
                                       rf_ulong rstd_off, RF_GLOBAL const float *dy, rf_ulong dy_off,
                                       RF_GLOBAL float *dx, rf_ulong dx_off, int affine, RF_GLOBAL const float *gamma,
                                       rf_ulong g_off, int accumulate) {
    rf_long r = rf_global_id(0);
    if (r >= rows) return;
    rf_layernorm_backward_row(rows, cols, inner, outer_stride, col_stride, r, 0, 1, 0, x + x_off, mean + mean_off,
                              rstd + rstd_off, dy + dy_off, dx + dx_off, affine, gamma + g_off, accumulate);
}

/* Parameter gradients in two deterministic passes: work item (c, chunk)
 * sums its chunk of rows for column c into partial[chunk * cols + c]
 * (neighbouring items, neighbouring columns); then one item per column adds
 * the chunks in order. */
RF_KERNEL layernorm_affine_partial_f32(RF_LN_LAYOUT, rf_long chunks, rf_long chunk_rows, RF_GLOBAL const float *x, rf_ulong x_off,
                                       RF_GLOBAL const float *mean, rf_ulong mean_off, RF_GLOBAL const float *rstd,
                                       rf_ulong rstd_off, RF_GLOBAL const float *dy, rf_ulong dy_off,
                                       RF_GLOBAL float *partial, rf_ulong p_off) {
    rf_long c = rf_global_id(0), chunk = rf_global_id(1);
    if (c >= cols || chunk >= chunks) return;
    rf_long end = rf_min_l(rows, (chunk + 1) * chunk_rows);
    rf_kahan sg = {0.0f, 0.0f}, sb = {0.0f, 0.0f};
    for (rf_long r = chunk * chunk_rows; r < end; r++) {
        rf_long at = rf_ln_base(r, inner, outer_stride) + c * col_stride;
        float d = dy[dy_off + at];
        rf_kahan_add(&sg, d * (x[x_off + at] - mean[mean_off + r]) * rstd[rstd_off + r]);
        rf_kahan_add(&sb, d);
    }
    partial[p_off + chunk * cols + c] = sg.sum;
    partial[p_off + (chunks + chunk) * cols + c] = sb.sum;
}

RF_KERNEL layernorm_affine_finish_f32(rf_long cols, rf_long chunks, RF_GLOBAL const float *partial, rf_ulong p_off,
                                      RF_GLOBAL float *dgamma, rf_ulong dg_off, RF_GLOBAL float *dbeta,
                                      rf_ulong db_off) {
    rf_long c = rf_global_id(0);
    if (c >= cols) return;
    rf_kahan sg = {0.0f, 0.0f}, sb = {0.0f, 0.0f};
    for (rf_long k = 0; k < chunks; k++) {
        rf_kahan_add(&sg, partial[p_off + k * cols + c]);
        rf_kahan_add(&sb, partial[p_off + (chunks + k) * cols + c]);
    }
    dgamma[dg_off + c] += sg.sum;
    dbeta[db_off + c] += sb.sum;
}

#define RF_UNARY_ENTRIES(X, op, name) X(unary_##name##_f32) X(unary_backward_##name##_f32)
#define RF_BINARY_ENTRY(X, op, name) X(binary_##name##_f32)
#define RF_KERNELS_BASIC(X)                                                                                            \
    RF_UNARY_OPS(RF_UNARY_ENTRIES, X) RF_BINARY_OPS(RF_BINARY_ENTRY, X) X(binary_nd_f32) X(copy_f32) X(copy5_f32) X(copy_nd_f32)   \
    X(to_bf16_f32) X(from_bf16_f32) X(to_f16_f32) X(from_f16_f32)                                                     \
    X(reduce_items_f32) X(reduce_line_f32) X(reduce_groups_f32)                                                                           \
    X(max_last_f32) X(max_last_backward_f32) X(softmax_f32) X(softmax_items_f32) X(softmax_backward_f32) X(softmax_backward_items_f32) X(layernorm_groups_f32)           \
    X(layernorm_items_f32) X(layernorm_backward_groups_f32) X(layernorm_backward_items_f32)                           \
    X(layernorm_affine_partial_f32) X(layernorm_affine_finish_f32)

#endif /* RF_DEVICE_GPU */

#endif /* RFDETR_KERNELS_BASIC_H */
