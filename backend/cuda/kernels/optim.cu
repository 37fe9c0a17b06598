// optim.cu — AdamW, partial sums of squares and the EMA update for the CUDA
// backend: twins of backend/opencl/kernels/optim.cl, with their launchers.
#include <cmath>

#include "backend/cuda/kernels/common.cuh"

namespace {

// Segment s with seg_start[s] <= i < seg_start[s + 1] (binary search).
__device__ inline int segment_of(long long i, int segments, const int *seg_start) {
    int lo = 0, hi = segments - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (seg_start[mid] <= i) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

__global__ void adamw_kernel(long long n, int segments, float beta1, float beta2, float eps, float lr_scale,
                             float grad_scale, float bc1, float bc2_sqrt, float *param, const float *grad, float *m,
                             float *v, const int *seg_start, const float *seg_lr, const float *seg_wd) {
    long long i = global_index();
    if (i >= n) return;
    int s = segment_of(i, segments, seg_start);
    float lr = seg_lr[s] * lr_scale;
    float g = grad[i] * grad_scale;
    float p = param[i] * (1.0f - lr * seg_wd[s]);
    float w = 1.0f - beta1, mi = m[i], vi = v[i];
    mi = w < 0.5f ? mi + w * (g - mi) : g - (g - mi) * (1.0f - w); // torch's lerp
    vi = vi * beta2 + (1.0f - beta2) * g * g;
    p -= (lr / bc1) * mi / (sqrtf(vi) / bc2_sqrt + eps);
    m[i] = mi;
    v[i] = vi;
    param[i] = p;
}

__global__ void sumsq_kernel(long long n, long long group_size, const float *x, float *out) {
    long long g = global_index(), start = g * group_size;
    if (start >= n) return;
    long long end = start + group_size < n ? start + group_size : n;
    kahan acc;
    for (long long i = start; i < end; i++) acc.add(x[i] * x[i]);
    out[g] = acc.sum;
}

__global__ void ema_kernel(long long n, float decay, const float *x, float *e) {
    long long i = global_index();
    if (i < n) e[i] = decay * e[i] + (1.0f - decay) * x[i];
}

rf_status cuda_adamw(rf_device *dev, const rf_adamw_args *a) {
    ENTER(dev);
    if (a->n == 0) return RF_OK;
    /* Bias corrections on the host, in double: no device pow in the result. */
    float bc1 = (float)(1.0 - pow(a->beta1, (double)a->step)), bc2_sqrt = (float)sqrt(1.0 - pow(a->beta2, (double)a->step));
    adamw_kernel<<<blocks_for(a->n), kThreads, 0, stream_of(dev)>>>(
        a->n, (int)a->segments, a->beta1, a->beta2, a->eps, a->lr_scale, a->grad_scale, bc1, bc2_sqrt, F(a->param),
        CF(a->grad), F(a->m), F(a->v), CI(a->seg_start), CF(a->seg_lr), CF(a->seg_wd));
    return finish(dev, "adamw_kernel");
}

rf_status cuda_sumsq(rf_device *dev, const rf_sumsq_args *a) {
    ENTER(dev);
    long long groups = (a->n + a->group_size - 1) / a->group_size;
    if (groups == 0) return RF_OK;
    sumsq_kernel<<<blocks_for(groups), kThreads, 0, stream_of(dev)>>>(a->n, a->group_size, CF(a->x), F(a->out));
    return finish(dev, "sumsq_kernel");
}

rf_status cuda_ema(rf_device *dev, const rf_ema_args *a) {
    ENTER(dev);
    if (a->n == 0) return RF_OK;
    ema_kernel<<<blocks_for(a->n), kThreads, 0, stream_of(dev)>>>(a->n, a->decay, CF(a->x), F(a->ema));
    return finish(dev, "ema_kernel");
}

} // namespace

// Positional, in the order of rf_kernels_optim (backend/kernels.h).
extern "C" const rf_kernels_optim rf_cuda_kernels_optim = {
    cuda_adamw,
    cuda_sumsq,
    cuda_ema,
};
