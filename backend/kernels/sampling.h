/* sampling.h — bilinear grid sample, multi-scale deformable attention, row
 * gather and top-k: the kernels of the GPU backends (the taps they share
 * with the cpu are in sampling_taps.h). Part of the one kernel source
 * (device.h).
 *
 * Deterministic without atomics: every work item owns its outputs. The
 * gradients that naturally scatter are computed by the owner of a whole
 * destination column, which walks the samples in a fixed order:
 *   grid-sample dx        one work item per (n, c) plane, outputs in order;
 *   deformable dvalue     one work item per (b, head, channel) column,
 *                         samples in (query, level, point) order;
 *   gather dsrc           one work item per (b, column), rows in order. */
#ifndef RFDETR_KERNELS_SAMPLING_H
#define RFDETR_KERNELS_SAMPLING_H

#ifndef __OPENCL_VERSION__
#include "backend/kernels/common.h"
#include "backend/kernels/sampling_taps.h"
#endif

/* The top-k order: NaN first (NaN counts as the largest, as in max_last),
 * then larger values, equal values by ascending index. A total order, so
 * the result is unique. */
RF_FN int rf_topk_before(RF_S a, rf_long ia, RF_S b, rf_long ib) {
    int na = rf_isnan(a), nb = rf_isnan(b);
    if (na != nb) return na;
    if (!na && a != b) return a > b;
    return ia < ib;
}

#ifdef RF_DEVICE_GPU

RF_FN rf_taps grid_taps(RF_GLOBAL const float *grid, rf_long at, rf_long h, rf_long w) {
    return rf_bilinear_taps(rf_grid_to_pixel(grid[at], w), rf_grid_to_pixel(grid[at + 1], h), h, w);
}

/* ---- grid sample -------------------------------------------------------------------- */

RF_KERNEL grid_sample_f32(rf_long n, rf_long c, rf_long h, rf_long w, rf_long ho, rf_long wo, RF_GLOBAL const float *x,
                          rf_ulong x_off, RF_GLOBAL const float *grid, rf_ulong g_off, RF_GLOBAL float *y,
                          rf_ulong y_off) {
    rf_long i = rf_global_id(0);
    rf_long hw = ho * wo;
    if (i >= n * c * hw) return;
    rf_long p = i % hw, b = i / (c * hw);
    rf_taps t = grid_taps(grid, g_off + (b * hw + p) * 2, h, w);
    RF_GLOBAL const float *plane = x + x_off + (i / hw) * h * w;
    float acc = 0.0f;
    for (int k = 0; k < 4; k++)
        if (t.inside[k]) acc += t.wt[k] * plane[t.at[k]];
    y[y_off + i] = acc;
}

/* One work item per (n, c) plane of dx: walks the outputs in order. */
RF_KERNEL grid_sample_backward_dx_f32(rf_long n, rf_long c, rf_long h, rf_long w, rf_long ho, rf_long wo,
                                      RF_GLOBAL const float *grid, rf_ulong g_off, RF_GLOBAL const float *dy,
                                      rf_ulong dy_off, RF_GLOBAL float *dx, rf_ulong dx_off, int accumulate) {
    rf_long i = rf_global_id(0);
    if (i >= n * c) return;
    rf_long b = i / c, hw = ho * wo;
    RF_GLOBAL float *plane = dx + dx_off + i * h * w;
    if (!accumulate)
        for (rf_long k = 0; k < h * w; k++) plane[k] = 0.0f;
    RF_GLOBAL const float *g = dy + dy_off + i * hw;
    for (rf_long p = 0; p < hw; p++) {
        rf_taps t = grid_taps(grid, g_off + (b * hw + p) * 2, h, w);
        float gy = g[p];
        for (int k = 0; k < 4; k++)
            if (t.inside[k]) plane[t.at[k]] += t.wt[k] * gy;
    }
}

/* One work item per sample point: sums over channels in order. */
RF_KERNEL grid_sample_backward_dgrid_f32(rf_long n, rf_long c, rf_long h, rf_long w, rf_long ho, rf_long wo,
                                         RF_GLOBAL const float *x, rf_ulong x_off, RF_GLOBAL const float *grid,
                                         rf_ulong g_off, RF_GLOBAL const float *dy, rf_ulong dy_off,
                                         RF_GLOBAL float *dgrid, rf_ulong dg_off, int accumulate) {
    rf_long i = rf_global_id(0);
    rf_long hw = ho * wo;
    if (i >= n * hw) return;
    rf_long b = i / hw, p = i % hw;
    rf_taps t = grid_taps(grid, g_off + i * 2, h, w);
    float sx = 0.0f, sy = 0.0f;
    for (rf_long ch = 0; ch < c; ch++) {
        RF_GLOBAL const float *plane = x + x_off + (b * c + ch) * h * w;
        float gout = dy[dy_off + (b * c + ch) * hw + p];
        for (int k = 0; k < 4; k++)
            if (t.inside[k]) {
                float v = plane[t.at[k]] * gout;
                sx += rf_tap_dx(&t, k) * v;
                sy += rf_tap_dy(&t, k) * v;
            }
    }
    sx *= 0.5f * (float)w;
    sy *= 0.5f * (float)h;
    RF_GLOBAL float *dg = dgrid + dg_off + i * 2;
    dg[0] = accumulate ? dg[0] + sx : sx;
    dg[1] = accumulate ? dg[1] + sy : sy;
}

