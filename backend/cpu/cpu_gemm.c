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
 * enough work to hide that; part counts are powers of two so that they
 * spread evenly over 2, 4 or 8 threads. The split is a function of the
 * shape alone: OpenBLAS picks its kernels by the shape of each call, so the
 * same shape always meets the same code and gives the same bits. */

typedef struct gemm_job {
    const rf_gemm_desc *d;
    const float *a, *b;
    float *c;
    int64_t parts;
    int split; /* 0: batch entries, 1: rows of C, 2: columns of C */
    float *const *scratch; /* per part for the AVX-512 GEMM; NULL: OpenBLAS */
} gemm_job;

static void sgemm(const rf_gemm_desc *d, int64_t m, int64_t n, const float *a, const float *b, float *c, float *scratch) {
    if (m <= 0 || n <= 0) return;
    if (d->k == 0) {
        /* BLAS implementations differ on k == 0; define it as C = beta * C. */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                float *cij = &c[i * d->ldc + j];
                *cij = d->beta == 0.0f ? 0.0f : d->beta * *cij;
            }
        return;
    }
    if (scratch) {
        rf_cpu_gemm_avx512(d, m, n, a, b, c, scratch);
        return;
    }
    cblas_sgemm(CblasRowMajor, d->trans_a ? CblasTrans : CblasNoTrans, d->trans_b ? CblasTrans : CblasNoTrans,
                (blasint)m, (blasint)n, (blasint)d->k, d->alpha, a, (blasint)d->lda, b, (blasint)d->ldb, d->beta, c,
                (blasint)d->ldc);
}

static void gemm_part(void *p, int64_t t) {
    const gemm_job *j = p;
    const rf_gemm_desc *d = j->d;
    float *scratch = j->scratch ? j->scratch[t] : NULL;
    if (j->split == 0) {
        int64_t b0 = cpu_part_begin(d->batch, j->parts, t), b1 = cpu_part_begin(d->batch, j->parts, t + 1);
        for (int64_t bt = b0; bt < b1; bt++)
            sgemm(d, d->m, d->n, j->a + bt * d->stride_a, j->b + bt * d->stride_b, j->c + bt * d->stride_c, scratch);
    } else if (j->split == 1) {
        /* Row blocks of 16 keep OpenBLAS's row micro-tiles whole. */
        int64_t blocks = (d->m + 15) / 16;
        int64_t r0 = cpu_part_begin(blocks, j->parts, t) * 16, r1 = cpu_part_begin(blocks, j->parts, t + 1) * 16;
        if (r1 > d->m) r1 = d->m;
        const float *a = j->a + (d->trans_a ? r0 : r0 * d->lda);
        sgemm(d, r1 - r0, d->n, a, j->b, j->c + r0 * d->ldc, scratch);
    } else {
        int64_t blocks = (d->n + 15) / 16;
        int64_t c0 = cpu_part_begin(blocks, j->parts, t) * 16, c1 = cpu_part_begin(blocks, j->parts, t + 1) * 16;
        if (c1 > d->n) c1 = d->n;
        const float *b = j->b + (d->trans_b ? c0 * d->ldb : c0);
        sgemm(d, d->m, c1 - c0, j->a, b, j->c + c0, scratch);
    }
}

/* Multiply-adds per part below which splitting costs more than it saves. */
#define GEMM_GRAIN ((int64_t)1 << 20)
#define GEMM_MAX_PARTS CPU_GEMM_MAX_PARTS

/* Powers of two up to `limit` parts with at least `grain` work each. */
static int64_t pow2_parts(int64_t work, int64_t limit, int64_t grain) {
    int64_t parts = 1;
    while (parts * 2 <= limit && parts * 2 <= GEMM_MAX_PARTS && work / (parts * 2) >= grain) parts *= 2;
    return parts;
}

void rf_cpu_gemm_fast(const rf_device *dev, const rf_gemm_desc *d, const float *a, const float *b, float *c) {
    cpu_state *st = dev->native;
    gemm_job j = {d, a, b, c, 1, 0, NULL};
    int64_t per = d->m * d->n * (d->k > 0 ? d->k : 1);
    int64_t divisor = st->grain_divisor;
    int64_t grain = GEMM_GRAIN / divisor > 0 ? GEMM_GRAIN / divisor : 1;
    /* At least 4 blocks of 16 per part (1 when tests ask for small parts). */
    int64_t min_blocks = divisor > 1 ? 1 : 4;
    if (d->batch > 1) {
        /* Whole products per part: nothing is packed twice. */
        j.parts = pow2_parts(per * d->batch, d->batch, grain);
    } else if (d->m >= d->n) {
        j.split = 1;
        j.parts = pow2_parts(per, (d->m + 15) / 16 / min_blocks, grain);
    } else {
        j.split = 2;
        j.parts = pow2_parts(per, (d->n + 15) / 16 / min_blocks, grain);
    }
    if (j.parts == 1) j.split = 0;
    if (st->own_gemm) {
        /* Scratch stays with the handle: packing buffers of ~1 MB per part
         * would otherwise be mapped and faulted in on every call. */
        bool ok = true;
        for (int64_t t = 0; t < j.parts && ok; t++)
            if (!st->gemm_scratch[t])
                ok = (st->gemm_scratch[t] = aligned_alloc(64, sizeof(float) * rf_cpu_gemm_scratch_floats())) != NULL;
        if (ok) j.scratch = st->gemm_scratch; /* else OpenBLAS, which finds its own memory */
    }
    cpu_parallel_tasks(dev, j.parts, gemm_part, &j);
}
