/* test_train_crash.c — `rfdetr train` killed at any moment, then resumed
 * with `--resume DIR` alone, ends exactly as the run that was never
 * interrupted: the same checkpoint, best checkpoints, training state,
 * results.json, plot and run.json bytes, the same log.jsonl (but for its
 * wall-clock epoch_time), and no temporary file left.
 *
 * The run is the tiny model on a small shapes dataset, 2 epochs of 2 steps
 * with a test split, so it passes every kind of write: run.json, the four
 * checkpoints, results.json, log.jsonl, the plot, the training state, and
 * the final test-split results.
 *
 * Modes:
 *   sweep           SIGKILL at every commit moment of every atomic write in
 *                   turn (RFDETR_DEBUG_KILL_AT_WRITE=1, 2, ...: the finished
 *                   temporary file before its rename, and just after it),
 *                   each followed by --resume alone.
 *   random K SEED   K signals at random moments (the 1st, 5th, 9th, ... a
 *                   SIGINT, Ctrl-C's, the rest SIGKILL), chained: the resume is itself
 *                   interrupted again until one finishes; repeated until K
 *                   signals have been sent.
 *   all             sweep, then random 10 1: the CI test (Release).
 *   quick           the kills at commit moments 1, 4, 14, 22 and 27 (before
 *                   run.json; after epoch 1's checkpoint and after its log,
 *                   both before its state; after epoch 2's log; inside the
 *                   final results), and random 1 1 (a Ctrl-C): the
 *                   sanitizer build's version.
 * scripts/crash-test.sh runs the long version (hundreds of kills). */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/fileio.h"
#include "run_compare.h"
#include "test_util.h"

static char rfdetr[1024], work[] = "/tmp/rfdetr_crash_XXXXXX", data[600], reference[600];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct outcome {
    int status;          /* waitpid's */
    bool signalled;      /* the signal was sent */
    double run_seconds;  /* from the start line to the end */
    char err[1 << 15];   /* the tail of stderr */
} outcome;

/* Runs rfdetr with argv. kill_at > 0: RFDETR_DEBUG_KILL_AT_WRITE. sig: sent
 * `delay` seconds after the trainer's start line ("training tiny"), so
 * every kill lands in a started run. */
static void run_rfdetr(char *const argv[], long kill_at, int sig, double delay, outcome *o) {
    memset(o, 0, sizeof *o);
    int fds[2];
    if (pipe(fds) != 0) {
        o->status = -1;
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (kill_at > 0) {
            char value[32];
            snprintf(value, sizeof value, "%ld", kill_at);
            setenv("RFDETR_DEBUG_KILL_AT_WRITE", value, 1);
        } else {
            unsetenv("RFDETR_DEBUG_KILL_AT_WRITE");
        }
        execv(rfdetr, argv);
        _exit(127);
    }
    close(fds[1]);
    char line[4096];
    size_t used = 0, have = 0;
    double started = -1, deadline = -1;
    for (;;) {
        int timeout = -1;
        if (deadline >= 0 && !o->signalled) {
            double left = deadline - now();
            if (left <= 0) {
                kill(pid, sig);
                o->signalled = true;
                continue;
            }
            timeout = (int)(left * 1000) + 1;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int ready = poll(&p, 1, timeout);
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) continue;
        ssize_t n = read(fds[0], line, sizeof line - 1);
        if (n <= 0) break;
        line[n] = '\0';
        /* Keep the tail of stderr for the failure message. */
        if (used + (size_t)n >= sizeof o->err) used = 0;
        memcpy(o->err + used, line, (size_t)n + 1);
        used += (size_t)n;
        have += (size_t)n;
        if (started < 0 && strstr(o->err, "training tiny")) {
            started = now();
            if (sig) deadline = started + delay;
        }
    }
    close(fds[0]);
    waitpid(pid, &o->status, 0);
    o->run_seconds = started >= 0 ? now() - started : 0;
}

static bool killed(const outcome *o) { return WIFSIGNALED(o->status) && WTERMSIG(o->status) == SIGKILL; }
static int exit_code(const outcome *o) { return WIFEXITED(o->status) ? WEXITSTATUS(o->status) : -1; }

