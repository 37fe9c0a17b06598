// basic.cl — elementwise, broadcasting, copies, reductions, max, softmax and
// layer norms for the OpenCL backend. Twins of backend/cpu/ref_basic_impl.h.
//
// Every kernel is deterministic: each work item owns its outputs and sums in
// a fixed order (Kahan-compensated, so long float sums stay close to the
// double-accumulating cpu reference).
//
// N-d views come as long8 vectors (shape, strides; 6 axes used), already
// collapsed on the host where axes merge, so most launches index 1-3 axes.

#define RF_MAX_DIMS 6

// Must match rf_unary_op / rf_binary_op / rf_reduce_op in backend/kernels.h.
enum { U_IDENTITY, U_AFFINE, U_RELU, U_GELU, U_SILU, U_SIGMOID, U_EXP, U_LOG_SIGMOID, U_TANH, U_SQRT, U_LOG, U_INVERSE_SIGMOID, U_SIN };
enum { B_ADD, B_SUB, B_MUL, B_DIV };
enum { R_SUM, R_MEAN, R_SUMSQ };

typedef struct { float sum, c; } kahan;
inline void kahan_add(kahan *k, float v) {
    float y = v - k->c;
    float t = k->sum + y;
    k->c = (t - k->sum) - y;
    k->sum = t;
}

inline float sigmoid_f(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + exp(-x));
    float e = exp(x);
    return e / (1.0f + e);
}

inline float unary_value(int op, float x, float alpha, float beta) {
    switch (op) {
    case U_IDENTITY: return x;
    case U_AFFINE: return alpha * x + beta;
    case U_RELU: return x > 0.0f ? x : 0.0f;
    /* erfc keeps the far negative tail: 1 + erf(z) cancels to 0 in float. */
    case U_GELU: return 0.5f * x * erfc(-x * M_SQRT1_2_F);
    case U_SILU: return x * sigmoid_f(x);
    case U_SIGMOID: return sigmoid_f(x);
    case U_EXP: return exp(x);
    case U_LOG_SIGMOID: return fmin(x, 0.0f) - log1p(exp(-fabs(x)));
    case U_TANH: return tanh(x);
    case U_SQRT: return sqrt(x);
    case U_LOG: return log(x);
    case U_INVERSE_SIGMOID: {
        float c = clamp(x, 0.0f, 1.0f);
        float x1 = fmax(c, alpha), x2 = fmax(1.0f - c, alpha);
        return log(x1 / x2);
    }
    case U_SIN: return sin(x);
    default: return NAN;
    }
}

inline float unary_derivative(int op, float x, float y, float alpha) {
    switch (op) {
    case U_IDENTITY: return 1.0f;
    case U_AFFINE: return alpha;
    case U_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case U_GELU: return 0.5f * erfc(-x * M_SQRT1_2_F) + x * exp(-0.5f * x * x) * 0.3989422804014327f;
    case U_SILU: {
        float s = sigmoid_f(x);
        return s * (1.0f + x * (1.0f - s));
    }
    case U_SIGMOID: return y * (1.0f - y);
    case U_EXP: return y;
    case U_LOG_SIGMOID: return sigmoid_f(-x);
    case U_TANH: return 1.0f - y * y;
    case U_SQRT: return 0.5f / y;
    case U_LOG: return 1.0f / x;
    case U_INVERSE_SIGMOID: {
        if (x < 0.0f || x > 1.0f) return 0.0f;
        float g = 0.0f;
        if (x >= alpha) g += 1.0f / x;
        if (1.0f - x >= alpha) g += 1.0f / (1.0f - x);
        return g;
    }
    case U_SIN: return cos(x);
    default: return NAN;
    }
}

__kernel void unary_f32(int op, long n, __global const float *x, ulong x_off, __global float *y, ulong y_off,
                        float alpha, float beta) {
    size_t i = get_global_id(0);
    if (i >= (size_t)n) return;
    y[y_off + i] = unary_value(op, x[x_off + i], alpha, beta);
}

__kernel void unary_backward_f32(int op, long n, __global const float *x, ulong x_off, __global const float *y,
                                 ulong y_off, __global const float *dy, ulong dy_off, __global float *dx, ulong dx_off,
                                 float alpha, float beta, int accumulate) {
    size_t i = get_global_id(0);
    if (i >= (size_t)n) return;
    float g = unary_derivative(op, x[x_off + i], y[y_off + i], alpha) * dy[dy_off + i];
    dx[dx_off + i] = accumulate ? dx[dx_off + i] + g : g;
}

// Offset of linear index `i` (row-major over `shape`, `ndim` axes) under
// `stride`.
inline long nd_offset(long i, int ndim, long8 shape, long8 stride) {
    long s[8] = {shape.s0, shape.s1, shape.s2, shape.s3, shape.s4, shape.s5, shape.s6, shape.s7};
    long t[8] = {stride.s0, stride.s1, stride.s2, stride.s3, stride.s4, stride.s5, stride.s6, stride.s7};
    long off = 0;
    for (int k = ndim - 1; k >= 0; k--) {
        long q = i / s[k];
        off += (i - q * s[k]) * t[k];
        i = q;
    }
    return off;
}

