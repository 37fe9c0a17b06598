/* philox.h — Philox4x32-10, the counter-based random generator of Salmon et
 * al. ("Parallel random numbers: as easy as 1, 2, 3", SC'11), as in Random123
 * and cuRAND.
 *
 * A counter-based generator is a pure function: (counter, key) -> 4 random
 * words. Nothing is stored between calls, so any draw can be computed
 * independently on any thread or device, in any order, and gives the same
 * bits. rfdetr.c uses it for every random choice (augmentation, shuffling,
 * the shapes dataset, initialisation, dropout masks), which is what makes a
 * run repeat exactly for a seed regardless of thread count or device.
 *
 * Convention used across rfdetr.c: the key is the user's 64-bit seed (low
 * word first); the counter names the draw: word 0 counts blocks within one
 * stream, words 1..3 name the stream (e.g. image index, epoch, purpose tag).
 * The rounds are backend/kernels/rng.h's, shared with every device; the
 * rf_philox_to_* conversions stay free of anything a kernel language lacks
 * (no libm, no 64-bit division, no globals).
 */
#ifndef RFDETR_BACKEND_PHILOX_H
#define RFDETR_BACKEND_PHILOX_H

#include <stdint.h>

/* The bijection itself: 10 rounds over counter[4] under key[2]. */
void rf_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

/* ---- conversions of one or two random words -------------------------------- */

/* Uniform float in [0, 1) from the top 24 bits (every value exactly representable). */
static inline float rf_philox_to_float(uint32_t bits) { return (float)(bits >> 8) * (1.0f / 16777216.0f); }

/* Uniform double in [0, 1) with 53 random bits drawn from two words. */
static inline double rf_philox_to_double(uint32_t hi, uint32_t lo) {
    uint64_t x = ((uint64_t)(hi >> 5) << 26) | (uint64_t)(lo >> 6);
    return (double)x * (1.0 / 9007199254740992.0);
}

/* Integer in [0, n) by multiply-shift (Lemire); the bias is below n / 2^32,
 * and no rejection loop, so a kernel does a fixed amount of work per draw. */
static inline uint32_t rf_philox_to_below(uint32_t bits, uint32_t n) {
    return (uint32_t)(((uint64_t)bits * (uint64_t)n) >> 32);
}

/* ---- a sequential stream on the host --------------------------------------- */

/* Draws one value after another from the stream (key, counter words 1..3),
 * counting blocks in counter word 0. Stream ids make independent sequences:
 * two streams differing in any id word never share a block. */
typedef struct rf_philox_stream {
    uint32_t key[2];
    uint32_t counter[4];
    uint32_t block[4];
    int used; /* words of block already handed out (4 = need a new block) */
} rf_philox_stream;

void rf_philox_stream_init(rf_philox_stream *s, uint64_t seed, uint32_t id1, uint32_t id2, uint32_t id3);
uint32_t rf_philox_next_u32(rf_philox_stream *s);
/* Uniform in [0, 1). */
float rf_philox_next_float(rf_philox_stream *s);
/* Uniform in [0, 1) with 53 bits. */
double rf_philox_next_double(rf_philox_stream *s);
/* Uniform in [lo, hi). */
double rf_philox_next_uniform(rf_philox_stream *s, double lo, double hi);
/* Integer uniform in [0, n); n >= 1. */
uint32_t rf_philox_next_below(rf_philox_stream *s, uint32_t n);
/* Integer uniform in [lo, hi], both ends included (Python's randint); lo <= hi. */
int64_t rf_philox_next_int(rf_philox_stream *s, int64_t lo, int64_t hi);
/* Approximately standard normal: the Irwin-Hall sum of twelve 16-bit uniforms
 * (each centred in its bin) minus 6. Only integer adds and one exact scaling,
 * so every platform and device gives the same bits (Box-Muller would depend
 * on libm's log and cos). Mean exactly 0, variance 1 - 2^-32; tails are cut
 * at +-6, which no use here can tell apart from a Gaussian. */
double rf_philox_next_normal(rf_philox_stream *s);

#endif /* RFDETR_BACKEND_PHILOX_H */
