/* dispatch.c — the checked entry points above the vtable. Every caller above
 * backend/ goes through these, so device checks, bounds checks and counters
 * are done once, identically for every backend. */
#include <string.h>

#include "backend/backend.h"
#include "backend/profile.h"
#include "backend/kernels.h"
#include "backend/status.h"

rf_status rf_check_same_device(const rf_device *dev, const rf_buffer *buf, const char *what) {
    if (!buf) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: buffer is NULL", what);
    if (buf->device != dev)
        return RF_ERROR(RF_ERR_DEVICE_MISMATCH, "%s: buffer lives on %s but the operation runs on %s", what,
                        buf->device ? buf->device->info.name : "(none)", dev ? dev->info.name : "(none)");
    return RF_OK;
}

static rf_status check_range(const rf_buffer *buf, size_t byte_offset, size_t bytes, const char *what) {
    if (!buf) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: buffer is NULL", what);
    if (byte_offset > buf->bytes || bytes > buf->bytes - byte_offset)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: range [%zu, %zu) outside the %zu-byte buffer on %s", what,
                        byte_offset, byte_offset + bytes, buf->bytes, buf->device->info.name);
    return RF_OK;
}

rf_status rf_buffer_alloc(rf_device *dev, size_t bytes, rf_buffer **out) {
    if (!dev || !out) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_buffer_alloc: NULL argument");
    *out = NULL;
    if (bytes == 0) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_buffer_alloc on %s: zero bytes", dev->info.name);
    if (dev->info.max_alloc_bytes && bytes > dev->info.max_alloc_bytes)
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY,
                        "%s: cannot allocate %zu bytes (%.1f MiB): the device's largest single allocation is "
                        "%llu bytes (%.1f MiB); try a smaller batch or resolution",
                        dev->info.name, bytes, bytes / 1048576.0, (unsigned long long)dev->info.max_alloc_bytes,
                        dev->info.max_alloc_bytes / 1048576.0);
    if (dev->memory_limit_bytes && dev->counters.bytes_live + bytes > dev->memory_limit_bytes)
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY,
                        "%s: out of device memory: allocating %zu bytes (%.1f MiB) on top of %.1f MiB in use exceeds "
                        "the %.1f MiB limit; try a smaller batch or resolution",
                        dev->info.name, bytes, bytes / 1048576.0, dev->counters.bytes_live / 1048576.0,
                        dev->memory_limit_bytes / 1048576.0);
    RF_TRY(dev->ops->alloc(dev, bytes, out));
    (*out)->holds_weights = false;
    (*out)->writes = 0;
    rf_device_counters *c = &dev->counters;
    c->allocations++;
    c->bytes_allocated += bytes;
    c->bytes_live += bytes;
    if (c->bytes_live > c->bytes_peak) c->bytes_peak = c->bytes_live;
    return RF_OK;
}

void rf_buffer_free(rf_buffer *buf) {
    if (!buf) return;
    rf_device *dev = buf->device;
    dev->counters.frees++;
    dev->counters.bytes_live -= buf->bytes;
    dev->ops->free(buf);
}

rf_status rf_buffer_upload(rf_buffer *dst, size_t dst_byte_offset, const void *src, size_t bytes) {
    RF_TRY(check_range(dst, dst_byte_offset, bytes, "upload"));
    if (bytes == 0) return RF_OK;
    if (!src) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "upload: source is NULL");
    rf_device *dev = dst->device;
    rf_buffer_written(dst);
    dev->counters.uploads++;
    dev->counters.bytes_uploaded += bytes;
    return dev->ops->upload(dst, dst_byte_offset, src, bytes);
}

rf_status rf_buffer_download(const rf_buffer *src, size_t src_byte_offset, void *dst, size_t bytes) {
    RF_TRY(check_range(src, src_byte_offset, bytes, "download"));
    if (bytes == 0) return RF_OK;
    if (!dst) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "download: destination is NULL");
    rf_device *dev = src->device;
    dev->counters.downloads++;
    dev->counters.bytes_downloaded += bytes;
    return dev->ops->download(src, src_byte_offset, dst, bytes);
}

