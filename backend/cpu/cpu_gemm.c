/* cpu_gemm.c — the reference GEMM (double accumulation, the oracle every
 * other device is tested against) and the fast GEMM: OpenBLAS, split into
 * parts that the device's threads compute concurrently. */
#include <cblas.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/fast_gemm.h"

void rf_cpu_gemm_reference(const rf_gemm_desc *d, const float *a, const float *b, float *c) {
    const float *bias = d->bias ? (const float *)d->bias->native + d->bias_offset : NULL;
    for (int64_t bt = 0; bt < d->batch; bt++) {
        const float *ab = a + bt * d->stride_a;
        const float *bb = b + bt * d->stride_b;
        float *cb = c + bt * d->stride_c;
        for (int64_t i = 0; i < d->m; i++) {
            for (int64_t j = 0; j < d->n; j++) {
                double acc = 0.0;
                for (int64_t p = 0; p < d->k; p++) {
                    double av = d->trans_a ? ab[p * d->lda + i] : ab[i * d->lda + p];
                    double bv = d->trans_b ? bb[j * d->ldb + p] : bb[p * d->ldb + j];
                    acc += av * bv;
                }
                float *cij = &cb[i * d->ldc + j];
                /* beta == 0 must not read C: it may hold NaN garbage. */
                double prior = d->beta == 0.0f ? 0.0 : (double)d->beta * (double)*cij;
                if (bias) prior = (double)bias[d->bias_rows ? i : j];
                *cij = (float)((double)d->alpha * acc + prior);
            }
        }
    }
}

/* ---- the fast GEMM ----------------------------------------------------------------------
 * fast_gemm.c's AVX-512 kernels where the CPU has them, else OpenBLAS.
 * A part is a range of batch entries, or of rows or columns of one product.
 * Splitting rows makes every part pack all of op(B) again (columns: op(A)),
 * so a product is split along its longer side and only when each part keeps
 * enough work to hide that.
 *
 * With OpenBLAS, part counts are a function of the shape alone (powers of
 * two, so that they spread evenly over 2, 4 or 8 threads): OpenBLAS picks
 * its kernels by the shape of each call, so the same shape must always meet
 * the same calls to give the same bits. fast_gemm.c computes every element
 * the same way whatever part of C a call covers, so there a single product
 * is split into exactly one part per thread: packing the other operand once
 * per thread instead of once per part saves a fifth of the time on ViT-sized
 * products. */

typedef struct gemm_job {
    const rf_gemm_desc *d;
    const float *a, *b;
    float *c;
    int64_t parts;
    int split; /* 0: batch entries, 1: rows of C, 2: columns of C */
    float *const *scratch; /* per thread for the AVX-512 GEMM; NULL: OpenBLAS */
    const float *bias;     /* d->bias's first element, or NULL */
} gemm_job;

/* One part: rows m and columns n of C at c (bias, when given, already
 * offset to the part's first row or column). */
static void sgemm(const rf_gemm_desc *d, int64_t m, int64_t n, const float *a, const float *b, float *c,
                  const float *bias, float *scratch) {
    if (m <= 0 || n <= 0) return;
    float beta = d->beta;
    if (bias && (!scratch || d->k == 0)) { /* OpenBLAS adds to C: start C as the bias */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * d->ldc + j] = bias[d->bias_rows ? i : j];
        beta = 1.0f;
    }
    if (d->k == 0) {
        /* BLAS implementations differ on k == 0; define it as C = beta * C. */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                float *cij = &c[i * d->ldc + j];
                *cij = beta == 0.0f ? 0.0f : beta * *cij;
            }
        return;
    }
    if (scratch) {
        rf_cpu_gemm_avx512(d, m, n, a, b, c, bias, scratch);
        return;
    }
    cblas_sgemm(CblasRowMajor, d->trans_a ? CblasTrans : CblasNoTrans, d->trans_b ? CblasTrans : CblasNoTrans,
                (blasint)m, (blasint)n, (blasint)d->k, d->alpha, a, (blasint)d->lda, b, (blasint)d->ldb, beta, c,
                (blasint)d->ldc);
}

