/* kernels_sampling.c — the cpu device's sampling kernels: the reference
 * kernels (ref_sampling.h) in reference mode, fast_sampling.c otherwise. */
#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/fast.h"
#include "backend/cpu/ref_sampling.h"

rf_status rf_cpu_grid_sample(rf_device *dev, const rf_grid_sample_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_grid_sample(dev, a)) return RF_OK;
    rf_ref_grid_sample_f32(a->n, a->c, a->h, a->w, a->ho, a->wo, CPU_CF(a->x), CPU_CF(a->grid), CPU_F(a->y));
    return RF_OK;
}

rf_status rf_cpu_grid_sample_backward(rf_device *dev, const rf_grid_sample_backward_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_grid_sample_backward(dev, a)) return RF_OK;
    rf_ref_grid_sample_backward_f32(a->n, a->c, a->h, a->w, a->ho, a->wo, CPU_CF(a->x), CPU_CF(a->grid), CPU_CF(a->dy),
                                    a->has_dx ? CPU_F(a->dx) : NULL, a->has_dgrid ? CPU_F(a->dgrid) : NULL,
                                    a->accumulate);
    return RF_OK;
}

rf_status rf_cpu_deform_attn(rf_device *dev, const rf_deform_attn_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_deform_attn(dev, a)) return RF_OK;
    rf_ref_deform_attn_f32(&RF_DEFORM_DIMS(a), CPU_CF(a->value), CPU_CI(a->level_shapes), CPU_CI(a->level_start),
                           CPU_CF(a->sampling_locations), CPU_CF(a->attention_weights), CPU_F(a->output));
    return RF_OK;
}

rf_status rf_cpu_deform_attn_backward(rf_device *dev, const rf_deform_attn_backward_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_deform_attn_backward(dev, a)) return RF_OK;
    rf_ref_deform_attn_backward_f32(&RF_DEFORM_DIMS(a), CPU_CF(a->value), CPU_CI(a->level_shapes),
                                    CPU_CI(a->level_start), CPU_CF(a->sampling_locations),
                                    CPU_CF(a->attention_weights), CPU_CF(a->doutput), CPU_F(a->dvalue),
                                    CPU_F(a->dsampling_locations), CPU_F(a->dattention_weights));
    return RF_OK;
}

rf_status rf_cpu_gather_rows(rf_device *dev, const rf_gather_rows_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_gather_rows(dev, a)) return RF_OK;
    rf_ref_gather_rows_f32(a->batch, a->src_rows, a->cols, a->count, CPU_CF(a->src), CPU_CI(a->indices), CPU_F(a->out));
    return RF_OK;
}

rf_status rf_cpu_gather_rows_backward(rf_device *dev, const rf_gather_rows_backward_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_gather_rows_backward(dev, a)) return RF_OK;
    rf_ref_gather_rows_backward_f32(a->batch, a->src_rows, a->cols, a->count, CPU_CF(a->dout), CPU_CI(a->indices),
                                    CPU_F(a->dsrc));
    return RF_OK;
}

rf_status rf_cpu_topk(rf_device *dev, const rf_topk_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_topk(dev, a)) return RF_OK;
    rf_ref_topk_f32(a->rows, a->cols, a->k, CPU_CF(a->x), CPU_F(a->values), CPU_I(a->indices));
    return RF_OK;
}

