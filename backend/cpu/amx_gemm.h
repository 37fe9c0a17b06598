/* amx_gemm.h — bf16 GEMM with f32 accumulation on Intel AMX, or on
 * AVX512_BF16 where a CPU has that without AMX (issue 12):
 * C (m x n, f32) = A (m x k) * B (k x n), or C += that, with A and B given
 * in f32 and rounded to bf16 as they are packed.
 *
 * On CPUs with AMX (Sapphire Rapids and later) the tile product issues many
 * times the f32 FMA rate of AVX-512 (bench_peak_bf16), while AVX512_BF16's
 * vdpbf16ps issues at half the FMA's flops on those Intel cores (and,
 * by the published tables, twice them on AMD's Zen 4 and 5): the cpu bf16
 * GEMM is AMX's where it exists, vdpbf16ps's on AMD otherwise (cpu_backend.c).
 * The AMX product is blocked for registers (2 x 2 tiles of C), not yet for
 * caches; threads split it as any product (cpu_gemm.c).
 *
 * bf16 values are the upper halves of f32 bit patterns (backend/kernels/
 * half.h converts). The tile product flushes denormal inputs and outputs to
 * zero and rounds each add to nearest even; each element of C sums over k in
 * a fixed order (32 at a time, in order), so a machine gives the same bits
 * every run. */
#ifndef RFDETR_CPU_AMX_GEMM_H
#define RFDETR_CPU_AMX_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether this CPU has AMX-BF16 and Linux let this process use its tile
 * state (asked once, with arch_prctl). */
bool rf_cpu_amx_bf16_available(void);
/* Every tile as 16 rows of 64 bytes: the one configuration the GEMM (and
 * bench_peak_bf16) use; _tile_release() undoes it. */
void rf_cpu_amx_configure_tiles(void);

/* The operands, rounded from f32 to bf16 (nearest, ties to even: half.h)
 * and packed for the tile product: op(A) (m x k; A is stored k x m when
 * trans) in zero-padded rows, op(B) (k x n; B stored n x k when trans) in
 * 16-column panels with k in pairs. Sizes in elements (2 bytes); dst
 * 64-byte aligned. */
size_t rf_cpu_amx_packed_a_elements(int64_t m, int64_t k);
size_t rf_cpu_amx_packed_b_elements(int64_t k, int64_t n);
void rf_cpu_amx_pack_a(bool trans, int64_t m, int64_t k, const float *a, int64_t lda, uint16_t *dst);
void rf_cpu_amx_pack_b(bool trans, int64_t k, int64_t n, const float *b, int64_t ldb, uint16_t *dst);

/* C = op(A) op(B) (accumulate: C += op(A) op(B)) from the packed operands.
 * Call only where rf_cpu_amx_bf16_available(). */
void rf_cpu_amx_gemm(int64_t m, int64_t n, int64_t k, const uint16_t *packed_a, const uint16_t *packed_b, float *c,
                     int64_t ldc, bool accumulate);

/* The product of rf_cpu_amx_gemm on tiles the caller configured (for many
 * small products in a row, as fused attention runs them: one configuration
 * for all): packed A's rows a_row elements apart (rf_cpu_amx_pack_a's
 * rows: k rounded up to 32), packed B's 16-column panels b_panel elements
 * apart (16 times its k rounded up to 32), so that a block of rows of a
 * larger packed A, or of pairs of k of a larger packed B (starting at an
 * even k: offset 16 k), is an operand too. */
void rf_cpu_amx_tiles(int64_t m, int64_t n, int64_t k, const uint16_t *packed_a, int64_t a_row,
                      const uint16_t *packed_b, int64_t b_panel, float *c, int64_t ldc, bool accumulate);
void rf_cpu_amx_release_tiles(void);

/* The same product from the same packed operands with AVX512_BF16's
 * vdpbf16ps (AMD Zen 4 and later, Intel Cooper Lake and Sapphire Rapids and
 * later): for CPUs that have it without AMX. Call only where
 * rf_cpu_avx512bf16_available(). */
bool rf_cpu_avx512bf16_available(void);
void rf_cpu_dpbf16_gemm(int64_t m, int64_t n, int64_t k, const uint16_t *packed_a, const uint16_t *packed_b, float *c,
                        int64_t ldc, bool accumulate);

#endif
