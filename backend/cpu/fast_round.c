/* fast_round.c — rounding float arrays to bf16 / fp16 and back in place of
 * a 16-bit store (the round_bf16 / round_f16 unary ops, and the operands of
 * products in those precisions): AVX-512 where the CPU has it, half.h's
 * scalar conversions elsewhere; the same bits either way. */
#include "backend/cpu/cpu_internal.h"
#include "backend/kernels/half.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#include "backend/cpu/avx512_round.h"
#define HAVE_AVX512_ROUND 1
#endif

static void round_scalar(rf_precision p, const float *x, float *y, int64_t n) {
    if (p == RF_PRECISION_BF16)
        for (int64_t i = 0; i < n; i++) y[i] = rf_round_bf16(x[i]);
    else if (p == RF_PRECISION_F16)
        for (int64_t i = 0; i < n; i++) y[i] = rf_round_f16(x[i]);
    else if (x != y)
        for (int64_t i = 0; i < n; i++) y[i] = x[i];
}

#ifdef HAVE_AVX512_ROUND
__attribute__((target("avx512f"))) static void round_avx512(rf_precision p, const float *x, float *y, int64_t n) {
    int64_t i = 0;
    if (p == RF_PRECISION_BF16)
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, round_bf16_lanes(_mm512_loadu_ps(x + i)));
    else
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, round_f16_lanes(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 rest = (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(rest, x + i);
        _mm512_mask_storeu_ps(y + i, rest, p == RF_PRECISION_BF16 ? round_bf16_lanes(v) : round_f16_lanes(v));
    }
}
#endif

#ifdef HAVE_AVX512_ROUND
static bool have_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
#endif

void rf_cpu_round_floats(rf_precision p, const float *x, float *y, int64_t n) {
#ifdef HAVE_AVX512_ROUND
    if (p != RF_PRECISION_F32 && have_avx512()) {
        round_avx512(p, x, y, n);
        return;
    }
#endif
    round_scalar(p, x, y, n);
}

#ifdef HAVE_AVX512_ROUND
/* 16 values a step; the rest through half.h one by one. */
__attribute__((target("avx512f"))) static int64_t pack_avx512(rf_precision p, const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m256i h = p == RF_PRECISION_BF16 ? _mm512_cvtepi32_epi16(bf16_lanes(v))
                                           : _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_storeu_si256((__m256i *)(void *)(y + i), h);
    }
    return i;
}

__attribute__((target("avx512f"))) static int64_t unpack_avx512(rf_precision p, const uint16_t *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(x + i));
        __m512 v = p == RF_PRECISION_BF16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
                                          : _mm512_cvtph_ps(h);
        _mm512_storeu_ps(y + i, v);
    }
    return i;
}
#endif

void rf_cpu_pack_half(rf_precision p, const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
#ifdef HAVE_AVX512_ROUND
    if (have_avx512()) i = pack_avx512(p, x, y, n);
#endif
    for (; i < n; i++) y[i] = (uint16_t)(p == RF_PRECISION_BF16 ? rf_f32_to_bf16(x[i]) : rf_f32_to_f16(x[i]));
}

void rf_cpu_unpack_half(rf_precision p, const uint16_t *x, float *y, int64_t n) {
    int64_t i = 0;
#ifdef HAVE_AVX512_ROUND
    if (have_avx512()) i = unpack_avx512(p, x, y, n);
#endif
    for (; i < n; i++) y[i] = p == RF_PRECISION_BF16 ? rf_bf16_to_f32(x[i]) : rf_f16_to_f32(x[i]);
}
