/* fuzz_util.h — what the libFuzzer harnesses share: a private scratch
 * directory for readers that take a path, and writing an input there.
 * Each harness defines LLVMFuzzerTestOneInput; built with -fsanitize=fuzzer
 * it is a fuzzer, linked with replay_main.c a regression test that feeds it
 * the committed corpus and every input that ever failed. */
#ifndef RFDETR_FUZZ_UTIL_H
#define RFDETR_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_scratch_dir[512];

static inline void fuzz_remove_scratch(void) {
    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", fuzz_scratch_dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", fuzz_scratch_dir);
}

/* A directory of this process's own, made on first use, removed at exit. */
static inline const char *fuzz_scratch(void) {
    if (!fuzz_scratch_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_scratch_dir, sizeof fuzz_scratch_dir, "%s/rfdetr-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(fuzz_scratch_dir)) abort();
        atexit(fuzz_remove_scratch);
    }
    return fuzz_scratch_dir;
}

/* Writes the input to <scratch>/<name> and returns that path. */
static inline const char *fuzz_write(const char *name, const uint8_t *data, size_t size) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", fuzz_scratch(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
    return path;
}

#endif /* RFDETR_FUZZ_UTIL_H */
