/* fast_gemm.h — the fast cpu device's own SGEMM for CPUs with AVX-512
 * (fast_gemm.c says why and how). */
#ifndef RFDETR_CPU_FAST_GEMM_H
#define RFDETR_CPU_FAST_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/* Whether this CPU runs rf_cpu_gemm_avx512. */
bool rf_cpu_gemm_avx512_available(void);
/* The blocking this CPU's caches give (fast_gemm.c says how) and the
 * cache sizes it came from. */
void rf_cpu_gemm_blocking(int64_t *kc, int64_t *mc, int64_t *nc, long *l1d_bytes, long *l2_bytes);
/* Floats of scratch (64-byte aligned) one rf_cpu_gemm_avx512 call needs. */
size_t rf_cpu_gemm_scratch_floats(void);
/* Rows m and columns n of the product d describes (k, alpha, beta,
 * transposes, leading dimensions and bias_rows from d), with a, b, c and
 * bias (NULL: none) pointing at the first element of this part's op(A)
 * rows, op(B) columns, C block and bias; k == 0 is the caller's. */
void rf_cpu_gemm_avx512(const rf_gemm_desc *d, int64_t m, int64_t n, const float *a, const float *b, float *c,
                        const float *bias, const float *packed_b, float *scratch);
/* op(B) of all n columns packed once (packed_b above; NULL packs per call):
 * its size in floats, and the packing (64-byte aligned dst). */
size_t rf_cpu_gemm_packed_b_floats(int64_t k, int64_t n);
void rf_cpu_gemm_pack_b(const rf_gemm_desc *d, int64_t n, const float *b, float *dst);

#endif
