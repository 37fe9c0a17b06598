/* gemm.h — the OpenCL GEMM for devices where CLBlast is slow: CPU-backed
 * OpenCL (PoCL), whose work-groups are loops over their items. CLBlast's
 * kernels, tiled in local memory for GPUs, ran 7-25 GFLOP/s there (its
 * shipped tuning included); this one ran 85-180 GFLOP/s on the same two
 * AVX-512 cores (bench/RESULTS.md). GPUs keep CLBlast and cuBLAS; the cpu
 * device has its own AVX-512 GEMM. Part of the one kernel source
 * (device.h), OpenCL C only: it is written with OpenCL's 16-wide vectors,
 * one per AVX-512 register, which is what makes it fast on a CPU.
 *
 * Each work item computes an 8 x 16 block of C = alpha A B + beta C as
 * eight float16 accumulators, reading eight scalars of A and one 16-wide
 * row of B per step of k, both from panels the host packs. Sums run over k
 * in order, one fma per step, so devices of one kind agree bit for bit. */
#ifndef RFDETR_KERNELS_GEMM_H
#define RFDETR_KERNELS_GEMM_H

/* gemm_f32's bias_mode (shared with the host launcher). */
#define RF_GEMM_BIAS_NONE 0
#define RF_GEMM_BIAS_COLS 1 /* bias[j] added to column j */
#define RF_GEMM_BIAS_ROWS 2 /* bias[i] added to row i */

#ifdef __OPENCL_VERSION__

#define RF_GEMM_ROWS 8
#define RF_GEMM_COLS 16

/* Element (i, k) of A at a[i * a_row + k * a_k] ((lda, 1) as stored, (1, lda)
 * transposed), element (k, j) of B at b[k * b_k + j * b_col]. For a deep k
 * the host packs the full blocks first, so that a work item reads one
 * contiguous stream per operand (strided walks down k = 3900 crossed a page
 * every step and ran at 15 GFLOP/s): B's full 16-column blocks as panels
 * [n / 16][k][16] (bp; always when B is transposed), and A's full 8-row
 * blocks as panels [m / 8][k][8] (ap) where C is wide enough to reuse them.
 * An operand not packed is NULL and read in place. The partial blocks at the
 * edges read A and B where they are. bias_mode: RF_GEMM_BIAS_*
 * (rf_gemm_desc's bias, added as C is written; beta is then 0). Range:
 * (ceil(n / 16), ceil(m / 8), batch). */