__kernel void binary_f32(int op, int ndim, long n, long8 shape, __global const float *a, ulong a_off, long8 sa,
                         __global const float *b, ulong b_off, long8 sb, __global float *y, ulong y_off, long8 sy,
                         int accumulate) {
    long i = get_global_id(0);
    if (i >= n) return;
    float av = a[a_off + nd_offset(i, ndim, shape, sa)];
    float bv = b[b_off + nd_offset(i, ndim, shape, sb)];
    float v;
    switch (op) {
    case B_ADD: v = av + bv; break;
    case B_SUB: v = av - bv; break;
    case B_MUL: v = av * bv; break;
    case B_DIV: v = av / bv; break;
    default: v = NAN;
    }
    __global float *out = y + y_off + nd_offset(i, ndim, shape, sy);
    *out = accumulate ? *out + v : v;
}

__kernel void copy_f32(int ndim, long n, long8 shape, __global const float *src, ulong src_off, long8 ss,
                       __global float *dst, ulong dst_off, long8 sd, int accumulate) {
    long i = get_global_id(0);
    if (i >= n) return;
    float v = src[src_off + nd_offset(i, ndim, shape, ss)];
    __global float *out = dst + dst_off + nd_offset(i, ndim, shape, sd);
    *out = accumulate ? *out + v : v;
}

