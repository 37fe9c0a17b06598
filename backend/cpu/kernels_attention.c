/* kernels_attention.c — the cpu device's fused attention: the reference
 * kernel (ref_attention.h) in reference mode, fast_attention.c otherwise. */
#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/fast.h"
#include "backend/cpu/ref_attention.h"
#include "backend/status.h"

static rf_ref_attention_shape ref_shape(int64_t batch, int64_t heads, int64_t lq, int64_t lk, int64_t d, int64_t dv,
                                        float scale, const rf_view *q, const rf_view *k, const rf_view *v,
                                        const rf_view *o) {
    return (rf_ref_attention_shape){batch, heads, lq, lk, d, dv, scale, q->stride, k->stride, v->stride, o->stride,
                                    NULL, NULL, NULL, NULL};
}

rf_status rf_cpu_attention(rf_device *dev, const rf_attention_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_attention(dev, a)) return RF_OK;
    rf_ref_attention_shape s = ref_shape(a->batch, a->heads, a->lq, a->lk, a->head_dim, a->value_dim, a->scale, &a->q,
                                         &a->k, &a->v, &a->o);
    bool ok = rf_ref_attention_f32(&s, CPU_VCF(a->q), CPU_VCF(a->k), CPU_VCF(a->v), a->has_mask ? CPU_CF(a->mask) : NULL,
                                   CPU_VF(a->o), CPU_F(a->lse));
    return ok ? RF_OK : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "attention: no memory for a row of scores");
}

rf_status rf_cpu_attention_backward(rf_device *dev, const rf_attention_backward_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_attention_backward(dev, a)) return RF_OK;
    rf_ref_attention_shape s = ref_shape(a->batch, a->heads, a->lq, a->lk, a->head_dim, a->value_dim, a->scale, &a->q,
                                         &a->k, &a->v, &a->o);
    s.dq_stride = a->dq.stride;
    s.dk_stride = a->dk.stride;
    s.dv_stride = a->dv.stride;
    s.do_stride = a->dout.stride;
    bool ok = rf_ref_attention_backward_f32(&s, CPU_VCF(a->q), CPU_VCF(a->k), CPU_VCF(a->v),
                                            a->has_mask ? CPU_CF(a->mask) : NULL, CPU_VCF(a->dout), CPU_VF(a->dq),
                                            CPU_VF(a->dk), CPU_VF(a->dv));
    return ok ? RF_OK : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "attention backward: no memory for key gradients");
}
