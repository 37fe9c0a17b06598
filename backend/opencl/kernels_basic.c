/* kernels_basic.c — launchers for basic.cl. */
#include <string.h>

#include "backend/nd.h"
#include "backend/opencl/opencl_internal.h"
#include "backend/status.h"

#define SRC "basic.cl"

static rf_status cl_unary(rf_device *dev, const rf_unary_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "unary_f32", &c));
    rf_cl_int(&c, a->op);
    rf_cl_long(&c, a->n);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->y);
    rf_cl_float(&c, a->alpha);
    rf_cl_float(&c, a->beta);
    return rf_cl_run_1d(&c, (size_t)a->n);
}

static rf_status cl_unary_backward(rf_device *dev, const rf_unary_backward_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "unary_backward_f32", &c));
    rf_cl_int(&c, a->op);
    rf_cl_long(&c, a->n);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->y);
    rf_cl_mem(&c, a->dy);
    rf_cl_mem(&c, a->dx);
    rf_cl_float(&c, a->alpha);
    rf_cl_float(&c, a->beta);
    rf_cl_int(&c, a->accumulate);
    return rf_cl_run_1d(&c, (size_t)a->n);
}

static rf_status cl_binary(rf_device *dev, const rf_binary_args *a) {
    int64_t shape[RF_MAX_DIMS], sa[RF_MAX_DIMS], sb[RF_MAX_DIMS], sy[RF_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    memcpy(sa, a->a.stride, sizeof sa);
    memcpy(sb, a->b.stride, sizeof sb);
    memcpy(sy, a->y.stride, sizeof sy);
    int64_t *strides[3] = {sa, sb, sy};
    int ndim = rf_nd_collapse(a->ndim, shape, 3, strides);
    int64_t n = rf_nd_count(ndim, shape);
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "binary_f32", &c));
    rf_cl_int(&c, a->op);
    rf_cl_int(&c, ndim);
    rf_cl_long(&c, n);
    rf_cl_long8(&c, shape, ndim);
    rf_cl_mem(&c, (rf_mem){a->a.buf, a->a.off});
    rf_cl_long8(&c, sa, ndim);
    rf_cl_mem(&c, (rf_mem){a->b.buf, a->b.off});
    rf_cl_long8(&c, sb, ndim);
    rf_cl_mem(&c, (rf_mem){a->y.buf, a->y.off});
    rf_cl_long8(&c, sy, ndim);
    rf_cl_int(&c, a->accumulate);
    return rf_cl_run_1d(&c, (size_t)n);
}

static rf_status cl_copy(rf_device *dev, const rf_copy_args *a) {
    int64_t shape[RF_MAX_DIMS], ss[RF_MAX_DIMS], sd[RF_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    memcpy(ss, a->src.stride, sizeof ss);
    memcpy(sd, a->dst.stride, sizeof sd);
    int64_t *strides[2] = {ss, sd};
    int ndim = rf_nd_collapse(a->ndim, shape, 2, strides);
    int64_t n = rf_nd_count(ndim, shape);
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "copy_f32", &c));
    rf_cl_int(&c, ndim);
    rf_cl_long(&c, n);
    rf_cl_long8(&c, shape, ndim);
    rf_cl_mem(&c, (rf_mem){a->src.buf, a->src.off});
    rf_cl_long8(&c, ss, ndim);
    rf_cl_mem(&c, (rf_mem){a->dst.buf, a->dst.off});
    rf_cl_long8(&c, sd, ndim);
    rf_cl_int(&c, a->accumulate);
    return rf_cl_run_1d(&c, (size_t)n);
}

static rf_status cl_reduce(rf_device *dev, const rf_reduce_args *a) {
    /* Split into kept and reduced axes, each collapsed on its own: the
     * reduction order (row-major over reduced axes) is the reference's. */
    int64_t kshape[RF_MAX_DIMS] = {0}, kstride[RF_MAX_DIMS] = {0}, rshape[RF_MAX_DIMS] = {0}, rstride[RF_MAX_DIMS] = {0};
    int nk = 0, nr = 0;
    for (int i = 0; i < a->ndim; i++) {
        if (a->reduce_mask & (1u << i)) {
            rshape[nr] = a->shape[i];
            rstride[nr++] = a->x.stride[i];
        } else {
            kshape[nk] = a->shape[i];
            kstride[nk++] = a->x.stride[i];
        }
    }
    int64_t n_out = rf_nd_count(nk, kshape), n_red = rf_nd_count(nr, rshape);
    int64_t *ks[1] = {kstride}, *rs[1] = {rstride};
    nk = rf_nd_collapse(nk, kshape, 1, ks);
    nr = rf_nd_collapse(nr, rshape, 1, rs);
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "reduce_f32", &c));
    rf_cl_int(&c, a->op);
    rf_cl_int(&c, nk);
    rf_cl_long(&c, n_out);
    rf_cl_long8(&c, kshape, nk);
    rf_cl_long8(&c, kstride, nk);
    rf_cl_int(&c, nr);
    rf_cl_long(&c, n_red);
    rf_cl_long8(&c, rshape, nr);
    rf_cl_long8(&c, rstride, nr);
    rf_cl_mem(&c, (rf_mem){a->x.buf, a->x.off});
    rf_cl_mem(&c, a->y);
    rf_cl_int(&c, a->accumulate);
    return rf_cl_run_1d(&c, (size_t)n_out);
}

