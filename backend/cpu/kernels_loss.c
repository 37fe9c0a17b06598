/* kernels_loss.c — the cpu device's loss kernels: the reference kernels
 * (ref_loss.h) in reference mode, fast_loss.c otherwise (the box losses,
 * one entry per matched pair, run the reference in both modes). */
#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/fast.h"
#include "backend/cpu/ref_loss.h"

rf_status rf_cpu_bce(rf_device *dev, const rf_bce_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_bce(dev, a)) return RF_OK;
    rf_ref_bce_f32(a->n, CPU_CF(a->x), CPU_CF(a->pos_w), CPU_CF(a->neg_w), CPU_F(a->loss));
    return RF_OK;
}

rf_status rf_cpu_bce_backward(rf_device *dev, const rf_bce_backward_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_bce_backward(dev, a)) return RF_OK;
    rf_ref_bce_backward_f32(a->n, CPU_CF(a->x), CPU_CF(a->pos_w), CPU_CF(a->neg_w), CPU_CF(a->dloss), CPU_F(a->dx),
                            a->accumulate, a->has_dweights ? CPU_F(a->dpos_w) : NULL,
                            a->has_dweights ? CPU_F(a->dneg_w) : NULL);
    return RF_OK;
}

rf_status rf_cpu_box_loss(rf_device *dev, const rf_box_loss_args *a) {
    rf_ref_box_loss_f32(a->n, CPU_CF(a->pred), CPU_CF(a->target), CPU_F(a->l1), CPU_F(a->giou));
    return RF_OK;
}

rf_status rf_cpu_box_loss_backward(rf_device *dev, const rf_box_loss_backward_args *a) {
    rf_ref_box_loss_backward_f32(a->n, CPU_CF(a->pred), CPU_CF(a->target), CPU_CF(a->dl1), CPU_CF(a->dgiou),
                                 CPU_F(a->dpred), a->accumulate);
    return RF_OK;
}

