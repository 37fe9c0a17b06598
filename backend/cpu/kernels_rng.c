/* kernels_rng.c — the cpu device's random fill: the stream of
 * backend/kernels.h (rng family) built on the host Philox of
 * backend/philox.h. Every conversion is integer arithmetic plus fmaf, which
 * C guarantees correctly rounded, so the bits equal every other device's. */
#include <math.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/philox.h"
#include "backend/status.h"

/* Words of block `block` of the fill stream. */
static void fill_block(const uint32_t key[2], uint64_t block, uint32_t out[4]) {
    const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0, RF_RNG_TAG_TENSOR};
    rf_philox4x32_10(ctr, key, out);
}

/* The Irwin-Hall normal (rf_philox_next_normal) of the six words starting at
 * word `word` (even) of the stream. */
static float irwin_hall(const uint32_t key[2], uint64_t offset, uint64_t word) {
    uint32_t w[8];
    fill_block(key, offset + word / 4, w);
    fill_block(key, offset + word / 4 + 1, w + 4);
    uint32_t sum = 0;
    for (unsigned k = (unsigned)(word % 4), end = k + 6; k < end; k++) sum += (w[k] & 0xFFFFu) + (w[k] >> 16);
    return (float)((int32_t)sum - 393210) * (1.0f / 65536.0f);
}

static rf_status cpu_rng_fill(rf_device *dev, const rf_rng_args *a) {
    float *out = CPU_F(a->out);
    const uint32_t key[2] = {(uint32_t)a->seed, (uint32_t)(a->seed >> 32)};
    switch (a->dist) {
    case RF_RNG_UNIFORM:
        for (int64_t i = 0; i < a->n; i += 4) {
            uint32_t w[4];
            fill_block(key, a->offset + (uint64_t)i / 4, w);
            for (int64_t k = 0; k < 4 && i + k < a->n; k++) out[i + k] = fmaf(a->b - a->a, rf_philox_to_float(w[k]), a->a);
        }
        return RF_OK;
    case RF_RNG_NORMAL:
        for (int64_t i = 0; i < a->n; i++) out[i] = fmaf(a->b, irwin_hall(key, a->offset, 6 * (uint64_t)i), a->a);
        return RF_OK;
    case RF_RNG_TRUNC_NORMAL:
        for (int64_t i = 0; i < a->n; i++) {
            uint64_t base = (uint64_t)i * RF_RNG_TRUNC_WORDS;
            int c = 0;
            float x = 0;
            for (; c < RF_RNG_TRUNC_CANDIDATES; c++) {
                x = fmaf(a->b, irwin_hall(key, a->offset, base + 6 * (uint64_t)c), a->a);
                if (x >= a->lo && x <= a->hi) break;
            }
            if (c == RF_RNG_TRUNC_CANDIDATES) {
                uint32_t w[4];
                uint64_t word = base + 6 * RF_RNG_TRUNC_CANDIDATES;
                fill_block(key, a->offset + word / 4, w);
                x = fmaf(a->hi - a->lo, rf_philox_to_float(w[word % 4]), a->lo);
            }
            out[i] = x;
        }
        return RF_OK;
    }
    return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rng fill: unknown distribution %d", (int)a->dist);
}

const rf_kernels_rng rf_cpu_kernels_rng = {
    .fill = cpu_rng_fill,
};
