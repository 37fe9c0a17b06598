/* kernels_sampling.c — launchers for sampling.cl. */
#include "backend/opencl/opencl_internal.h"
#include "backend/status.h"

#define SRC "sampling.cl"

static void grid_dims(rf_cl_call *c, int64_t n, int64_t ch, int64_t h, int64_t w, int64_t ho, int64_t wo) {
    rf_cl_longs(c, (const int64_t[]){n, ch, h, w, ho, wo}, 6);
}

static rf_status cl_grid_sample(rf_device *dev, const rf_grid_sample_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "grid_sample_f32", &c));
    grid_dims(&c, a->n, a->c, a->h, a->w, a->ho, a->wo);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->grid);
    rf_cl_mem(&c, a->y);
    return rf_cl_run_1d(&c, (size_t)(a->n * a->c * a->ho * a->wo));
}

static rf_status cl_grid_sample_backward(rf_device *dev, const rf_grid_sample_backward_args *a) {
    rf_cl_call c;
    if (a->has_dx) {
        RF_TRY(rf_cl_begin(dev, SRC, "grid_sample_backward_dx_f32", &c));
        grid_dims(&c, a->n, a->c, a->h, a->w, a->ho, a->wo);
        rf_cl_mem(&c, a->grid);
        rf_cl_mem(&c, a->dy);
        rf_cl_mem(&c, a->dx);
        rf_cl_int(&c, a->accumulate);
        RF_TRY(rf_cl_run_1d(&c, (size_t)(a->n * a->c)));
    }
    if (!a->has_dgrid) return RF_OK;
    RF_TRY(rf_cl_begin(dev, SRC, "grid_sample_backward_dgrid_f32", &c));
    grid_dims(&c, a->n, a->c, a->h, a->w, a->ho, a->wo);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->grid);
    rf_cl_mem(&c, a->dy);
    rf_cl_mem(&c, a->dgrid);
    rf_cl_int(&c, a->accumulate);
    return rf_cl_run_1d(&c, (size_t)(a->n * a->ho * a->wo));
}

/* The leading arguments every deformable-attention kernel of sampling.cl
 * takes (DIMS, value, LEVELS, locations, weights); the forward and backward
 * args structs share these field names. */
#define DEFORM_INPUTS(call, a)                                                                               \
    do {                                                                                                     \
        rf_cl_longs((call),                                                                                  \
                    (const int64_t[]){(a)->batch, (a)->value_len, (a)->heads, (a)->head_dim, (a)->queries,   \
                                      (a)->levels, (a)->points},                                             \
                    7);                                                                                      \
        rf_cl_mem((call), (a)->value);                                                                       \
        rf_cl_mem((call), (a)->level_shapes);                                                                \
        rf_cl_mem((call), (a)->level_start);                                                                 \
        rf_cl_mem((call), (a)->sampling_locations);                                                          \
        rf_cl_mem((call), (a)->attention_weights);                                                           \
    } while (0)

static rf_status cl_deform_attn(rf_device *dev, const rf_deform_attn_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "deform_attn_f32", &c));
    DEFORM_INPUTS(&c, a);
    rf_cl_mem(&c, a->output);
    return rf_cl_run_1d(&c, (size_t)(a->batch * a->queries * a->heads * a->head_dim));
}

static rf_status cl_deform_attn_backward(rf_device *dev, const rf_deform_attn_backward_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "deform_attn_backward_value_f32", &c));
    DEFORM_INPUTS(&c, a);
    rf_cl_mem(&c, a->doutput);
    rf_cl_mem(&c, a->dvalue);
    RF_TRY(rf_cl_run_1d(&c, (size_t)(a->batch * a->heads * a->head_dim)));
    RF_TRY(rf_cl_begin(dev, SRC, "deform_attn_backward_sample_f32", &c));
    DEFORM_INPUTS(&c, a);
    rf_cl_mem(&c, a->doutput);
    rf_cl_mem(&c, a->dsampling_locations);
    rf_cl_mem(&c, a->dattention_weights);
    return rf_cl_run_1d(&c, (size_t)(a->batch * a->queries * a->heads * a->levels * a->points));
}

static void gather_dims(rf_cl_call *c, int64_t batch, int64_t src_rows, int64_t cols, int64_t count) {
    rf_cl_longs(c, (const int64_t[]){batch, src_rows, cols, count}, 4);
}

static rf_status cl_gather_rows(rf_device *dev, const rf_gather_rows_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "gather_rows_f32", &c));
    gather_dims(&c, a->batch, a->src_rows, a->cols, a->count);
    rf_cl_mem(&c, a->src);
    rf_cl_mem(&c, a->indices);
    rf_cl_mem(&c, a->out);
    return rf_cl_run_1d(&c, (size_t)(a->batch * a->count * a->cols));
}

static rf_status cl_gather_rows_backward(rf_device *dev, const rf_gather_rows_backward_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "gather_rows_backward_f32", &c));
    gather_dims(&c, a->batch, a->src_rows, a->cols, a->count);
    rf_cl_mem(&c, a->dout);
    rf_cl_mem(&c, a->indices);
    rf_cl_mem(&c, a->dsrc);
    return rf_cl_run_1d(&c, (size_t)(a->batch * a->cols));
}

static rf_status cl_topk(rf_device *dev, const rf_topk_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, SRC, "topk_f32", &c));
    rf_cl_long(&c, a->rows);
    rf_cl_long(&c, a->cols);
    rf_cl_long(&c, a->k);
    rf_cl_mem(&c, a->x);
    rf_cl_mem(&c, a->values);
    rf_cl_mem(&c, a->indices);
    return rf_cl_run_1d(&c, a->k > 0 ? (size_t)(a->rows * a->cols) : 0);
}

const rf_kernels_sampling rf_opencl_kernels_sampling = {
    .grid_sample = cl_grid_sample,
    .grid_sample_backward = cl_grid_sample_backward,
    .deform_attn = cl_deform_attn,
    .deform_attn_backward = cl_deform_attn_backward,
    .gather_rows = cl_gather_rows,
    .gather_rows_backward = cl_gather_rows_backward,
    .topk = cl_topk,
};
