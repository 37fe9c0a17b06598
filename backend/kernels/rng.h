/* rng.h — the Philox-4x32-10 counter RNG and the tensor fills built on it
 * (backend/kernels.h, rng family), for every device and for the host's
 * data pipeline (backend/philox.c). Part of the one kernel source
 * (device.h). Every step is integer arithmetic or a correctly rounded float
 * operation (products, differences and explicit fma, contraction off on
 * every compiler), so every device gives the same bits. */
#ifndef RFDETR_KERNELS_RNG_H
#define RFDETR_KERNELS_RNG_H

#ifdef __OPENCL_VERSION__
#pragma OPENCL FP_CONTRACT OFF
#else
#include "backend/kernels/common.h"
#include "backend/kernels/ops.h"
#endif

/* Multipliers and Weyl key increments from the Philox paper (and Random123). */
#define RF_PHILOX_M0 0xD2511F53u
#define RF_PHILOX_M1 0xCD9E8D57u
#define RF_PHILOX_W0 0x9E3779B9u
#define RF_PHILOX_W1 0xBB67AE85u

typedef struct rf_u32x4 {
    rf_uint w[4];
} rf_u32x4;

RF_FN rf_u32x4 rf_philox4x32_10_block(rf_u32x4 c, rf_uint k0, rf_uint k1) {
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k0 += RF_PHILOX_W0;
            k1 += RF_PHILOX_W1;
        }
        rf_uint hi0 = rf_mul_hi(RF_PHILOX_M0, c.w[0]), lo0 = RF_PHILOX_M0 * c.w[0];
        rf_uint hi1 = rf_mul_hi(RF_PHILOX_M1, c.w[2]), lo1 = RF_PHILOX_M1 * c.w[2];
        rf_u32x4 n;
        n.w[0] = hi1 ^ c.w[1] ^ k0;
        n.w[1] = lo1;
        n.w[2] = hi0 ^ c.w[3] ^ k1;
        n.w[3] = lo0;
        c = n;
    }
    return c;
}

/* Block `block` of the tensor-fill stream of key (k0, k1). */
RF_FN rf_u32x4 rf_rng_fill_block(rf_uint k0, rf_uint k1, rf_ulong block) {
    rf_u32x4 c;
    c.w[0] = (rf_uint)block;
    c.w[1] = (rf_uint)(block >> 32);
    c.w[2] = 0u;
    c.w[3] = RF_RNG_TAG_TENSOR;
    return rf_philox4x32_10_block(c, k0, k1);
}

/* A uniform float in [0, 1) from the top 24 bits. */
RF_FN float rf_rng_to_float(rf_uint bits) { return (float)(bits >> 8) * (1.0f / 16777216.0f); }

/* The Irwin-Hall normal (rf_philox_next_normal) of the six words starting
 * at (even) word `word` of the stream. */
RF_FN float rf_rng_irwin_hall(rf_uint k0, rf_uint k1, rf_ulong offset, rf_ulong word) {
    rf_u32x4 b0 = rf_rng_fill_block(k0, k1, offset + word / 4), b1 = rf_rng_fill_block(k0, k1, offset + word / 4 + 1);
    rf_uint sum = 0;
    for (int k = (int)(word % 4), end = k + 6; k < end; k++) {
        rf_uint w = k < 4 ? b0.w[k] : b1.w[k - 4];
        sum += (w & 0xFFFFu) + (w >> 16);
    }
    return (float)((int)sum - 393210) * (1.0f / 65536.0f);
}

/* ---- erfinv from correctly rounded operations only ------------------------
 * Coefficients, highest degree first: a degree-8 fit of (log1p(f) - f) / f^2
 * on [sqrt(1/2) - 1, sqrt 2 - 1], and Giles' two erfinv branches. */
RF_CONST_ARRAY(float, RF_LOG1P_FIT, 9) = {-0.0786666796f, 0.128217489f, -0.131016344f, 0.141890004f, -0.166275993f,
                                          0.200019687f,  -0.250007719f, 0.333333224f,  -0.49999997f};
RF_CONST_ARRAY(float, RF_ERFINV_CENTRAL, 9) = {2.81022636e-08f,  3.43273939e-07f, -3.5233877e-06f,
                                               -4.39150654e-06f, 0.00021858087f,  -0.00125372503f,
                                               -0.00417768164f,  0.246640727f,    1.50140941f};
