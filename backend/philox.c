#include "backend/philox.h"
#include "backend/kernels/rng.h"

/* The rounds of the one kernel source, so the host and every device draw
 * the same bits from one definition. */
void rf_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
    rf_u32x4 c = {{counter[0], counter[1], counter[2], counter[3]}};
    rf_u32x4 r = rf_philox4x32_10_block(c, key[0], key[1]);
    for (int k = 0; k < 4; k++) out[k] = r.w[k];
}

void rf_philox_stream_init(rf_philox_stream *s, uint64_t seed, uint32_t id1, uint32_t id2, uint32_t id3) {
    s->key[0] = (uint32_t)seed;
    s->key[1] = (uint32_t)(seed >> 32);
    s->counter[0] = 0;
    s->counter[1] = id1;
    s->counter[2] = id2;
    s->counter[3] = id3;
    s->used = 4;
}

uint32_t rf_philox_next_u32(rf_philox_stream *s) {
    if (s->used == 4) {
        rf_philox4x32_10(s->counter, s->key, s->block);
        s->counter[0]++; /* 2^32 blocks = 16 GiB of draws per stream: never reached here */
        s->used = 0;
    }
    return s->block[s->used++];
}

float rf_philox_next_float(rf_philox_stream *s) { return rf_philox_to_float(rf_philox_next_u32(s)); }

double rf_philox_next_double(rf_philox_stream *s) {
    uint32_t hi = rf_philox_next_u32(s);
    uint32_t lo = rf_philox_next_u32(s);
    return rf_philox_to_double(hi, lo);
}

double rf_philox_next_uniform(rf_philox_stream *s, double lo, double hi) {
    return lo + (hi - lo) * rf_philox_next_double(s);
}

uint32_t rf_philox_next_below(rf_philox_stream *s, uint32_t n) { return rf_philox_to_below(rf_philox_next_u32(s), n); }

int64_t rf_philox_next_int(rf_philox_stream *s, int64_t lo, int64_t hi) {
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1u; /* 0 means the full 2^64 range */
    if (span != 0 && span <= 0xFFFFFFFFu) return lo + (int64_t)rf_philox_next_below(s, (uint32_t)span);
    uint64_t x = ((uint64_t)rf_philox_next_u32(s) << 32) | rf_philox_next_u32(s);
    return (int64_t)((uint64_t)lo + (span ? x % span : x));
}

double rf_philox_next_normal(rf_philox_stream *s) {
    uint32_t sum = 0;
    for (int i = 0; i < 6; i++) {
        uint32_t w = rf_philox_next_u32(s);
        sum += (w & 0xFFFFu) + (w >> 16);
    }
    /* Each 16-bit value k stands for (k + 0.5) / 65536; twelve of them sum to
     * (sum + 6) / 65536, whose mean is 6. Every step is exact in double. */
    return ((double)sum + 6.0 - 6.0 * 65536.0) / 65536.0;
}