// One work item per output element: walks the reduced axes in row-major
// order (incrementally, no divisions in the loop).
__kernel void reduce_f32(int op, int kept_ndim, long n_out, long8 kept_shape, long8 kept_stride, int red_ndim,
                         long n_red, long8 red_shape, long8 red_stride, __global const float *x, ulong x_off,
                         __global float *y, ulong y_off, int accumulate) {
    long o = get_global_id(0);
    if (o >= n_out) return;
    long base = x_off + nd_offset(o, kept_ndim, kept_shape, kept_stride);
    long rs[8] = {red_shape.s0, red_shape.s1, red_shape.s2, red_shape.s3, red_shape.s4, red_shape.s5, red_shape.s6, red_shape.s7};
    long rt[8] = {red_stride.s0, red_stride.s1, red_stride.s2, red_stride.s3, red_stride.s4, red_stride.s5, red_stride.s6, red_stride.s7};
    long idx[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    long off = 0;
    kahan acc = {0.0f, 0.0f};
    for (long r = 0; r < n_red; r++) {
        float v = x[base + off];
        kahan_add(&acc, op == R_SUMSQ ? v * v : v);
        for (int k = red_ndim - 1; k >= 0; k--) {
            idx[k]++;
            off += rt[k];
            if (idx[k] < rs[k]) break;
            off -= idx[k] * rt[k];
            idx[k] = 0;
        }
    }
    float v = acc.sum;
    if (op == R_MEAN) v = n_red ? v / (float)n_red : NAN;
    y[y_off + o] = accumulate ? y[y_off + o] + v : v;
}

__kernel void max_last_f32(long rows, long cols, __global const float *x, ulong x_off, __global float *values,
                           ulong v_off, __global int *indices, ulong i_off) {
    long r = get_global_id(0);
    if (r >= rows) return;
    __global const float *row = x + x_off + r * cols;
    long best = 0;
    for (long c = 1; c < cols; c++) {
        if (isnan(row[best])) break; // the first NaN is the maximum
        if (isnan(row[c]) || row[c] > row[best]) best = c;
    }
    values[v_off + r] = row[best];
    indices[i_off + r] = (int)best;
}

__kernel void max_last_backward_f32(long rows, long cols, __global const float *dy, ulong dy_off,
                                    __global const int *indices, ulong i_off, __global float *dx, ulong dx_off,
                                    int accumulate) {
    long i = get_global_id(0);
    if (i >= rows * cols) return;
    long r = i / cols, c = i - r * cols;
    float g = c == indices[i_off + r] ? dy[dy_off + r] : 0.0f;
    __global float *out = dx + dx_off + i;
    *out = accumulate ? *out + g : g;
}

__kernel void softmax_f32(long rows, long cols, __global const float *x, ulong x_off, __global float *y, ulong y_off,
                          int has_mask, __global const float *mask, ulong mask_off, long mask_rows) {
    long r = get_global_id(0);
    if (r >= rows) return;
    __global const float *row = x + x_off + r * cols;
    __global const float *mrow = has_mask ? mask + mask_off + (r % mask_rows) * cols : 0;
    __global float *out = y + y_off + r * cols;
    float mx = -INFINITY;
    for (long c = 0; c < cols; c++) mx = fmax(mx, row[c] + (has_mask ? mrow[c] : 0.0f));
    if (mx == -INFINITY) { // fully masked row: zeros, not NaN
        for (long c = 0; c < cols; c++) out[c] = 0.0f;
        return;
    }
    kahan sum = {0.0f, 0.0f};
    for (long c = 0; c < cols; c++) kahan_add(&sum, exp(row[c] + (has_mask ? mrow[c] : 0.0f) - mx));
    float inv = 1.0f / sum.sum;
    for (long c = 0; c < cols; c++) out[c] = exp(row[c] + (has_mask ? mrow[c] : 0.0f) - mx) * inv;
}

__kernel void softmax_backward_f32(long rows, long cols, __global const float *y, ulong y_off, __global const float *dy,
                                   ulong dy_off, __global float *dx, ulong dx_off, int accumulate) {
    long r = get_global_id(0);
    if (r >= rows) return;
    __global const float *yr = y + y_off + r * cols, *dyr = dy + dy_off + r * cols;
    __global float *dxr = dx + dx_off + r * cols;
    kahan dot = {0.0f, 0.0f};
    for (long c = 0; c < cols; c++) kahan_add(&dot, yr[c] * dyr[c]);
    for (long c = 0; c < cols; c++) {
        float g = yr[c] * (dyr[c] - dot.sum);
        dxr[c] = accumulate ? dxr[c] + g : g;
    }
}

inline long ln_base(long r, long inner, long outer_stride) { return (r / inner) * outer_stride + r % inner; }

__kernel void layernorm_f32(long rows, long cols, long inner, long outer_stride, long col_stride, float eps,
                            __global const float *x, ulong x_off, __global float *y, ulong y_off,
                            __global float *mean, ulong mean_off, __global float *rstd, ulong rstd_off, int affine,
                            __global const float *gamma, ulong g_off, __global const float *beta, ulong b_off) {
    long r = get_global_id(0);
    if (r >= rows) return;
    long base = ln_base(r, inner, outer_stride);
    __global const float *xr = x + x_off + base;
    kahan s = {0.0f, 0.0f};
    for (long c = 0; c < cols; c++) kahan_add(&s, xr[c * col_stride]);
    float mu = s.sum / (float)cols;
    kahan q = {0.0f, 0.0f};
    for (long c = 0; c < cols; c++) {
        float d = xr[c * col_stride] - mu;
        kahan_add(&q, d * d);
    }
    float rs = 1.0f / sqrt(q.sum / (float)cols + eps);
    mean[mean_off + r] = mu;
    rstd[rstd_off + r] = rs;
    __global float *yr = y + y_off + base;
    for (long c = 0; c < cols; c++) {
        float v = (xr[c * col_stride] - mu) * rs;
        if (affine) v = v * gamma[g_off + c] + beta[b_off + c];
        yr[c * col_stride] = v;
    }
}

__kernel void layernorm_backward_dx_f32(long rows, long cols, long inner, long outer_stride, long col_stride,
                                        __global const float *x, ulong x_off, __global const float *mean, ulong mean_off,
                                        __global const float *rstd, ulong rstd_off, __global const float *dy,
                                        ulong dy_off, __global float *dx, ulong dx_off, int affine,
                                        __global const float *gamma, ulong g_off, int accumulate) {
    long r = get_global_id(0);
    if (r >= rows) return;
    long base = ln_base(r, inner, outer_stride);
    float mu = mean[mean_off + r], rs = rstd[rstd_off + r];
    kahan sg = {0.0f, 0.0f}, sgx = {0.0f, 0.0f};
    for (long c = 0; c < cols; c++) {
        long at = base + c * col_stride;
        float xhat = (x[x_off + at] - mu) * rs;
        float g = dy[dy_off + at] * (affine ? gamma[g_off + c] : 1.0f);
        kahan_add(&sg, g);
        kahan_add(&sgx, g * xhat);
    }
    float mg = sg.sum / (float)cols, mgx = sgx.sum / (float)cols;
    for (long c = 0; c < cols; c++) {
        long at = base + c * col_stride;
        float xhat = (x[x_off + at] - mu) * rs;
        float g = dy[dy_off + at] * (affine ? gamma[g_off + c] : 1.0f);
        float v = rs * (g - mg - xhat * mgx);
        dx[dx_off + at] = accumulate ? dx[dx_off + at] + v : v;
    }
}

// Parameter gradients: one work item per column walks the rows in order.
__kernel void layernorm_backward_affine_f32(long rows, long cols, long inner, long outer_stride, long col_stride,
                                            __global const float *x, ulong x_off, __global const float *mean,
                                            ulong mean_off, __global const float *rstd, ulong rstd_off,
                                            __global const float *dy, ulong dy_off, __global float *dgamma,
                                            ulong dg_off, __global float *dbeta, ulong db_off) {
    long c = get_global_id(0);
    if (c >= cols) return;
    kahan sg = {0.0f, 0.0f}, sb = {0.0f, 0.0f};
    for (long r = 0; r < rows; r++) {
        long at = ln_base(r, inner, outer_stride) + c * col_stride;
        float d = dy[dy_off + at];
        kahan_add(&sg, d * (x[x_off + at] - mean[mean_off + r]) * rstd[rstd_off + r]);
        kahan_add(&sb, d);
    }
    dgamma[dg_off + c] += sg.sum;
    dbeta[db_off + c] += sb.sum;
}
