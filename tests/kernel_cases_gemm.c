/* kernel_cases_gemm.c — GEMM through the device contract: odd sizes (1, 7,
 * 33, 257 ...), both transposes, leading dimensions wider than the rows,
 * offsets, batches, broadcast operands (stride 0), alpha/beta, k == 0,
 * beta == 0 over NaN (C is then write-only), and sizes that cross the cpu
 * GEMM's blocks; and products in bf16 and fp16 (operands rounded, f32
 * sums), which a device multiplies itself or rf_gemm emulates for it: the
 * reference rounds every operand in its double loop. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernel_harness.h"

typedef struct gemm_params {
    rf_gemm_desc d; /* buffers unset; offsets relative to each buffer's data */
} gemm_params;

static rf_status launch_gemm(const kcase *c, rf_device *dev, const rf_mem *mem) {
    rf_gemm_desc d = KC_CPARAMS(c, gemm_params)->d;
    d.a = mem[0].buf;
    d.b = mem[1].buf;
    d.c = (rf_buffer *)mem[2].buf;
    d.a_offset += mem[0].off;
    d.b_offset += mem[1].off;
    d.c_offset += mem[2].off;
    if (c->nbufs > 3) { /* the bias */
        d.bias = mem[3].buf;
        d.bias_offset = mem[3].off;
    }
    return rf_gemm(dev, &d);
}

static void add(kcase *cases, int *n, int max, int64_t m, int64_t nn, int64_t k, bool ta, bool tb, int pad, size_t off,
                int64_t batch, bool bcast_a, bool bcast_b, float alpha, float beta, bool nan_c) {
    kcase *c = kc_new(cases, n, max, "gemm", "gemm", launch_gemm, 5e-4);
    if (!c) return;
    rf_gemm_desc *d = &KC_PARAMS(c, gemm_params)->d;
    d->trans_a = ta;
    d->trans_b = tb;
    d->m = m;
    d->n = nn;
    d->k = k;
    d->alpha = alpha;
    d->beta = beta;
    int64_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? nn : k, b_cols = tb ? k : nn;
    d->lda = (a_cols > 0 ? a_cols : 1) + pad;
    d->ldb = (b_cols > 0 ? b_cols : 1) + pad;
    d->ldc = (nn > 0 ? nn : 1) + pad;
    d->a_offset = off;
    d->b_offset = off * 2;
    d->c_offset = off;
    /* Gaps between batch entries are guards too (C is in-out, so every
     * element not written must come back as it was). */
    d->stride_a = bcast_a ? 0 : a_rows * d->lda + pad;
    d->stride_b = bcast_b ? 0 : b_rows * d->ldb + pad;
    d->stride_c = m * d->ldc + pad;
    d->batch = batch;
    kc_add(c, "A", KC_IN, KC_F32, d->a_offset + rf_gemm_operand_extent(a_rows, a_cols, d->lda, d->stride_a, batch), -1, 1);
    kc_add(c, "B", KC_IN, KC_F32, d->b_offset + rf_gemm_operand_extent(b_rows, b_cols, d->ldb, d->stride_b, batch), -1, 1);
    kc_buf *cb = kc_add(c, "C", KC_INOUT, KC_F32, d->c_offset + rf_gemm_operand_extent(m, nn, d->ldc, d->stride_c, batch), -1, 1);
    if (nan_c) cb->lo = cb->hi = NAN;
    c->flops = 2.0 * (double)m * (double)nn * (double)k * (double)batch;
    snprintf(c->desc, sizeof c->desc,
             "GEMM(m=%lld,n=%lld,k=%lld,ta=%d,tb=%d,pad=%d,off=%zu,batch=%lld,sa=%lld,sb=%lld,alpha=%g,beta=%g%s)",
             (long long)m, (long long)nn, (long long)k, ta, tb, pad, off, (long long)batch, (long long)d->stride_a,
             (long long)d->stride_b, alpha, beta, nan_c ? ",c=nan" : "");
}

/* The bias a linear or convolution layer adds as C is written (one per
 * column or per row of C, every batch entry; C write-only). */
static void add_bias(kcase *cases, int *n, int max, int64_t m, int64_t nn, int64_t k, bool ta, bool tb, int64_t batch,
                     bool rows, float alpha) {
    int before = *n;
    add(cases, n, max, m, nn, k, ta, tb, 2, 3, batch, false, false, alpha, 0.0f, true);
    if (*n == before) return;
    kcase *c = &cases[*n - 1];
    KC_PARAMS(c, gemm_params)->d.bias_rows = rows;
    kc_add(c, "bias", KC_IN, KC_F32, (size_t)(rows ? m : nn), -1, 1);
    size_t len = strlen(c->desc);
    snprintf(c->desc + len - 1, sizeof c->desc - len + 1, ",bias=%s)", rows ? "rows" : "columns");
}

