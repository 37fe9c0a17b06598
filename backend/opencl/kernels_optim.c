/* kernels_optim.c — launchers for optim.cl. */
#include <math.h>

#include "backend/opencl/opencl_internal.h"
#include "backend/status.h"

#define SRC "optim.cl"

static rf_status cl_adamw(rf_device *dev, const rf_adamw_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "adamw_f32", &c));
    rf_cl_long(&c, a->n);
    rf_cl_int(&c, (int)a->segments);
    rf_cl_float(&c, a->beta1);
    rf_cl_float(&c, a->beta2);
    rf_cl_float(&c, a->eps);
    rf_cl_float(&c, a->lr_scale);
    rf_cl_float(&c, a->grad_scale);
    /* Bias corrections on the host, in double: no device pow in the result. */
    rf_cl_float(&c, (float)(1.0 - pow(a->beta1, (double)a->step)));
    rf_cl_float(&c, (float)sqrt(1.0 - pow(a->beta2, (double)a->step)));
    rf_cl_mem(&c, a->param);
    rf_cl_mem(&c, a->grad);
    rf_cl_mem(&c, a->m);
    rf_cl_mem(&c, a->v);
    rf_cl_mem(&c, a->seg_start);
    rf_cl_mem(&c, a->seg_lr);
    rf_cl_mem(&c, a->seg_wd);
    return rf_cl_run_1d(&c, (size_t)a->n);
}

static rf_status cl_sumsq(rf_device *dev, const rf_sumsq_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "sumsq_f32", &c));
    rf_cl_long(&c, a->n);
    rf_cl_long(&c, a->group_size);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->out);
    return rf_cl_run_1d(&c, (size_t)((a->n + a->group_size - 1) / a->group_size));
}

static rf_status cl_ema(rf_device *dev, const rf_ema_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "ema_f32", &c));
    rf_cl_long(&c, a->n);
    rf_cl_float(&c, a->decay);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->ema);
    return rf_cl_run_1d(&c, (size_t)a->n);
}

const rf_kernels_optim rf_opencl_kernels_optim = {
    .adamw = cl_adamw,
    .sumsq = cl_sumsq,
    .ema = cl_ema,
};
