/* launch_optim.c — launchers of backend/kernels/optim.h for every GPU backend. */
#include <math.h>

#include "backend/gpu/launch.h"
#include "backend/gpu/launchers.h"
#include "backend/status.h"

#define PROGRAM "optim"


rf_status rf_gpu_adamw(rf_device *dev, const rf_adamw_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "adamw_f32");
    rf_launch_long(&l, a->n);
    rf_launch_int(&l, (int)a->segments);
    rf_launch_float(&l, a->beta1);
    rf_launch_float(&l, a->beta2);
    rf_launch_float(&l, a->eps);
    rf_launch_float(&l, a->lr_scale);
    rf_launch_float(&l, a->grad_scale);
    /* Bias corrections on the host, in double: no device pow in the result. */
    rf_launch_float(&l, (float)(1.0 - pow(a->beta1, (double)a->step)));
    rf_launch_float(&l, (float)(1.0 / sqrt(1.0 - pow(a->beta2, (double)a->step))));
    rf_launch_mem(&l, a->param);
    rf_launch_mem(&l, a->grad);
    rf_launch_mem(&l, a->m);
    rf_launch_mem(&l, a->v);
    rf_launch_mem(&l, a->seg_start);
    rf_launch_mem(&l, a->seg_lr);
    rf_launch_mem(&l, a->seg_wd);
    return rf_launch_items(&l, a->n);
}

rf_status rf_gpu_sumsq(rf_device *dev, const rf_sumsq_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "sumsq_f32");
    rf_launch_long(&l, a->n);
    rf_launch_long(&l, a->group_size);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->out);
    return rf_launch_rows(&l, (a->n + a->group_size - 1) / a->group_size);
}

rf_status rf_gpu_ema(rf_device *dev, const rf_ema_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "ema_f32");
    rf_launch_long(&l, a->n);
    rf_launch_float(&l, a->decay);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->ema);
    return rf_launch_items(&l, a->n);
}