/* `rfdetr train` with the run's options into dir. */
static void train_fresh(const char *dir, long kill_at, int sig, double delay, outcome *o) {
    char *argv[] = {rfdetr, "train", "--device", "cpu", "--data", data, "--epochs", "2", "--batch", "4",
                    "--resolution", "128", "--warmup-steps", "1", "--eval-batch", "4", "--seed", "11",
                    "--out", (char *)dir, NULL};
    run_rfdetr(argv, kill_at, sig, delay, o);
}

/* `rfdetr train --resume dir`, nothing else. */
static void resume(const char *dir, int sig, double delay, outcome *o) {
    char *argv[] = {rfdetr, "train", "--resume", (char *)dir, NULL};
    run_rfdetr(argv, 0, sig, delay, o);
}

static char *read_all(const char *dir, const char *name, size_t *n) {
    char path[1200], *text = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *n = 0;
    return rf_read_file(path, &text, n) == RF_OK ? text : NULL;
}

/* The run in dir equals the reference; names the first difference. */
static bool same_as_reference(const char *dir, const char *what) {
    static const char *const files[] = {"checkpoint.safetensors", "training_state.safetensors",
                                        "checkpoint_best_regular.safetensors", "checkpoint_best_ema.safetensors",
                                        "checkpoint_best_total.safetensors", "results.json", "metrics_plot.png",
                                        "run.json", "log.jsonl"};
    bool same = true;
    for (size_t i = 0; i < sizeof files / sizeof files[0] && same; i++) {
        size_t na = 0, nb = 0;
        char *a = read_all(reference, files[i], &na), *b = read_all(dir, files[i], &nb);
        if (a && b && !strcmp(files[i], "log.jsonl")) {
            run_drop_times(a);
            run_drop_times(b);
            na = strlen(a);
            nb = strlen(b);
        }
        bool equal = a && b && na == nb && !memcmp(a, b, na);
        CHECK(equal, "%s: %s differs from the uninterrupted run (%s)", what, files[i], b ? "present" : "missing");
        same = same && equal;
        free(a);
        free(b);
    }
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        CHECK(!strstr(e->d_name, ".tmp."), "%s: temporary file %s left after the resume", what, e->d_name);
        if (strstr(e->d_name, ".tmp.")) same = false;
    }
    if (d) closedir(d);
    return same;
}

