/* test_philox.c — Philox4x32-10 against Random123's known-answer vectors, and
 * the properties the rest of rfdetr.c relies on: streams are reproducible and
 * independent, conversions stay in range, the normal has mean 0 and sd 1. */
#include <stdint.h>

#include "core/philox.h"
#include "test_util.h"

static void test_known_answers(void) {
    /* Random123 tests/kat_vectors, "philox4x32 10" lines: counter, key, expected. */
    static const uint32_t cases[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
         0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420,
         0x24126ea1},
    };
    for (int c = 0; c < 3; c++) {
        uint32_t out[4];
        rf_philox4x32_10(&cases[c][0], &cases[c][4], out);
        for (int i = 0; i < 4; i++)
            CHECK(out[i] == cases[c][6 + i], "case %d word %d: got %08x want %08x", c, i, out[i], cases[c][6 + i]);
    }
}

static void test_streams(void) {
    rf_philox_stream a, b, c;
    rf_philox_stream_init(&a, 42, 1, 2, 3);
    rf_philox_stream_init(&b, 42, 1, 2, 3);
    rf_philox_stream_init(&c, 42, 1, 2, 4);
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = rf_philox_next_u32(&a), y = rf_philox_next_u32(&b), z = rf_philox_next_u32(&c);
        same_ab += x == y;
        same_ac += x == z;
    }
    CHECK(same_ab == 1000, "same stream must repeat (%d/1000)", same_ab);
    CHECK(same_ac < 3, "different streams must differ (%d equal)", same_ac);

    /* The stream is exactly the block function on counters 0, 1, 2, ... */
    rf_philox_stream_init(&a, 0x0123456789abcdefull, 7, 8, 9);
    uint32_t key[2] = {0x89abcdef, 0x01234567};
    for (uint32_t blk = 0; blk < 3; blk++) {
        uint32_t ctr[4] = {blk, 7, 8, 9}, out[4];
        rf_philox4x32_10(ctr, key, out);
        for (int i = 0; i < 4; i++) CHECK(rf_philox_next_u32(&a) == out[i], "block %u word %d", blk, i);
    }
}

static void test_conversions(void) {
    CHECK(rf_philox_to_float(0) == 0.0f, "0 -> 0");
    CHECK(rf_philox_to_float(0xffffffffu) < 1.0f, "max < 1");
    CHECK(rf_philox_to_double(0xffffffffu, 0xffffffffu) < 1.0, "max < 1");
    CHECK(rf_philox_to_below(0xffffffffu, 7) == 6, "below max");
    CHECK(rf_philox_to_below(0, 7) == 0, "below 0");

    rf_philox_stream s;
    rf_philox_stream_init(&s, 5, 0, 0, 0);
    int counts[6] = {0};
    int ok_int = 1;
    for (int i = 0; i < 60000; i++) {
        int64_t v = rf_philox_next_int(&s, -2, 3);
        if (v < -2 || v > 3) ok_int = 0;
        else counts[v + 2]++;
    }
    CHECK(ok_int, "randint stays in [lo, hi]");
    for (int k = 0; k < 6; k++) CHECK(counts[k] > 9500 && counts[k] < 10500, "randint bucket %d: %d", k, counts[k]);
    CHECK(rf_philox_next_int(&s, 9, 9) == 9, "single-value range");

    double sum = 0, sum2 = 0, lo = 1e9, hi = -1e9;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double x = rf_philox_next_normal(&s);
        sum += x;
        sum2 += x * x;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    CHECK(fabs(mean) < 0.01, "normal mean %g", mean);
    CHECK(fabs(var - 1.0) < 0.02, "normal variance %g", var);
    CHECK(lo >= -6.0 && hi <= 6.0 && lo < -3.5 && hi > 3.5, "normal range [%g, %g]", lo, hi);

    double u_sum = 0;
    int u_ok = 1;
    for (int i = 0; i < n; i++) {
        double u = rf_philox_next_uniform(&s, 12.0, 70.0);
        if (u < 12.0 || u >= 70.0) u_ok = 0;
        u_sum += u;
    }
    CHECK(u_ok, "uniform stays in [lo, hi)");
    CHECK(fabs(u_sum / n - 41.0) < 0.2, "uniform mean %g", u_sum / n);
}

int main(void) {
    test_known_answers();
    test_streams();
    test_conversions();
    return test_finish("test_philox");
}