rf_status rf_buffer_copy(rf_buffer *dst, size_t dst_byte_offset, const rf_buffer *src, size_t src_byte_offset,
                         size_t bytes) {
    if (!dst || !src) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "copy: buffer is NULL");
    RF_TRY(rf_check_same_device(dst->device, src, "copy"));
    RF_TRY(check_range(dst, dst_byte_offset, bytes, "copy destination"));
    RF_TRY(check_range(src, src_byte_offset, bytes, "copy source"));
    if (bytes == 0) return RF_OK;
    if (dst == src && dst_byte_offset < src_byte_offset + bytes && src_byte_offset < dst_byte_offset + bytes)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "copy: source and destination ranges overlap");
    rf_buffer_written(dst);
    dst->device->counters.copies++;
    return dst->device->ops->copy(dst, dst_byte_offset, src, src_byte_offset, bytes);
}

rf_status rf_buffer_fill_u32(rf_buffer *dst, size_t dst_byte_offset, size_t count, uint32_t pattern) {
    if (!dst) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "fill: buffer is NULL");
    if (dst_byte_offset % 4) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "fill: offset %zu is not 4-byte aligned", dst_byte_offset);
    if (count > SIZE_MAX / 4) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "fill: count overflows");
    RF_TRY(check_range(dst, dst_byte_offset, count * 4, "fill"));
    if (count == 0) return RF_OK;
    rf_buffer_written(dst);
    dst->device->counters.fills++;
    return dst->device->ops->fill_u32(dst, dst_byte_offset, count, pattern);
}

rf_status rf_buffer_fill_f32(rf_buffer *dst, size_t dst_byte_offset, size_t count, float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return rf_buffer_fill_u32(dst, dst_byte_offset, count, bits);
}

rf_status rf_device_synchronize(rf_device *dev) {
    if (!dev) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "synchronize: device is NULL");
    dev->counters.synchronizations++;
    return dev->ops->synchronize(dev);
}

size_t rf_gemm_operand_extent(int64_t rows, int64_t cols, int64_t ld, int64_t stride, int64_t batch) {
    if (rows == 0 || cols == 0 || batch == 0) return 0;
    return (size_t)((batch - 1) * stride + (rows - 1) * ld + cols);
}

static rf_status check_gemm_operand(rf_device *dev, const rf_buffer *buf, size_t offset, int64_t rows, int64_t cols,
                                    int64_t ld, int64_t stride, int64_t batch, const char *name) {
    RF_TRY(rf_check_same_device(dev, buf, name));
    if (ld < (cols > 1 ? cols : 1))
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "gemm: %s is %lld x %lld stored row-major but its leading dimension is %lld",
                        name, (long long)rows, (long long)cols, (long long)ld);
    if (stride < 0) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "gemm: %s batch stride is negative", name);
    size_t extent = rf_gemm_operand_extent(rows, cols, ld, stride, batch);
    if (offset > buf->bytes / 4 || extent > buf->bytes / 4 - offset)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                        "gemm: %s spans elements [%zu, %zu) but its buffer on %s holds %zu floats", name, offset,
                        offset + extent, dev->info.name, buf->bytes / 4);
    return RF_OK;
}

rf_status rf_gemm(rf_device *dev, const rf_gemm_desc *d) {
    if (!dev || !d) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "gemm: NULL argument");
    if (d->m < 0 || d->n < 0 || d->k < 0 || d->batch < 1)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "gemm: bad sizes m=%lld n=%lld k=%lld batch=%lld",
                        (long long)d->m, (long long)d->n, (long long)d->k, (long long)d->batch);
    int64_t a_rows = d->trans_a ? d->k : d->m, a_cols = d->trans_a ? d->m : d->k;
    int64_t b_rows = d->trans_b ? d->n : d->k, b_cols = d->trans_b ? d->k : d->n;
    RF_TRY(check_gemm_operand(dev, d->a, d->a_offset, a_rows, a_cols, d->lda, d->stride_a, d->batch, "A"));
    RF_TRY(check_gemm_operand(dev, d->b, d->b_offset, b_rows, b_cols, d->ldb, d->stride_b, d->batch, "B"));
    RF_TRY(check_gemm_operand(dev, d->c, d->c_offset, d->m, d->n, d->ldc, d->stride_c, d->batch, "C"));
    if (d->batch > 1 && d->m > 0 && d->n > 0 && d->stride_c < (d->m - 1) * d->ldc + d->n)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "gemm: C batch stride %lld makes batch entries overlap",
                        (long long)d->stride_c);
    if (d->bias) {
        if (d->beta != 0.0f) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "gemm: a bias needs beta == 0");
        RF_TRY(check_gemm_operand(dev, d->bias, d->bias_offset, 1, d->bias_rows ? d->m : d->n,
                                  d->bias_rows ? d->m : d->n, 0, 1, "bias"));
    }
    if (d->compute < RF_PRECISION_F32 || d->compute >= RF_PRECISION_COUNT)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "gemm: unknown compute precision %d", (int)d->compute);
    if (d->compute != RF_PRECISION_F32 && d->alpha != 1.0f)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "gemm: a %s product needs alpha == 1", rf_precision_name(d->compute));
    if (d->m == 0 || d->n == 0) return RF_OK;
    rf_buffer_written(d->c);
    if (dev->profile) return rf_gemm_profiled(dev, d);
    return rf_gemm_run(dev, d);
}

