/* kernel_cases_rng.c — cases for the random fill: every distribution, sizes
 * around the four-word block, offsets whose block counter crosses into the
 * high word, seeds with high bits, truncation windows centred, narrow,
 * one-sided and wide enough to reach erfinv's tail branch. The bits must equal the cpu
 * device's exactly (tolerance 0): the stream is integer arithmetic and
 * correctly rounded float operations only. tests/test_random.c checks the
 * host Philox and the distributions. */
#include <math.h>
#include <stdio.h>

#include "kernel_harness.h"

static rf_status launch_fill(const kcase *c, rf_device *dev, const rf_mem *m) {
    rf_rng_args a = *KC_CPARAMS(c, rf_rng_args);
    a.out = m[0];
    return rf_kernel_fill(dev, &a);
}

static void add(kcase *cases, int *n, int max, rf_rng_dist dist, int64_t count, uint64_t seed, uint64_t offset,
                float a, float b, float lo, float hi) {
    static const char *const names[] = {"uniform", "normal", "trunc_normal"};
    kcase *c = kc_new(cases, n, max, "rng", "fill", launch_fill, 0.0);
    if (!c) return;
    *KC_PARAMS(c, rf_rng_args) = (rf_rng_args){.dist = dist, .n = count, .seed = seed, .offset = offset, .a = a,
                                               .b = b, .lo = lo, .hi = hi};
    kc_add(c, "out", KC_OUT, KC_F32, (size_t)count, 0, 0);
    snprintf(c->desc, sizeof c->desc, "RNG_FILL(dist=%s,n=%lld,seed=0x%llx,offset=0x%llx,a=%g,b=%g,lo=%g,hi=%g)",
             names[dist], (long long)count, (unsigned long long)seed, (unsigned long long)offset, a, b, lo, hi);
}

int kc_cases_rng(kcase *cases, int max) {
    int n = 0;
    const int64_t sizes[] = {1, 3, 4, 5, 1001, 65537};
    const uint64_t offsets[] = {0, 7, 0xFFFFFFFFull, 0x10000000003ull};
    for (int dist = 0; dist < 3; dist++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
                if (sizes[s] > 1001 && o != 2) continue;
                uint64_t seed = o % 2 ? 0x0123456789ABCDEFull : 42;
                if (dist == RF_RNG_UNIFORM) add(cases, &n, max, RF_RNG_UNIFORM, sizes[s], seed, offsets[o], -0.5f, 1.75f, 0, 0);
                if (dist == RF_RNG_NORMAL) add(cases, &n, max, RF_RNG_NORMAL, sizes[s], seed, offsets[o], 0.25f, 0.02f, 0, 0);
                if (dist == RF_RNG_TRUNC_NORMAL) {
                    add(cases, &n, max, RF_RNG_TRUNC_NORMAL, sizes[s], seed, offsets[o], 0.0f, 1.0f, -2.0f, 2.0f);
                    add(cases, &n, max, RF_RNG_TRUNC_NORMAL, sizes[s], seed, offsets[o], 0.0f, 1.0f, -0.05f, 0.05f);
                    add(cases, &n, max, RF_RNG_TRUNC_NORMAL, sizes[s], seed, offsets[o], 1.0f, 0.5f, 1.5f, 3.0f);
                    add(cases, &n, max, RF_RNG_TRUNC_NORMAL, sizes[s], seed, offsets[o], 0.0f, 0.02f, -2.0f, 2.0f);
                }
            }
    return n;
}