static void remove_tree(const char *dir) {
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* ---- SIGKILL at each write in turn ------------------------------------------------------ */
static void sweep(const long *only, int only_count) {
    int commits = 0;
    for (long i = 0, n = 1; n < 200; n++) {
        if (only && (i >= only_count || only[i] != n)) {
            if (i >= only_count) break;
            continue;
        }
        i++;
        char dir[700], what[64];
        snprintf(dir, sizeof dir, "%s/kill%ld", work, n);
        snprintf(what, sizeof what, "kill at write %ld", n);
        outcome o;
        train_fresh(dir, n, 0, 0, &o);
        if (exit_code(&o) == 0) break; /* the run has fewer writes: every one was covered */
        CHECK(killed(&o), "%s: the run was not killed (status %d): %s", what, o.status, o.err);
        if (!killed(&o)) break;
        commits++;
        resume(dir, 0, 0, &o);
        if (n == 1) {
            /* Killed before run.json was committed: the run never started,
             * --resume says so, and the same command starts it. */
            CHECK(exit_code(&o) == 2 && strstr(o.err, "run.json") && strstr(o.err, "before it started"),
                  "%s: resume of a run that never started (exit %d): %s", what, exit_code(&o), o.err);
            train_fresh(dir, 0, 0, 0, &o);
        }
        CHECK(exit_code(&o) == 0, "%s: --resume alone (exit %d): %s", what, exit_code(&o), o.err);
        if (same_as_reference(dir, what) && test_failed_count == 0) remove_tree(dir);
    }
    /* run.json (2), 2 epochs of at least 5 writes (10 each), the test results (2). */
    CHECK(commits >= (only ? only_count : 24), "only %d commit moments seen", commits);
    printf("sweep: killed at each of %d commit moments, each resumed to the uninterrupted run\n", commits);
}

/* ---- signals at random moments, chained -------------------------------------------------- */
static void random_kills(int total, unsigned seed, double run_seconds) {
    srand(seed);
    int sent = 0, trials = 0, sigints = 0;
    while (sent < total) {
        char dir[700], what[128];
        snprintf(dir, sizeof dir, "%s/random%d", work, trials);
        int sig = sent % 4 == 0 ? SIGINT : SIGKILL, signals_here = 0;
        double delay = run_seconds * rand() / RAND_MAX;
        outcome o;
        train_fresh(dir, 0, sig, delay, &o);
        /* Each interrupted run is resumed, and the resume interrupted
         * again, until one finishes. */
        while (o.signalled && exit_code(&o) != 0) {
            sent++;
            signals_here++;
            sigints += sig == SIGINT;
            snprintf(what, sizeof what, "random trial %d, signal %d (%s after %.3f s)", trials, signals_here,
                     sig == SIGINT ? "SIGINT" : "SIGKILL", delay);
            if (sig == SIGINT)
                CHECK(exit_code(&o) == 1 && strstr(o.err, "--resume"), "%s: Ctrl-C (exit %d): %s", what,
                      exit_code(&o), o.err);
            else
                CHECK(killed(&o), "%s: not killed (status %d): %s", what, o.status, o.err);
            if (test_failed_count) return;
            sig = sent % 4 == 0 ? SIGINT : SIGKILL;
            delay = run_seconds * rand() / RAND_MAX;
            resume(dir, sent < total ? sig : 0, delay, &o);
        }
        snprintf(what, sizeof what, "random trial %d (%d signals)", trials, signals_here);
        CHECK(exit_code(&o) == 0, "%s: the last run (exit %d): %s", what, exit_code(&o), o.err);
        if (same_as_reference(dir, what) && test_failed_count == 0) remove_tree(dir);
        trials++;
        if (test_failed_count) return;
    }
    printf("random: %d signals (%d SIGINT) in %d chained trials, each resumed to the uninterrupted run\n", sent,
           sigints, trials);
}

int main(int argc, char **argv) {
    const char *build = getenv("RFDETR_BUILD_DIR");
    snprintf(rfdetr, sizeof rfdetr, "%s/rfdetr", build ? build : "build");
    if (access(rfdetr, X_OK) != 0) {
        printf("test_train_crash: %s not built; skipped\n", rfdetr);
        return TEST_SKIP_CODE;
    }
    if (!mkdtemp(work)) return 1;
    snprintf(data, sizeof data, "%s/data", work);
    snprintf(reference, sizeof reference, "%s/reference", work);
    char *make[] = {rfdetr, "make-shapes", data, "--train", "8", "--valid", "4", "--test", "4", "--size", "128",
                    "--seed", "5", NULL};
    outcome o;
    run_rfdetr(make, 0, 0, 0, &o);
    CHECK(exit_code(&o) == 0, "make-shapes: %s", o.err);
    train_fresh(reference, 0, 0, 0, &o);
    CHECK(exit_code(&o) == 0, "the uninterrupted run (exit %d): %s", exit_code(&o), o.err);
    if (test_failed_count) return test_finish("test_train_crash");
    const char *mode = argc > 1 ? argv[1] : "all";
    if (!strcmp(mode, "all") || !strcmp(mode, "sweep")) sweep(NULL, 0);
    if (!strcmp(mode, "all")) random_kills(10, 1, o.run_seconds);
    if (!strcmp(mode, "quick")) {
        const long writes[] = {1, 4, 14, 22, 27};
        sweep(writes, 5);
        random_kills(1, 1, o.run_seconds);
    }
    if (!strcmp(mode, "random"))
        random_kills(argc > 2 ? atoi(argv[2]) : 100, argc > 3 ? (unsigned)atoi(argv[3]) : 1, o.run_seconds);
    if (test_failed_count == 0) remove_tree(work);
    else fprintf(stderr, "kept %s for inspection\n", work);
    return test_finish("test_train_crash");
}
