/* avx512_transpose.h — a 16 x 16 float transpose in AVX-512 registers, for
 * the cpu GEMMs' packing (fast_gemm.c, amx_gemm.c). Include after
 * <immintrin.h>, on x86-64 with GCC or Clang only. */
#ifndef RFDETR_CPU_AVX512_TRANSPOSE_H
#define RFDETR_CPU_AVX512_TRANSPOSE_H

/* Transposes 16 x 16 in registers: r[i] holds row i on entry and column i
 * on return (unpack pairs of rows, then pairs of pairs, then 128-bit lanes). */
__attribute__((target("avx512f"))) static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) {
        __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 2]);
        __m512d c = _mm512_castps_pd(t[4 * g + 1]), d = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    /* u[4g + j], 128-bit lane L: column 4L + j of rows 4g..4g+3. */
    for (int j = 0; j < 4; j++) {
        __m512 v_lo = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x44), v_hi = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xEE);
        __m512 w_lo = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x44);
        __m512 w_hi = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xEE);
        r[j] = _mm512_shuffle_f32x4(v_lo, w_lo, 0x88);
        r[4 + j] = _mm512_shuffle_f32x4(v_lo, w_lo, 0xDD);
        r[8 + j] = _mm512_shuffle_f32x4(v_hi, w_hi, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(v_hi, w_hi, 0xDD);
    }
}

#endif
