/* kernels_fast.h — faster twins of the cpu device's hottest reference kernels that
 * give the same bits (issue 6: RF-DETR inference on the cpu device spent
 * more time in generic N-d index loops than in GEMM).
 *
 * Each returns false when its case is not covered; the caller then runs the
 * reference kernel. Same bits, because:
 *   - copies move values unchanged; axes are merged only where the element
 *     order stays the same (rf_nd_collapse);
 *   - +, -, x, / of two floats computed in double and rounded to float is
 *     the correctly rounded float result (double has more than 2 x 24 + 2
 *     bits), which is what float arithmetic gives; accumulation (a third
 *     term) is left to the reference;
 *   - softmax evaluates the same double exp of the same arguments once
 *     instead of twice;
 *   - top-k sorts by the reference's total order (value descending, NaN
 *     first, ties by lower index), which has one answer;
 *   - unary ops, softmax and layer norms split their independent elements
 *     or rows across the host's cores, each part computed by the reference
 *     code itself.
 * tests/test_model.c compares each against the reference kernel. */
#ifndef RFDETR_CPU_KERNELS_FAST_H
#define RFDETR_CPU_KERNELS_FAST_H

#include <stdbool.h>

#include "backend/kernels.h"

/* Threads the cpu kernels may use (process-wide; 0, the default, is one per
 * core). OpenBLAS keeps its own setting (OPENBLAS_NUM_THREADS). */
void rf_cpu_set_threads(int threads);

bool rf_cpu_fast_copy(const rf_copy_args *a);
bool rf_cpu_fast_binary(const rf_binary_args *a);
bool rf_cpu_fast_softmax(const rf_softmax_args *a);
bool rf_cpu_fast_topk(const rf_topk_args *a);
bool rf_cpu_fast_unary(const rf_unary_args *a);
bool rf_cpu_fast_layernorm(const rf_layernorm_args *a);

#endif
