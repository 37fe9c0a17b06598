/* attention.h — fused scaled dot-product attention on the GPU backends:
 * scores, optional additive mask, softmax and the weighted sum in one
 * kernel, and its backward in two, so the lq x lk score matrix never goes
 * to global memory (flash attention's idea). Part of the one kernel source
 * (device.h); the arguments are rf_attention_args' (backend/kernels.h).
 *
 * Forward: one work-group per query row (b, h, i). The keys go by in chunks
 * of one work-group: each work item scores one key, the group takes the
 * chunk's maximum, rescales what it has summed so far (online softmax) and
 * adds the chunk's exponentials and their weighted values, work item d
 * owning output channels d, d + G, ... Neighbouring items read neighbouring
 * channels of a value row. The row's log-sum-exp goes to lse for the
 * backward pass.
 *
 * Backward (dq, dk, dv written, not added), with p = exp(s - lse) rebuilt
 * from the scores, D_i = dout_i . o_i and ds = p (dout_i . v_j - D_i):
 *   one group per query row:  D_i, and dq_i = scale sum_j ds_ij k_j;
 *   one group per key row:    dv_j = sum_i p_ij dout_i, dk_j = scale sum_i ds_ij q_i.
 * Each owner sums in a fixed order: deterministic, no atomics. */
#ifndef RFDETR_KERNELS_ATTENTION_H
#define RFDETR_KERNELS_ATTENTION_H

#ifndef __OPENCL_VERSION__
#include "backend/kernels/common.h"
#endif

/* Channels one work item owns: head_dim and value_dim up to this many
 * work-groups wide (the launcher checks). */
#define RF_ATTN_PER_ITEM 4

#ifdef RF_DEVICE_GPU

/* Row r of problem (b, h) of a view whose strides are (b, h, row). */
#define RF_ATTN_ROW(base, off, st, b, h, r) ((base) + (off) + (b) * (st).s0 + (h) * (st).s1 + (r) * (st).s2)

RF_FN float rf_attn_dot(RF_GLOBAL const float *x, RF_GLOBAL const float *y, rf_long n) {
    float s = 0.0f;
    for (rf_long d = 0; d < n; d++) s += x[d] * y[d];
    return s;
}

/* The arguments every attention kernel starts with, in rf_attention_args'
 * order: sizes, scale, q, k, v, o (each buffer, offset, strides). */
#define RF_ATTN_INPUTS                                                                                             \
    rf_long B, rf_long H, rf_long LQ, rf_long LK, rf_long HD, rf_long VD, float scale, RF_GLOBAL const float *q,    \
        rf_ulong q_off, rf_long8 qs, RF_GLOBAL const float *k, rf_ulong k_off, rf_long8 ks,                        \
        RF_GLOBAL const float *v, rf_ulong v_off, rf_long8 vs

RF_KERNEL attention_f32(RF_ATTN_INPUTS, RF_GLOBAL float *o, rf_ulong o_off, rf_long8 os, int has_mask,
                        RF_GLOBAL const float *mask, rf_ulong m_off, RF_GLOBAL float *lse, rf_ulong l_off) {
    RF_LOCAL_ARRAY(float, p, RF_GROUP);
    RF_LOCAL_ARRAY(float, buf, RF_GROUP);
    rf_long row = rf_group_id(0); /* one group per row: no early return before a barrier */
    rf_long i = row % LQ, h = (row / LQ) % H, b = row / (LQ * H);
    int lid = rf_local_id(0), G = rf_local_size(0);
    RF_GLOBAL const float *qi = RF_ATTN_ROW(q, q_off, qs, b, h, i);
    RF_GLOBAL const float *mrow = has_mask ? mask + m_off + i * LK : qi;
    float acc[RF_ATTN_PER_ITEM] = {0.0f, 0.0f, 0.0f, 0.0f};
    float run_max = -RF_INFINITY, run_sum = 0.0f;
    for (rf_long j0 = 0; j0 < LK; j0 += G) {
        rf_long j = j0 + lid;
        float s = -RF_INFINITY;
        if (j < LK) s = rf_attn_dot(qi, RF_ATTN_ROW(k, k_off, ks, b, h, j), HD) * scale + (has_mask ? mrow[j] : 0.0f);
        float new_max = fmax(run_max, rf_group_max(s, buf));
        float e = (j < LK && new_max != -RF_INFINITY) ? exp(s - new_max) : 0.0f;
        p[lid] = e;
        float chunk_sum = rf_group_sum(e, buf); /* its barriers also publish p */
        float rescale = run_max == -RF_INFINITY ? 0.0f : exp(run_max - new_max);
        run_sum = run_sum * rescale + chunk_sum;
        rf_long n = rf_min_l((rf_long)G, LK - j0);
        for (int t = 0; t < RF_ATTN_PER_ITEM; t++) {
            rf_long d = lid + (rf_long)t * G;
            if (d >= VD) break;
            float a = acc[t] * rescale;
            for (rf_long jj = 0; jj < n; jj++) a += p[jj] * RF_ATTN_ROW(v, v_off, vs, b, h, j0 + jj)[d];
            acc[t] = a;
        }
        run_max = new_max;
        rf_barrier(); /* p is rewritten by the next chunk */
    }
    RF_GLOBAL float *oi = RF_ATTN_ROW(o, o_off, os, b, h, i);
    float inv = run_sum > 0.0f ? 1.0f / run_sum : 0.0f; /* a fully masked row gives zeros */
    for (int t = 0; t < RF_ATTN_PER_ITEM; t++) {
        rf_long d = lid + (rf_long)t * G;
        if (d < VD) oi[d] = acc[t] * inv;
    }
    if (lid == 0) lse[l_off + row] = run_sum > 0.0f ? run_max + log(run_sum) : -RF_INFINITY;
}

