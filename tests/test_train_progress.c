/* test_train_progress.c — what training tells a user while it runs:
 * evaluation reports its progress batch by batch (through the API, and as
 * `rfdetr eval` lines), the ETA includes the evaluations still to come (at
 * the last training step it is not 0: valid and test remain), and an
 * official size trained from random weights says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

static char tmp[] = "/tmp/rfdetr_test_train_progress_XXXXXX", rfdetr[1024];

typedef struct seen {
    int64_t last_step, total_steps;
    double last_eta;
    int eval_events, eval_passes_completed;
    int64_t eval_total;
    bool eval_named, random_warning;
} seen;

static void on_progress(void *user, const rf_train_progress *p) {
    seen *s = user;
    switch (p->event) {
    case RF_TRAIN_STEP:
        s->last_step = p->global_step;
        s->total_steps = p->total_steps;
        s->last_eta = p->eta_seconds;
        break;
    case RF_TRAIN_EVAL_PROGRESS:
        s->eval_events++;
        s->eval_total = p->eval_images_total;
        if (p->eval_images_done == p->eval_images_total) s->eval_passes_completed++;
        s->eval_named = p->message && strstr(p->message, "evaluating");
        break;
    case RF_TRAIN_MESSAGE:
        if (p->message && strstr(p->message, "random weights") && strstr(p->message, "--weights"))
            s->random_warning = true;
        break;
    default: break;
    }
}

static int run(const char *cmd, char *out, size_t size) {
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    while (fgetc(p) != EOF) {
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(void) {
    const char *build = getenv("RFDETR_BUILD_DIR");
    snprintf(rfdetr, sizeof rfdetr, "%s/rfdetr", build ? build : "build");
    if (access(rfdetr, X_OK) != 0) {
        char why[1100];
        snprintf(why, sizeof why, "%s is not built", rfdetr);
        return test_skip("test_train_progress", why, "cmake --build build (the rfdetr target)");
    }
    if (!mkdtemp(tmp)) return 1;
    char cmd[4096], out[16384], data[600], run_dir[600];
    snprintf(data, sizeof data, "%s/data", tmp);
    snprintf(cmd, sizeof cmd, "%s make-shapes %s --train 8 --valid 5 --test 3 --size 64 --seed 3", rfdetr, data);
    CHECK(run(cmd, out, sizeof out) == 0, "make-shapes: %s", out);

    /* tiny: one epoch; evaluation progress, and an ETA that counts it. */
    seen s = {0};
    rf_train_config c;
    rf_train_config_defaults(&c);
    snprintf(run_dir, sizeof run_dir, "%s/tiny", tmp);
    c.data = data, c.out_dir = run_dir, c.device = "cpu", c.epochs = 1, c.batch = 4, c.resolution = 64;
    c.progress = on_progress, c.progress_user = &s;
    rf_train_summary sum;
    CHECK_OK(rf_train(&c, &sum));
    CHECK(s.last_step == s.total_steps && s.total_steps == 2, "steps %lld of %lld", (long long)s.last_step,
          (long long)s.total_steps);
    CHECK(s.last_eta > 0, "at the last step, evaluation is still ahead: ETA %.3f s", s.last_eta);
    /* valid: regular and EMA; then test. */
    CHECK(s.eval_passes_completed == 3 && s.eval_named, "%d evaluation passes reported complete, want 3",
          s.eval_passes_completed);
    CHECK(s.eval_events >= 3 && s.eval_total >= 3, "%d evaluation progress events", s.eval_events);
    CHECK(!s.random_warning, "tiny is meant to train from scratch: no warning");

    /* `rfdetr eval` shows its progress too (plain lines when not on a terminal). */
    snprintf(cmd, sizeof cmd, "%s eval --weights %s/checkpoint_best_total.safetensors --data %s --device cpu --batch 2",
             rfdetr, run_dir, data);
    int rc = run(cmd, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "evaluating: 2/5 images") && strstr(out, "evaluating: 5/5 images"),
          "eval progress (exit %d):\n%s", rc, out);

    /* nano from random weights: warned, naming --weights. Stopped before the first step. */
    seen n = {0};
    volatile sig_atomic_t stop = 1;
    snprintf(run_dir, sizeof run_dir, "%s/nano", tmp);
    c.out_dir = run_dir, c.size = "nano", c.progress_user = &n, c.stop = &stop;
    rf_status st = rf_train(&c, &sum);
    CHECK(st == RF_OK || st == RF_ERR_INTERRUPTED, "nano stopped at once: %s", rf_last_error());
    CHECK(n.random_warning, "nano from random weights must warn");

    test_remove_tree(tmp);
    return test_finish("test_train_progress");
}
