/* conv.h — im2col and its adjoint col2im for convolution by GEMM. Part of
 * the one kernel source (device.h). col2im is a gather (each input pixel
 * sums the col entries that read it, kernel taps in row-major order), so it
 * needs no atomics and is deterministic. */
#ifndef RFDETR_KERNELS_CONV_H
#define RFDETR_KERNELS_CONV_H

#ifndef __OPENCL_VERSION__
#include "backend/kernels/common.h"
#endif

/* The col entry that input pixel (y, x) feeds through tap (ki, kj), or -1:
 * output position (ty / sh, tx / sw) when the tap lands on the stride grid
 * inside the output. */
RF_FN rf_long rf_col2im_source(rf_long y, rf_long x, rf_long ki, rf_long kj, rf_long sh, rf_long sw, rf_long ph,
                               rf_long pw, rf_long ho, rf_long wo) {
    rf_long ty = y + ph - ki, tx = x + pw - kj;
    if (ty < 0 || ty % sh || ty / sh >= ho || tx < 0 || tx % sw || tx / sw >= wo) return -1;
    return (ty / sh) * wo + tx / sw;
}

#ifdef RF_DEVICE_GPU

/* The shared geometry, in the order of rf_im2col_args / rf_col2im_args. */
#define RF_CONV_GEOM                                                                                               \
    rf_long n, rf_long c, rf_long h, rf_long w, rf_long kh, rf_long kw, rf_long sh, rf_long sw, rf_long ph,         \
        rf_long pw, rf_long ho, rf_long wo

/* Both run over an rf_launch_nd range: the output column, the output row,
 * then (image, channel or tap row) along the slow dimension, so the only
 * divisions depend on that dimension alone, which PoCL's loops over a
 * work-group hoist (per-item 64-bit divisions made im2col 0.2 GB/s). */

/* One work item per col entry; neighbouring items fill neighbouring output
 * positions. Range (wo, ho, n * c * kh * kw). */
RF_KERNEL im2col_f32(RF_CONV_GEOM, RF_GLOBAL const float *x, rf_ulong x_off, RF_GLOBAL float *col, rf_ulong col_off) {
    rf_long rows = c * kh * kw;
    RF_ND_LOOP(wo, ho, n * rows, ox, oy, z) {
        rf_long b = z / rows, r = z - b * rows;
        rf_long ch = r / (kh * kw), ki = (r / kw) % kh, kj = r % kw;
        rf_long y = oy * sh - ph + ki, xx = ox * sw - pw + kj;
        int inside = y >= 0 && y < h && xx >= 0 && xx < w;
        col[col_off + (z * ho + oy) * wo + ox] = inside ? x[x_off + ((b * c + ch) * h + y) * w + xx] : 0.0f;
    }
}

/* One work item per input pixel. Range (w, h, n * c). */
RF_KERNEL col2im_f32(RF_CONV_GEOM, RF_GLOBAL const float *col, rf_ulong col_off, RF_GLOBAL float *x, rf_ulong x_off,
                     int accumulate) {
    RF_ND_LOOP(w, h, n * c, xx, y, z) {
        rf_long b = z / c, ch = z - b * c;
        rf_long cols = ho * wo, rows = c * kh * kw;
        RF_GLOBAL const float *base = col + col_off + b * rows * cols;
        float acc = 0.0f;
        for (rf_long ki = 0; ki < kh; ki++)
            for (rf_long kj = 0; kj < kw; kj++) {
                rf_long at = rf_col2im_source(y, xx, ki, kj, sh, sw, ph, pw, ho, wo);
                if (at >= 0) acc += base[((ch * kh + ki) * kw + kj) * cols + at];
            }
        rf_long i = (z * h + y) * w + xx;
        x[x_off + i] = accumulate ? x[x_off + i] + acc : acc;
    }
}

#define RF_KERNELS_CONV(X) X(im2col_f32) X(col2im_f32)

#endif /* RF_DEVICE_GPU */

#endif /* RFDETR_KERNELS_CONV_H */
