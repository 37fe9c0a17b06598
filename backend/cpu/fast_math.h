/* fast_math.h — float math for the cpu device's fast kernels, written so
 * that the compiler can vectorize the loops that call it (no branches, no
 * libm calls): exp, log, log1p, softplus, sigmoid, erfc, GELU.
 *
 * Accuracy: exp and log within ~2 ulp (Cephes' single-precision
 * polynomials after a Cody-Waite range reduction); exp results below ~2e-38
 * flush to zero, which the kernels' tolerance (NMSE 1e-7 against the
 * double reference) never sees. GELU's erfc (rf_erfc_negf, no division)
 * is within 3.2e-7 of 1 + erf absolutely, 4.7e-6 relatively in its tail.
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

/* Shared by the exponentials: 2^n for integral n in [-126, 127], from the
 * float that holds n + 1.5 * 2^23 (its low mantissa bits are n + 2^22):
 * integer operations only, so a NaN on the way is never cast to int (which
 * C leaves undefined). */
static inline float rf_exp2i_from_rounded(float rounded, int32_t bias) {
    return rf_bits_to_f32((rf_f32_to_bits(rounded) + (uint32_t)(127 + bias)) << 23);
}

/* e^r for |r| <= ln2 / 2 (Cephes' polynomial). */
static inline float rf_exp_reduced(float r) {
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    return p * (r * r) + r + 1.0f;
}

#define RF_EXP_HI 88.7228391116729996f /* log(FLT_MAX) */
#define RF_EXP_LO -86.6f /* below (results under ~2.4e-38), exp flushes to 0 */

/* e^x. */
static inline float rf_expf(float x) {
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    /* Clamped so that NaN becomes finite too; the selects at the end
     * restore NaN and the limits. */
    float xc = x < RF_EXP_HI ? x : RF_EXP_HI;
    xc = xc > RF_EXP_LO ? xc : RF_EXP_LO;
    /* Round to nearest by the 1.5 * 2^23 trick: no rint call, any ISA. */
    float rounded = xc * log2e + 12582912.0f, n = rounded - 12582912.0f;
    float r = xc - n * ln2_hi;
    r = r - n * ln2_lo;
    /* 2^(n-1) * 2: n reaches 128 just below the overflow bound. */
    float y = rf_exp_reduced(r) * rf_exp2i_from_rounded(rounded, -1) * 2.0f;
    y = x > RF_EXP_HI ? INFINITY : y;
    y = x < RF_EXP_LO ? 0.0f : y;
    return x != x ? x : y;
}

/* e^x for x <= 0 (softmax's x - max): one scale factor, no overflow to
 * handle; NaN stays NaN and -inf gives 0. */
static inline float rf_expf_nonpos(float x) {
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    float xc = x < RF_EXP_LO ? RF_EXP_LO : x; /* NaN passes through */
    float rounded = xc * log2e + 12582912.0f, n = rounded - 12582912.0f;
    float r = xc - n * ln2_hi;
    r = r - n * ln2_lo;
    float y = rf_exp_reduced(r) * rf_exp2i_from_rounded(rounded, 0);
    return x < RF_EXP_LO ? 0.0f : y;
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

/* erfc(-z) = 1 + erf(z): what GELU needs, without a division (on AVX-512
 * one costs about as much as all the rest). erfc(|z|) = e^(R(|z|) - z^2)
 * where R(a) = log erfc(a) + a^2 is smooth on [0, 6]: a degree-12
 * polynomial in t = a/3 - 1, fitted by least squares at Chebyshev points
 * weighted by erfc(a) + 0.01 (this project's fit, scipy's erfc as the
 * target). 1 + erf within 3.2e-7 absolutely, the tail within 4.7e-6
 * relatively on [-6, 0] (most of it the float rounding of R - z^2): the
 * accuracy of the division-based Numerical Recipes erfcc used before
 * (3.9e-7, 3.9e-6). Past |z| = 6 (erfc < 2e-17) R stays at R(6). */
static inline float rf_erfc_negf(float z) {
    float a = fabsf(z);
    float t = a * (1.0f / 3.0f) - 1.0f;
    t = t < 1.0f ? t : 1.0f; /* NaN too: the last line restores it */
    float p = -2.323544119e-03f;
    p = p * t + 1.631700317e-03f;
    p = p * t + 5.156678613e-03f;
    p = p * t - 4.432762973e-03f;
    p = p * t + 2.501018578e-03f;
    p = p * t - 1.478890795e-02f;
    p = p * t + 3.366911039e-02f;
    p = p * t - 5.979826674e-02f;
    p = p * t + 1.090770811e-01f;
    p = p * t - 2.001332343e-01f;
    p = p * t + 3.835026026e-01f;
    p = p * t - 9.112594724e-01f;
    p = p * t - 1.720363855e+00f;
    float tail = rf_expf(p - a * a); /* erfc(|z|) */
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

/* The rows' last partial block goes through a separate array `t` (filled
 * by a variable index, padded with the operation's identity) that is then
 * folded into the lanes lane by lane: indexing the lanes themselves by a
 * variable would pin them to the stack, and every block of the main loop
 * would then wait on a store and a reload. */
static inline void rf_lanes_add(float *acc, const float *t) {
    for (int l = 0; l < RF_LANES; l++) acc[l] += t[l];
}

static inline float rf_lanes_combine(const float *acc) {
    float t[RF_LANES]; /* a copy, for the same reason as rf_lanes_add */
    for (int l = 0; l < RF_LANES; l++) t[l] = acc[l];
    for (int w = RF_LANES / 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++) t[l] += t[l + w];
    return t[0];
}

#endif
