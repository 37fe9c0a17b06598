/* cpu_gemm.c — the reference GEMM (double accumulation, the oracle every
 * other device is tested against) and the OpenBLAS path used for speed. */
#include <cblas.h>
#include <math.h>
#include <stddef.h>

#include "backend/cpu/cpu_backend.h"

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

void rf_cpu_gemm_openblas(const rf_gemm_desc *d, const float *a, const float *b, float *c);

void rf_cpu_gemm_openblas(const rf_gemm_desc *d, const float *a, const float *b, float *c) {
    if (d->k == 0) {
        /* BLAS implementations differ on k == 0; define it as C = beta * C. */
        for (int64_t bt = 0; bt < d->batch; bt++)
            for (int64_t i = 0; i < d->m; i++)
                for (int64_t j = 0; j < d->n; j++) {
                    float *cij = &c[bt * d->stride_c + i * d->ldc + j];
                    *cij = d->beta == 0.0f ? 0.0f : d->beta * *cij;
                }
        return;
    }
    for (int64_t bt = 0; bt < d->batch; bt++)
        cblas_sgemm(CblasRowMajor, d->trans_a ? CblasTrans : CblasNoTrans, d->trans_b ? CblasTrans : CblasNoTrans,
                    (blasint)d->m, (blasint)d->n, (blasint)d->k, d->alpha, a + bt * d->stride_a, (blasint)d->lda,
                    b + bt * d->stride_b, (blasint)d->ldb, d->beta, c + bt * d->stride_c, (blasint)d->ldc);
}
