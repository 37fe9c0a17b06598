/* common.h — device functions every kernel family shares: compensated
 * sums, N-d offsets, the stable sigmoid and softplus, and (on the devices)
 * the work-group reductions. Part of the one kernel source (device.h). */
#ifndef RFDETR_KERNELS_COMMON_H
#define RFDETR_KERNELS_COMMON_H

#ifndef __OPENCL_VERSION__
#include "backend/kernels/device.h"
#endif

/* sigmoid and log(1 + e^x) without overflow for large |x|. */
RF_FN RF_S rf_sigmoid(RF_S x) {
    if (x >= RF_C(0.0)) return RF_C(1.0) / (RF_C(1.0) + exp(-x));
    RF_S e = exp(x);
    return e / (RF_C(1.0) + e);
}
/* erfc. PoCL's OpenCL erfc runs ~20x slower than exp (a GELU over 1M
 * floats took 49 ms against 2.6 ms for this), so OpenCL devices use a
 * Chebyshev fit of erfc(z) e^(z^2) in t = 2 / (2 + |z|) (Press et al.,
 * Numerical Recipes, 2nd ed., section 6.2): relative error below 1.2e-7 in
 * exact arithmetic, ~7e-6 in float at the far tail, within the tests' float
 * bounds. CUDA's erfcf is fast, and the cpu reference keeps the C library's. */
#ifdef __OPENCL_VERSION__
RF_FN float rf_erfc(float x) {
    float z = fabs(x);
    float t = 2.0f / (2.0f + z);
    float p = fma(t, 0.17087277f, -0.82215223f);
    p = fma(t, p, 1.48851587f);
    p = fma(t, p, -1.13520398f);
    p = fma(t, p, 0.27886807f);
    p = fma(t, p, -0.18628806f);
    p = fma(t, p, 0.09678418f);
    p = fma(t, p, 0.37409196f);
    p = fma(t, p, 1.00002368f);
    p = fma(t, p, -1.26551223f);
    float r = t * exp(p - z * z);
    return x >= 0.0f ? r : 2.0f - r;
}
#else
#define rf_erfc(x) erfc(x)
#endif
RF_FN RF_S rf_softplus(RF_S x) { return fmax(x, RF_C(0.0)) + log1p(exp(-fabs(x))); }

#ifdef RF_DEVICE_GPU
/* Kahan-compensated float sum: long sums in a fixed order stay close to
 * the cpu reference's double accumulation. */
typedef struct rf_kahan {
    float sum, c;
} rf_kahan;

RF_FN void rf_kahan_add(rf_kahan *k, float v) {
    float y = v - k->c;
    float t = k->sum + y;
    k->c = (t - k->sum) - y;
    k->sum = t;
}

RF_FN rf_long rf_lane(rf_long8 v, int k) {
    switch (k) {
    case 0: return v.s0;
    case 1: return v.s1;
    case 2: return v.s2;
    case 3: return v.s3;
    case 4: return v.s4;
    case 5: return v.s5;
    case 6: return v.s6;
    default: return v.s7;
    }
}

/* Offset of linear index i (row-major over `shape`, ndim axes) under
 * `stride`. The host collapses mergeable axes, so ndim is usually 1-3. */
RF_FN rf_long rf_nd_offset(rf_long i, int ndim, rf_long8 shape, rf_long8 stride) {
    rf_long off = 0;
    for (int k = ndim - 1; k >= 0; k--) {
        rf_long s = rf_lane(shape, k);
        rf_long q = i / s;
        off += (i - q * s) * rf_lane(stride, k);
        i = q;
    }
    return off;
}

/* Offset of element (i2, i1, i0) of a range launched by rf_launch_nd: i0
 * runs along the last axis, i1 along the one before and i2 over the
 * leading axes in row-major order. Divisions (slow on every device: 64-bit
 * division is emulated on GPUs, and a strided copy paying one per axis ran
 * 50x slower than a plain one on PoCL) happen only for a fourth axis. */
RF_FN rf_long rf_nd3_offset(rf_long i0, rf_long i1, rf_long i2, int ndim, rf_long8 shape, rf_long8 stride) {
    rf_long off = i0 * rf_lane(stride, ndim - 1);
    if (ndim >= 2) off += i1 * rf_lane(stride, ndim - 2);
    for (int k = ndim - 3; k > 0; k--) {
        rf_long s = rf_lane(shape, k);
        rf_long q = i2 / s;
        off += (i2 - q * s) * rf_lane(stride, k);
        i2 = q;
    }
    if (ndim >= 3) off += i2 * rf_lane(stride, 0);
    return off;
}

/* The body of a kernel launched by rf_launch_nd over n0 x n1 x n2
 * elements. CUDA caps the grid at 65535 blocks along y and z, so its items
 * stride over the rest; OpenCL's range covers every element, one per item:
 * loops there kept PoCL from vectorising the work-group (a copy ran 4-18x
 * slower). */
#ifdef __CUDACC__
#define RF_ND_LOOP(n0, n1, n2, i0, i1, i2)                                                    \
    rf_long i0 = rf_global_id(0);                                                             \
    if (i0 < (n0))                                                                            \
        for (rf_long i2 = rf_global_id(2); i2 < (n2); i2 += rf_global_size(2))                \
            for (rf_long i1 = rf_global_id(1); i1 < (n1); i1 += rf_global_size(1))
#else
#define RF_ND_LOOP(n0, n1, n2, i0, i1, i2)                                                    \
    rf_long i0 = rf_global_id(0), i1 = rf_global_id(1), i2 = rf_global_id(2);                 \
    if (i0 < (n0) && i1 < (n1) && i2 < (n2))
#endif

/* Work-group reductions. Every work item of the group must call them (they
 * hold barriers); the group size is a power of two <= RF_GROUP and `buf`
 * holds RF_GROUP elements of local memory. The tree's order depends only on
 * the group size, so a device gives the same bits run after run, and two
 * devices of one kind give the same bits. Each returns the result to every
 * work item and leaves `buf` free for the next call. */
RF_FN float rf_group_sum(float v, RF_LOCAL float *buf) {
    int lid = rf_local_id(0);
    buf[lid] = v;
    rf_barrier();
    for (int s = rf_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] += buf[lid + s];
        rf_barrier();
    }
    float total = buf[0];
    rf_barrier();
    return total;
}

RF_FN float rf_group_max(float v, RF_LOCAL float *buf) {
    int lid = rf_local_id(0);
    buf[lid] = v;
    rf_barrier();
    for (int s = rf_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] = fmax(buf[lid], buf[lid + s]);
        rf_barrier();
    }
    float m = buf[0];
    rf_barrier();
    return m;
}
#endif /* RF_DEVICE_GPU */

#endif /* RFDETR_KERNELS_COMMON_H */
