/* launch_memory.c — the raw memory kernels (backend/kernels/memory.h) the
 * GPU backends use inside their own vtables: fill, and GEMM with k == 0. */
#include "backend/gpu/launch.h"

#define PROGRAM "memory"

rf_status rf_gpu_fill_u32(rf_buffer *dst, size_t dst_byte_offset, size_t count, uint32_t pattern) {
    rf_launch l;
    rf_launch_begin(&l, dst->device, PROGRAM, "fill_u32");
    rf_launch_mem(&l, (rf_mem){dst, dst_byte_offset / 4});
    rf_launch_ulong(&l, count);
    rf_launch_uint(&l, pattern);
    return rf_launch_items(&l, (int64_t)count);
}

rf_status rf_gpu_gemm_scale_c(rf_device *dev, const rf_gemm_desc *d) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "gemm_scale_c");
    rf_launch_mem(&l, (rf_mem){d->c, d->c_offset});
    rf_launch_ulong(&l, (uint64_t)d->ldc);
    rf_launch_ulong(&l, (uint64_t)d->stride_c);
    rf_launch_ulong(&l, (uint64_t)d->m);
    rf_launch_ulong(&l, (uint64_t)d->n);
    rf_launch_ulong(&l, (uint64_t)d->batch);
    rf_launch_float(&l, d->beta);
    rf_status s = rf_launch_items(&l, d->m * d->n * d->batch);
    if (s == RF_OK && d->m * d->n * d->batch > 0) dev->counters.kernel_launches--; /* rf_gemm counted this GEMM */
    return s;
}
