/* kernels_conv.c — launchers for conv.cl. */
#include "backend/opencl/opencl_internal.h"
#include "backend/status.h"

#define SRC "conv.cl"

/* The GEOM argument list of conv.cl (the args structs share field names). */
#define SET_GEOM(call, a)                                                                                         \
    rf_cl_longs((call),                                                                                           \
                (const int64_t[]){(a)->n, (a)->c, (a)->h, (a)->w, (a)->kh, (a)->kw, (a)->stride_h, (a)->stride_w, \
                                  (a)->pad_h, (a)->pad_w, (a)->ho, (a)->wo},                                      \
                12)

static rf_status cl_im2col(rf_device *dev, const rf_im2col_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "im2col_f32", &c));
    SET_GEOM(&c, a);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->col);
    return rf_cl_run_1d(&c, (size_t)(a->n * a->c * a->kh * a->kw * a->ho * a->wo));
}

static rf_status cl_col2im(rf_device *dev, const rf_col2im_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "col2im_f32", &c));
    SET_GEOM(&c, a);
    rf_cl_mem(&c, a->col);
    rf_cl_mem(&c, a->x);
    rf_cl_int(&c, a->accumulate);
    return rf_cl_run_1d(&c, (size_t)(a->n * a->c * a->h * a->w));
}

const rf_kernels_conv rf_opencl_kernels_conv = {
    .im2col = cl_im2col,
    .col2im = cl_col2im,
};
