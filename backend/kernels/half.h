/* half.h — the 16-bit storage formats of mixed precision (issue 12), one
 * source for every device: bf16 (float's top 16 bits: 8-bit exponent, 7-bit
 * mantissa) and IEEE fp16 (5-bit exponent, 10-bit mantissa). Values are
 * stored as 16-bit integers and computed in float; only the conversions are
 * here. Float to 16 bits rounds to nearest, ties to even, as PyTorch's
 * .to(torch.bfloat16) and .half() do; NaN stays a (quiet) NaN, overflow
 * goes to infinity, and fp16 keeps its subnormals. Written in integer
 * arithmetic on the float's bits so that every device gives the same bits,
 * whatever its float environment (flush-to-zero, fast math). */
#ifndef RFDETR_KERNELS_HALF_H
#define RFDETR_KERNELS_HALF_H

#ifndef __OPENCL_VERSION__
#include "backend/kernels/device.h"
#endif

RF_FN float rf_bf16_to_f32(rf_uint h) { return rf_as_float((h & 0xffffu) << 16); }

RF_FN rf_uint rf_f32_to_bf16(float f) {
    rf_uint u = rf_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x0040u; /* NaN: keep the sign, set the quiet bit */
    /* Adding 0x7fff plus the lowest kept bit rounds to nearest, ties to even;
     * a carry into the exponent is the right result (up to infinity). */
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

RF_FN float rf_f16_to_f32(rf_uint h) {
    rf_uint sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0x1fu) return rf_as_float(sign | 0x7f800000u | (mant << 13)); /* inf, NaN */
    if (exp != 0) return rf_as_float(sign | ((exp + 112u) << 23) | (mant << 13));
    if (mant == 0) return rf_as_float(sign);
    /* Subnormal: mant x 2^-24, exact in float. */
    return rf_as_float(sign | rf_as_uint((float)mant * 5.9604644775390625e-8f));
}

RF_FN rf_uint rf_f32_to_f16(float f) {
    rf_uint u = rf_as_uint(f);
    rf_uint sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u | ((a >> 13) & 0x3ffu); /* NaN, quiet */
    if (a >= 0x477ff000u) return sign | 0x7c00u; /* rounds to 65520 or above: infinity */
    if (a >= 0x38800000u) {                        /* normal in fp16 (>= 2^-14) */
        rf_uint r = a - 0x38000000u;               /* rebias the exponent: 127 - 15 = 112 */
        return sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13);
    }
    if (a < 0x33000000u) return sign; /* below 2^-25: rounds to zero (2^-25 itself ties to even zero) */
    /* Subnormal: the 24-bit significand shifted to units of 2^-24, rounded
     * to nearest even by hand. */
    rf_uint e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
    rf_uint shift = 126u - e; /* 14..24 */
    rf_uint q = m >> shift, rest = m & ((1u << shift) - 1u), midpoint = 1u << (shift - 1u);
    if (rest > midpoint || (rest == midpoint && (q & 1u))) q++;
    return sign | q;
}

/* x as the format holds it, back in float: a product's operand in bf16 or fp16. */
RF_FN float rf_round_bf16(float x) { return rf_bf16_to_f32(rf_f32_to_bf16(x)); }
RF_FN float rf_round_f16(float x) { return rf_f16_to_f32(rf_f32_to_f16(x)); }

#endif /* RFDETR_KERNELS_HALF_H */
