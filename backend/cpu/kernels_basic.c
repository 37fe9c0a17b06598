/* kernels_basic.c — the cpu device's basic kernels: the reference kernels
 * (ref_basic.h) in reference mode, fast_basic.c otherwise. */
#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/fast.h"
#include "backend/cpu/ref_basic.h"
#include "backend/kernels/half.h"

rf_status rf_cpu_unary(rf_device *dev, const rf_unary_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_unary(dev, a)) return RF_OK;
    rf_ref_unary_f32(a->op, a->n, CPU_CF(a->x), CPU_F(a->y), a->alpha, a->beta);
    return RF_OK;
}

/* Words [w0, w1) of a convert: the one-source conversions of half.h, so
 * that every device stores the same bits. */
static void convert_words(void *p, int64_t w0, int64_t w1) {
    const rf_convert_args *a = p;
    bool bf16 = a->format == RF_PRECISION_BF16;
    if (a->to_half) {
        const float *x = CPU_CF(a->src);
        uint32_t *y = (uint32_t *)CPU_F(a->dst);
        for (int64_t w = w0; w < w1; w++) {
            uint32_t lo = bf16 ? rf_f32_to_bf16(x[2 * w]) : rf_f32_to_f16(x[2 * w]);
            uint32_t hi = 2 * w + 1 >= a->n ? 0u : bf16 ? rf_f32_to_bf16(x[2 * w + 1]) : rf_f32_to_f16(x[2 * w + 1]);
            y[w] = (lo & 0xffffu) | (hi << 16);
        }
    } else {
        const uint32_t *x = (const uint32_t *)CPU_CF(a->src);
        float *y = CPU_F(a->dst);
        for (int64_t i = 2 * w0; i < 2 * w1 && i < a->n; i++)
            y[i] = bf16 ? rf_bf16_to_f32(x[i / 2] >> (16 * (i % 2))) : rf_f16_to_f32(x[i / 2] >> (16 * (i % 2)));
    }
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* The fast mode's: on a little-endian machine value i of the pairs is
 * 16-bit slot i, so whole runs convert at once. */
static void convert_run(void *p, int64_t w0, int64_t w1) {
    const rf_convert_args *a = p;
    int64_t v0 = 2 * w0, v1 = 2 * w1 < a->n ? 2 * w1 : a->n;
    if (a->to_half) {
        uint16_t *y = (uint16_t *)(void *)CPU_F(a->dst);
        rf_cpu_pack_half(a->format, CPU_CF(a->src) + v0, y + v0, v1 - v0);
        if (v1 < 2 * w1) y[v1] = 0; /* an odd count's last high half */
    } else {
        rf_cpu_unpack_half(a->format, (const uint16_t *)(const void *)CPU_CF(a->src) + v0, CPU_F(a->dst) + v0, v1 - v0);
    }
}
#else
#define convert_run convert_words
#endif

rf_status rf_cpu_convert(rf_device *dev, const rf_convert_args *a) {
    if (a->format != RF_PRECISION_BF16 && a->format != RF_PRECISION_F16)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: convert to a 16-bit format, not precision %d", dev->info.name,
                        (int)a->format);
    int64_t words = (a->n + 1) / 2;
    if (cpu_is_reference(dev))
        convert_words((void *)a, 0, words);
    else
        cpu_parallel_range(dev, words, CPU_GRAIN, convert_run, (void *)a);
    return RF_OK;
}

rf_status rf_cpu_unary_backward(rf_device *dev, const rf_unary_backward_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_unary_backward(dev, a)) return RF_OK;
    rf_ref_unary_backward_f32(a->op, a->n, CPU_CF(a->x), CPU_CF(a->y), CPU_CF(a->dy), CPU_F(a->dx), a->alpha, a->beta,
                              a->accumulate);
    return RF_OK;
}

rf_status rf_cpu_binary(rf_device *dev, const rf_binary_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_binary(dev, a)) return RF_OK;
    rf_ref_binary_f32(a->op, a->ndim, a->shape, CPU_VCF(a->a), a->a.stride, CPU_VCF(a->b), a->b.stride, CPU_VF(a->y),
                      a->y.stride, a->accumulate);
    return RF_OK;
}

rf_status rf_cpu_copy(rf_device *dev, const rf_copy_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_copy(dev, a)) return RF_OK;
    rf_ref_copy_f32(a->ndim, a->shape, CPU_VCF(a->src), a->src.stride, CPU_VF(a->dst), a->dst.stride, a->accumulate);
    return RF_OK;
}

rf_status rf_cpu_reduce(rf_device *dev, const rf_reduce_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_reduce(dev, a)) return RF_OK;
    rf_ref_reduce_f32(a->op, a->ndim, a->shape, a->reduce_mask, CPU_VCF(a->x), a->x.stride, CPU_F(a->y), a->accumulate);
    return RF_OK;
}

rf_status rf_cpu_max_last(rf_device *dev, const rf_max_last_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_max_last(dev, a)) return RF_OK;
    rf_ref_max_last_f32(a->rows, a->cols, CPU_CF(a->x), CPU_F(a->values), CPU_I(a->indices));
    return RF_OK;
}

rf_status rf_cpu_max_last_backward(rf_device *dev, const rf_max_last_backward_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_max_last_backward(dev, a)) return RF_OK;
    rf_ref_max_last_backward_f32(a->rows, a->cols, CPU_CF(a->dy), CPU_CI(a->indices), CPU_F(a->dx), a->accumulate);
    return RF_OK;
}

rf_status rf_cpu_softmax(rf_device *dev, const rf_softmax_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_softmax(dev, a)) return RF_OK;
    rf_ref_softmax_f32(a->rows, a->cols, CPU_CF(a->x), a->has_mask ? CPU_CF(a->mask) : NULL, a->mask_rows, CPU_F(a->y));
    return RF_OK;
}

rf_status rf_cpu_softmax_backward(rf_device *dev, const rf_softmax_backward_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_softmax_backward(dev, a)) return RF_OK;
    rf_ref_softmax_backward_f32(a->rows, a->cols, CPU_CF(a->y), CPU_CF(a->dy), CPU_F(a->dx), a->accumulate);
    return RF_OK;
}

rf_status rf_cpu_layernorm(rf_device *dev, const rf_layernorm_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_layernorm(dev, a)) return RF_OK;
    rf_ref_layernorm_f32(a->rows, a->cols, a->inner, a->outer_stride, a->col_stride, a->eps, CPU_CF(a->x),
                         a->has_affine ? CPU_CF(a->gamma) : NULL, a->has_affine ? CPU_CF(a->beta) : NULL, CPU_F(a->y),
                         CPU_F(a->mean), CPU_F(a->rstd));
    return RF_OK;
}

rf_status rf_cpu_layernorm_backward(rf_device *dev, const rf_layernorm_backward_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_layernorm_backward(dev, a)) return RF_OK;
    rf_ref_layernorm_backward_f32(a->rows, a->cols, a->inner, a->outer_stride, a->col_stride, CPU_CF(a->x),
                                  CPU_CF(a->mean), CPU_CF(a->rstd), CPU_CF(a->dy),
                                  a->has_affine ? CPU_CF(a->gamma) : NULL, CPU_F(a->dx),
                                  a->has_affine ? CPU_F(a->dgamma) : NULL, a->has_affine ? CPU_F(a->dbeta) : NULL,
                                  a->accumulate);
    return RF_OK;
}

