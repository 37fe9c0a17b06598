/* test_util.h — the few helpers every test program shares. Each program
 * counts its checks, prints "N passed, N failed" and exits non-zero on any
 * failure, so ctest and humans read the same verdict. */
#ifndef RFDETR_TEST_UTIL_H
#define RFDETR_TEST_UTIL_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rfdetr.h"

/* Weak so every file of one test program shares the same counters. */
__attribute__((weak)) int test_passed_count, test_failed_count;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (cond) {                                                         \
            test_passed_count++;                                            \
        } else {                                                            \
            test_failed_count++;                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
        }                                                                   \
    } while (0)

/* A library call that must succeed; on failure prints rf_last_error(). */
#define CHECK_OK(expr)                                                                                   \
    do {                                                                                                 \
        rf_status check_ok_s_ = (expr);                                                                  \
        CHECK(check_ok_s_ == RF_OK, "%s returned %s: %s", #expr, rf_status_name(check_ok_s_), rf_last_error()); \
    } while (0)

#define CHECK_STATUS(expr, expected)                                                                    \
    do {                                                                                                 \
        rf_status check_st_s_ = (expr);                                                                  \
        CHECK(check_st_s_ == (expected), "%s returned %s, expected %s (%s)", #expr, rf_status_name(check_st_s_), \
              rf_status_name(expected), rf_last_error());                                                \
    } while (0)

static inline int test_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, test_passed_count, test_failed_count);
    return test_failed_count == 0 ? 0 : 1;
}

/* Exit code ctest treats as "skipped" (SKIP_RETURN_CODE). */
#define TEST_SKIP_CODE 77

/* The devices a test runs on: every device every backend reports, unless
 * RFDETR_TEST_DEVICES="cpu,opencl:1" narrows it. Returns the count. */
static inline int test_device_names(char names[][32], int max) {
    const char *only = getenv("RFDETR_TEST_DEVICES");
    int n = 0, total = rf_device_count();
    for (int i = 0; i < total && n < max; i++) {
        rf_device_info info;
        if (rf_device_info_at(i, &info) != RF_OK) continue;
        if (only && *only) {
            char list[1024];
            snprintf(list, sizeof list, ",%s,", only);
            char needle[40];
            snprintf(needle, sizeof needle, ",%s,", info.name);
            if (!strstr(list, needle)) continue;
        }
        snprintf(names[n++], 32, "%s", info.name);
    }
    return n;
}

/* Deterministic test data: a small LCG so every device sees the same input. */
static inline float test_uniform(unsigned long long *state, float lo, float hi) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (float)((*state >> 40) / 16777216.0);
}

/* Removes a test's temporary directory tree (made with mkdtemp); a failure
 * is reported but does not fail the test. */
static inline void test_remove_tree(const char *path) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", path);
}

#endif
