/* attention.h — fused scaled dot-product attention on the GPU backends:
 * scores, optional additive mask, softmax and the weighted sum in one
 * kernel, and its backward in two, tiled as flash attention is: the lq x lk
 * score matrix never goes to global memory, and a tile of keys (or of query
 * rows) read once into local memory serves a whole work-group of rows. Part
 * of the one kernel source (device.h); the arguments are rf_attention_args'
 * (backend/kernels.h).
 *
 * Every kernel runs groups of RF_ATTN_ROWS work items, one row each; head
 * and value widths up to RF_ATTN_D (every RF-DETR size: 64 in the backbone,
 * 32 in the decoder) live in private arrays; the launcher sends wider heads
 * to the host.
 *
 * Forward: a group per RF_ATTN_ROWS query rows of a problem (b, h). The
 * keys and values go by in tiles of RF_ATTN_KEYS, loaded by the whole
 * group (neighbouring items read neighbouring floats); each item scores
 * its row against the tile, keeps the running maximum and sum (online
 * softmax: what it summed so far is rescaled by e^(m_old - m_new) when the
 * maximum grows) and adds the tile's weighted values. The row's
 * log-sum-exp goes to lse for the backward pass.
 *
 * Backward (dq, dk, dv written, not added), with p = exp(s - lse) rebuilt
 * from the scores, D_i = dout_i . o_i and ds = p (dout_i . v_j - D_i):
 *   a group per tile of query rows: D_i, and dq_i = scale sum_j ds_ij k_j,
 *     the key and value tiles in local memory;
 *   a group per tile of key rows: dv_j = sum_i p_ij dout_i and
 *     dk_j = scale sum_i ds_ij q_i, tiles of query rows, dout, lse and D
 *     in local memory.
 * Each output has one owner, which sums in a fixed order: deterministic, no
 * atomics. */
#ifndef RFDETR_KERNELS_ATTENTION_H
#define RFDETR_KERNELS_ATTENTION_H

#ifndef __OPENCL_VERSION__
#include "backend/kernels/attention_sizes.h"
#include "backend/kernels/common.h"
#endif

#ifdef RF_DEVICE_GPU

/* Row r of problem (b, h) of a view whose strides are (b, h, row). */
#define RF_ATTN_ROW(base, off, st, b, h, r) ((base) + (off) + (b) * (st).s0 + (h) * (st).s1 + (r) * (st).s2)

/* The arguments every attention kernel starts with, in rf_attention_args'
 * order: sizes, scale, q, k, v (each buffer, offset, strides). */
#define RF_ATTN_INPUTS                                                                                             \
    rf_long B, rf_long H, rf_long LQ, rf_long LK, rf_long HD, rf_long VD, float scale, RF_GLOBAL const float *q,    \
        rf_ulong q_off, rf_long8 qs, RF_GLOBAL const float *k, rf_ulong k_off, rf_long8 ks,                        \
        RF_GLOBAL const float *v, rf_ulong v_off, rf_long8 vs

/* tile[t * RF_ATTN_D + d] = row (first + t) of a view, channel d, for t < n
 * and d < width; zeros elsewhere (no uninitialised local reads). */
RF_FN void rf_attn_load_tile(RF_LOCAL float *tile, RF_GLOBAL const float *base, rf_ulong off, rf_long8 st, rf_long b,
                             rf_long h, rf_long first, rf_long n, rf_long width, int lid) {
    for (int idx = lid; idx < RF_ATTN_KEYS * RF_ATTN_D; idx += RF_ATTN_ROWS) {
        int t = idx / RF_ATTN_D, d = idx % RF_ATTN_D;
        tile[idx] = t < n && d < width ? RF_ATTN_ROW(base, off, st, b, h, first + t)[d] : 0.0f;
    }
}

/* x (RF_ATTN_D, zero past width) = row r of a view. */
RF_FN void rf_attn_load_row(float *x, RF_GLOBAL const float *row, rf_long width) {
#pragma unroll
    for (int d = 0; d < RF_ATTN_D; d++) x[d] = d < width ? row[d] : 0.0f;
}

