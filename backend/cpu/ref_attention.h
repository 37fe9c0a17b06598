/* ref_attention.h — the reference fused attention (double accumulation),
 * in float (the cpu device's reference mode) and double (gradient checks).
 * Arguments as rf_attention_args / rf_attention_backward_args
 * (backend/kernels.h); the strides arrays hold (batch, head, row) steps,
 * elements of a row are contiguous. Work goes one (b, h, query row) at a
 * time: a row of lk scores in double is all that is held. */
#ifndef RFDETR_CPU_REF_ATTENTION_H
#define RFDETR_CPU_REF_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rf_ref_attention_shape {
    int64_t batch, heads, lq, lk, head_dim, value_dim;
    double scale;
    const int64_t *q_stride, *k_stride, *v_stride, *o_stride; /* 3 steps each */
    const int64_t *dq_stride, *dk_stride, *dv_stride, *do_stride; /* backward only */
} rf_ref_attention_shape;

/* Returns false when scratch memory cannot be had. lse may be NULL. */
#define RF_REF_ATTENTION_DECL(SUFFIX, REAL)                                                                        \
    bool rf_ref_attention_##SUFFIX(const rf_ref_attention_shape *s, const REAL *q, const REAL *k, const REAL *v,   \
                                   const REAL *mask, REAL *o, REAL *lse);                                        \
    bool rf_ref_attention_backward_##SUFFIX(const rf_ref_attention_shape *s, const REAL *q, const REAL *k,         \
                                            const REAL *v, const REAL *mask, const REAL *dout, REAL *dq, REAL *dk, \
                                            REAL *dv);
RF_REF_ATTENTION_DECL(f32, float)
RF_REF_ATTENTION_DECL(f64, double)
#undef RF_REF_ATTENTION_DECL

#endif
