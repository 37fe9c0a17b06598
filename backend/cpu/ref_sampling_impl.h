/* ref_sampling_impl.h — template body of the sampling reference kernels,
 * compiled per precision by ref_sampling.c through ref_instantiate.h
 * (REAL, FN). No include guard on purpose. */

/* The taps of backend/kernels/sampling_taps.h in REAL, as the devices
 * compute them in float. */
#undef RF_S
#undef RF_SN
#define RF_S REAL
#define RF_SN(name) FN(name)
#include "backend/kernels/sampling_taps.h"
#undef RF_S
#undef RF_SN
#define RF_S double
#define RF_SN(name) name

void FN(rf_ref_grid_sample)(int64_t n, int64_t c, int64_t h, int64_t w, int64_t ho, int64_t wo, const REAL *x,
                            const REAL *grid, REAL *y) {
    for (int64_t b = 0; b < n; b++)
        for (int64_t p = 0; p < ho * wo; p++) {
            const REAL *g = grid + (b * ho * wo + p) * 2;
            FN(rf_taps) t;
            t = FN(rf_bilinear_taps)(FN(rf_grid_to_pixel)(g[0], w), FN(rf_grid_to_pixel)(g[1], h), h, w);
            for (int64_t ch = 0; ch < c; ch++) {
                const REAL *plane = x + (b * c + ch) * h * w;
                double acc = 0;
                for (int k = 0; k < 4; k++)
                    if (t.inside[k]) acc += (double)t.wt[k] * (double)plane[t.at[k]];
                y[(b * c + ch) * ho * wo + p] = (REAL)acc;
            }
        }
}

void FN(rf_ref_grid_sample_backward)(int64_t n, int64_t c, int64_t h, int64_t w, int64_t ho, int64_t wo,
                                     const REAL *x, const REAL *grid, const REAL *dy, REAL *dx, REAL *dgrid,
                                     bool accumulate) {
    for (int64_t b = 0; b < n; b++) {
        /* dx: each (b, channel) plane owns its pixels and adds the samples'
         * contributions in output order. */
        for (int64_t ch = 0; dx && ch < c; ch++) {
            REAL *plane = dx + (b * c + ch) * h * w;
            if (!accumulate)
                for (int64_t i = 0; i < h * w; i++) plane[i] = 0;
            for (int64_t p = 0; p < ho * wo; p++) {
                const REAL *g = grid + (b * ho * wo + p) * 2;
                FN(rf_taps) t;
                t = FN(rf_bilinear_taps)(FN(rf_grid_to_pixel)(g[0], w), FN(rf_grid_to_pixel)(g[1], h), h, w);
                REAL gy = dy[(b * c + ch) * ho * wo + p];
                for (int k = 0; k < 4; k++)
                    if (t.inside[k]) plane[t.at[k]] += t.wt[k] * gy;
            }
        }
        for (int64_t p = 0; dgrid && p < ho * wo; p++) {
            REAL *dg = dgrid + (b * ho * wo + p) * 2;
            const REAL *g = grid + (b * ho * wo + p) * 2;
            FN(rf_taps) t;
            t = FN(rf_bilinear_taps)(FN(rf_grid_to_pixel)(g[0], w), FN(rf_grid_to_pixel)(g[1], h), h, w);
            double sx = 0, sy = 0;
            for (int64_t ch = 0; ch < c; ch++) {
                const REAL *plane = x + (b * c + ch) * h * w;
                double gout = (double)dy[(b * c + ch) * ho * wo + p];
                for (int k = 0; k < 4; k++)
                    if (t.inside[k]) {
                        sx += (double)FN(rf_tap_dx)(&t, k) * (double)plane[t.at[k]] * gout;
                        sy += (double)FN(rf_tap_dy)(&t, k) * (double)plane[t.at[k]] * gout;
                    }
            }
            sx *= 0.5 * (double)w; /* d px / d gx */
            sy *= 0.5 * (double)h;
            dg[0] = (REAL)(accumulate ? (double)dg[0] + sx : sx);
            dg[1] = (REAL)(accumulate ? (double)dg[1] + sy : sy);
        }
    }
}

/* ---- multi-scale deformable attention ----------------------------------------------- */

/* Taps of sample (b, q, h, l, p) in level l; the taps' `at` become offsets
 * of value rows (b, level_start + pixel). Returns the attention weight. */
static REAL FN(deform_taps)(const rf_deform_dims *d, const int32_t *level_shapes, const int32_t *level_start,
                            const REAL *loc, const REAL *attn, int64_t b, int64_t q, int64_t h, int64_t l, int64_t p,
                            FN(rf_taps) *t, REAL *scale_x, REAL *scale_y) {
    int64_t sample = (((b * d->queries + q) * d->heads + h) * d->levels + l) * d->points + p;
    int64_t lh = level_shapes[2 * l], lw = level_shapes[2 * l + 1];
    *t = FN(rf_deform_taps)(loc[2 * sample], loc[2 * sample + 1], lh, lw);
    for (int k = 0; k < 4; k++) t->at[k] = (b * d->value_len + level_start[l] + t->at[k]) * d->heads + h;
    *scale_x = (REAL)lw;
    *scale_y = (REAL)lh;
    return attn[sample];
}

