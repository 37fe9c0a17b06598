// basic.cu — elementwise, broadcasting, copies, reductions, max, softmax and
// layer norms for the CUDA backend: twins of backend/opencl/kernels/basic.cl
// (same algorithms, same summation order, Kahan-compensated sums), with their
// launchers. Deterministic: each thread owns its outputs.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "backend/cuda/kernels/common.cuh"
#include "backend/nd.h"

namespace {

struct nd6 {
    long long v[RF_MAX_DIMS];
};

__device__ inline float sigmoid_f(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

__device__ float unary_value(int op, float x, float alpha, float beta) {
    switch (op) {
    case RF_UNARY_IDENTITY: return x;
    case RF_UNARY_AFFINE: return alpha * x + beta;
    case RF_UNARY_RELU: return x > 0.0f ? x : 0.0f;
    case RF_UNARY_GELU: return 0.5f * x * erfcf(-x * 0.70710678118654752f); // erfc keeps the negative tail
    case RF_UNARY_SILU: return x * sigmoid_f(x);
    case RF_UNARY_SIGMOID: return sigmoid_f(x);
    case RF_UNARY_EXP: return expf(x);
    case RF_UNARY_LOG_SIGMOID: return fminf(x, 0.0f) - log1pf(expf(-fabsf(x)));
    case RF_UNARY_TANH: return tanhf(x);
    case RF_UNARY_SQRT: return sqrtf(x);
    case RF_UNARY_LOG: return logf(x);
    case RF_UNARY_INVERSE_SIGMOID: {
        float c = fminf(fmaxf(x, 0.0f), 1.0f);
        return logf(fmaxf(c, alpha) / fmaxf(1.0f - c, alpha));
    }
    case RF_UNARY_SIN: return sinf(x);
    default: return NAN;
    }
}

__device__ float unary_derivative(int op, float x, float y, float alpha) {
    switch (op) {
    case RF_UNARY_IDENTITY: return 1.0f;
    case RF_UNARY_AFFINE: return alpha;
    case RF_UNARY_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case RF_UNARY_GELU: return 0.5f * erfcf(-x * 0.70710678118654752f) + x * expf(-0.5f * x * x) * 0.3989422804014327f;
    case RF_UNARY_SILU: {
        float s = sigmoid_f(x);
        return s * (1.0f + x * (1.0f - s));
    }
    case RF_UNARY_SIGMOID: return y * (1.0f - y);
    case RF_UNARY_EXP: return y;
    case RF_UNARY_LOG_SIGMOID: return sigmoid_f(-x);
    case RF_UNARY_TANH: return 1.0f - y * y;
    case RF_UNARY_SQRT: return 0.5f / y;
    case RF_UNARY_LOG: return 1.0f / x;
    case RF_UNARY_INVERSE_SIGMOID: {
        if (x < 0.0f || x > 1.0f) return 0.0f;
        float g = 0.0f;
        if (x >= alpha) g += 1.0f / x;
        if (1.0f - x >= alpha) g += 1.0f / (1.0f - x);
        return g;
    }
    case RF_UNARY_SIN: return cosf(x);
    default: return NAN;
    }
}

__device__ inline long long nd_offset(long long i, int ndim, const nd6 &shape, const nd6 &stride) {
    long long off = 0;
    for (int k = ndim - 1; k >= 0; k--) {
        long long q = i / shape.v[k];
        off += (i - q * shape.v[k]) * stride.v[k];
        i = q;
    }
    return off;
}

__global__ void unary_kernel(int op, long long n, const float *x, float *y, float alpha, float beta) {
    long long i = global_index();
    if (i < n) y[i] = unary_value(op, x[i], alpha, beta);
}

__global__ void unary_backward_kernel(int op, long long n, const float *x, const float *y, const float *dy, float *dx,
                                      float alpha, int accumulate) {
    long long i = global_index();
    if (i >= n) return;
    float g = unary_derivative(op, x[i], y[i], alpha) * dy[i];
    dx[i] = accumulate ? dx[i] + g : g;
}

__global__ void binary_kernel(int op, int ndim, long long n, nd6 shape, const float *a, nd6 sa, const float *b, nd6 sb,
                              float *y, nd6 sy, int accumulate) {
    long long i = global_index();
    if (i >= n) return;
    float av = a[nd_offset(i, ndim, shape, sa)], bv = b[nd_offset(i, ndim, shape, sb)], v;
    switch (op) {
    case RF_BINARY_ADD: v = av + bv; break;
    case RF_BINARY_SUB: v = av - bv; break;
    case RF_BINARY_MUL: v = av * bv; break;
    case RF_BINARY_DIV: v = av / bv; break;
    default: v = NAN;
    }
    float *out = y + nd_offset(i, ndim, shape, sy);
    *out = accumulate ? *out + v : v;
}

__global__ void copy_kernel(int ndim, long long n, nd6 shape, const float *src, nd6 ss, float *dst, nd6 sd, int accumulate) {
    long long i = global_index();
    if (i >= n) return;
    float v = src[nd_offset(i, ndim, shape, ss)];
    float *out = dst + nd_offset(i, ndim, shape, sd);
    *out = accumulate ? *out + v : v;
}

__global__ void reduce_kernel(int op, int kept_ndim, long long n_out, nd6 kshape, nd6 kstride, int red_ndim,
                              long long n_red, nd6 rshape, nd6 rstride, const float *x, float *y, int accumulate) {
    long long o = global_index();
    if (o >= n_out) return;
    long long base = nd_offset(o, kept_ndim, kshape, kstride);
    long long idx[RF_MAX_DIMS] = {0, 0, 0, 0, 0, 0};
    long long off = 0;
    kahan acc;
    for (long long r = 0; r < n_red; r++) {
        float v = x[base + off];
        acc.add(op == RF_REDUCE_SUMSQ ? v * v : v);
        for (int k = red_ndim - 1; k >= 0; k--) {
            idx[k]++;
            off += rstride.v[k];
            if (idx[k] < rshape.v[k]) break;
            off -= idx[k] * rstride.v[k];
            idx[k] = 0;
        }
    }
    float v = acc.sum;
    if (op == RF_REDUCE_MEAN) v = n_red ? v / (float)n_red : NAN;
    y[o] = accumulate ? y[o] + v : v;
}

__global__ void max_last_kernel(long long rows, long long cols, const float *x, float *values, int *indices) {
    long long r = global_index();
    if (r >= rows) return;
    const float *row = x + r * cols;
    long long best = 0;
    for (long long c = 1; c < cols; c++) {
        if (isnan(row[best])) break;
        if (isnan(row[c]) || row[c] > row[best]) best = c;
    }
    values[r] = row[best];
    indices[r] = (int)best;
}

__global__ void max_last_backward_kernel(long long rows, long long cols, const float *dy, const int *indices, float *dx,
                                         int accumulate) {
    long long i = global_index();
    if (i >= rows * cols) return;
    long long r = i / cols, c = i - r * cols;
    float g = c == indices[r] ? dy[r] : 0.0f;
    dx[i] = accumulate ? dx[i] + g : g;
}

__global__ void softmax_kernel(long long rows, long long cols, const float *x, float *y, const float *mask,
                               long long mask_rows) {
    long long r = global_index();
    if (r >= rows) return;
    const float *row = x + r * cols;
    const float *mrow = mask ? mask + (r % mask_rows) * cols : nullptr;
    float *out = y + r * cols;
    float mx = -INFINITY;
    for (long long c = 0; c < cols; c++) mx = fmaxf(mx, row[c] + (mrow ? mrow[c] : 0.0f));
    if (mx == -INFINITY) {
        for (long long c = 0; c < cols; c++) out[c] = 0.0f;
        return;
    }
    kahan sum;
    for (long long c = 0; c < cols; c++) sum.add(expf(row[c] + (mrow ? mrow[c] : 0.0f) - mx));
    float inv = 1.0f / sum.sum;
    for (long long c = 0; c < cols; c++) out[c] = expf(row[c] + (mrow ? mrow[c] : 0.0f) - mx) * inv;
}

__global__ void softmax_backward_kernel(long long rows, long long cols, const float *y, const float *dy, float *dx,
                                        int accumulate) {
    long long r = global_index();
    if (r >= rows) return;
    const float *yr = y + r * cols, *dyr = dy + r * cols;
    float *dxr = dx + r * cols;
    kahan dot;
    for (long long c = 0; c < cols; c++) dot.add(yr[c] * dyr[c]);
    for (long long c = 0; c < cols; c++) {
        float g = yr[c] * (dyr[c] - dot.sum);
        dxr[c] = accumulate ? dxr[c] + g : g;
    }
}

struct ln_layout {
    long long rows, cols, inner, outer_stride, col_stride;
    __device__ long long base(long long r) const { return (r / inner) * outer_stride + r % inner; }
};

__global__ void layernorm_kernel(ln_layout L, float eps, const float *x, float *y, float *mean, float *rstd,
                                 const float *gamma, const float *beta) {
    long long r = global_index();
    if (r >= L.rows) return;
    long long base = L.base(r);
    kahan s;
    for (long long c = 0; c < L.cols; c++) s.add(x[base + c * L.col_stride]);
    float mu = s.sum / (float)L.cols;
    kahan q;
    for (long long c = 0; c < L.cols; c++) {
        float d = x[base + c * L.col_stride] - mu;
        q.add(d * d);
    }
    float rs = 1.0f / sqrtf(q.sum / (float)L.cols + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (long long c = 0; c < L.cols; c++) {
        float v = (x[base + c * L.col_stride] - mu) * rs;
        if (gamma) v = v * gamma[c] + beta[c];
        y[base + c * L.col_stride] = v;
    }
}

__global__ void layernorm_backward_dx_kernel(ln_layout L, const float *x, const float *mean, const float *rstd,
                                             const float *dy, float *dx, const float *gamma, int accumulate) {
    long long r = global_index();
    if (r >= L.rows) return;
    long long base = L.base(r);
    float mu = mean[r], rs = rstd[r];
    kahan sg, sgx;
    for (long long c = 0; c < L.cols; c++) {
        long long at = base + c * L.col_stride;
        float xhat = (x[at] - mu) * rs;
        float g = dy[at] * (gamma ? gamma[c] : 1.0f);
        sg.add(g);
        sgx.add(g * xhat);
    }
    float mg = sg.sum / (float)L.cols, mgx = sgx.sum / (float)L.cols;
    for (long long c = 0; c < L.cols; c++) {
        long long at = base + c * L.col_stride;
        float xhat = (x[at] - mu) * rs;
        float g = dy[at] * (gamma ? gamma[c] : 1.0f);
        float v = rs * (g - mg - xhat * mgx);
        dx[at] = accumulate ? dx[at] + v : v;
    }
}

__global__ void layernorm_backward_affine_kernel(ln_layout L, const float *x, const float *mean, const float *rstd,
                                                 const float *dy, float *dgamma, float *dbeta) {
    long long c = global_index();
    if (c >= L.cols) return;
    kahan sg, sb;
    for (long long r = 0; r < L.rows; r++) {
        long long at = L.base(r) + c * L.col_stride;
        float d = dy[at];
        sg.add(d * (x[at] - mean[r]) * rstd[r]);
        sb.add(d);
    }
    dgamma[c] += sg.sum;
    dbeta[c] += sb.sum;
}

// ---- launchers ------------------------------------------------------------------

nd6 to_nd6(const int64_t *v) {
    nd6 r;
    for (int i = 0; i < RF_MAX_DIMS; i++) r.v[i] = v[i];
    return r;
}

rf_status cuda_unary(rf_device *dev, const rf_unary_args *a) {
    ENTER(dev);
    if (a->n == 0) return RF_OK;
    unary_kernel<<<blocks_for(a->n), kThreads, 0, stream_of(dev)>>>(a->op, a->n, CF(a->x), F(a->y), a->alpha, a->beta);
    return finish(dev, "unary_kernel");
}

rf_status cuda_unary_backward(rf_device *dev, const rf_unary_backward_args *a) {
    ENTER(dev);
    if (a->n == 0) return RF_OK;
    unary_backward_kernel<<<blocks_for(a->n), kThreads, 0, stream_of(dev)>>>(a->op, a->n, CF(a->x), CF(a->y), CF(a->dy),
                                                                             F(a->dx), a->alpha, a->accumulate);
    return finish(dev, "unary_backward_kernel");
}

rf_status cuda_binary(rf_device *dev, const rf_binary_args *a) {
    ENTER(dev);
    int64_t shape[RF_MAX_DIMS], sa[RF_MAX_DIMS], sb[RF_MAX_DIMS], sy[RF_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    memcpy(sa, a->a.stride, sizeof sa);
    memcpy(sb, a->b.stride, sizeof sb);
    memcpy(sy, a->y.stride, sizeof sy);
    int64_t *strides[3] = {sa, sb, sy};
    int ndim = rf_nd_collapse(a->ndim, shape, 3, strides);
    long long n = rf_nd_count(ndim, shape);
    if (n == 0) return RF_OK;
    binary_kernel<<<blocks_for(n), kThreads, 0, stream_of(dev)>>>(
        a->op, ndim, n, to_nd6(shape), (const float *)a->a.buf->native + a->a.off, to_nd6(sa),
        (const float *)a->b.buf->native + a->b.off, to_nd6(sb), VF(a->y), to_nd6(sy), a->accumulate);
    return finish(dev, "binary_kernel");
}

rf_status cuda_copy(rf_device *dev, const rf_copy_args *a) {
    ENTER(dev);
    int64_t shape[RF_MAX_DIMS], ss[RF_MAX_DIMS], sd[RF_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    memcpy(ss, a->src.stride, sizeof ss);
    memcpy(sd, a->dst.stride, sizeof sd);
    int64_t *strides[2] = {ss, sd};
    int ndim = rf_nd_collapse(a->ndim, shape, 2, strides);
    long long n = rf_nd_count(ndim, shape);
    if (n == 0) return RF_OK;
    copy_kernel<<<blocks_for(n), kThreads, 0, stream_of(dev)>>>(ndim, n, to_nd6(shape),
                                                                (const float *)a->src.buf->native + a->src.off,
                                                                to_nd6(ss), VF(a->dst), to_nd6(sd), a->accumulate);
    return finish(dev, "copy_kernel");
}

rf_status cuda_reduce(rf_device *dev, const rf_reduce_args *a) {
    ENTER(dev);
    int64_t kshape[RF_MAX_DIMS] = {0}, kstride[RF_MAX_DIMS] = {0}, rshape[RF_MAX_DIMS] = {0}, rstride[RF_MAX_DIMS] = {0};
    int nk = 0, nr = 0;
    for (int i = 0; i < a->ndim; i++) {
        if (a->reduce_mask & (1u << i)) {
            rshape[nr] = a->shape[i];
            rstride[nr++] = a->x.stride[i];
        } else {
            kshape[nk] = a->shape[i];
            kstride[nk++] = a->x.stride[i];
        }
    }
    long long n_out = rf_nd_count(nk, kshape), n_red = rf_nd_count(nr, rshape);
    int64_t *ks[1] = {kstride}, *rs[1] = {rstride};
    nk = rf_nd_collapse(nk, kshape, 1, ks);
    nr = rf_nd_collapse(nr, rshape, 1, rs);
    if (n_out == 0) return RF_OK;
    reduce_kernel<<<blocks_for(n_out), kThreads, 0, stream_of(dev)>>>(
        a->op, nk, n_out, to_nd6(kshape), to_nd6(kstride), nr, n_red, to_nd6(rshape), to_nd6(rstride),
        (const float *)a->x.buf->native + a->x.off, F(a->y), a->accumulate);
    return finish(dev, "reduce_kernel");
}

rf_status cuda_max_last(rf_device *dev, const rf_max_last_args *a) {
    ENTER(dev);
    if (a->rows == 0) return RF_OK;
    max_last_kernel<<<blocks_for(a->rows), kThreads, 0, stream_of(dev)>>>(a->rows, a->cols, CF(a->x), F(a->values),
                                                                          I(a->indices));
    return finish(dev, "max_last_kernel");
}

rf_status cuda_max_last_backward(rf_device *dev, const rf_max_last_backward_args *a) {
    ENTER(dev);
    long long n = a->rows * a->cols;
    if (n == 0) return RF_OK;
    max_last_backward_kernel<<<blocks_for(n), kThreads, 0, stream_of(dev)>>>(a->rows, a->cols, CF(a->dy), CI(a->indices),
                                                                             F(a->dx), a->accumulate);
    return finish(dev, "max_last_backward_kernel");
}

rf_status cuda_softmax(rf_device *dev, const rf_softmax_args *a) {
    ENTER(dev);
    if (a->rows == 0) return RF_OK;
    softmax_kernel<<<blocks_for(a->rows), kThreads, 0, stream_of(dev)>>>(
        a->rows, a->cols, CF(a->x), F(a->y), a->has_mask ? CF(a->mask) : nullptr, a->has_mask ? a->mask_rows : 1);
    return finish(dev, "softmax_kernel");
}

rf_status cuda_softmax_backward(rf_device *dev, const rf_softmax_backward_args *a) {
    ENTER(dev);
    if (a->rows == 0) return RF_OK;
    softmax_backward_kernel<<<blocks_for(a->rows), kThreads, 0, stream_of(dev)>>>(a->rows, a->cols, CF(a->y), CF(a->dy),
                                                                                  F(a->dx), a->accumulate);
    return finish(dev, "softmax_backward_kernel");
}

rf_status cuda_layernorm(rf_device *dev, const rf_layernorm_args *a) {
    ENTER(dev);
    if (a->rows == 0) return RF_OK;
    ln_layout L = {a->rows, a->cols, a->inner, a->outer_stride, a->col_stride};
    layernorm_kernel<<<blocks_for(a->rows), kThreads, 0, stream_of(dev)>>>(
        L, a->eps, CF(a->x), F(a->y), F(a->mean), F(a->rstd), a->has_affine ? CF(a->gamma) : nullptr,
        a->has_affine ? CF(a->beta) : nullptr);
    return finish(dev, "layernorm_kernel");
}

rf_status cuda_layernorm_backward(rf_device *dev, const rf_layernorm_backward_args *a) {
    ENTER(dev);
    ln_layout L = {a->rows, a->cols, a->inner, a->outer_stride, a->col_stride};
    if (a->rows == 0) return RF_OK;
    layernorm_backward_dx_kernel<<<blocks_for(a->rows), kThreads, 0, stream_of(dev)>>>(
        L, CF(a->x), CF(a->mean), CF(a->rstd), CF(a->dy), F(a->dx), a->has_affine ? CF(a->gamma) : nullptr, a->accumulate);
    rf_status s = finish(dev, "layernorm_backward_dx_kernel");
    if (s != RF_OK || !a->has_affine) return s;
    layernorm_backward_affine_kernel<<<blocks_for(a->cols), kThreads, 0, stream_of(dev)>>>(
        L, CF(a->x), CF(a->mean), CF(a->rstd), CF(a->dy), F(a->dgamma), F(a->dbeta));
    return finish(dev, "layernorm_backward_affine_kernel");
}

} // namespace

// Positional, in the order of rf_kernels_basic (backend/kernels.h).
extern "C" const rf_kernels_basic rf_cuda_kernels_basic = {
    cuda_unary,   cuda_unary_backward,    cuda_binary,  cuda_copy,
    cuda_reduce,  cuda_max_last,          cuda_max_last_backward,
    cuda_softmax, cuda_softmax_backward,  cuda_layernorm, cuda_layernorm_backward,
};