/* ds_ij (and p_ij) of query i, key j: 0 where the row is fully masked. */
RF_FN float rf_attn_ds(RF_GLOBAL const float *qi, RF_GLOBAL const float *kj, RF_GLOBAL const float *doi,
                       RF_GLOBAL const float *vj, rf_long HD, rf_long VD, float scale, float m, float L, float Di,
                       float *p) {
    *p = 0.0f;
    if (L == -RF_INFINITY) return 0.0f;
    *p = exp(rf_attn_dot(qi, kj, HD) * scale + m - L);
    return *p * (rf_attn_dot(doi, vj, VD) - Di);
}

/* One group per query row: D_i into `dsum`, and dq_i. */
RF_KERNEL attention_backward_dq_f32(RF_ATTN_INPUTS, RF_GLOBAL const float *o, rf_ulong o_off, rf_long8 os,
                                    RF_GLOBAL const float *dout, rf_ulong do_off, rf_long8 dos, RF_GLOBAL float *dq,
                                    rf_ulong dq_off, rf_long8 dqs, int has_mask, RF_GLOBAL const float *mask,
                                    rf_ulong m_off, RF_GLOBAL const float *lse, rf_ulong l_off, RF_GLOBAL float *dsum,
                                    rf_ulong ds_off) {
    RF_LOCAL_ARRAY(float, w, RF_GROUP);
    RF_LOCAL_ARRAY(float, buf, RF_GROUP);
    rf_long row = rf_group_id(0); /* one group per row: no early return before a barrier */
    rf_long i = row % LQ, h = (row / LQ) % H, b = row / (LQ * H);
    int lid = rf_local_id(0), G = rf_local_size(0);
    RF_GLOBAL const float *qi = RF_ATTN_ROW(q, q_off, qs, b, h, i);
    RF_GLOBAL const float *oi = RF_ATTN_ROW(o, o_off, os, b, h, i);
    RF_GLOBAL const float *doi = RF_ATTN_ROW(dout, do_off, dos, b, h, i);
    float part = 0.0f;
    for (rf_long d = lid; d < VD; d += G) part += doi[d] * oi[d];
    float Di = rf_group_sum(part, buf);
    if (lid == 0) dsum[ds_off + row] = Di;
    float L = lse[l_off + row];
    float acc[RF_ATTN_PER_ITEM] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (rf_long j0 = 0; j0 < LK; j0 += G) {
        rf_long j = j0 + lid;
        float ds = 0.0f, pij;
        if (j < LK)
            ds = rf_attn_ds(qi, RF_ATTN_ROW(k, k_off, ks, b, h, j), doi, RF_ATTN_ROW(v, v_off, vs, b, h, j), HD, VD,
                            scale, has_mask ? mask[m_off + i * LK + j] : 0.0f, L, Di, &pij);
        w[lid] = ds;
        rf_barrier();
        rf_long n = rf_min_l((rf_long)G, LK - j0);
        for (int t = 0; t < RF_ATTN_PER_ITEM; t++) {
            rf_long d = lid + (rf_long)t * G;
            if (d >= HD) break;
            for (rf_long jj = 0; jj < n; jj++) acc[t] += w[jj] * RF_ATTN_ROW(k, k_off, ks, b, h, j0 + jj)[d];
        }
        rf_barrier();
    }
    RF_GLOBAL float *dqi = RF_ATTN_ROW(dq, dq_off, dqs, b, h, i);
    for (int t = 0; t < RF_ATTN_PER_ITEM; t++) {
        rf_long d = lid + (rf_long)t * G;
        if (d < HD) dqi[d] = scale * acc[t];
    }
}

