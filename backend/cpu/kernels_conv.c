/* kernels_conv.c — the cpu device's conv kernels: the reference kernels
 * (ref_conv.h) in reference mode, fast_conv.c otherwise. */
#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/fast.h"
#include "backend/cpu/ref_conv.h"

rf_status rf_cpu_im2col(rf_device *dev, const rf_im2col_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_im2col(dev, a)) return RF_OK;
    rf_ref_im2col_f32(&RF_CONV_GEOM(a), CPU_CF(a->x), CPU_F(a->col));
    return RF_OK;
}

rf_status rf_cpu_col2im(rf_device *dev, const rf_col2im_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_col2im(dev, a)) return RF_OK;
    rf_ref_col2im_f32(&RF_CONV_GEOM(a), CPU_CF(a->col), CPU_F(a->x), a->accumulate);
    return RF_OK;
}

