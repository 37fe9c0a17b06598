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

/* What enables a check that cannot run in a plain clone. The Python
 * packages are oracles only (the product never needs Python); ../shared is
 * the fixture folder this project's CI keeps beside the checkout; the
 * facemask dataset is the public Roboflow export named in README.md. */
#define TEST_ENABLE_TORCH "pip install torch numpy"
#define TEST_ENABLE_RFDETR "pip install rfdetr (it brings torch)"
#define TEST_ENABLE_SHARED "the project's fixture folder ../shared beside this checkout (CI has it)"
#define TEST_ENABLE_FACEMASK \
    "RFDETR_FACEMASK_DIR=/path/to/facemask (the Roboflow COCO export; README.md, \"Tests\"), or ../shared/datasets/facemask"

/* A whole test that cannot run here: says why and what would run it, and
 * returns the skip code for main to return. */
static inline int test_skip(const char *test, const char *why, const char *enable) {
    printf("%s: skipped: %s; to run it: %s\n", test, why, enable);
    fflush(stdout);
    return TEST_SKIP_CODE;
}

/* A part of a test that cannot run here; the rest runs and counts. */
static inline void test_skip_part(const char *test, const char *part, const char *why, const char *enable) {
    printf("%s: %s not checked: %s; to check it: %s\n", test, part, why, enable);
    fflush(stdout);
}

/* The facemask dataset: $RFDETR_FACEMASK_DIR, else ../shared/datasets/facemask. */
static inline const char *test_facemask_dir(void) {
    const char *dir = getenv("RFDETR_FACEMASK_DIR");
    return dir && *dir ? dir : "../shared/datasets/facemask";
}

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