/* A bf16 / fp16 product on a device that only multiplies f32: op(A) and
 * op(B) rounded by the device's own kernel into its operand buffer (kept
 * for the next product), then an f32 product of those. The same
 * arithmetic as a native one: a product of two bf16 or fp16 values is
 * exact in f32. Each operand's whole extent is rounded, gaps between rows
 * included (never read). */
static rf_status gemm_rounded(rf_device *dev, const rf_gemm_desc *d) {
    int64_t a_rows = d->trans_a ? d->k : d->m, a_cols = d->trans_a ? d->m : d->k;
    int64_t b_rows = d->trans_b ? d->n : d->k, b_cols = d->trans_b ? d->k : d->n;
    size_t a_n = rf_gemm_operand_extent(a_rows, a_cols, d->lda, d->stride_a, d->batch);
    size_t b_n = rf_gemm_operand_extent(b_rows, b_cols, d->ldb, d->stride_b, d->batch);
    size_t b_at = (a_n + 63) / 64 * 64, bytes = (b_at + b_n) * sizeof(float);
    if (!dev->kernels)
        return RF_ERROR(RF_ERR_UNSUPPORTED, "gemm: %s has no kernel to round %s operands", dev->info.name,
                        rf_precision_name(d->compute));
    if (!dev->gemm_operands || dev->gemm_operands->bytes < bytes) {
        if (dev->gemm_operands) rf_buffer_free(dev->gemm_operands);
        dev->gemm_operands = NULL;
        RF_TRY(rf_buffer_alloc(dev, bytes, &dev->gemm_operands));
    }
    rf_unary_op round = d->compute == RF_PRECISION_BF16 ? RF_UNARY_ROUND_BF16 : RF_UNARY_ROUND_F16;
    rf_unary_args ra = {.op = round, .n = (int64_t)a_n, .x = {d->a, d->a_offset}, .y = {dev->gemm_operands, 0}};
    rf_unary_args rb = {.op = round, .n = (int64_t)b_n, .x = {d->b, d->b_offset}, .y = {dev->gemm_operands, b_at}};
    if (a_n) RF_TRY(rf_kernel_unary(dev, &ra));
    if (b_n) RF_TRY(rf_kernel_unary(dev, &rb));
    rf_gemm_desc f = *d;
    f.compute = RF_PRECISION_F32;
    f.a = dev->gemm_operands, f.a_offset = 0;
    f.b = dev->gemm_operands, f.b_offset = b_at;
    return rf_gemm_run(dev, &f);
}

rf_status rf_gemm_run(rf_device *dev, const rf_gemm_desc *d) {
    if (d->compute != RF_PRECISION_F32 && !(dev->gemm_precisions & (1u << d->compute))) return gemm_rounded(dev, d);
    if (d->bias && !dev->gemm_fuses_bias) {
        /* C starts as the bias broadcast over it; the product adds to that. */
        if (!dev->kernels)
            return RF_ERROR(RF_ERR_UNSUPPORTED, "gemm: %s has no copy kernel for a bias", dev->info.name);
        rf_copy_args c = {.ndim = 3, .shape = {d->batch, d->m, d->n},
                          .src = {d->bias, d->bias_offset, {0, d->bias_rows ? 1 : 0, d->bias_rows ? 0 : 1}},
                          .dst = {d->c, d->c_offset, {d->stride_c, d->ldc, 1}}};
        RF_TRY(rf_kernel_copy(dev, &c)); /* counts its own launch */
        rf_gemm_desc plain = *d;
        plain.bias = NULL;
        plain.beta = 1.0f;
        dev->counters.gemm_calls++;
        dev->counters.kernel_launches++;
        return dev->ops->gemm(dev, &plain);
    }
    dev->counters.gemm_calls++;
    dev->counters.kernel_launches++;
    return dev->ops->gemm(dev, d);
}
