/* kernels_loss.c — launchers for loss.cl. */
#include "backend/opencl/opencl_internal.h"
#include "backend/status.h"

#define SRC "loss.cl"

static rf_status cl_bce(rf_device *dev, const rf_bce_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "bce_f32", &c));
    rf_cl_long(&c, a->n);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->pos_w);
    rf_cl_mem(&c, a->neg_w);
    rf_cl_mem(&c, a->loss);
    return rf_cl_run_1d(&c, (size_t)a->n);
}

static rf_status cl_bce_backward(rf_device *dev, const rf_bce_backward_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "bce_backward_f32", &c));
    rf_cl_long(&c, a->n);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->pos_w);
    rf_cl_mem(&c, a->neg_w);
    rf_cl_mem(&c, a->dloss);
    rf_cl_mem(&c, a->dx);
    rf_cl_int(&c, a->accumulate);
    rf_cl_int(&c, a->has_dweights);
    rf_cl_mem(&c, a->has_dweights ? a->dpos_w : (rf_mem){NULL, 0});
    rf_cl_mem(&c, a->has_dweights ? a->dneg_w : (rf_mem){NULL, 0});
    return rf_cl_run_1d(&c, (size_t)a->n);
}

static rf_status cl_box_loss(rf_device *dev, const rf_box_loss_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "box_loss_f32", &c));
    rf_cl_long(&c, a->n);
    rf_cl_mem(&c, a->pred);
    rf_cl_mem(&c, a->target);
    rf_cl_mem(&c, a->l1);
    rf_cl_mem(&c, a->giou);
    return rf_cl_run_1d(&c, (size_t)a->n);
}

static rf_status cl_box_loss_backward(rf_device *dev, const rf_box_loss_backward_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "box_loss_backward_f32", &c));
    rf_cl_long(&c, a->n);
    rf_cl_mem(&c, a->pred);
    rf_cl_mem(&c, a->target);
    rf_cl_mem(&c, a->dl1);
    rf_cl_mem(&c, a->dgiou);
    rf_cl_mem(&c, a->dpred);
    rf_cl_int(&c, a->accumulate);
    return rf_cl_run_1d(&c, (size_t)a->n);
}

const rf_kernels_loss rf_opencl_kernels_loss = {
    .bce = cl_bce,
    .bce_backward = cl_bce_backward,
    .box_loss = cl_box_loss,
    .box_loss_backward = cl_box_loss_backward,
};
