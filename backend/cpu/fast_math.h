/* fast_math.h — float math for the cpu device's fast kernels, written so
 * that the compiler can vectorize the loops that call it (no branches, no
 * libm calls): exp, log, log1p, softplus, sigmoid, erfc, GELU.
 *
 * Accuracy: exp and log within ~2 ulp (Cephes' single-precision
 * polynomials after a Cody-Waite range reduction); results that would be
 * subnormal flush to zero, which the kernels' tolerance (NMSE 1e-7 against
 * the double reference) never sees. erfc keeps ~1e-7 relative error.
 * NaN propagates; +-inf give the limits.
 *
 * CPU_CLONES compiles a hot loop for AVX-512, AVX2+FMA and the baseline,
 * chosen once at load time (GCC's function multiversioning); each machine
 * always runs the same clone, so results stay the same run after run. */
#ifndef RFDETR_CPU_FAST_MATH_H
#define RFDETR_CPU_FAST_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CPU_CLONES
#endif

static inline float rf_bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t rf_f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* e^x. */
static inline float rf_expf(float x) {
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    const float hi = 88.7228391116729996f, lo = -87.3365447505531f;
    /* Clamped so that NaN becomes finite too (the cast below must see a
     * number); the selects at the end restore NaN and the limits. */
    float xc = x < hi ? x : hi;
    xc = xc > lo ? xc : lo;
    /* Round to nearest by the 1.5 * 2^23 trick: no rint call, any ISA. */
    float n = (xc * log2e + 12582912.0f) - 12582912.0f;
    float r = xc - n * ln2_hi;
    r = r - n * ln2_lo;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    /* 2^n in two factors: n reaches 128 just below the overflow bound. */
    int32_t ni = (int32_t)n, n1 = ni / 2, n2 = ni - n1;
    float y = p * rf_bits_to_f32((uint32_t)(n1 + 127) << 23) * rf_bits_to_f32((uint32_t)(n2 + 127) << 23);
    y = x > hi ? INFINITY : y;
    y = x < lo ? 0.0f : y;
    return x != x ? x : y;
}

/* log x. */
static inline float rf_logf(float x) {
    uint32_t u = rf_f32_to_bits(x);
    /* x = m * 2^e with m in [sqrt(1/2), sqrt(2)). */
    int32_t e = (int32_t)((u >> 23) & 0xff) - 126;
    float m = rf_bits_to_f32((u & 0x007fffffu) | 0x3f000000u); /* [0.5, 1) */
    int small = m < 0.707106781186547524f;
    e = small ? e - 1 : e;
    float f = small ? m + m - 1.0f : m - 1.0f;
    float z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    float fe = (float)e;
    float y = p * f * z;
    y = y - 2.12194440e-4f * fe;
    y = y - 0.5f * z;
    float r = f + y;
    r = r + 0.693359375f * fe;
    r = x == INFINITY ? x : r;
    r = x == 0.0f ? -INFINITY : r;
    r = x < 0.0f ? NAN : r;
    return x != x ? x : r;
}

/* log(1 + u) for u >= 0 (or NaN), accurate for tiny u (Goldberg's trick:
 * the rounding of 1 + u cancels in the ratio). */
static inline float rf_log1pf_pos(float u) {
    float w = 1.0f + u;
    float d = w - 1.0f;
    float r = rf_logf(w) * (u / (d == 0.0f ? 1.0f : d));
    return d == 0.0f ? u : r;
}

/* log(1 + e^x), stable for large |x|. */
static inline float rf_softplusf(float x) {
    float pos = x > 0.0f ? x : 0.0f;
    return pos + rf_log1pf_pos(rf_expf(-fabsf(x)));
}

static inline float rf_sigmoidf(float x) { return 1.0f / (1.0f + rf_expf(-x)); }

/* erfc(-z) = 1 + erf(z): what GELU needs. erfc(|z|) by the Chebyshev fit
 * of Numerical Recipes' erfcc (fractional error < 1.2e-7 everywhere, so
 * the tail where GELU is tiny keeps its relative accuracy). */
static inline float rf_erfc_negf(float z) {
    float a = fabsf(z);
    float t = 1.0f / (1.0f + 0.5f * a);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    float tail = t * rf_expf(p - a * a); /* erfc(|z|) */
    float r = z >= 0.0f ? 2.0f - tail : tail;
    return z != z ? z : r;
}

#define RF_SQRT1_2F 0.70710678118654752f
#define RF_INV_SQRT_2PIF 0.39894228040143268f

static inline float rf_geluf(float x) { return 0.5f * x * rf_erfc_negf(x * RF_SQRT1_2F); }

static inline float rf_gelu_gradf(float x) {
    return 0.5f * rf_erfc_negf(x * RF_SQRT1_2F) + x * rf_expf(-0.5f * x * x) * RF_INV_SQRT_2PIF;
}

/* ---- sums in a fixed order ---------------------------------------------------------------
 * 16 interleaved partial sums (vectorizable without reassociating anything),
 * combined pairwise at the end: the same bits whatever the alignment, the
 * ISA or the thread. */
#define RF_LANES 16

static inline float rf_lanes_combine(float *acc) {
    for (int w = RF_LANES / 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    return acc[0];
}

#endif