static void gemm_part(void *p, int64_t t, int thread) {
    const gemm_job *j = p;
    const rf_gemm_desc *d = j->d;
    float *scratch = j->scratch ? j->scratch[thread] : NULL;
    const float *bias = j->bias;
    if (j->split == 0) {
        int64_t b0 = cpu_part_begin(d->batch, j->parts, t), b1 = cpu_part_begin(d->batch, j->parts, t + 1);
        for (int64_t bt = b0; bt < b1; bt++)
            sgemm(d, d->m, d->n, j->a + bt * d->stride_a, j->b + bt * d->stride_b, j->c + bt * d->stride_c, bias,
                  scratch);
    } else if (j->split == 1) {
        /* Row blocks of 16 keep OpenBLAS's row micro-tiles whole. */
        int64_t blocks = (d->m + 15) / 16;
        int64_t r0 = cpu_part_begin(blocks, j->parts, t) * 16, r1 = cpu_part_begin(blocks, j->parts, t + 1) * 16;
        if (r1 > d->m) r1 = d->m;
        const float *a = j->a + (d->trans_a ? r0 : r0 * d->lda);
        sgemm(d, r1 - r0, d->n, a, j->b, j->c + r0 * d->ldc, bias && d->bias_rows ? bias + r0 : bias, scratch);
    } else {
        int64_t blocks = (d->n + 15) / 16;
        int64_t c0 = cpu_part_begin(blocks, j->parts, t) * 16, c1 = cpu_part_begin(blocks, j->parts, t + 1) * 16;
        if (c1 > d->n) c1 = d->n;
        const float *b = j->b + (d->trans_b ? c0 * d->ldb : c0);
        sgemm(d, d->m, c1 - c0, j->a, b, j->c + c0, bias && !d->bias_rows ? bias + c0 : bias, scratch);
    }
}

/* Multiply-adds per part below which splitting costs more than it saves. */
#define GEMM_GRAIN ((int64_t)1 << 20)
#define GEMM_MAX_PARTS 8

/* Powers of two up to `limit` parts with at least `grain` work each. */
static int64_t pow2_parts(int64_t work, int64_t limit, int64_t grain) {
    int64_t parts = 1;
    while (parts * 2 <= limit && parts * 2 <= GEMM_MAX_PARTS && work / (parts * 2) >= grain) parts *= 2;
    return parts;
}

/* Packing memory for each thread of the pool, kept by the handle (~2 MB a
 * thread: mapping and faulting that in on every call would cost more than
 * some products). False when it cannot be had: OpenBLAS then. */
static bool gemm_scratch(cpu_state *st) {
    int threads = rf_cpu_pool_threads(st->pool);
    if (!st->gemm_scratch) {
        st->gemm_scratch = calloc((size_t)threads, sizeof *st->gemm_scratch);
        if (!st->gemm_scratch) return false;
    }
    for (int t = 0; t < threads; t++)
        if (!st->gemm_scratch[t] &&
            !(st->gemm_scratch[t] = aligned_alloc(64, sizeof(float) * rf_cpu_gemm_scratch_floats())))
            return false;
    return true;
}

void rf_cpu_gemm_fast(const rf_device *dev, const rf_gemm_desc *d, const float *a, const float *b, float *c) {
    cpu_state *st = dev->native;
    gemm_job j = {d, a, b, c, 1, 0, NULL, d->bias ? (const float *)d->bias->native + d->bias_offset : NULL};
    bool own = st->own_gemm && gemm_scratch(st);
    int64_t per = d->m * d->n * (d->k > 0 ? d->k : 1);
    int64_t divisor = st->grain_divisor;
    int64_t grain = GEMM_GRAIN / divisor > 0 ? GEMM_GRAIN / divisor : 1;
    /* At least 4 blocks of 16 per part (1 when tests ask for small parts). */
    int64_t min_blocks = divisor > 1 ? 1 : 4;
    int64_t threads = rf_cpu_pool_threads(st->pool);
    if (d->batch > 1) {
        /* Whole products per part: nothing is packed twice. */
        j.parts = pow2_parts(per * d->batch, d->batch, grain);
    } else {
        j.split = d->m >= d->n ? 1 : 2;
        int64_t blocks = ((j.split == 1 ? d->m : d->n) + 15) / 16 / min_blocks;
        j.parts = pow2_parts(per, blocks, grain);
        if (own && j.parts > 1) {
            j.parts = per / grain < threads ? per / grain : threads;
            if (j.parts > blocks) j.parts = blocks;
            if (j.parts < 1) j.parts = 1;
        }
    }
    if (j.parts == 1) j.split = 0;
    if (own) j.scratch = st->gemm_scratch;
    cpu_parallel_tasks(dev, j.parts, gemm_part, &j);
}
