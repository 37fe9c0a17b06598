/* ref_basic.h — the reference implementations of the basic kernels on host
 * arrays, in float (what the cpu device runs) and in double (what gradient
 * checks by finite differences run). Both come from one template
 * (ref_basic_impl.h); accumulation is always in double.
 *
 * Strided arguments: element (i0..i{n-1}) of an operand is at
 * base[sum(i_k * stride_k)], shapes given once per call. */
#ifndef RFDETR_REF_BASIC_H
#define RFDETR_REF_BASIC_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/kernels.h"

#define RF_REF_DECLARE_BASIC(REAL, SUFFIX)                                                                         \
    void rf_ref_unary_##SUFFIX(rf_unary_op op, int64_t n, const REAL *x, REAL *y, double alpha, double beta);    \
    void rf_ref_unary_backward_##SUFFIX(rf_unary_op op, int64_t n, const REAL *x, const REAL *y, const REAL *dy, \
                                        REAL *dx, double alpha, double beta, bool accumulate);                   \
    void rf_ref_binary_##SUFFIX(rf_binary_op op, int ndim, const int64_t *shape, const REAL *a,                   \
                                const int64_t *sa, const REAL *b, const int64_t *sb, REAL *y, const int64_t *sy, \
                                bool accumulate);                                                                 \
    void rf_ref_copy_##SUFFIX(int ndim, const int64_t *shape, const REAL *src, const int64_t *ss, REAL *dst,       \
                              const int64_t *sd, bool accumulate);                                                \
    void rf_ref_reduce_##SUFFIX(rf_reduce_op op, int ndim, const int64_t *shape, unsigned mask, const REAL *x,    \
                                const int64_t *sx, REAL *y, bool accumulate);                                     \
    void rf_ref_max_last_##SUFFIX(int64_t rows, int64_t cols, const REAL *x, REAL *values, int32_t *indices);     \
    void rf_ref_max_last_backward_##SUFFIX(int64_t rows, int64_t cols, const REAL *dy, const int32_t *indices,    \
                                           REAL *dx, bool accumulate);                                            \
    void rf_ref_softmax_##SUFFIX(int64_t rows, int64_t cols, const REAL *x, const REAL *mask, int64_t mask_rows,  \
                                 REAL *y);                                                                        \
    void rf_ref_softmax_backward_##SUFFIX(int64_t rows, int64_t cols, const REAL *y, const REAL *dy, REAL *dx,    \
                                          bool accumulate);                                                       \
    void rf_ref_layernorm_##SUFFIX(int64_t rows, int64_t cols, int64_t inner, int64_t outer_stride,               \
                                   int64_t col_stride, double eps, const REAL *x, const REAL *gamma,             \
                                   const REAL *beta, REAL *y, REAL *mean, REAL *rstd);                            \
    void rf_ref_layernorm_backward_##SUFFIX(int64_t rows, int64_t cols, int64_t inner, int64_t outer_stride,      \
                                            int64_t col_stride, const REAL *x, const REAL *mean,                 \
                                            const REAL *rstd, const REAL *dy, const REAL *gamma, REAL *dx,       \
                                            REAL *dgamma, REAL *dbeta, bool accumulate);

RF_REF_DECLARE_BASIC(float, f32)
RF_REF_DECLARE_BASIC(double, f64)

#endif
