/* launch_conv.c — launchers of backend/kernels/conv.h for every GPU backend. */
#include "backend/gpu/launch.h"
#include "backend/gpu/launchers.h"

#define PROGRAM "conv"

/* RF_CONV_GEOM of conv.h (the args structs share field names). */
#define GEOM(l, a)                                                                                                  \
    rf_launch_longs((l),                                                                                            \
                    (const int64_t[]){(a)->n, (a)->c, (a)->h, (a)->w, (a)->kh, (a)->kw, (a)->stride_h, (a)->stride_w, \
                                      (a)->pad_h, (a)->pad_w, (a)->ho, (a)->wo},                                      \
                    12)

rf_status rf_gpu_im2col(rf_device *dev, const rf_im2col_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "im2col_f32");
    GEOM(&l, a);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->col);
    return rf_launch_nd(&l, (const int64_t[3]){a->wo, a->ho, a->n * a->c * a->kh * a->kw});
}

rf_status rf_gpu_col2im(rf_device *dev, const rf_col2im_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "col2im_f32");
    GEOM(&l, a);
    rf_launch_mem(&l, a->col);
    rf_launch_mem(&l, a->x);
    rf_launch_int(&l, a->accumulate);
    return rf_launch_nd(&l, (const int64_t[3]){a->w, a->h, a->n * a->c});
}
