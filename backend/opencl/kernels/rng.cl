// rng.cl — tensor fills from the Philox-4x32-10 stream defined in
// backend/kernels.h (rng family): the rounds mirror backend/philox.c word
// for word (32-bit mul_hi / mul_lo), and every conversion is integer
// arithmetic plus fma, which OpenCL requires correctly rounded, so the bits
// equal the cpu device's and the host stream's.

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u
#define TAG_TENSOR 0x54656e73u // RF_RNG_TAG_TENSOR
#define TRUNC_CANDIDATES 5     // RF_RNG_TRUNC_CANDIDATES
#define TRUNC_WORDS 32         // RF_RNG_TRUNC_WORDS

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

// Uniform: one work item per block (four elements); the normal forms: one
// work item per element.
__kernel void rng_fill_f32(int dist, long n, uint key_lo, uint key_hi, ulong offset, float a, float b, float lo,
                           float hi, __global float *out, ulong out_off) {
    long i = get_global_id(0);
    uint2 key = (uint2)(key_lo, key_hi);
    out += out_off;
    if (dist == D_UNIFORM) {
        if (4 * i >= n) return;
        uint4 w = fill_block(key, offset + (ulong)i);
        for (int k = 0; k < 4 && 4 * i + k < n; k++) out[4 * i + k] = fma(b - a, to_float(block_word(w, (uint)k)), a);
        return;
    }
    if (i >= n) return;
    if (dist == D_NORMAL) {
        out[i] = fma(b, irwin_hall(key, offset, 6 * (ulong)i), a);
        return;
    }
    ulong base = (ulong)i * TRUNC_WORDS;
    for (int c = 0; c < TRUNC_CANDIDATES; c++) {
        float x = fma(b, irwin_hall(key, offset, base + 6 * (ulong)c), a);
        if (x >= lo && x <= hi) {
            out[i] = x;
            return;
        }
    }
    ulong word = base + 6 * TRUNC_CANDIDATES;
    out[i] = fma(hi - lo, to_float(block_word(fill_block(key, offset + word / 4), (uint)(word % 4))), lo);
}