/* x . tile row t over RF_ATTN_D channels (both zero past the width). */
RF_FN float rf_attn_dot_tile(const float *x, RF_LOCAL const float *tile, int t) {
    float s = 0.0f;
#pragma unroll
    for (int d = 0; d < RF_ATTN_D; d++) s += x[d] * tile[t * RF_ATTN_D + d];
    return s;
}

/* One group per RF_ATTN_ROWS query rows of a problem; groups go problem by
 * problem. */
RF_KERNEL attention_f32(RF_ATTN_INPUTS, RF_GLOBAL float *o, rf_ulong o_off, rf_long8 os, int has_mask,
                        RF_GLOBAL const float *mask, rf_ulong m_off, RF_GLOBAL float *lse, rf_ulong l_off) {
    RF_LOCAL_ARRAY(float, kt, RF_ATTN_KEYS * RF_ATTN_D);
    RF_LOCAL_ARRAY(float, vt, RF_ATTN_KEYS * RF_ATTN_D);
    rf_long tiles = (LQ + RF_ATTN_ROWS - 1) / RF_ATTN_ROWS, g = rf_group_id(0);
    rf_long bh = g / tiles, h = bh % H, b = bh / H;
    int lid = rf_local_id(0);
    rf_long i = (g % tiles) * RF_ATTN_ROWS + lid;
    bool live = i < LQ; /* rows past the problem still load tiles and meet every barrier */
    rf_long ir = live ? i : LQ - 1;
    float qr[RF_ATTN_D], acc[RF_ATTN_D], s[RF_ATTN_KEYS];
    rf_attn_load_row(qr, RF_ATTN_ROW(q, q_off, qs, b, h, ir), HD);
#pragma unroll
    for (int d = 0; d < RF_ATTN_D; d++) acc[d] = 0.0f;
    float run_max = -RF_INFINITY, run_sum = 0.0f;
    for (rf_long j0 = 0; j0 < LK; j0 += RF_ATTN_KEYS) {
        rf_long n = rf_min_l((rf_long)RF_ATTN_KEYS, LK - j0);
        rf_attn_load_tile(kt, k, k_off, ks, b, h, j0, n, HD, lid);
        rf_attn_load_tile(vt, v, v_off, vs, b, h, j0, n, VD, lid);
        rf_barrier();
        float tile_max = -RF_INFINITY;
        for (int t = 0; t < RF_ATTN_KEYS; t++) {
            float x = -RF_INFINITY;
            if (t < n) x = rf_attn_dot_tile(qr, kt, t) * scale + (has_mask ? mask[m_off + ir * LK + j0 + t] : 0.0f);
            s[t] = x;
            tile_max = fmax(tile_max, x);
        }
        float new_max = fmax(run_max, tile_max);
        if (new_max != -RF_INFINITY) { /* else nothing unmasked yet: nothing to add */
            float rescale = exp(run_max - new_max);
            run_sum *= rescale;
#pragma unroll
            for (int d = 0; d < RF_ATTN_D; d++) acc[d] *= rescale;
            for (int t = 0; t < RF_ATTN_KEYS; t++) {
                float p = t < n ? exp(s[t] - new_max) : 0.0f;
                run_sum += p;
#pragma unroll
                for (int d = 0; d < RF_ATTN_D; d++) acc[d] += p * vt[t * RF_ATTN_D + d];
            }
            run_max = new_max;
        }
        rf_barrier(); /* the tiles are rewritten next */
    }
    if (!live) return; /* after the last barrier */
    RF_GLOBAL float *oi = RF_ATTN_ROW(o, o_off, os, b, h, i);
    float inv = run_sum > 0.0f ? 1.0f / run_sum : 0.0f; /* a fully masked row gives zeros */
#pragma unroll
    for (int d = 0; d < RF_ATTN_D; d++)
        if (d < VD) oi[d] = acc[d] * inv;
    lse[l_off + bh * LQ + i] = run_sum > 0.0f ? run_max + log(run_sum) : -RF_INFINITY;
}