/* ---- multi-scale deformable attention ---------------------------------------------------- */

/* The leading arguments of every deformable-attention kernel: the sizes in
 * rf_deform_attn_args' order, then value, level shapes and starts, sampling
 * locations and attention weights (each buffer with its offset). */
#define RF_DEFORM_INPUTS                                                                                            \
    rf_long B, rf_long S, rf_long H, rf_long D, rf_long Q, rf_long L, rf_long P, RF_GLOBAL const float *value,      \
        rf_ulong v_off, RF_GLOBAL const int *shapes, rf_ulong shapes_off, RF_GLOBAL const int *starts,               \
        rf_ulong starts_off, RF_GLOBAL const float *loc, rf_ulong loc_off, RF_GLOBAL const float *attn, rf_ulong a_off

/* Taps of sample `sample` = ((b*Q + q)*H + h)*L + l)*P + p, with `at` turned
 * into value rows (b, level start + pixel) of head h. */
RF_FN rf_taps deform_sample_taps(rf_long S, rf_long H, RF_GLOBAL const int *shapes, RF_GLOBAL const int *starts,
                                 RF_GLOBAL const float *loc, rf_long sample, rf_long b, rf_long h, rf_long l) {
    rf_long lh = shapes[2 * l], lw = shapes[2 * l + 1];
    rf_taps t = rf_deform_taps(loc[2 * sample], loc[2 * sample + 1], lh, lw);
    for (int k = 0; k < 4; k++) t.at[k] = (b * S + starts[l] + t.at[k]) * H + h;
    return t;
}

/* One work item per output element (b, q, h, d): levels and points in order;
 * neighbouring items read neighbouring channels of a value row. */
RF_KERNEL deform_attn_f32(RF_DEFORM_INPUTS, RF_GLOBAL float *out, rf_ulong o_off) {
    rf_long i = rf_global_id(0);
    if (i >= B * Q * H * D) return;
    rf_long d = i % D, h = (i / D) % H, q = (i / (D * H)) % Q, b = i / (D * H * Q);
    shapes += shapes_off;
    starts += starts_off;
    loc += loc_off;
    value += v_off;
    float acc = 0.0f;
    for (rf_long l = 0; l < L; l++)
        for (rf_long p = 0; p < P; p++) {
            rf_long sample = (((b * Q + q) * H + h) * L + l) * P + p;
            rf_taps t = deform_sample_taps(S, H, shapes, starts, loc, sample, b, h, l);
            float v = 0.0f;
            for (int k = 0; k < 4; k++)
                if (t.inside[k]) v += t.wt[k] * value[t.at[k] * D + d];
            acc += attn[a_off + sample] * v;
        }
    out[o_off + i] = acc;
}

/* dvalue: one work item per (b, h, d) column, samples in (q, l, p) order. */
RF_KERNEL deform_attn_backward_value_f32(RF_DEFORM_INPUTS, RF_GLOBAL const float *dout, rf_ulong do_off,
                                         RF_GLOBAL float *dvalue, rf_ulong dv_off) {
    rf_long i = rf_global_id(0);
    if (i >= B * H * D) return;
    rf_long d = i % D, h = (i / D) % H, b = i / (D * H);
    shapes += shapes_off;
    starts += starts_off;
    loc += loc_off;
    dvalue += dv_off;
    for (rf_long q = 0; q < Q; q++) {
        float g = dout[do_off + ((b * Q + q) * H + h) * D + d];
        for (rf_long l = 0; l < L; l++)
            for (rf_long p = 0; p < P; p++) {
                rf_long sample = (((b * Q + q) * H + h) * L + l) * P + p;
                rf_taps t = deform_sample_taps(S, H, shapes, starts, loc, sample, b, h, l);
                float ag = attn[a_off + sample] * g;
                for (int k = 0; k < 4; k++)
                    if (t.inside[k]) dvalue[t.at[k] * D + d] += t.wt[k] * ag;
            }
    }
}

/* Locations and attention weights: one work item per sample, channels in
 * order. */
