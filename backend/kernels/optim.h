/* optim.h — AdamW over a parameter slab, partial sums of squares for the
 * gradient norm, and the EMA update: the kernels of the GPU backends (the
 * AdamW step every device shares is adamw_step.h). Part of the one kernel
 * source (device.h). */
#ifndef RFDETR_KERNELS_OPTIM_H
#define RFDETR_KERNELS_OPTIM_H

#ifndef __OPENCL_VERSION__
#include "backend/kernels/common.h"
#include "backend/kernels/adamw_step.h"
#endif

#ifdef RF_DEVICE_GPU

/* Segment s with seg_start[s] <= i < seg_start[s + 1] (binary search). */
RF_FN int rf_segment_of(rf_long i, int segments, RF_GLOBAL const int *seg_start) {
    int lo = 0, hi = segments - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (seg_start[mid] <= i) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* bc1 = 1 - beta1^t and inv_bc2_sqrt = 1 / sqrt(1 - beta2^t) from the host. */
RF_KERNEL adamw_f32(rf_long n, int segments, float beta1, float beta2, float eps, float lr_scale, float grad_scale,
                    float bc1, float inv_bc2_sqrt, RF_GLOBAL float *param, rf_ulong p_off, RF_GLOBAL const float *grad,
                    rf_ulong g_off, RF_GLOBAL float *m, rf_ulong m_off, RF_GLOBAL float *v, rf_ulong v_off,
                    RF_GLOBAL const int *seg_start, rf_ulong ss_off, RF_GLOBAL const float *seg_lr, rf_ulong lr_off,
                    RF_GLOBAL const float *seg_wd, rf_ulong wd_off) {
    rf_long i = rf_global_id(0);
    if (i >= n) return;
    int s = rf_segment_of(i, segments, seg_start + ss_off);
    float lr = seg_lr[lr_off + s] * lr_scale;
    float p = param[p_off + i], mi = m[m_off + i], vi = v[v_off + i];
    rf_adamw_step(&p, &mi, &vi, grad[g_off + i] * grad_scale, 1.0f - beta1, beta2, 1.0f - lr * seg_wd[wd_off + s],
                  lr / bc1, inv_bc2_sqrt, eps);
    m[m_off + i] = mi;
    v[v_off + i] = vi;
    param[p_off + i] = p;
}

/* One work-group per group of consecutive elements: neighbouring items read
 * neighbouring elements, Kahan partials, then the group's tree. */
RF_KERNEL sumsq_f32(rf_long n, rf_long group_size, RF_GLOBAL const float *x, rf_ulong x_off, RF_GLOBAL float *out,
                    rf_ulong out_off) {
    RF_LOCAL_ARRAY(float, buf, RF_GROUP);
    rf_long g = rf_group_id(0);
    rf_long start = g * group_size; /* < n: one group per group of elements, no early return before a barrier */
    rf_long end = rf_min_l(start + group_size, n);
    rf_kahan acc = {0.0f, 0.0f};
    for (rf_long i = start + rf_local_id(0); i < end; i += rf_local_size(0)) {
        float v = x[x_off + i];
        rf_kahan_add(&acc, v * v);
    }
    float total = rf_group_sum(acc.sum, buf);
    if (rf_local_id(0) == 0) out[out_off + g] = total;
}

RF_KERNEL ema_f32(rf_long n, float decay, RF_GLOBAL const float *x, rf_ulong x_off, RF_GLOBAL float *e, rf_ulong e_off) {
    rf_long i = rf_global_id(0);
    if (i >= n) return;
    e[e_off + i] = decay * e[e_off + i] + (1.0f - decay) * x[x_off + i];
}

#define RF_KERNELS_OPTIM(X) X(adamw_f32) X(sumsq_f32) X(ema_f32)

#endif /* RF_DEVICE_GPU */

#endif /* RFDETR_KERNELS_OPTIM_H */
