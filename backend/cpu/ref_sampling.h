/* ref_sampling.h — reference grid sample, deformable attention, row gather
 * and top-k on host arrays, in float (the cpu device) and double (gradient
 * checks), from one template (ref_sampling_impl.h). Semantics:
 * backend/kernels.h, sampling family.
 *
 * Precision: sampling coordinates, corner weights and the floor that picks
 * the corners are computed in REAL, exactly as the devices do in float, so
 * a sample that falls on a pixel boundary picks the same corners on every
 * device; products are then summed in double. The gradients that scatter
 * (grid-sample input, deformable-attention value, gather source) add into
 * their output one contribution at a time in the devices' order, so they
 * round like the devices do. */
#ifndef RFDETR_REF_SAMPLING_H
#define RFDETR_REF_SAMPLING_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/kernels.h"

/* Sizes of a deformable-attention call (rf_deform_attn_args' fields). */
typedef struct rf_deform_dims {
    int64_t batch, value_len, heads, head_dim, queries, levels, points;
} rf_deform_dims;

#define RF_DEFORM_DIMS(a) \
    ((rf_deform_dims){(a)->batch, (a)->value_len, (a)->heads, (a)->head_dim, (a)->queries, (a)->levels, (a)->points})

#define RF_REF_DECLARE_SAMPLING(REAL, SUFFIX)                                                                         \
    void rf_ref_grid_sample_##SUFFIX(int64_t n, int64_t c, int64_t h, int64_t w, int64_t ho, int64_t wo,             \
                                     const REAL *x, const REAL *grid, REAL *y);                                      \
    /* dx / dgrid NULL: not computed. */                                                                              \
    void rf_ref_grid_sample_backward_##SUFFIX(int64_t n, int64_t c, int64_t h, int64_t w, int64_t ho, int64_t wo,    \
                                              const REAL *x, const REAL *grid, const REAL *dy, REAL *dx,             \
                                              REAL *dgrid, bool accumulate);                                         \
    void rf_ref_deform_attn_##SUFFIX(const rf_deform_dims *d, const REAL *value, const int32_t *level_shapes,        \
                                     const int32_t *level_start, const REAL *loc, const REAL *attn, REAL *out);      \
    /* Accumulates into dvalue, dloc, dattn (each may be NULL: skipped). */                                         \
    void rf_ref_deform_attn_backward_##SUFFIX(const rf_deform_dims *d, const REAL *value,                            \
                                              const int32_t *level_shapes, const int32_t *level_start,               \
                                              const REAL *loc, const REAL *attn, const REAL *dout, REAL *dvalue,     \
                                              REAL *dloc, REAL *dattn);                                              \
    void rf_ref_gather_rows_##SUFFIX(int64_t batch, int64_t src_rows, int64_t cols, int64_t count, const REAL *src, \
                                     const int32_t *indices, REAL *out);                                             \
    void rf_ref_gather_rows_backward_##SUFFIX(int64_t batch, int64_t src_rows, int64_t cols, int64_t count,          \
                                              const REAL *dout, const int32_t *indices, REAL *dsrc);                 \
    void rf_ref_topk_##SUFFIX(int64_t rows, int64_t cols, int64_t k, const REAL *x, REAL *values, int32_t *indices);

RF_REF_DECLARE_SAMPLING(float, f32)
RF_REF_DECLARE_SAMPLING(double, f64)

#endif