RF_CONST_ARRAY(float, RF_ERFINV_TAIL, 9) = {-0.000200214257f, 0.000100950558f, 0.00134934322f,
                                            -0.00367342844f,  0.00573950773f,  -0.0076224613f,
                                            0.00943887047f,   1.00167406f,     2.83297682f};

RF_FN float rf_horner9(RF_CONST_PTR float *c, float x) {
    float p = c[0];
    for (int k = 1; k < 9; k++) p = rf_fmaf(p, x, c[k]);
    return p;
}

/* log(y) for y > 0: the exponent from the bits, log1p of the mantissa
 * folded into [sqrt(1/2), sqrt 2) (error below half an ulp of the result):
 * no device's libm log gives the same bits. */
RF_FN float rf_portable_log(float y) {
    if (!(y > 0.0f)) return y == 0.0f ? -RF_INFINITY : RF_NAN;
    if (y == RF_INFINITY) return y;
    int e = 0;
    if (y < 1.17549435e-38f) { /* subnormal: scale by 2^24 */
        y *= 16777216.0f;
        e = -24;
    }
    rf_uint bits = rf_as_uint(y);
    e += (int)(bits >> 23) - 127;
    rf_uint m = (bits & 0x007FFFFFu) | 0x3F800000u;
    if (m > 0x3FB504F3u) { /* mantissa above sqrt 2: halve it */
        m -= 0x00800000u;
        e += 1;
    }
    float f = rf_as_float(m) - 1.0f;
    float p = rf_horner9(RF_LOG1P_FIT, f);
    return rf_fmaf((float)e, 0.693147182f, rf_fmaf(f * f, p, f));
}

/* sqrt(w) for finite w >= 1 by three Newton steps on 1/sqrt(w) from the
 * classic bit-level first guess. */
RF_FN float rf_portable_sqrt(float w) {
    float r = rf_as_float(0x5F3759DFu - (rf_as_uint(w) >> 1)), h = 0.5f * w;
    for (int i = 0; i < 3; i++) r = r * rf_fmaf(-h, r * r, 1.5f);
    return w * r;
}

/* Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011),
 * single precision. */
RF_FN float rf_portable_erfinv(float x) {
    float w = -rf_portable_log((1.0f - x) * (1.0f + x)), p;
    if (w == RF_INFINITY) return x * RF_INFINITY;
    if (w < 5.0f) {
        w = w - 2.5f;
        p = rf_horner9(RF_ERFINV_CENTRAL, w);
    } else {
        w = rf_portable_sqrt(w) - 3.0f;
        p = rf_horner9(RF_ERFINV_TAIL, w);
    }
    return p * x;
}

/* Element j (0..3) of block `block` of a uniform or truncated-normal fill;
 * base/span/scale: the truncated normal's constants (rf_rng_trunc_normal_map). */
RF_FN float rf_rng_block_value(int dist, rf_uint word, float a, float b, float lo, float hi, float base, float span,
                               float scale) {
    float u = rf_rng_to_float(word);
    if (dist == RF_RNG_UNIFORM) return rf_fmaf(b - a, u, a);
    float x = rf_fmaf(rf_portable_erfinv(rf_fmaf(span, u, base)), scale, a);
    return fmin(fmax(x, lo), hi);
}

#ifdef RF_DEVICE_GPU

/* Uniform and truncated normal: one work item per block (four elements);
 * the normal: one work item per element. */
RF_KERNEL rng_fill_f32(int dist, rf_long n, rf_uint key_lo, rf_uint key_hi, rf_ulong offset, float a, float b,
                       float lo, float hi, float base, float span, float scale, RF_GLOBAL float *out,
                       rf_ulong out_off) {
    rf_long i = rf_global_id(0);
    out += out_off;
    if (dist == RF_RNG_NORMAL) {
        if (i < n) out[i] = rf_fmaf(b, rf_rng_irwin_hall(key_lo, key_hi, offset, 6 * (rf_ulong)i), a);
        return;
    }
    if (4 * i >= n) return;
    rf_u32x4 w = rf_rng_fill_block(key_lo, key_hi, offset + (rf_ulong)i);
    for (int k = 0; k < 4 && 4 * i + k < n; k++)
        out[4 * i + k] = rf_rng_block_value(dist, w.w[k], a, b, lo, hi, base, span, scale);
}

#define RF_KERNELS_RNG(X) X(rng_fill_f32)

#endif /* RF_DEVICE_GPU */

#endif /* RFDETR_KERNELS_RNG_H */
