/* launch_loss.c — launchers of backend/kernels/loss.h for every GPU backend. */
#include "backend/gpu/launch.h"
#include "backend/gpu/launchers.h"
#include "backend/status.h"

#define PROGRAM "loss"

static const rf_mem no_mem = {NULL, 0};


rf_status rf_gpu_bce(rf_device *dev, const rf_bce_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "bce_f32");
    rf_launch_long(&l, a->n);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->pos_w);
    rf_launch_mem(&l, a->neg_w);
    rf_launch_mem(&l, a->loss);
    return rf_launch_items(&l, a->n);
}

rf_status rf_gpu_bce_backward(rf_device *dev, const rf_bce_backward_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "bce_backward_f32");
    rf_launch_long(&l, a->n);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->pos_w);
    rf_launch_mem(&l, a->neg_w);
    rf_launch_mem(&l, a->dloss);
    rf_launch_mem(&l, a->dx);
    rf_launch_int(&l, a->accumulate);
    rf_launch_int(&l, a->has_dweights);
    rf_launch_mem(&l, a->has_dweights ? a->dpos_w : no_mem);
    rf_launch_mem(&l, a->has_dweights ? a->dneg_w : no_mem);
    return rf_launch_items(&l, a->n);
}

rf_status rf_gpu_box_loss(rf_device *dev, const rf_box_loss_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "box_loss_f32");
    rf_launch_long(&l, a->n);
    rf_launch_mem(&l, a->pred);
    rf_launch_mem(&l, a->target);
    rf_launch_mem(&l, a->l1);
    rf_launch_mem(&l, a->giou);
    return rf_launch_items(&l, a->n);
}

rf_status rf_gpu_box_loss_backward(rf_device *dev, const rf_box_loss_backward_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "box_loss_backward_f32");
    rf_launch_long(&l, a->n);
    rf_launch_mem(&l, a->pred);
    rf_launch_mem(&l, a->target);
    rf_launch_mem(&l, a->dl1);
    rf_launch_mem(&l, a->dgiou);
    rf_launch_mem(&l, a->dpred);
    rf_launch_int(&l, a->accumulate);
    return rf_launch_items(&l, a->n);
}

