// rng.cu — tensor fills from the Philox-4x32-10 stream defined in
// backend/kernels.h (rng family), for the CUDA backend: the rounds mirror
// backend/philox.c word for word (__umulhi and the 32-bit product), and the
// conversions are integer arithmetic or the _rn float intrinsics (correctly
// rounded, never contracted or reassociated), so the bits equal every other
// device's.
#include <cstdint>

#include "backend/cuda/kernels/common.cuh"

namespace {

const unsigned kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;

__device__ inline uint4 philox4x32_10(uint4 c, unsigned k0, unsigned k1) {
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k0 += kW0;
            k1 += kW1;
        }
        unsigned hi0 = __umulhi(kM0, c.x), lo0 = kM0 * c.x;
        unsigned hi1 = __umulhi(kM1, c.z), lo1 = kM1 * c.z;
        c = make_uint4(hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0);
    }
    return c;
}

struct stream {
    unsigned key0, key1;
    unsigned long long offset;
    __device__ uint4 block(unsigned long long j) const {
        unsigned long long b = offset + j;
        return philox4x32_10(make_uint4((unsigned)b, (unsigned)(b >> 32), 0u, RF_RNG_TAG_TENSOR), key0, key1);
    }
};

__device__ inline unsigned word_of(uint4 b, unsigned k) { return k == 0 ? b.x : k == 1 ? b.y : k == 2 ? b.z : b.w; }

__device__ inline float to_float(unsigned bits) { return __fmul_rn((float)(bits >> 8), 1.0f / 16777216.0f); }

// The Irwin-Hall normal of the six words starting at (even) word `word`.
__device__ float irwin_hall(const stream &s, unsigned long long word) {
    uint4 b0 = s.block(word / 4), b1 = s.block(word / 4 + 1);
    unsigned w[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
    unsigned sum = 0;
    for (unsigned k = (unsigned)(word % 4), end = k + 6; k < end; k++) sum += (w[k] & 0xFFFFu) + (w[k] >> 16);
    return __fmul_rn((float)((int)sum - 393210), 1.0f / 65536.0f);
}

// ---- erfinv from correctly rounded operations only (twin of
// backend/cpu/kernels_rng.c, operation for operation; the _rn intrinsics are
// never contracted) ---------------------------------------------------------

// Coefficients, highest degree first (see backend/cpu/kernels_rng.c).
__constant__ const float LOG1P_FIT[9] = {-0.0786666796f, 0.128217489f, -0.131016344f, 0.141890004f, -0.166275993f,
                                          0.200019687f, -0.250007719f, 0.333333224f, -0.49999997f};
__constant__ const float ERFINV_CENTRAL[9] = {2.81022636e-08f, 3.43273939e-07f, -3.5233877e-06f, -4.39150654e-06f, 0.00021858087f,
                                               -0.00125372503f, -0.00417768164f, 0.246640727f, 1.50140941f};
__constant__ const float ERFINV_TAIL[9] = {-0.000200214257f, 0.000100950558f, 0.00134934322f, -0.00367342844f, 0.00573950773f,
                                            -0.0076224613f, 0.00943887047f, 1.00167406f, 2.83297682f};

__device__ inline float horner(const float *c, float x) {
    float p = c[0];
    for (int k = 1; k < 9; k++) p = __fmaf_rn(p, x, c[k]);
    return p;
}

// log(y) for y > 0: exponent from the bits, log1p of the mantissa folded
// into [sqrt(1/2), sqrt 2) by a degree-8 fit of (log1p(f) - f) / f^2.
__device__ float portable_log(float y) {
    if (!(y > 0.0f)) return y == 0.0f ? -INFINITY : NAN;
    if (y == INFINITY) return y;
    int e = 0;
    if (y < 1.17549435e-38f) {
        y = __fmul_rn(y, 16777216.0f);
        e = -24;
    }
    unsigned bits = __float_as_uint(y);
    e += (int)(bits >> 23) - 127;
    unsigned m = (bits & 0x007FFFFFu) | 0x3F800000u;
    if (m > 0x3FB504F3u) {
        m -= 0x00800000u;
        e += 1;
    }
    float f = __fsub_rn(__uint_as_float(m), 1.0f);
    float p = horner(LOG1P_FIT, f);
    return __fmaf_rn((float)e, 0.693147182f, __fmaf_rn(__fmul_rn(f, f), p, f));
}

// sqrt(w) for finite w >= 1: three Newton steps on 1/sqrt(w).
__device__ float portable_sqrt(float w) {
    float r = __uint_as_float(0x5F3759DFu - (__float_as_uint(w) >> 1)), h = __fmul_rn(0.5f, w);
    for (int i = 0; i < 3; i++) r = __fmul_rn(r, __fmaf_rn(-h, __fmul_rn(r, r), 1.5f));
    return __fmul_rn(w, r);
}

// Giles' single-precision erfinv.
__device__ float portable_erfinv(float x) {
    float w = -portable_log(__fmul_rn(__fsub_rn(1.0f, x), __fadd_rn(1.0f, x))), p;
    if (w == INFINITY) return __fmul_rn(x, INFINITY);
    if (w < 5.0f) {
        w = __fsub_rn(w, 2.5f);
        p = horner(ERFINV_CENTRAL, w);
    } else {
        w = __fsub_rn(portable_sqrt(w), 3.0f);
        p = horner(ERFINV_TAIL, w);
    }
    return __fmul_rn(p, x);
}

struct trunc_map {
    float base, span, scale;
};

// Uniform and truncated normal: one thread per block (four elements); the
// normal: one thread per element.
__global__ void rng_fill_kernel(int dist, long long n, stream s, float a, float b, float lo, float hi, trunc_map t,
                                float *out) {
    long long i = global_index();
    if (dist == RF_RNG_NORMAL) {
        if (i < n) out[i] = __fmaf_rn(b, irwin_hall(s, 6ull * (unsigned long long)i), a);
        return;
    }
    if (4 * i >= n) return;
    uint4 w = s.block((unsigned long long)i);
    for (int k = 0; k < 4 && 4 * i + k < n; k++) {
        float u = to_float(word_of(w, (unsigned)k));
        if (dist == RF_RNG_UNIFORM) {
            out[4 * i + k] = __fmaf_rn(__fsub_rn(b, a), u, a);
        } else {
            float x = __fmaf_rn(portable_erfinv(__fmaf_rn(t.span, u, t.base)), t.scale, a);
            out[4 * i + k] = fminf(fmaxf(x, lo), hi);
        }
    }
}

rf_status cuda_rng_fill(rf_device *dev, const rf_rng_args *a) {
    ENTER(dev);
    long long items = a->dist == RF_RNG_NORMAL ? a->n : (a->n + 3) / 4;
    if (items == 0) return RF_OK;
    stream s = {(unsigned)a->seed, (unsigned)(a->seed >> 32), (unsigned long long)a->offset};
    trunc_map t = {0.0f, 0.0f, 0.0f};
    if (a->dist == RF_RNG_TRUNC_NORMAL) rf_rng_trunc_normal_map(a->a, a->b, a->lo, a->hi, &t.base, &t.span, &t.scale);
    rng_fill_kernel<<<blocks_for(items), kThreads, 0, stream_of(dev)>>>(a->dist, a->n, s, a->a, a->b, a->lo, a->hi, t,
                                                                        F(a->out));
    return finish(dev, "rng_fill_kernel");
}

} // namespace

extern "C" const rf_kernels_rng rf_cuda_kernels_rng = {
    cuda_rng_fill,
};
