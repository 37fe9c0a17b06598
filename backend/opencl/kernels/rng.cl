// rng.cl — tensor fills from the Philox-4x32-10 stream defined in
// backend/kernels.h (rng family): the rounds mirror backend/philox.c word
// for word (32-bit mul_hi / mul_lo), and every conversion is integer
// arithmetic or correctly rounded float operations: fma written out (OpenCL
// requires it correctly rounded) and contraction off, so the bits equal the
// cpu device's and the host stream's.

#pragma OPENCL FP_CONTRACT OFF

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u
#define TAG_TENSOR 0x54656e73u // RF_RNG_TAG_TENSOR

enum { D_UNIFORM, D_NORMAL, D_TRUNC_NORMAL }; // rf_rng_dist

inline uint4 philox4x32_10(uint4 c, uint2 k) {
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k.x += PHILOX_W0;
            k.y += PHILOX_W1;
        }
        uint hi0 = mul_hi(PHILOX_M0, c.x), lo0 = PHILOX_M0 * c.x;
        uint hi1 = mul_hi(PHILOX_M1, c.z), lo1 = PHILOX_M1 * c.z;
        c = (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

inline uint4 fill_block(uint2 key, ulong block) {
    return philox4x32_10((uint4)((uint)block, (uint)(block >> 32), 0u, TAG_TENSOR), key);
}

inline uint block_word(uint4 b, uint k) { return k == 0 ? b.x : k == 1 ? b.y : k == 2 ? b.z : b.w; }

inline float to_float(uint bits) { return (float)(bits >> 8) * (1.0f / 16777216.0f); }

// The Irwin-Hall normal of the six words starting at (even) word `word`.
inline float irwin_hall(uint2 key, ulong offset, ulong word) {
    uint4 b0 = fill_block(key, offset + word / 4), b1 = fill_block(key, offset + word / 4 + 1);
    uint w[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
    uint sum = 0;
    for (uint k = (uint)(word % 4), end = k + 6; k < end; k++) sum += (w[k] & 0xFFFFu) + (w[k] >> 16);
    return (float)((int)sum - 393210) * (1.0f / 65536.0f);
}

// ---- erfinv from correctly rounded operations only (twin of
// backend/cpu/kernels_rng.c, operation for operation) ----------------------

// Coefficients, highest degree first (see backend/cpu/kernels_rng.c).
__constant float LOG1P_FIT[9] = {-0.0786666796f, 0.128217489f, -0.131016344f, 0.141890004f, -0.166275993f,
                                  0.200019687f, -0.250007719f, 0.333333224f, -0.49999997f};
__constant float ERFINV_CENTRAL[9] = {2.81022636e-08f, 3.43273939e-07f, -3.5233877e-06f, -4.39150654e-06f, 0.00021858087f,
                                       -0.00125372503f, -0.00417768164f, 0.246640727f, 1.50140941f};
__constant float ERFINV_TAIL[9] = {-0.000200214257f, 0.000100950558f, 0.00134934322f, -0.00367342844f, 0.00573950773f,
                                    -0.0076224613f, 0.00943887047f, 1.00167406f, 2.83297682f};

inline float horner(__constant const float *c, float x) {
    float p = c[0];
    for (int k = 1; k < 9; k++) p = fma(p, x, c[k]);
    return p;
}

// log(y) for y > 0: exponent from the bits, log1p of the mantissa folded
// into [sqrt(1/2), sqrt 2) by a degree-8 fit of (log1p(f) - f) / f^2.
inline float portable_log(float y) {
    if (!(y > 0.0f)) return y == 0.0f ? -INFINITY : NAN;
    if (y == INFINITY) return y;
    int e = 0;
    if (y < 1.17549435e-38f) {
        y *= 16777216.0f;
        e = -24;
    }
    uint bits = as_uint(y);
    e += (int)(bits >> 23) - 127;
    uint m = (bits & 0x007FFFFFu) | 0x3F800000u;
    if (m > 0x3FB504F3u) {
        m -= 0x00800000u;
        e += 1;
    }
    float f = as_float(m) - 1.0f;
    float p = horner(LOG1P_FIT, f);
    return fma((float)e, 0.693147182f, fma(f * f, p, f));
}

// sqrt(w) for finite w >= 1: three Newton steps on 1/sqrt(w).
inline float portable_sqrt(float w) {
    float r = as_float(0x5F3759DFu - (as_uint(w) >> 1)), h = 0.5f * w;
    for (int i = 0; i < 3; i++) r = r * fma(-h, r * r, 1.5f);
    return w * r;
}

// Giles' single-precision erfinv.
inline float portable_erfinv(float x) {
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

// Uniform and truncated normal: one work item per block (four elements);
// the normal: one work item per element. base/span/scale: the truncated
// normal's constants from rf_rng_trunc_normal_map.
__kernel void rng_fill_f32(int dist, long n, uint key_lo, uint key_hi, ulong offset, float a, float b, float lo,
                           float hi, float base, float span, float scale, __global float *out, ulong out_off) {
    long i = get_global_id(0);
    uint2 key = (uint2)(key_lo, key_hi);
    out += out_off;
    if (dist == D_NORMAL) {
        if (i < n) out[i] = fma(b, irwin_hall(key, offset, 6 * (ulong)i), a);
        return;
    }
    if (4 * i >= n) return;
    uint4 w = fill_block(key, offset + (ulong)i);
    for (int k = 0; k < 4 && 4 * i + k < n; k++) {
        float u = to_float(block_word(w, (uint)k));
        if (dist == D_UNIFORM) {
            out[4 * i + k] = fma(b - a, u, a);
        } else {
            float x = fma(portable_erfinv(fma(span, u, base)), scale, a);
            out[4 * i + k] = fmin(fmax(x, lo), hi);
        }
    }
}
