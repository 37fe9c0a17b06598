/* ref_loss.h — reference loss kernels on host arrays (weighted sigmoid BCE,
 * L1 and GIoU on cxcywh boxes), in float (the cpu device) and double (the
 * gradient checks), from one template (ref_loss_impl.h); arithmetic is in
 * double either way. Semantics: backend/kernels.h, loss family. */
#ifndef RFDETR_REF_LOSS_H
#define RFDETR_REF_LOSS_H

#include <stdbool.h>
#include <stdint.h>

#define RF_REF_DECLARE_LOSS(REAL, SUFFIX)                                                                         \
    void rf_ref_bce_##SUFFIX(int64_t n, const REAL *x, const REAL *pos_w, const REAL *neg_w, REAL *loss);         \
    /* dpos_w / dneg_w: NULL, or both given (they always accumulate) */                                         \
    void rf_ref_bce_backward_##SUFFIX(int64_t n, const REAL *x, const REAL *pos_w, const REAL *neg_w,            \
                                      const REAL *dloss, REAL *dx, bool accumulate, REAL *dpos_w, REAL *dneg_w); \
    void rf_ref_box_loss_##SUFFIX(int64_t n, const REAL *pred, const REAL *target, REAL *l1, REAL *giou);        \
    void rf_ref_box_loss_backward_##SUFFIX(int64_t n, const REAL *pred, const REAL *target, const REAL *dl1,     \
                                           const REAL *dgiou, REAL *dpred, bool accumulate);

RF_REF_DECLARE_LOSS(float, f32)
RF_REF_DECLARE_LOSS(double, f64)

#endif
