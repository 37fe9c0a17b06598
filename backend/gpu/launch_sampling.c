/* launch_sampling.c — launchers of backend/kernels/sampling.h for every GPU backend. */
#include "backend/gpu/launch.h"
#include "backend/gpu/launchers.h"
#include "backend/status.h"

#define PROGRAM "sampling"

static void grid_dims(rf_launch *l, int64_t n, int64_t ch, int64_t h, int64_t w, int64_t ho, int64_t wo) {
    rf_launch_longs(l, (const int64_t[]){n, ch, h, w, ho, wo}, 6);
}

rf_status rf_gpu_grid_sample(rf_device *dev, const rf_grid_sample_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "grid_sample_f32");
    grid_dims(&l, a->n, a->c, a->h, a->w, a->ho, a->wo);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->grid);
    rf_launch_mem(&l, a->y);
    return rf_launch_items(&l, a->n * a->c * a->ho * a->wo);
}

rf_status rf_gpu_grid_sample_backward(rf_device *dev, const rf_grid_sample_backward_args *a) {
    rf_launch l;
    if (a->has_dx) {
        rf_launch_begin(&l, dev, PROGRAM, "grid_sample_backward_dx_f32");
        grid_dims(&l, a->n, a->c, a->h, a->w, a->ho, a->wo);
        rf_launch_mem(&l, a->grid);
        rf_launch_mem(&l, a->dy);
        rf_launch_mem(&l, a->dx);
        rf_launch_int(&l, a->accumulate);
        RF_TRY(rf_launch_items(&l, a->n * a->c));
    }
    if (!a->has_dgrid) return RF_OK;
    rf_launch_begin(&l, dev, PROGRAM, "grid_sample_backward_dgrid_f32");
    grid_dims(&l, a->n, a->c, a->h, a->w, a->ho, a->wo);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->grid);
    rf_launch_mem(&l, a->dy);
    rf_launch_mem(&l, a->dgrid);
    rf_launch_int(&l, a->accumulate);
    return rf_launch_items(&l, a->n * a->ho * a->wo);
}

/* The leading arguments every deformable-attention kernel of sampling.h
 * takes (DIMS, value, LEVELS, locations, weights); the forward and backward
 * args structs share these field names. */
#define DEFORM_INPUTS(l, a)                                                                                   \
    do {                                                                                                      \
        rf_launch_longs((l),                                                                                  \
                        (const int64_t[]){(a)->batch, (a)->value_len, (a)->heads, (a)->head_dim, (a)->queries, \
                                          (a)->levels, (a)->points},                                           \
                        7);                                                                                   \
        rf_launch_mem((l), (a)->value);                                                                       \
        rf_launch_mem((l), (a)->level_shapes);                                                                \
        rf_launch_mem((l), (a)->level_start);                                                                 \
        rf_launch_mem((l), (a)->sampling_locations);                                                          \
        rf_launch_mem((l), (a)->attention_weights);                                                           \
    } while (0)

rf_status rf_gpu_deform_attn(rf_device *dev, const rf_deform_attn_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "deform_attn_f32");
    DEFORM_INPUTS(&l, a);
    rf_launch_mem(&l, a->output);
    return rf_launch_items(&l, a->batch * a->queries * a->heads * a->head_dim);
}

rf_status rf_gpu_deform_attn_backward(rf_device *dev, const rf_deform_attn_backward_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "deform_attn_backward_value_f32");
    DEFORM_INPUTS(&l, a);
    rf_launch_mem(&l, a->doutput);
    rf_launch_mem(&l, a->dvalue);
    RF_TRY(rf_launch_items(&l, a->batch * a->heads * a->head_dim));
    rf_launch_begin(&l, dev, PROGRAM, "deform_attn_backward_sample_f32");
    DEFORM_INPUTS(&l, a);
    rf_launch_mem(&l, a->doutput);
    rf_launch_mem(&l, a->dsampling_locations);
    rf_launch_mem(&l, a->dattention_weights);
    return rf_launch_items(&l, a->batch * a->queries * a->heads * a->levels * a->points);
}

static void gather_dims(rf_launch *l, int64_t batch, int64_t src_rows, int64_t cols, int64_t count) {
    rf_launch_longs(l, (const int64_t[]){batch, src_rows, cols, count}, 4);
}

rf_status rf_gpu_gather_rows(rf_device *dev, const rf_gather_rows_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "gather_rows_f32");
    gather_dims(&l, a->batch, a->src_rows, a->cols, a->count);
    rf_launch_mem(&l, a->src);
    rf_launch_mem(&l, a->indices);
    rf_launch_mem(&l, a->out);
    return rf_launch_items(&l, a->batch * a->count * a->cols);
}

rf_status rf_gpu_gather_rows_backward(rf_device *dev, const rf_gather_rows_backward_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "gather_rows_backward_f32");
    gather_dims(&l, a->batch, a->src_rows, a->cols, a->count);
    rf_launch_mem(&l, a->dout);
    rf_launch_mem(&l, a->indices);
    rf_launch_mem(&l, a->dsrc);
    return rf_launch_items(&l, a->batch * a->cols);
}

rf_status rf_gpu_topk(rf_device *dev, const rf_topk_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "topk_f32");
    rf_launch_long(&l, a->rows);
    rf_launch_long(&l, a->cols);
    rf_launch_long(&l, a->k);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->values);
    rf_launch_mem(&l, a->indices);
    return rf_launch_items(&l, a->k > 0 ? a->rows * a->cols : 0);
}