/* The last case added, as a bf16 or fp16 product. */
static void in_precision(kcase *cases, int n, rf_precision p) {
    kcase *c = &cases[n - 1];
    KC_PARAMS(c, gemm_params)->d.compute = p;
    /* The same rounded operands as the reference: only f32 summation may
     * differ, so a product that skipped the rounding (NMSE ~1e-6) fails. */
    c->max_nmse = 1e-10;
    size_t len = strlen(c->desc);
    snprintf(c->desc + len - 1, sizeof c->desc - len + 1, ",%s)", rf_precision_name(p));
}

int kc_cases_gemm(kcase *cases, int max) {
    int n = 0;
    for (rf_precision p = RF_PRECISION_BF16; p <= RF_PRECISION_F16; p++)
        for (int t = 0; t < 4; t++) {
            bool ta = t & 1, tb = t & 2;
            int before = n;
            /* tile edges (AMX: 16 x 16 tiles, k in 32s), blocks, a batch over NaN */
            add(cases, &n, max, 33, 17, 31, ta, tb, 3, 5, 1, false, false, 1.0f, 0.0f, false);
            add(cases, &n, max, 150, 300, 257, ta, tb, 1, 2, 1, false, false, 1.0f, 0.5f, false);
            add(cases, &n, max, 17, 40, 65, ta, tb, 3, 5, 3, false, true, 1.0f, 0.0f, true);
            for (int i = before; i < n; i++) in_precision(cases, i + 1, p);
            before = n;
            add_bias(cases, &n, max, 64, 96, 100, ta, tb, 1, t == 3, 1.0f);
            if (n > before) in_precision(cases, n, p);
        }
    const int64_t small[] = {1, 7, 33};
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                for (int l = 0; l < 3; l++)
                    add(cases, &n, max, small[i], small[j], small[l], ta, tb, (i + j + l) % 2 ? 3 : 0,
                        (size_t)((i + l) % 2 ? 5 : 0), 1, false, false, 1.0f, 0.0f, false);
        /* Larger and odd: sizes CLBlast routes to its indirect kernels. */
        add(cases, &n, max, 257, 33, 129, ta, tb, 0, 0, 1, false, false, 1.0f, 0.0f, false);
        add(cases, &n, max, 65, 257, 96, ta, tb, 3, 5, 1, false, false, 0.5f, 2.0f, false);
        add(cases, &n, max, 256, 128, 257, ta, tb, 1, 1, 1, false, false, -1.0f, 1.0f, false);
        /* Batched, contiguous and padded, then broadcast A or B (stride 0). */
        add(cases, &n, max, 33, 7, 65, ta, tb, 0, 0, 3, false, false, 1.0f, 0.0f, false);
        add(cases, &n, max, 17, 40, 33, ta, tb, 3, 5, 4, false, false, 1.0f, 0.5f, false);
        add(cases, &n, max, 33, 7, 65, ta, tb, 2, 5, 3, true, false, 1.0f, 0.0f, false);
        add(cases, &n, max, 7, 129, 33, ta, tb, 0, 1, 5, false, true, 1.0f, 1.0f, false);
        /* Broadcast at sizes CLBlast routes to its indirect kernels (>= 128^3
         * on PoCL, lower on some GPUs), with dimensions that need no padding:
         * its strided-batched indirect kernel then reads the operands in
         * place and gets stride 0 wrong. Layers whose weights are broadcast
         * over a batch produce exactly these. */
        add(cases, &n, max, 256, 64, 128, ta, tb, 0, 0, 3, true, false, 1.0f, 0.0f, false);
        add(cases, &n, max, 128, 256, 64, ta, tb, 0, 0, 2, false, true, 1.0f, 0.5f, false);
        /* beta == 0 treats C as write-only, even when it holds NaN. */
        add(cases, &n, max, 7, 33, 7, ta, tb, 1, 0, 2, false, false, 1.0f, 0.0f, true);
        /* The cpu's blocked GEMM: several blocks of k (split evenly), of rows
         * and of columns, edge tiles; and a narrow C, where it reads A in place. */
        add(cases, &n, max, 150, 1100, 801, ta, tb, 3, 5, 1, false, false, 1.0f, 0.5f, false);
        add(cases, &n, max, 301, 50, 777, ta, tb, 1, 2, 2, false, false, 2.0f, 1.0f, false);
    }
    for (int rows = 0; rows < 2; rows++) {
        add_bias(cases, &n, max, 7, 33, 5, false, true, 1, rows, 1.0f);
        add_bias(cases, &n, max, 301, 50, 777, false, true, 1, rows, 1.0f);
        add_bias(cases, &n, max, 150, 1100, 96, false, false, 2, rows, 0.5f);
        add_bias(cases, &n, max, 33, 7, 0, true, false, 3, rows, 1.0f);
    }
    /* k == 0: C = beta * C. */
    add(cases, &n, max, 7, 5, 0, false, false, 2, 3, 2, false, false, 1.0f, 0.5f, false);
    add(cases, &n, max, 7, 5, 0, true, true, 0, 0, 1, false, false, 1.0f, 0.0f, true);
    return n;
}
