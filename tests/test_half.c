/* test_half.c — the 16-bit conversions of backend/kernels/half.h against an
 * oracle that shares none of their code: every 16-bit pattern decoded with
 * ldexp, and float-to-16-bit rounding found by searching the sorted table
 * of every finite value in double (nearest, ties to the even pattern).
 * Decoding is checked for all 65536 patterns of each format, encoding for
 * every float whose bits are a multiple of a stride coprime to 2^32 plus the
 * cases that decide rounding: each midpoint between neighbours and the
 * floats on either side of it, the subnormal and overflow boundaries,
 * zeros, infinities and NaNs. And the cpu's vectorised rounding of float
 * arrays against half.h, bit for bit. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "backend/kernels/half.h"
#include "test_util.h"

typedef struct format {
    const char *name;
    int exp_bits, mant_bits;
    float (*decode)(rf_uint);
    rf_uint (*encode)(float);
} format;

/* The value of a pattern, from the format's definition. */
static double oracle_decode(const format *f, uint32_t h) {
    int bias = (1 << (f->exp_bits - 1)) - 1;
    uint32_t sign = h >> (f->exp_bits + f->mant_bits), exp = (h >> f->mant_bits) & ((1u << f->exp_bits) - 1u);
    uint32_t mant = h & ((1u << f->mant_bits) - 1u);
    double v;
    if (exp == (1u << f->exp_bits) - 1u) v = mant ? NAN : INFINITY;
    else if (exp == 0) v = ldexp((double)mant, 1 - bias - f->mant_bits);
    else v = ldexp((double)((1u << f->mant_bits) | mant), (int)exp - bias - f->mant_bits);
    return sign ? -v : v;
}

/* The positive finite patterns in order of value are the patterns 0 ..
 * max in order: values[i] is pattern i's. */
typedef struct table {
    double *values;
    uint32_t count; /* finite positive patterns, zero included */
} table;

static table make_table(const format *f) {
    table t;
    t.count = ((1u << f->exp_bits) - 1u) << f->mant_bits;
    t.values = malloc(sizeof(double) * t.count);
    for (uint32_t i = 0; i < t.count; i++) t.values[i] = oracle_decode(f, i);
    return t;
}

/* Round-to-nearest-even of x into the format, by search. */
static uint32_t oracle_encode(const format *f, const table *t, float x) {
    uint32_t sign = signbit(x) ? 1u << (f->exp_bits + f->mant_bits) : 0;
    uint32_t inf = ((1u << f->exp_bits) - 1u) << f->mant_bits;
    double a = fabs((double)x);
    if (isnan(x)) return sign | inf | (1u << (f->mant_bits - 1));
    double max = t->values[t->count - 1];
    /* Past the largest finite value, the next step (2^(emax+1)) would be the
     * neighbour: halfway to it and beyond rounds to infinity. */
    double next = ldexp(1.0, (1 << (f->exp_bits - 1)));
    if (a >= (max + next) / 2) return sign | inf;
    uint32_t lo = 0, hi = t->count - 1; /* values[lo] <= a < values[hi] after the search */
    if (a >= max) return sign | (t->count - 1);
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->values[mid] <= a) lo = mid;
        else hi = mid;
    }
    double dlo = a - t->values[lo], dhi = t->values[hi] - a;
    uint32_t r = dlo < dhi ? lo : dhi < dlo ? hi : (lo & 1u) ? hi : lo;
    return sign | r;
}

static int mismatches;

static void check_encode(const format *f, const table *t, float x) {
    uint32_t want = oracle_encode(f, t, x), got = f->encode(x);
    bool ok = got == want;
    if (isnan(x)) {
        uint32_t exp_mask = ((1u << f->exp_bits) - 1u) << f->mant_bits;
        ok = (got & exp_mask) == exp_mask && (got & ((1u << f->mant_bits) - 1u)) != 0 &&
             (got >> (f->exp_bits + f->mant_bits)) == (want >> (f->exp_bits + f->mant_bits));
    }
    if (!ok && mismatches++ < 10) {
        uint32_t bits;
        memcpy(&bits, &x, 4);
        CHECK(false, "%s: %a (0x%08x) encodes to 0x%04x, expected 0x%04x", f->name, x, bits, got, want);
    }
}