/* p_ij (into *p) and ds_ij of a query row's score x (scale and mask
 * applied), its log-sum-exp L, dp = dout_i . v_j and D_i: 0 where the row
 * is fully masked. */
RF_FN float rf_attn_ds(float x, float L, float dp, float Di, float *p) {
    *p = L == -RF_INFINITY ? 0.0f : exp(x - L);
    return *p * (dp - Di);
}

/* One group per RF_ATTN_ROWS query rows: D_i into `dsum`, and dq_i. */
RF_KERNEL attention_backward_dq_f32(RF_ATTN_INPUTS, RF_GLOBAL const float *o, rf_ulong o_off, rf_long8 os,
                                    RF_GLOBAL const float *dout, rf_ulong do_off, rf_long8 dos, RF_GLOBAL float *dq,
                                    rf_ulong dq_off, rf_long8 dqs, int has_mask, RF_GLOBAL const float *mask,
                                    rf_ulong m_off, RF_GLOBAL const float *lse, rf_ulong l_off, RF_GLOBAL float *dsum,
                                    rf_ulong ds_off) {
    RF_LOCAL_ARRAY(float, kt, RF_ATTN_KEYS * RF_ATTN_D);
    RF_LOCAL_ARRAY(float, vt, RF_ATTN_KEYS * RF_ATTN_D);
    rf_long tiles = (LQ + RF_ATTN_ROWS - 1) / RF_ATTN_ROWS, g = rf_group_id(0);
    rf_long bh = g / tiles, h = bh % H, b = bh / H;
    int lid = rf_local_id(0);
    rf_long i = (g % tiles) * RF_ATTN_ROWS + lid;
    bool live = i < LQ;
    rf_long ir = live ? i : LQ - 1;
    float qr[RF_ATTN_D], dor[RF_ATTN_D], acc[RF_ATTN_D];
    rf_attn_load_row(qr, RF_ATTN_ROW(q, q_off, qs, b, h, ir), HD);
    rf_attn_load_row(dor, RF_ATTN_ROW(dout, do_off, dos, b, h, ir), VD);
    RF_GLOBAL const float *oi = RF_ATTN_ROW(o, o_off, os, b, h, ir);
    float Di = 0.0f;
#pragma unroll
    for (int d = 0; d < RF_ATTN_D; d++) Di += d < VD ? dor[d] * oi[d] : 0.0f;
    float L = lse[l_off + bh * LQ + ir];
#pragma unroll
    for (int d = 0; d < RF_ATTN_D; d++) acc[d] = 0.0f;
    for (rf_long j0 = 0; j0 < LK; j0 += RF_ATTN_KEYS) {
        rf_long n = rf_min_l((rf_long)RF_ATTN_KEYS, LK - j0);
        rf_attn_load_tile(kt, k, k_off, ks, b, h, j0, n, HD, lid);
        rf_attn_load_tile(vt, v, v_off, vs, b, h, j0, n, VD, lid);
        rf_barrier();
        for (int t = 0; t < n; t++) {
            float x = rf_attn_dot_tile(qr, kt, t) * scale + (has_mask ? mask[m_off + ir * LK + j0 + t] : 0.0f), p;
            float ds = rf_attn_ds(x, L, rf_attn_dot_tile(dor, vt, t), Di, &p);
#pragma unroll
            for (int d = 0; d < RF_ATTN_D; d++) acc[d] += ds * kt[t * RF_ATTN_D + d];
        }
        rf_barrier();
    }
    if (!live) return;
    dsum[ds_off + bh * LQ + i] = Di;
    RF_GLOBAL float *dqi = RF_ATTN_ROW(dq, dq_off, dqs, b, h, i);
#pragma unroll
    for (int d = 0; d < RF_ATTN_D; d++)
        if (d < HD) dqi[d] = scale * acc[d];
}

/* One group per RF_ATTN_ROWS key rows: dv_j and dk_j, the query rows in
 * order, RF_ATTN_KEYS of them (with their lse and D) per tile. */
