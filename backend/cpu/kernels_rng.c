/* kernels_rng.c — the cpu device's random fill: the stream of
 * backend/kernels.h (rng family) built on the host Philox of
 * backend/philox.h. Every conversion is integer arithmetic or correctly
 * rounded float operations (explicit fmaf: C guarantees it is fused and
 * correctly rounded), so the bits equal every other device's. */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/philox.h"
#include "backend/status.h"

/* Words of block `block` of the fill stream. */
static void fill_block(const uint32_t key[2], uint64_t block, uint32_t out[4]) {
    const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0, RF_RNG_TAG_TENSOR};
    rf_philox4x32_10(ctr, key, out);
}

/* The Irwin-Hall normal (rf_philox_next_normal) of the six words starting at
 * word `word` (even) of the stream. */
static float irwin_hall(const uint32_t key[2], uint64_t offset, uint64_t word) {
    uint32_t w[8];
    fill_block(key, offset + word / 4, w);
    fill_block(key, offset + word / 4 + 1, w + 4);
    uint32_t sum = 0;
    for (unsigned k = (unsigned)(word % 4), end = k + 6; k < end; k++) sum += (w[k] & 0xFFFFu) + (w[k] >> 16);
    return (float)((int32_t)sum - 393210) * (1.0f / 65536.0f);
}

/* ---- erfinv from correctly rounded operations only ----------------------------
 * Twins in rng.cl / rng.cu, operation for operation: products, differences
 * and explicit fmaf only (no a * b + c left for the compiler to contract). */

static inline float bits_to_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint32_t float_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Polynomial coefficients, highest degree first: a degree-8 fit of
 * (log1p(f) - f) / f^2 on [sqrt(1/2) - 1, sqrt 2 - 1], and Giles' two
 * erfinv branches. */
static const float LOG1P_FIT[9] = {-0.0786666796f, 0.128217489f, -0.131016344f, 0.141890004f, -0.166275993f,
                                    0.200019687f, -0.250007719f, 0.333333224f, -0.49999997f};
static const float ERFINV_CENTRAL[9] = {2.81022636e-08f, 3.43273939e-07f, -3.5233877e-06f, -4.39150654e-06f, 0.00021858087f,
                                         -0.00125372503f, -0.00417768164f, 0.246640727f, 1.50140941f};
static const float ERFINV_TAIL[9] = {-0.000200214257f, 0.000100950558f, 0.00134934322f, -0.00367342844f, 0.00573950773f,
                                      -0.0076224613f, 0.00943887047f, 1.00167406f, 2.83297682f};

static float horner(const float *c, float x) {
    float p = c[0];
    for (int k = 1; k < 9; k++) p = fmaf(p, x, c[k]);
    return p;
}

/* log(y) for y > 0: the exponent from the bits, log1p of the mantissa
 * folded into [sqrt(1/2), sqrt 2) by a degree-8 fit of (log1p(f) - f) / f^2
 * (error below half an ulp of the result). */
static float portable_log(float y) {
    if (!(y > 0.0f)) return y == 0.0f ? -INFINITY : NAN;
    if (y == INFINITY) return y;
    int e = 0;
    if (y < 1.17549435e-38f) { /* subnormal: scale by 2^24 */
        y *= 16777216.0f;
        e = -24;
    }
    uint32_t bits = float_to_bits(y);
    e += (int)(bits >> 23) - 127;
    uint32_t m = (bits & 0x007FFFFFu) | 0x3F800000u;
    if (m > 0x3FB504F3u) { /* mantissa above sqrt 2: halve it */
        m -= 0x00800000u;
        e += 1;
    }
    float f = bits_to_float(m) - 1.0f;
    float p = horner(LOG1P_FIT, f);
    return fmaf((float)e, 0.693147182f, fmaf(f * f, p, f));
}

/* sqrt(w) for finite w >= 1 by three Newton steps on 1/sqrt(w) from the
 * classic bit-level first guess. */
static float portable_sqrt(float w) {
    float r = bits_to_float(0x5F3759DFu - (float_to_bits(w) >> 1)), h = 0.5f * w;
    for (int i = 0; i < 3; i++) r = r * fmaf(-h, r * r, 1.5f);
    return w * r;
}

/* Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011),
 * single precision. */
static float portable_erfinv(float x) {
    float w = -portable_log((1.0f - x) * (1.0f + x)), p;
    if (w == INFINITY) return x * INFINITY;
    if (w < 5.0f) {
        w = w - 2.5f;
        p = horner(ERFINV_CENTRAL, w);
    } else {
        w = portable_sqrt(w) - 3.0f;
        p = horner(ERFINV_TAIL, w);
    }
    return p * x;
}

static rf_status cpu_rng_fill(rf_device *dev, const rf_rng_args *a) {
    float *out = CPU_F(a->out);
    const uint32_t key[2] = {(uint32_t)a->seed, (uint32_t)(a->seed >> 32)};
    if (a->dist == RF_RNG_NORMAL) {
        for (int64_t i = 0; i < a->n; i++) out[i] = fmaf(a->b, irwin_hall(key, a->offset, 6 * (uint64_t)i), a->a);
        return RF_OK;
    }
    if (a->dist != RF_RNG_UNIFORM && a->dist != RF_RNG_TRUNC_NORMAL)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rng fill: unknown distribution %d", (int)a->dist);
    float base = 0, span = 0, scale = 0;
    if (a->dist == RF_RNG_TRUNC_NORMAL) rf_rng_trunc_normal_map(a->a, a->b, a->lo, a->hi, &base, &span, &scale);
    for (int64_t i = 0; i < a->n; i += 4) {
        uint32_t w[4];
        fill_block(key, a->offset + (uint64_t)i / 4, w);
        for (int64_t k = 0; k < 4 && i + k < a->n; k++) {
            float u = rf_philox_to_float(w[k]);
            if (a->dist == RF_RNG_UNIFORM) {
                out[i + k] = fmaf(a->b - a->a, u, a->a);
            } else {
                float x = fmaf(portable_erfinv(fmaf(span, u, base)), scale, a->a);
                out[i + k] = fminf(fmaxf(x, a->lo), a->hi);
            }
        }
    }
    return RF_OK;
}

const rf_kernels_rng rf_cpu_kernels_rng = {
    .fill = cpu_rng_fill,
};