void FN(rf_ref_deform_attn)(const rf_deform_dims *d, const REAL *value, const int32_t *level_shapes,
                            const int32_t *level_start, const REAL *loc, const REAL *attn, REAL *out) {
    int64_t D = d->head_dim;
    for (int64_t b = 0; b < d->batch; b++)
        for (int64_t q = 0; q < d->queries; q++)
            for (int64_t h = 0; h < d->heads; h++)
                for (int64_t c = 0; c < D; c++) {
                    double acc = 0;
                    for (int64_t l = 0; l < d->levels; l++)
                        for (int64_t p = 0; p < d->points; p++) {
                            FN(rf_taps) t;
                            REAL sx, sy;
                            REAL a = FN(deform_taps)(d, level_shapes, level_start, loc, attn, b, q, h, l, p, &t, &sx, &sy);
                            double v = 0;
                            for (int k = 0; k < 4; k++)
                                if (t.inside[k]) v += (double)t.wt[k] * (double)value[t.at[k] * D + c];
                            acc += (double)a * v;
                        }
                    out[((b * d->queries + q) * d->heads + h) * D + c] = (REAL)acc;
                }
}

void FN(rf_ref_deform_attn_backward)(const rf_deform_dims *d, const REAL *value, const int32_t *level_shapes,
                                     const int32_t *level_start, const REAL *loc, const REAL *attn, const REAL *dout,
                                     REAL *dvalue, REAL *dloc, REAL *dattn) {
    int64_t D = d->head_dim;
    /* dvalue: one (b, h, c) column at a time, samples in (q, l, p) order. */
    for (int64_t b = 0; dvalue && b < d->batch; b++)
        for (int64_t h = 0; h < d->heads; h++)
            for (int64_t c = 0; c < D; c++)
                for (int64_t q = 0; q < d->queries; q++) {
                    REAL g = dout[((b * d->queries + q) * d->heads + h) * D + c];
                    for (int64_t l = 0; l < d->levels; l++)
                        for (int64_t p = 0; p < d->points; p++) {
                            FN(rf_taps) t;
                            REAL sx, sy;
                            REAL ag = FN(deform_taps)(d, level_shapes, level_start, loc, attn, b, q, h, l, p, &t, &sx, &sy) * g;
                            for (int k = 0; k < 4; k++)
                                if (t.inside[k]) dvalue[t.at[k] * D + c] += t.wt[k] * ag;
                        }
                }
    if (!dloc && !dattn) return;
    /* Locations and weights: one sample at a time, channels in order. */
    for (int64_t b = 0; b < d->batch; b++)
        for (int64_t q = 0; q < d->queries; q++)
            for (int64_t h = 0; h < d->heads; h++)
                for (int64_t l = 0; l < d->levels; l++)
                    for (int64_t p = 0; p < d->points; p++) {
                        FN(rf_taps) t;
                        REAL sx, sy;
                        REAL a = FN(deform_taps)(d, level_shapes, level_start, loc, attn, b, q, h, l, p, &t, &sx, &sy);
                        const REAL *go = dout + ((b * d->queries + q) * d->heads + h) * D;
                        double ga = 0, gx = 0, gy = 0;
                        for (int64_t c = 0; c < D; c++)
                            for (int k = 0; k < 4; k++)
                                if (t.inside[k]) {
                                    double v = (double)value[t.at[k] * D + c] * (double)go[c];
                                    ga += (double)t.wt[k] * v;
                                    gx += (double)FN(rf_tap_dx)(&t, k) * v;
                                    gy += (double)FN(rf_tap_dy)(&t, k) * v;
                                }
                        int64_t sample = (((b * d->queries + q) * d->heads + h) * d->levels + l) * d->points + p;
                        if (dattn) dattn[sample] = (REAL)((double)dattn[sample] + ga);
                        if (dloc) {
                            dloc[2 * sample] = (REAL)((double)dloc[2 * sample] + (double)a * gx * (double)sx);
                            dloc[2 * sample + 1] = (REAL)((double)dloc[2 * sample + 1] + (double)a * gy * (double)sy);
                        }
                    }
}

/* ---- gather and top-k ------------------------------------------------------------------- */

void FN(rf_ref_gather_rows)(int64_t batch, int64_t src_rows, int64_t cols, int64_t count, const REAL *src,
                            const int32_t *indices, REAL *out) {
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < count; i++) {
            int64_t r = indices[b * count + i];
            bool valid = r >= 0 && r < src_rows;
            for (int64_t c = 0; c < cols; c++)
                out[(b * count + i) * cols + c] = valid ? src[(b * src_rows + r) * cols + c] : (REAL)0;
        }
}

void FN(rf_ref_gather_rows_backward)(int64_t batch, int64_t src_rows, int64_t cols, int64_t count, const REAL *dout,
                                     const int32_t *indices, REAL *dsrc) {
    for (int64_t b = 0; b < batch; b++)
        for (int64_t c = 0; c < cols; c++)
            for (int64_t i = 0; i < count; i++) {
                int64_t r = indices[b * count + i];
                if (r >= 0 && r < src_rows) dsrc[(b * src_rows + r) * cols + c] += dout[(b * count + i) * cols + c];
            }
}

/* Selection: the t-th entry is the first, in top-k order, of those after
 * the (t-1)-th. O(k * cols), no scratch memory. */
void FN(rf_ref_topk)(int64_t rows, int64_t cols, int64_t k, const REAL *x, REAL *values, int32_t *indices) {
    for (int64_t r = 0; r < rows; r++) {
        const REAL *row = x + r * cols;
        int64_t prev = -1;
        for (int64_t t = 0; t < k; t++) {
            int64_t best = -1;
            for (int64_t j = 0; j < cols; j++) {
                if (prev >= 0 && !rf_topk_before(row[prev], prev, row[j], j)) continue;
                if (best < 0 || rf_topk_before(row[j], j, row[best], best)) best = j;
            }
            values[r * k + t] = row[best];
            indices[r * k + t] = (int32_t)best;
            prev = best;
        }
    }
}