/* One group per key row: dv_j and dk_j, the queries in order. */
RF_KERNEL attention_backward_dkv_f32(RF_ATTN_INPUTS, RF_GLOBAL const float *dout, rf_ulong do_off, rf_long8 dos,
                                     RF_GLOBAL float *dk, rf_ulong dk_off, rf_long8 dks, RF_GLOBAL float *dv,
                                     rf_ulong dv_off, rf_long8 dvs, int has_mask, RF_GLOBAL const float *mask,
                                     rf_ulong m_off, RF_GLOBAL const float *lse, rf_ulong l_off,
                                     RF_GLOBAL const float *dsum, rf_ulong ds_off) {
    RF_LOCAL_ARRAY(float, pw, RF_GROUP);
    RF_LOCAL_ARRAY(float, dw, RF_GROUP);
    rf_long col = rf_group_id(0);
    rf_long j = col % LK, h = (col / LK) % H, b = col / (LK * H);
    int lid = rf_local_id(0), G = rf_local_size(0);
    RF_GLOBAL const float *kj = RF_ATTN_ROW(k, k_off, ks, b, h, j);
    RF_GLOBAL const float *vj = RF_ATTN_ROW(v, v_off, vs, b, h, j);
    float acc_v[RF_ATTN_PER_ITEM] = {0.0f, 0.0f, 0.0f, 0.0f}, acc_k[RF_ATTN_PER_ITEM] = {0.0f, 0.0f, 0.0f, 0.0f};
    rf_long rows = (b * H + h) * LQ; /* this problem's first row of lse and dsum */
    for (rf_long i0 = 0; i0 < LQ; i0 += G) {
        rf_long i = i0 + lid;
        float ds = 0.0f, pij = 0.0f;
        if (i < LQ)
            ds = rf_attn_ds(RF_ATTN_ROW(q, q_off, qs, b, h, i), kj, RF_ATTN_ROW(dout, do_off, dos, b, h, i), vj, HD, VD,
                            scale, has_mask ? mask[m_off + i * LK + j] : 0.0f, lse[l_off + rows + i],
                            dsum[ds_off + rows + i], &pij);
        pw[lid] = pij;
        dw[lid] = ds;
        rf_barrier();
        rf_long n = rf_min_l((rf_long)G, LQ - i0);
        for (int t = 0; t < RF_ATTN_PER_ITEM; t++) {
            rf_long d = lid + (rf_long)t * G;
            if (d < VD)
                for (rf_long ii = 0; ii < n; ii++) acc_v[t] += pw[ii] * RF_ATTN_ROW(dout, do_off, dos, b, h, i0 + ii)[d];
            if (d < HD)
                for (rf_long ii = 0; ii < n; ii++) acc_k[t] += dw[ii] * RF_ATTN_ROW(q, q_off, qs, b, h, i0 + ii)[d];
        }
        rf_barrier();
    }
    RF_GLOBAL float *dkj = RF_ATTN_ROW(dk, dk_off, dks, b, h, j), *dvj = RF_ATTN_ROW(dv, dv_off, dvs, b, h, j);
    for (int t = 0; t < RF_ATTN_PER_ITEM; t++) {
        rf_long d = lid + (rf_long)t * G;
        if (d < VD) dvj[d] = acc_v[t];
        if (d < HD) dkj[d] = scale * acc_k[t];
    }
}

#define RF_KERNELS_ATTENTION(X) X(attention_f32) X(attention_backward_dq_f32) X(attention_backward_dkv_f32)

#endif /* RF_DEVICE_GPU */

#endif /* RFDETR_KERNELS_ATTENTION_H */