RF_KERNEL gemm_f32(rf_long m, rf_long n, rf_long k, float alpha, float beta, RF_GLOBAL const float *a, rf_ulong a_off,
                   rf_long a_row, rf_long a_k, rf_long stride_a, RF_GLOBAL const float *ap, rf_ulong ap_off,
                   rf_long stride_ap, RF_GLOBAL const float *b, rf_ulong b_off, rf_long b_k, rf_long b_col,
                   rf_long stride_b, RF_GLOBAL const float *bp, rf_ulong bp_off, rf_long stride_bp, RF_GLOBAL float *c,
                   rf_ulong c_off, rf_long ldc, rf_long stride_c, int bias_mode, RF_GLOBAL const float *bias,
                   rf_ulong bias_off) {
    rf_long col = rf_global_id(0) * RF_GEMM_COLS, row = rf_global_id(1) * RF_GEMM_ROWS, q = rf_global_id(2);
    if (col >= n || row >= m) return;
    RF_GLOBAL const float *ab = a + a_off + q * stride_a;
    RF_GLOBAL float *cb = c + c_off + q * stride_c + row * ldc + col;
    /* Rows past m read row m - 1 and are not stored. */
    RF_GLOBAL const float *a0 = ab + min(row + 0, m - 1) * a_row, *a1 = ab + min(row + 1, m - 1) * a_row;
    RF_GLOBAL const float *a2 = ab + min(row + 2, m - 1) * a_row, *a3 = ab + min(row + 3, m - 1) * a_row;
    RF_GLOBAL const float *a4 = ab + min(row + 4, m - 1) * a_row, *a5 = ab + min(row + 5, m - 1) * a_row;
    RF_GLOBAL const float *a6 = ab + min(row + 6, m - 1) * a_row, *a7 = ab + min(row + 7, m - 1) * a_row;
    int rows = (int)min((rf_long)RF_GEMM_ROWS, m - row);
    if (col + RF_GEMM_COLS <= n) {
        /* B's 16 columns at step kk: from its panel, or in place (row-major
         * B, unit column step) when the host did not pack it. */
        RF_GLOBAL const float *pb = bp ? bp + bp_off + q * stride_bp + (col / RF_GEMM_COLS) * k * RF_GEMM_COLS
                                       : b + b_off + q * stride_b + col;
        rf_long pb_k = bp ? RF_GEMM_COLS : b_k;
        float16 c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f, c4 = 0.0f, c5 = 0.0f, c6 = 0.0f, c7 = 0.0f;
        if (ap && rows == RF_GEMM_ROWS) {
            RF_GLOBAL const float *pa = ap + ap_off + q * stride_ap + (row / RF_GEMM_ROWS) * k * RF_GEMM_ROWS;
            for (rf_long kk = 0; kk < k; kk++) {
                float16 bv = vload16(0, pb + kk * pb_k);
                float8 av = vload8(kk, pa);
                c0 = fma((float16)(av.s0), bv, c0);
                c1 = fma((float16)(av.s1), bv, c1);
                c2 = fma((float16)(av.s2), bv, c2);
                c3 = fma((float16)(av.s3), bv, c3);
                c4 = fma((float16)(av.s4), bv, c4);
                c5 = fma((float16)(av.s5), bv, c5);
                c6 = fma((float16)(av.s6), bv, c6);
                c7 = fma((float16)(av.s7), bv, c7);
            }
        } else {
            for (rf_long kk = 0, ak = 0; kk < k; kk++, ak += a_k) {
                float16 bv = vload16(0, pb + kk * pb_k);
                c0 = fma((float16)(a0[ak]), bv, c0);
                c1 = fma((float16)(a1[ak]), bv, c1);
                c2 = fma((float16)(a2[ak]), bv, c2);
                c3 = fma((float16)(a3[ak]), bv, c3);
                c4 = fma((float16)(a4[ak]), bv, c4);
                c5 = fma((float16)(a5[ak]), bv, c5);
                c6 = fma((float16)(a6[ak]), bv, c6);
                c7 = fma((float16)(a7[ak]), bv, c7);
            }
        }
        float16 acc[RF_GEMM_ROWS] = {c0, c1, c2, c3, c4, c5, c6, c7};
        RF_GLOBAL const float *bv = bias + bias_off;
        float16 col_bias = bias_mode == RF_GEMM_BIAS_COLS ? vload16(0, bv + col) : (float16)0.0f;
        for (int i = 0; i < rows; i++) {
            RF_GLOBAL float *ci = cb + i * ldc;
            /* beta 0 never reads C: it may hold NaN (BLAS semantics). */
            float16 v = alpha * acc[i] + col_bias;
            if (bias_mode == RF_GEMM_BIAS_ROWS) v += bv[row + i];
            if (beta != 0.0f) v += beta * vload16(0, ci);
            vstore16(v, 0, ci);
        }
        return;
    }
    /* The last, narrower column block: one column at a time. */
    RF_GLOBAL const float *bb = b + b_off + q * stride_b + col * b_col;
    for (rf_long j = 0; j < n - col; j++) {
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f, s4 = 0.0f, s5 = 0.0f, s6 = 0.0f, s7 = 0.0f;
        for (rf_long kk = 0, ak = 0; kk < k; kk++, ak += a_k) {
            float bv = bb[kk * b_k + j * b_col];
            s0 = fma(a0[ak], bv, s0);
            s1 = fma(a1[ak], bv, s1);
            s2 = fma(a2[ak], bv, s2);
            s3 = fma(a3[ak], bv, s3);
            s4 = fma(a4[ak], bv, s4);
            s5 = fma(a5[ak], bv, s5);
            s6 = fma(a6[ak], bv, s6);
            s7 = fma(a7[ak], bv, s7);
        }
        float col_bias = bias_mode == RF_GEMM_BIAS_COLS ? bias[bias_off + col + j] : 0.0f;
        for (int i = 0; i < rows; i++) {
            float v = i == 0 ? s0 : i == 1 ? s1 : i == 2 ? s2 : i == 3 ? s3 : i == 4 ? s4 : i == 5 ? s5 : i == 6 ? s6 : s7;
            RF_GLOBAL float *ci = cb + i * ldc + j;
            v = alpha * v + col_bias;
            if (bias_mode == RF_GEMM_BIAS_ROWS) v += bias[bias_off + row + i];
            if (beta != 0.0f) v += beta * *ci;
            *ci = v;
        }
    }
}

#endif /* __OPENCL_VERSION__ */

#endif /* RFDETR_KERNELS_GEMM_H */