static rf_status cl_max_last(rf_device *dev, const rf_max_last_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "max_last_f32", &c));
    rf_cl_long(&c, a->rows);
    rf_cl_long(&c, a->cols);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->values);
    rf_cl_mem(&c, a->indices);
    return rf_cl_run_1d(&c, (size_t)a->rows);
}

static rf_status cl_max_last_backward(rf_device *dev, const rf_max_last_backward_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "max_last_backward_f32", &c));
    rf_cl_long(&c, a->rows);
    rf_cl_long(&c, a->cols);
    rf_cl_mem(&c, a->dy);
    rf_cl_mem(&c, a->indices);
    rf_cl_mem(&c, a->dx);
    rf_cl_int(&c, a->accumulate);
    return rf_cl_run_1d(&c, (size_t)(a->rows * a->cols));
}

static rf_status cl_softmax(rf_device *dev, const rf_softmax_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "softmax_f32", &c));
    rf_cl_long(&c, a->rows);
    rf_cl_long(&c, a->cols);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->y);
    rf_cl_int(&c, a->has_mask);
    rf_cl_mem(&c, a->has_mask ? a->mask : (rf_mem){NULL, 0});
    rf_cl_long(&c, a->has_mask ? a->mask_rows : 1);
    return rf_cl_run_1d(&c, (size_t)a->rows);
}

static rf_status cl_softmax_backward(rf_device *dev, const rf_softmax_backward_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "softmax_backward_f32", &c));
    rf_cl_long(&c, a->rows);
    rf_cl_long(&c, a->cols);
    rf_cl_mem(&c, a->y);
    rf_cl_mem(&c, a->dy);
    rf_cl_mem(&c, a->dx);
    rf_cl_int(&c, a->accumulate);
    return rf_cl_run_1d(&c, (size_t)a->rows);
}

static void ln_layout(rf_cl_call *c, int64_t rows, int64_t cols, int64_t inner, int64_t outer, int64_t col) {
    rf_cl_long(c, rows);
    rf_cl_long(c, cols);
    rf_cl_long(c, inner);
    rf_cl_long(c, outer);
    rf_cl_long(c, col);
}

static rf_status cl_layernorm(rf_device *dev, const rf_layernorm_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "layernorm_f32", &c));
    ln_layout(&c, a->rows, a->cols, a->inner, a->outer_stride, a->col_stride);
    rf_cl_float(&c, a->eps);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->y);
    rf_cl_mem(&c, a->mean);
    rf_cl_mem(&c, a->rstd);
    rf_cl_int(&c, a->has_affine);
    rf_cl_mem(&c, a->has_affine ? a->gamma : (rf_mem){NULL, 0});
    rf_cl_mem(&c, a->has_affine ? a->beta : (rf_mem){NULL, 0});
    return rf_cl_run_1d(&c, (size_t)a->rows);
}

static rf_status cl_layernorm_backward(rf_device *dev, const rf_layernorm_backward_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "layernorm_backward_dx_f32", &c));
    ln_layout(&c, a->rows, a->cols, a->inner, a->outer_stride, a->col_stride);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->mean);
    rf_cl_mem(&c, a->rstd);
    rf_cl_mem(&c, a->dy);
    rf_cl_mem(&c, a->dx);
    rf_cl_int(&c, a->has_affine);
    rf_cl_mem(&c, a->has_affine ? a->gamma : (rf_mem){NULL, 0});
    rf_cl_int(&c, a->accumulate);
    RF_TRY(rf_cl_run_1d(&c, (size_t)a->rows));
    if (!a->has_affine) return RF_OK;
    RF_TRY(rf_cl_begin(dev, SRC, "layernorm_backward_affine_f32", &c));
    ln_layout(&c, a->rows, a->cols, a->inner, a->outer_stride, a->col_stride);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->mean);
    rf_cl_mem(&c, a->rstd);
    rf_cl_mem(&c, a->dy);
    rf_cl_mem(&c, a->dgamma);
    rf_cl_mem(&c, a->dbeta);
    return rf_cl_run_1d(&c, (size_t)a->cols);
}

const rf_kernels_basic rf_opencl_kernels_basic = {
    .unary = cl_unary,
    .unary_backward = cl_unary_backward,
    .binary = cl_binary,
    .copy = cl_copy,
    .reduce = cl_reduce,
    .max_last = cl_max_last,
    .max_last_backward = cl_max_last_backward,
    .softmax = cl_softmax,
    .softmax_backward = cl_softmax_backward,
    .layernorm = cl_layernorm,
    .layernorm_backward = cl_layernorm_backward,
};
