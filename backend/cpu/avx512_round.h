/* avx512_round.h — half.h's float-to-bf16 / fp16 rounding, 16 lanes at a
 * time, for the cpu's packing and rounding loops (amx_gemm.c,
 * fast_round.c). The bits equal half.h's for every input (test_half checks
 * all 2^32 floats' worth of classes and every bf16 / fp16 value). Include
 * after <immintrin.h>, on x86-64 with GCC or Clang only. */
#ifndef RFDETR_CPU_AVX512_ROUND_H
#define RFDETR_CPU_AVX512_ROUND_H

/* Each lane's bf16 in its low 16 bits (the high 16 are zero): half.h's
 * integer rounding (nearest, ties to even; NaN quieted). */
__attribute__((target("avx512f"))) static inline __m512i bf16_lanes(__m512 x) {
    __m512i u = _mm512_castps_si512(x), one = _mm512_set1_epi32(1);
    __m512i rounded = _mm512_srli_epi32(
        _mm512_add_epi32(u, _mm512_add_epi32(_mm512_and_si512(_mm512_srli_epi32(u, 16), one), _mm512_set1_epi32(0x7fff))),
        16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_or_epi32(rounded, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
}

/* x rounded to bf16 and back. */
__attribute__((target("avx512f"))) static inline __m512 round_bf16_lanes(__m512 x) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(bf16_lanes(x), 16));
}

/* x rounded to fp16 and back. The conversion instructions round to nearest
 * even with IEEE subnormals and overflow to infinity whatever MXCSR's
 * flush modes say, and quiet a NaN keeping its top payload bits: half.h's
 * rules exactly. */
__attribute__((target("avx512f"))) static inline __m512 round_f16_lanes(__m512 x) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

#endif
