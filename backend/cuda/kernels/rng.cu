// rng.cu — tensor fills from the Philox-4x32-10 stream defined in
// backend/kernels.h (rng family), for the CUDA backend: the rounds mirror
// backend/philox.c word for word (__umulhi and the 32-bit product), and the
// conversions are integer arithmetic plus __fmaf_rn (correctly rounded and
// never contracted or reassociated), so the bits equal every other device's.
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

__device__ inline float to_float(unsigned bits) { return (float)(bits >> 8) * (1.0f / 16777216.0f); }

// The Irwin-Hall normal of the six words starting at (even) word `word`.
__device__ float irwin_hall(const stream &s, unsigned long long word) {
    uint4 b0 = s.block(word / 4), b1 = s.block(word / 4 + 1);
    unsigned w[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
    unsigned sum = 0;
    for (unsigned k = (unsigned)(word % 4), end = k + 6; k < end; k++) sum += (w[k] & 0xFFFFu) + (w[k] >> 16);
    return (float)((int)sum - 393210) * (1.0f / 65536.0f);
}

// Uniform: one thread per block (four elements); the normal forms: one per element.
__global__ void rng_fill_kernel(int dist, long long n, stream s, float a, float b, float lo, float hi, float *out) {
    long long i = global_index();
    if (dist == RF_RNG_UNIFORM) {
        if (4 * i >= n) return;
        uint4 w = s.block((unsigned long long)i);
        for (int k = 0; k < 4 && 4 * i + k < n; k++) out[4 * i + k] = __fmaf_rn(b - a, to_float(word_of(w, (unsigned)k)), a);
        return;
    }
    if (i >= n) return;
    if (dist == RF_RNG_NORMAL) {
        out[i] = __fmaf_rn(b, irwin_hall(s, 6ull * (unsigned long long)i), a);
        return;
    }
    unsigned long long base = (unsigned long long)i * RF_RNG_TRUNC_WORDS;
    for (int c = 0; c < RF_RNG_TRUNC_CANDIDATES; c++) {
        float x = __fmaf_rn(b, irwin_hall(s, base + 6ull * (unsigned long long)c), a);
        if (x >= lo && x <= hi) {
            out[i] = x;
            return;
        }
    }
    unsigned long long word = base + 6ull * RF_RNG_TRUNC_CANDIDATES;
    out[i] = __fmaf_rn(hi - lo, to_float(word_of(s.block(word / 4), (unsigned)(word % 4))), lo);
}

rf_status cuda_rng_fill(rf_device *dev, const rf_rng_args *a) {
    ENTER(dev);
    long long items = a->dist == RF_RNG_UNIFORM ? (a->n + 3) / 4 : a->n;
    if (items == 0) return RF_OK;
    stream s = {(unsigned)a->seed, (unsigned)(a->seed >> 32), (unsigned long long)a->offset};
    rng_fill_kernel<<<blocks_for(items), kThreads, 0, stream_of(dev)>>>(a->dist, a->n, s, a->a, a->b, a->lo, a->hi,
                                                                        F(a->out));
    return finish(dev, "rng_fill_kernel");
}

} // namespace

extern "C" const rf_kernels_rng rf_cuda_kernels_rng = {
    cuda_rng_fill,
};
