/* nd.h — helpers for N-d strided launches shared by the device backends. */
#ifndef RFDETR_ND_H
#define RFDETR_ND_H

#include <stdint.h>

#include "backend/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Merges adjacent axes that every operand walks contiguously (stride[i] ==
 * stride[i+1] * shape[i+1] for all operands) and drops size-1 axes, in
 * place. strides[k] is operand k's stride array. Returns the new rank (>= 0;
 * a rank-0 result means one element). The element order is unchanged, so
 * results are identical whether collapsed or not. */
int rf_nd_collapse(int ndim, int64_t *shape, int nops, int64_t (*const *strides));

static inline int64_t rf_nd_count(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

#ifdef __cplusplus
}
#endif

#endif