RF_KERNEL deform_attn_backward_sample_f32(RF_DEFORM_INPUTS, RF_GLOBAL const float *dout, rf_ulong do_off,
                                          RF_GLOBAL float *dloc, rf_ulong dl_off, RF_GLOBAL float *dattn,
                                          rf_ulong da_off) {
    rf_long sample = rf_global_id(0);
    if (sample >= B * Q * H * L * P) return;
    rf_long l = (sample / P) % L, h = (sample / (P * L)) % H, b = sample / (P * L * H * Q);
    shapes += shapes_off;
    starts += starts_off;
    loc += loc_off;
    value += v_off;
    rf_taps t = deform_sample_taps(S, H, shapes, starts, loc, sample, b, h, l);
    RF_GLOBAL const float *go = dout + do_off + (sample / (P * L)) * D;
    float ga = 0.0f, gx = 0.0f, gy = 0.0f;
    for (rf_long d = 0; d < D; d++)
        for (int k = 0; k < 4; k++)
            if (t.inside[k]) {
                float v = value[t.at[k] * D + d] * go[d];
                ga += t.wt[k] * v;
                gx += rf_tap_dx(&t, k) * v;
                gy += rf_tap_dy(&t, k) * v;
            }
    float a = attn[a_off + sample];
    dattn[da_off + sample] += ga;
    dloc[dl_off + 2 * sample] += a * gx * (float)shapes[2 * l + 1];
    dloc[dl_off + 2 * sample + 1] += a * gy * (float)shapes[2 * l];
}

/* ---- gather rows ------------------------------------------------------------------------- */

RF_KERNEL gather_rows_f32(rf_long batch, rf_long src_rows, rf_long cols, rf_long count, RF_GLOBAL const float *src,
                          rf_ulong s_off, RF_GLOBAL const int *idx, rf_ulong i_off, RF_GLOBAL float *out,
                          rf_ulong o_off) {
    rf_long i = rf_global_id(0);
    if (i >= batch * count * cols) return;
    rf_long c = i % cols, row = i / cols, b = row / count;
    rf_long r = idx[i_off + row];
    out[o_off + i] = (r >= 0 && r < src_rows) ? src[s_off + (b * src_rows + r) * cols + c] : 0.0f;
}

/* One work item per (b, column): rows in order, so repeated indices add up
 * deterministically. */
RF_KERNEL gather_rows_backward_f32(rf_long batch, rf_long src_rows, rf_long cols, rf_long count,
                                   RF_GLOBAL const float *dout, rf_ulong do_off, RF_GLOBAL const int *idx,
                                   rf_ulong i_off, RF_GLOBAL float *dsrc, rf_ulong ds_off) {
    rf_long i = rf_global_id(0);
    if (i >= batch * cols) return;
    rf_long c = i % cols, b = i / cols;
    for (rf_long k = 0; k < count; k++) {
        rf_long r = idx[i_off + b * count + k];
        if (r >= 0 && r < src_rows)
            dsrc[ds_off + (b * src_rows + r) * cols + c] += dout[do_off + (b * count + k) * cols + c];
    }
}

/* ---- top-k --------------------------------------------------------------------------------- */

/* One work item per element: its rank is the number of elements before it
 * in top-k order; it writes itself to slot `rank` when that is below k (the
 * order is total, so every slot gets exactly one writer). Stops counting at
 * k, so elements far from the top cost little. */
RF_KERNEL topk_f32(rf_long rows, rf_long cols, rf_long k, RF_GLOBAL const float *x, rf_ulong x_off,
                   RF_GLOBAL float *values, rf_ulong v_off, RF_GLOBAL int *indices, rf_ulong i_off) {
    rf_long i = rf_global_id(0);
    if (i >= rows * cols) return;
    rf_long r = i / cols, j = i % cols;
    RF_GLOBAL const float *row = x + x_off + r * cols;
    float v = row[j];
    rf_long rank = 0;
    for (rf_long m = 0; m < cols && rank < k; m++) rank += rf_topk_before(row[m], m, v, j);
    if (rank >= k) return;
    values[v_off + r * k + rank] = v;
    indices[i_off + r * k + rank] = (int)j;
}

#define RF_KERNELS_SAMPLING(X)                                                                                         \
    X(grid_sample_f32) X(grid_sample_backward_dx_f32) X(grid_sample_backward_dgrid_f32) X(deform_attn_f32)             \
    X(deform_attn_backward_value_f32) X(deform_attn_backward_sample_f32) X(gather_rows_f32)                           \
    X(gather_rows_backward_f32) X(topk_f32)

#endif /* RF_DEVICE_GPU */

#endif /* RFDETR_KERNELS_SAMPLING_H */
