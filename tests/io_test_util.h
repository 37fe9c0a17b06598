/* io_test_util.h — helpers of the weight-file tests (safetensors, pth):
 * a scratch directory, Python oracles, fixture paths and a deterministic
 * byte mutator for the robustness tests. */
#ifndef RFDETR_IO_TEST_UTIL_H
#define RFDETR_IO_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

/* A fresh directory under $TMPDIR (or /tmp); removed by io_scratch_remove. */
static inline void io_scratch_make(char *dir, size_t size) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, size, "%s/rfdetr-io-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static inline void io_scratch_remove(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* The repository root: ctest runs tests there and sets RFDETR_SOURCE_DIR. */
static inline const char *io_source_dir(void) {
    const char *s = getenv("RFDETR_SOURCE_DIR");
    return s && *s ? s : ".";
}

/* 0 when `python3 -c "import <modules>"` works (modules: "torch" or
 * "safetensors, numpy"). */
static inline int io_python_has(const char *modules) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "python3 -c 'import %s' >/dev/null 2>&1", modules);
    return system(cmd) == 0;
}

/* Runs a Python script of tests/fixtures with arguments; returns its exit
 * status (non-zero when it failed or could not run). */
static inline int io_python_run(const char *script, const char *args) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/fixtures/%s' %s", io_source_dir(), script, args);
    int rc = system(cmd);
    return rc == 0 ? 0 : (rc < 0 ? 1 : (rc >> 8 ? rc >> 8 : 1));
}

/* The same small LCG as test_uniform, for byte positions and values. */
static inline uint32_t io_random(unsigned long long *state) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*state >> 33);
}

/* Robustness: feeds `probe` every truncation of data[0..size) and `flips`
 * copies with 1-4 random bytes replaced. Each input lives in its own exact
 * malloc'd block so ASan sees any read past it. A probe returns the status
 * of parsing (and reading everything from) the input; anything but RF_OK or
 * a clean RF_ERR_FORMAT / RF_ERR_UNSUPPORTED with a message is a failure. */
static inline void io_fuzz_one(const uint8_t *input, size_t n, const char *what, size_t which,
                               rf_status (*probe)(const uint8_t *data, size_t size), int *accepted) {
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, input, n);
    rf_status s = probe(copy, n);
    bool clean = s == RF_OK || ((s == RF_ERR_FORMAT || s == RF_ERR_UNSUPPORTED) && rf_last_error()[0]);
    CHECK(clean, "%s %zu: %s %s", what, which, rf_status_name(s), rf_last_error());
    if (s == RF_OK) (*accepted)++;
    free(copy);
}

/* RFDETR_FUZZ_SCALE=k multiplies the mutations and RFDETR_FUZZ_SEED=s
 * changes them, for longer runs by hand; ctest uses the defaults. */
static inline void io_fuzz(const uint8_t *data, size_t size, int flips, unsigned long long seed,
                           rf_status (*probe)(const uint8_t *data, size_t size)) {
    int accepted = 0;
    const char *scale = getenv("RFDETR_FUZZ_SCALE"), *seed_env = getenv("RFDETR_FUZZ_SEED");
    if (scale && atoi(scale) > 0) flips *= atoi(scale);
    if (seed_env) seed += strtoull(seed_env, NULL, 10);
    for (size_t cut = 0; cut < size; cut++) io_fuzz_one(data, cut, "truncation to", cut, probe, &accepted);
    uint8_t *mutated = malloc(size);
    for (int f = 0; f < flips; f++) {
        memcpy(mutated, data, size);
        int count = 1 + (int)(io_random(&seed) % 4);
        for (int k = 0; k < count; k++) mutated[io_random(&seed) % size] = (uint8_t)io_random(&seed);
        io_fuzz_one(mutated, size, "mutation", (size_t)f, probe, &accepted);
    }
    free(mutated);
    printf("fuzz: %zu truncations and %d mutations, %d accepted, the rest rejected cleanly\n", size, flips, accepted);
}

#endif