RF_KERNEL attention_backward_dkv_f32(RF_ATTN_INPUTS, RF_GLOBAL const float *dout, rf_ulong do_off, rf_long8 dos,
                                     RF_GLOBAL float *dk, rf_ulong dk_off, rf_long8 dks, RF_GLOBAL float *dv,
                                     rf_ulong dv_off, rf_long8 dvs, int has_mask, RF_GLOBAL const float *mask,
                                     rf_ulong m_off, RF_GLOBAL const float *lse, rf_ulong l_off,
                                     RF_GLOBAL const float *dsum, rf_ulong ds_off) {
    RF_LOCAL_ARRAY(float, qt, RF_ATTN_KEYS * RF_ATTN_D);
    RF_LOCAL_ARRAY(float, gt, RF_ATTN_KEYS * RF_ATTN_D);
    RF_LOCAL_ARRAY(float, lt, RF_ATTN_KEYS);
    RF_LOCAL_ARRAY(float, dt, RF_ATTN_KEYS);
    rf_long tiles = (LK + RF_ATTN_ROWS - 1) / RF_ATTN_ROWS, g = rf_group_id(0);
    rf_long bh = g / tiles, h = bh % H, b = bh / H;
    int lid = rf_local_id(0);
    rf_long j = (g % tiles) * RF_ATTN_ROWS + lid;
    bool live = j < LK;
    rf_long jr = live ? j : LK - 1;
    float kr[RF_ATTN_D], vr[RF_ATTN_D], acc_k[RF_ATTN_D], acc_v[RF_ATTN_D];
    rf_attn_load_row(kr, RF_ATTN_ROW(k, k_off, ks, b, h, jr), HD);
    rf_attn_load_row(vr, RF_ATTN_ROW(v, v_off, vs, b, h, jr), VD);
#pragma unroll
    for (int d = 0; d < RF_ATTN_D; d++) acc_k[d] = 0.0f, acc_v[d] = 0.0f;
    for (rf_long i0 = 0; i0 < LQ; i0 += RF_ATTN_KEYS) {
        rf_long n = rf_min_l((rf_long)RF_ATTN_KEYS, LQ - i0);
        rf_attn_load_tile(qt, q, q_off, qs, b, h, i0, n, HD, lid);
        rf_attn_load_tile(gt, dout, do_off, dos, b, h, i0, n, VD, lid);
        if (lid < RF_ATTN_KEYS) {
            lt[lid] = lid < n ? lse[l_off + bh * LQ + i0 + lid] : -RF_INFINITY;
            dt[lid] = lid < n ? dsum[ds_off + bh * LQ + i0 + lid] : 0.0f;
        }
        rf_barrier();
        for (int t = 0; t < n; t++) {
            float x = 0.0f;
#pragma unroll
            for (int d = 0; d < RF_ATTN_D; d++) x += qt[t * RF_ATTN_D + d] * kr[d];
            x = x * scale + (has_mask ? mask[m_off + (i0 + t) * LK + jr] : 0.0f);
            float dp = 0.0f;
#pragma unroll
            for (int d = 0; d < RF_ATTN_D; d++) dp += gt[t * RF_ATTN_D + d] * vr[d];
            float p, ds = rf_attn_ds(x, lt[t], dp, dt[t], &p);
#pragma unroll
            for (int d = 0; d < RF_ATTN_D; d++) {
                acc_v[d] += p * gt[t * RF_ATTN_D + d];
                acc_k[d] += ds * qt[t * RF_ATTN_D + d];
            }
        }
        rf_barrier();
    }
    if (!live) return;
    RF_GLOBAL float *dkj = RF_ATTN_ROW(dk, dk_off, dks, b, h, j), *dvj = RF_ATTN_ROW(dv, dv_off, dvs, b, h, j);
#pragma unroll
    for (int d = 0; d < RF_ATTN_D; d++) {
        if (d < VD) dvj[d] = acc_v[d];
        if (d < HD) dkj[d] = scale * acc_k[d];
    }
}

#define RF_KERNELS_ATTENTION(X) X(attention_f32) X(attention_backward_dq_f32) X(attention_backward_dkv_f32)

#endif /* RF_DEVICE_GPU */

#endif /* RFDETR_KERNELS_ATTENTION_H */
