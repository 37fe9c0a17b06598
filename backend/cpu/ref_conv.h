/* ref_conv.h — reference im2col / col2im on host arrays, in float (the cpu
 * device) and double (gradient checks), from one template
 * (ref_conv_impl.h). Semantics: backend/kernels.h, conv family. */
#ifndef RFDETR_REF_CONV_H
#define RFDETR_REF_CONV_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/kernels.h"

/* The geometry both kernels share: input (n, c, h, w), kernel kh x kw,
 * stride, zero padding, output ho x wo. */
typedef struct rf_conv_geom {
    int64_t n, c, h, w, kh, kw, stride_h, stride_w, pad_h, pad_w, ho, wo;
} rf_conv_geom;

/* The geometry of an rf_im2col_args or rf_col2im_args (same field names). */
#define RF_CONV_GEOM(a)                                                                                         \
    ((rf_conv_geom){(a)->n, (a)->c, (a)->h, (a)->w, (a)->kh, (a)->kw, (a)->stride_h, (a)->stride_w, (a)->pad_h, \
                    (a)->pad_w, (a)->ho, (a)->wo})

#define RF_REF_DECLARE_CONV(REAL, SUFFIX)                                                        \
    void rf_ref_im2col_##SUFFIX(const rf_conv_geom *g, const REAL *x, REAL *col);                \
    void rf_ref_col2im_##SUFFIX(const rf_conv_geom *g, const REAL *col, REAL *x, bool accumulate);

RF_REF_DECLARE_CONV(float, f32)
RF_REF_DECLARE_CONV(double, f64)

#endif
