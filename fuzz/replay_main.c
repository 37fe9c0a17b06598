/* replay_main.c — runs a harness's LLVMFuzzerTestOneInput over files, as a
 * test of the normal suite: each argument is a file or a directory of
 * files (the seed corpus, and the regressions: every input that ever made
 * a fuzzer fail). Each input sits in an exact malloc'd block so
 * AddressSanitizer builds see any read past its end, and the limits the
 * fuzzers run under hold here too: a resource bomb fails the replay. */
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "core/fileio.h"
#include "fuzz_util.h"

/* scripts/ci-fuzz.sh's -rss_limit_mb and (with room for a slow sanitizer
 * build on a busy machine) its -timeout. */
#define RSS_LIMIT_MB 512
#define SECONDS_LIMIT 30

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int replay_file(const char *path) {
    char *bytes = NULL;
    size_t size = 0;
    if (rf_read_file(path, &bytes, &size) != RF_OK) {
        fprintf(stderr, "%s: %s\n", path, rf_last_error());
        return 1;
    }
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, bytes, size);
    free(bytes);
    double start = seconds_now();
    LLVMFuzzerTestOneInput(copy, size);
    double seconds = seconds_now() - start;
    free(copy);
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    if (usage.ru_maxrss / 1024 > RSS_LIMIT_MB || seconds > SECONDS_LIMIT) {
        fprintf(stderr, "%s: peak memory %ld MB (limit %d), %.1f s (limit %d)\n", path, usage.ru_maxrss / 1024,
                RSS_LIMIT_MB, seconds, SECONDS_LIMIT);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int inputs = 0, failures = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) continue; /* a harness without regressions yet has no folder */
        if (!S_ISDIR(st.st_mode)) {
            failures += replay_file(argv[a]), inputs++;
            continue;
        }
        DIR *d = opendir(argv[a]);
        for (struct dirent *e; d && (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            failures += replay_file(path), inputs++;
        }
        if (d) closedir(d);
    }
    printf("%s: replayed %d inputs, %d unreadable or over the limits\n", argv[0], inputs, failures);
    return failures || inputs == 0 ? 1 : 0;
}
