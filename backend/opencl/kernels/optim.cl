// optim.cl — AdamW over a parameter slab, partial sums of squares for the
// gradient norm, and the EMA update, for the OpenCL backend. Float twins of
// backend/cpu/kernels_optim.c; each work item owns its outputs.

// Segment s with seg_start[s] <= i < seg_start[s + 1] (binary search).
inline int segment_of(long i, int segments, __global const int *seg_start) {
    int lo = 0, hi = segments - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (seg_start[mid] <= i) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

// bc1 = 1 - beta1^t and bc2_sqrt = sqrt(1 - beta2^t) come from the host.
__kernel void adamw_f32(long n, int segments, float beta1, float beta2, float eps, float lr_scale, float grad_scale,
                        float bc1, float bc2_sqrt, __global float *param, ulong p_off, __global const float *grad,
                        ulong g_off, __global float *m, ulong m_off, __global float *v, ulong v_off,
                        __global const int *seg_start, ulong ss_off, __global const float *seg_lr, ulong lr_off,
                        __global const float *seg_wd, ulong wd_off) {
    long i = get_global_id(0);
    if (i >= n) return;
    int s = segment_of(i, segments, seg_start + ss_off);
    float lr = seg_lr[lr_off + s] * lr_scale;
    float g = grad[g_off + i] * grad_scale;
    float p = param[p_off + i] * (1.0f - lr * seg_wd[wd_off + s]);
    float w = 1.0f - beta1, mi = m[m_off + i], vi = v[v_off + i];
    mi = w < 0.5f ? mi + w * (g - mi) : g - (g - mi) * (1.0f - w); // torch's lerp
    vi = vi * beta2 + (1.0f - beta2) * g * g;
    p -= (lr / bc1) * mi / (sqrt(vi) / bc2_sqrt + eps);
    m[m_off + i] = mi;
    v[v_off + i] = vi;
    param[p_off + i] = p;
}

// One work item per group of consecutive elements, Kahan-compensated.
__kernel void sumsq_f32(long n, long group_size, __global const float *x, ulong x_off, __global float *out,
                        ulong out_off) {
    long g = get_global_id(0);
    long start = g * group_size;
    if (start >= n) return;
    long end = min(start + group_size, n);
    float sum = 0.0f, c = 0.0f;
    for (long i = start; i < end; i++) {
        float v = x[x_off + i];
        float y = v * v - c;
        float t = sum + y;
        c = (t - sum) - y;
        sum = t;
    }
    out[out_off + g] = sum;
}

__kernel void ema_f32(long n, float decay, __global const float *x, ulong x_off, __global float *e, ulong e_off) {
    long i = get_global_id(0);
    if (i >= n) return;
    e[e_off + i] = decay * e[e_off + i] + (1.0f - decay) * x[x_off + i];
}
