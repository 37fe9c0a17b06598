/* memory.h — raw memory kernels of the GPU backends: a 32-bit fill and the
 * beta-scaling of C for GEMMs with k == 0. Part of the one kernel source
 * (device.h). */
#ifndef RFDETR_KERNELS_MEMORY_H
#define RFDETR_KERNELS_MEMORY_H

#ifdef RF_DEVICE_GPU

/* dst[offset + i] = value for i < n (a 32-bit pattern: floats and ints alike). */
RF_KERNEL fill_u32(RF_GLOBAL rf_uint *dst, rf_ulong offset, rf_ulong n, rf_uint value) {
    rf_ulong i = (rf_ulong)rf_global_id(0);
    if (i < n) dst[offset + i] = value;
}

/* C_b = beta * C_b for an m x n row-major matrix per batch entry: GEMM with
 * k == 0, which BLAS libraries disagree about. beta == 0 writes zeros without
 * reading, so NaN garbage in C does not survive. One work item per element of
 * the flattened batch. */
RF_KERNEL gemm_scale_c(RF_GLOBAL float *c, rf_ulong offset, rf_ulong ldc, rf_ulong stride, rf_ulong m, rf_ulong n,
                       rf_ulong batch, float beta) {
    rf_ulong i = (rf_ulong)rf_global_id(0);
    if (i >= m * n * batch) return;
    rf_ulong j = i % n, row = (i / n) % m, b = i / (m * n);
    RF_GLOBAL float *p = c + offset + b * stride + row * ldc + j;
    *p = beta == 0.0f ? 0.0f : beta * *p;
}

#define RF_KERNELS_MEMORY(X) X(fill_u32) X(gemm_scale_c)

#endif /* RF_DEVICE_GPU */

#endif /* RFDETR_KERNELS_MEMORY_H */