static void check_format(const format *f) {
    table t = make_table(f);
    mismatches = 0;
    /* Decoding: every pattern. */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        double want = oracle_decode(f, h);
        float got = f->decode(h);
        if (isnan(want) ? !isnan(got) : (double)got != want || !signbit(got) != !signbit(want))
            if (bad++ < 10) CHECK(false, "%s: 0x%04x decodes to %a, expected %a", f->name, h, got, want);
    }
    CHECK(bad == 0, "%s: %d patterns decode wrong", f->name, bad);
    /* Every decoded value encodes back to its pattern (NaNs stay NaNs). */
    for (uint32_t h = 0; h < 65536; h++) check_encode(f, &t, f->decode(h));
    /* Midpoints between neighbours, and the floats on either side of them. */
    for (uint32_t i = 0; i + 1 < t.count; i++) {
        float mid = (float)((t.values[i] + t.values[i + 1]) / 2); /* exact: 16-bit formats have room in float */
        for (int s = 0; s < 2; s++) {
            float m = s ? -mid : mid;
            check_encode(f, &t, m);
            check_encode(f, &t, nextafterf(m, INFINITY));
            check_encode(f, &t, nextafterf(m, -INFINITY));
        }
    }
    /* A sweep over all of float: every 4099th pattern. */
    for (uint64_t bits = 12345; bits < (1ull << 32); bits += 4099) {
        uint32_t b = (uint32_t)bits;
        float x;
        memcpy(&x, &b, 4);
        check_encode(f, &t, x);
    }
    const float edges[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, FLT_MAX, -FLT_MAX, FLT_MIN, 1e-45f,
                           65504.0f, 65519.99f, 65520.0f, 65536.0f, 6.103515625e-05f, 5.960464477539063e-08f,
                           2.98023223876953125e-08f, 2.98023259e-08f, 1.0f, 3.0f, 1.0f / 3.0f};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) check_encode(f, &t, edges[i]);
    CHECK(mismatches == 0, "%s: %d floats encode differently from the oracle", f->name, mismatches);
    free(t.values);
}

/* The cpu's vectorised rounding (rf_cpu_round_floats: AVX-512 where the
 * CPU has it, the fp16 conversion instructions among them) against half.h,
 * bit for bit, NaNs included: every sign, exponent and top mantissa bits
 * with low bits around each format's rounding point, and a sweep over all
 * of float; odd lengths for the masked tail. */
static void check_cpu_rounding(rf_precision p, float (*round)(float)) {
    enum { CHUNK = 1 << 16 };
    static const uint32_t low[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x2fff, 0x3000, 0x3001,
                                   0x5000, 0x7fff, 0x8000, 0x8001, 0x9000, 0xbfff, 0xc000, 0xf000, 0xffff};
    static uint32_t bits[CHUNK];
    static float in[CHUNK], got[CHUNK];
    int differ = 0;
    uint64_t sweep = 777;
    for (uint32_t round_no = 0; round_no < 2 * 65536 / 8; round_no++) {
        int n = 0;
        if (round_no < 65536 / 8) {
            for (uint32_t hi = round_no * 8; hi < round_no * 8 + 8; hi++)
                for (size_t l = 0; l < sizeof low / sizeof low[0]; l++) bits[n++] = hi << 16 | low[l];
        } else {
            for (; n < 8 * 19 && sweep < (1ull << 32); sweep += 4099) bits[n++] = (uint32_t)sweep;
        }
        if (n == 0) break; /* the sweep is done */
        int trim = (int)(round_no % 7), len = n > trim ? n - trim : n; /* ragged tails */
        memcpy(in, bits, sizeof(float) * (size_t)len);
        rf_cpu_round_floats(p, in, got, len);
        for (int i = 0; i < len; i++) {
            float want = round(in[i]);
            if (memcmp(&want, &got[i], 4) != 0 && differ++ < 5) {
                uint32_t w, g;
                memcpy(&w, &want, 4);
                memcpy(&g, &got[i], 4);
                fprintf(stderr, "%s: input %08x: cpu rounding %08x, half.h %08x\n", rf_precision_name(p), bits[i], g, w);
            }
        }
    }
    /* In place, as the unary ops may call it. */
    for (int i = 0; i < 100; i++) in[i] = got[i] = (float)i / 7.0f + 1000.0f;
    rf_cpu_round_floats(p, got, got, 100);
    for (int i = 0; i < 100; i++) differ += got[i] != round(in[i]);
    CHECK(differ == 0, "%s: the cpu's rounding differs from half.h's for %d floats", rf_precision_name(p), differ);
}

int main(void) {
    const format formats[] = {
        {"bf16", 8, 7, rf_bf16_to_f32, rf_f32_to_bf16},
        {"fp16", 5, 10, rf_f16_to_f32, rf_f32_to_f16},
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) check_format(&formats[i]);
    check_cpu_rounding(RF_PRECISION_BF16, rf_round_bf16);
    check_cpu_rounding(RF_PRECISION_F16, rf_round_f16);
    return test_finish("test_half");
}
