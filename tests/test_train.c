/* test_train.c — the trainer end to end on a small shapes dataset (tiny model
 * at 128 px, a few steps):
 *   - the run directory: log.jsonl per epoch, results.json (valid + test),
 *     metrics_plot.png, and the four checkpoints, all present after epoch 1;
 *   - resume: 1 epoch, then --resume to 2 equals 2 epochs straight, bit for
 *     bit (weights, optimizer, EMA, log numbers); an interrupted run
 *     (stop flag mid-epoch, as Ctrl-C sets it) resumed equals it too;
 *   - the device guarantee: the same run on opencl:1 and opencl:0 gives
 *     identical losses, weights and AP/AR, never opening opencl:0 during the
 *     opencl:1 run; the cpu agrees within 1e-4 relative over the first steps;
 *   - faults: NaN loss stops naming the step and the last good checkpoint;
 *     out of device memory names the device and suggests a smaller batch;
 *     a checkpoint write that hits a full disk fails without leaving a torn
 *     or temporary file and keeps the previous checkpoint;
 *   - fp16: an injected infinite gradient skips its step (weights as they
 *     were), halves the loss scale, and the next step trains, on cpu and
 *     opencl:1; the scaler's state resumes bit for bit; in f32 the same
 *     gradient is an error.
 * Modes: no argument runs all; or one of layout, resume, devices, faults, fp16. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/status.h"
#include "core/fileio.h"
#include "core/optim.h"
#include "core/safetensors.h"
#include "data/shapes.h"
#include "run_compare.h"
#include "test_util.h"
#include "train/replicas.h"
#include "train/run_config.h"
#include "train/trainer.h"

static char data_dir[300], work_dir[256];

#define MAX_RECORDED 512

typedef struct recorder {
    double loss[MAX_RECORDED];
    int steps;
    int stop_after; /* raise the stop flag after this many steps (0: never) */
    volatile sig_atomic_t *stop;
} recorder;

static void record(void *user, const rf_train_progress *p) {
    recorder *r = user;
    if (p->event != RF_TRAIN_STEP) return;
    if (r->steps < MAX_RECORDED) r->loss[r->steps] = p->loss;
    r->steps++;
    if (r->stop_after && r->steps == r->stop_after && r->stop) *r->stop = 1;
}

static void base_config(rf_train_config *c, const char *device, const char *out, int epochs) {
    rf_train_config_defaults(c);
    c->data = data_dir;
    c->device = device;
    c->out_dir = out;
    c->epochs = epochs;
    c->batch = 4;
    c->grad_accum = 2;
    c->resolution = 128; /* 8 x 8 tokens: more proposals than the 50 queries */
    c->warmup_steps = 2;
    c->eval_batch = 4;
    c->seed = 7;
    c->threads = 2;
}

static bool same_training_state(const char *a, const char *b) {
    /* The state embeds nothing time-dependent: identical runs, identical bytes. */
    return run_same_file(run_path_in(a, "training_state.safetensors"), run_path_in(b, "training_state.safetensors")) &&
           run_same_file(run_path_in(a, "checkpoint.safetensors"), run_path_in(b, "checkpoint.safetensors"));
}

static rf_status run(rf_train_config *c, rf_train_summary *s) {
    rf_status st = rf_train(c, s);
    if (st != RF_OK && st != RF_ERR_INTERRUPTED) fprintf(stderr, "rf_train: %s\n", rf_last_error());
    return st;
}

/* ---- the run directory ------------------------------------------------------------- */
static void test_layout(void) {
    char out[300];
    snprintf(out, sizeof out, "%s/layout", work_dir);
    rf_train_config c;
    base_config(&c, "cpu", out, 2);
    rf_train_summary s;
    CHECK_OK(run(&c, &s));
    const char *files[] = {"checkpoint.safetensors", "training_state.safetensors", "checkpoint_best_regular.safetensors",
                           "checkpoint_best_ema.safetensors", "checkpoint_best_total.safetensors", "log.jsonl",
                           "results.json", "metrics_plot.png"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        CHECK(rf_file_exists(run_path_in(out, files[i])), "%s missing", files[i]);
    char *log = NULL;
    size_t n = 0;
    CHECK_OK(rf_read_file(run_path_in(out, "log.jsonl"), &log, &n));
    int lines = 0;
    for (size_t i = 0; log && i < n; i++) lines += log[i] == '\n';
    CHECK(lines == 2, "log.jsonl has %d lines for 2 epochs", lines);
    CHECK(log && strstr(log, "\"test_coco_eval_bbox\":[") && strstr(log, "\"ema_test_coco_eval_bbox\":[") &&
              strstr(log, "\"train_loss\":"),
          "log fields");
    free(log);
    char *results = NULL;
    CHECK_OK(rf_read_file(run_path_in(out, "results.json"), &results, &n));
    CHECK(results && strstr(results, "\"valid\"") && strstr(results, "\"test\"") && strstr(results, "\"circle\""),
          "results.json has valid and test tables with class names");
    free(results);
    CHECK(s.epochs_run == 2 && s.steps > 0 && s.has_test, "summary: %lld epochs %lld steps test %d",
          (long long)s.epochs_run, (long long)s.steps, s.has_test);
    /* No temporary files left behind. */
    DIR *d = opendir(out);
    struct dirent *e;
    while (d && (e = readdir(d))) CHECK(!strstr(e->d_name, ".tmp."), "temporary file %s left", e->d_name);
    if (d) closedir(d);
    /* The weights carry their configuration: a model loads from them alone. */
    rf_safetensors *st = NULL;
    CHECK_OK(rf_safetensors_open(run_path_in(out, "checkpoint_best_total.safetensors"), &st));
    rf_safetensors_close(st);
}

/* ---- resume ------------------------------------------------------------------------ */
static void test_resume(void) {
    char straight[300], split[300], interrupted[300];
    snprintf(straight, sizeof straight, "%s/straight", work_dir);
    snprintf(split, sizeof split, "%s/split", work_dir);
    snprintf(interrupted, sizeof interrupted, "%s/interrupted", work_dir);
    rf_train_config c;
    rf_train_summary s;
    base_config(&c, "cpu", straight, 2);
    CHECK_OK(run(&c, &s));

    /* Stopped after epoch 1, resumed to 2. */
    base_config(&c, "cpu", split, 1);
    CHECK_OK(run(&c, &s));
    base_config(&c, "cpu", split, 2);
    c.resume = true;
    CHECK_OK(run(&c, &s));
    CHECK(same_training_state(straight, split), "resumed after epoch 1 differs from the uninterrupted run");
    char *a = run_log_without_times(straight), *b = run_log_without_times(split);
    CHECK(a && b && !strcmp(a, b), "log.jsonl differs:\n%s\n%s", a ? a : "", b ? b : "");
    free(b);

    /* Interrupted mid-epoch (the stop flag Ctrl-C raises), then resumed. */
    volatile sig_atomic_t stop = 0;
    recorder r = {.stop_after = 2, .stop = &stop}; /* the epoch has 3 steps: stop inside it */
    base_config(&c, "cpu", interrupted, 2);
    c.stop = &stop;
    c.progress = record;
    c.progress_user = &r;
    CHECK_STATUS(run(&c, &s), RF_ERR_INTERRUPTED);
    CHECK(strstr(rf_last_error(), "--resume"), "interrupt message: %s", rf_last_error());
    CHECK(s.interrupted, "summary says interrupted");
    base_config(&c, "cpu", interrupted, 2);
    c.resume = true;
    CHECK_OK(run(&c, &s));
    CHECK(same_training_state(straight, interrupted), "resumed after an interruption differs from the uninterrupted run");
    b = run_log_without_times(interrupted);
    CHECK(a && b && !strcmp(a, b), "log.jsonl differs after interruption");
    free(a);
    free(b);
}

/* ---- the device guarantee ---------------------------------------------------------------- */
static void test_devices(void) {
    if (rf_device_check_name("opencl:1", NULL) != RF_OK) {
        test_skip_part("test_train", "the opencl:1 device checks", "no opencl:1",
                       "POCL_DEVICES=\"pthread pthread\" (two PoCL devices; scripts/test.sh sets it)");
        return;
    }
    char on1[300], on0[300], oncpu[300];
    snprintf(on1, sizeof on1, "%s/opencl1", work_dir);
    snprintf(on0, sizeof on0, "%s/opencl0", work_dir);
    snprintf(oncpu, sizeof oncpu, "%s/cpu", work_dir);
    rf_train_config c;
    rf_train_summary s1, s0, sc;
    recorder r1 = {0}, r0 = {0}, rc = {0};
    uint64_t opens0 = rf_device_open_count("opencl:0");
    base_config(&c, "opencl:1", on1, 1);
    c.progress = record;
    c.progress_user = &r1;
    CHECK_OK(run(&c, &s1));
    CHECK(rf_device_open_count("opencl:0") == opens0, "the opencl:1 run opened opencl:0");
    CHECK(rf_device_open_count("opencl:1") > 0, "the opencl:1 run did not open opencl:1");
    base_config(&c, "opencl:0", on0, 1);
    c.progress = record;
    c.progress_user = &r0;
    CHECK_OK(run(&c, &s0));
    CHECK(r1.steps == r0.steps && r1.steps > 0, "step counts %d vs %d", r1.steps, r0.steps);
    for (int i = 0; i < r1.steps && i < MAX_RECORDED; i++)
        CHECK(r1.loss[i] == r0.loss[i], "step %d loss opencl:1 %.9g opencl:0 %.9g", i, r1.loss[i], r0.loss[i]);
    for (int i = 0; i < 12; i++)
        CHECK(s1.best_total_stats[i] == s0.best_total_stats[i], "stat %d: %.9g vs %.9g", i, s1.best_total_stats[i],
              s0.best_total_stats[i]);
    CHECK(same_training_state(on1, on0), "weights / optimizer state differ between opencl:1 and opencl:0");
    base_config(&c, "cpu", oncpu, 1);
    c.max_steps = 3;
    c.progress = record;
    c.progress_user = &rc;
    CHECK_OK(run(&c, &sc));
    /* Different hardware sums in another order: close, not equal. */
    for (int i = 0; i < rc.steps && i < 3; i++)
        CHECK(fabs(rc.loss[i] - r1.loss[i]) <= 1e-4 * fabs(r1.loss[i]), "step %d loss cpu %.9g opencl:1 %.9g", i,
              rc.loss[i], r1.loss[i]);
}

/* ---- faults ------------------------------------------------------------------------------ */
static void test_faults(void) {
    char nan_dir[300], oom_dir[300], full_dir[300];
    snprintf(nan_dir, sizeof nan_dir, "%s/nan", work_dir);
    snprintf(oom_dir, sizeof oom_dir, "%s/oom", work_dir);
    snprintf(full_dir, sizeof full_dir, "%s/full", work_dir);
    rf_train_config c;
    rf_train_summary s;

    /* NaN: one good epoch, then an absurd learning rate blows the weights up.
     * A resume refuses a changed learning rate, so the run's saved options
     * are edited as if it had been started with it. */
    base_config(&c, "cpu", nan_dir, 1);
    CHECK_OK(run(&c, &s));
    base_config(&c, "cpu", nan_dir, 3);
    c.resume = true;
    c.lr = 1e30;
    c.lr_encoder = 1e30;
    c.clip_max_norm = 0;
    c.warmup_steps = 0;
    rf_train_run saved;
    int64_t split_images[3];
    int devices = 0;
    CHECK_OK(rf_run_config_load(nan_dir, &saved, split_images, &devices));
    CHECK_OK(rf_run_config_save(&c, split_images, devices, nan_dir));
    rf_status st = rf_train(&c, &s);
    CHECK(st == RF_ERR_NUMERIC, "NaN loss gave %s: %s", rf_status_name(st), rf_last_error());
    CHECK(strstr(rf_last_error(), "at step") && strstr(rf_last_error(), "last good checkpoint") &&
              strstr(rf_last_error(), "checkpoint.safetensors"),
          "NaN message: %s", rf_last_error());

    /* Out of device memory, provoked by a small memory limit. */
    base_config(&c, "cpu", oom_dir, 1);
    c.device_memory_limit = 4 << 20;
    st = rf_train(&c, &s);
    CHECK(st == RF_ERR_OUT_OF_MEMORY, "memory limit gave %s", rf_status_name(st));
    CHECK(strstr(rf_last_error(), "cpu") && strstr(rf_last_error(), "bytes") && strstr(rf_last_error(), "smaller batch"),
          "OOM message: %s", rf_last_error());

    /* Disk full while writing a checkpoint: in a child whose file size limit
     * (RLIMIT_FSIZE, with SIGXFSZ ignored: writes fail with EFBIG as on a
     * full disk) is below one checkpoint. The first epoch runs unlimited. */
    base_config(&c, "cpu", full_dir, 1);
    CHECK_OK(run(&c, &s));
    char *before = NULL;
    size_t before_n = 0;
    CHECK_OK(rf_read_file(run_path_in(full_dir, "checkpoint.safetensors"), &before, &before_n));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {1 << 20, 1 << 20};
        setrlimit(RLIMIT_FSIZE, &lim);
        rf_train_config cc;
        base_config(&cc, "cpu", full_dir, 2);
        cc.resume = true;
        rf_train_summary ss;
        rf_status cs = rf_train(&cc, &ss);
        fprintf(stderr, "disk full child: %s: %s\n", rf_status_name(cs), rf_last_error());
        _exit(cs == RF_ERR_IO && strstr(rf_last_error(), "previous file is kept") ? 0 : 1);
    }
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "disk-full run did not fail cleanly with RF_ERR_IO");
    char *after = NULL;
    size_t after_n = 0;
    CHECK_OK(rf_read_file(run_path_in(full_dir, "checkpoint.safetensors"), &after, &after_n));
    CHECK(before && after && before_n == after_n && !memcmp(before, after, before_n), "the previous checkpoint changed");
    free(before);
    free(after);
    DIR *d = opendir(full_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) CHECK(!strstr(e->d_name, ".tmp."), "temporary file %s left after disk full", e->d_name);
    if (d) closedir(d);
}

/* ---- fp16: dynamic loss scaling ------------------------------------------------------------ */
/* Injects an infinite gradient element into replica 0 at one step, just
 * before the optimizer reads the gradients, and watches the weights around
 * that step. */
typedef struct injector {
    int64_t inject_at; /* 1-based optimizer step (0: never) */
    int64_t steps;     /* BEFORE_STEP calls so far */
    float *before;     /* replica 0's weights when the gradient was poisoned */
    size_t count;
    bool unchanged_by_step, changed_by_next;
    bool checked_next;
} injector;

static rf_status inject(void *user, struct rf_replicas *reps, rf_train_hook_point point) {
    injector *in = user;
    rf_params *p = rf_replicas_at(reps, 0)->model->params;
    size_t count = (size_t)p->total;
    if (point == RF_TRAIN_HOOK_BEFORE_STEP) {
        if (++in->steps != in->inject_at) return RF_OK;
        in->count = count;
        in->before = malloc(count * sizeof(float));
        if (!in->before) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        RF_TRY(rf_buffer_download(p->values, 0, in->before, count * sizeof(float)));
        return rf_buffer_fill_f32(p->grads, count / 3, 1, INFINITY);
    }
    if (!in->before || in->steps > in->inject_at + 1 || in->checked_next) return RF_OK;
    float *now = malloc(count * sizeof(float));
    if (!now) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    rf_status s = rf_buffer_download(p->values, 0, now, count * sizeof(float));
    bool same = s == RF_OK && !memcmp(now, in->before, count * sizeof(float));
    if (in->steps == in->inject_at) {
        in->unchanged_by_step = same;
    } else {
        in->changed_by_next = !same;
        in->checked_next = true;
    }
    free(now);
    return s;
}

typedef struct scale_log {
    double scale[MAX_RECORDED];
    bool skipped[MAX_RECORDED];
    int steps;
} scale_log;

static void record_scale(void *user, const rf_train_progress *p) {
    scale_log *l = user;
    if (p->event != RF_TRAIN_STEP || l->steps >= MAX_RECORDED) return;
    l->scale[l->steps] = p->loss_scale;
    l->skipped[l->steps] = p->step_skipped;
    l->steps++;
}

enum { INJECT = 2 }; /* in epoch 1 (3 steps) */

/* The injected overflow on `device`, a 2-epoch fp16 run into dir: step
 * INJECT is skipped (weights as they were), the scale halves, the next step
 * trains. */
static void check_injected_overflow(const char *device, const char *dir) {
    rf_train_config c;
    rf_train_summary s;
    base_config(&c, device, dir, 2);
    c.precision = RF_PRECISION_F16;
    scale_log log = {0};
    c.progress = record_scale;
    c.progress_user = &log;
    injector in = {.inject_at = INJECT};
    rf_status st = rf_train_with_hook(&c, &s, inject, &in);
    CHECK(st == RF_OK, "%s: fp16 run: %s: %s", device, rf_status_name(st), rf_last_error());
    CHECK(log.steps == 6 && s.steps == 6, "%s: fp16 run: %d steps reported, %lld taken", device, log.steps,
          (long long)s.steps);
    if (log.steps == 6) {
        CHECK(log.scale[0] == RF_LOSS_SCALE_INITIAL, "%s: the first step's loss scale is %g", device, log.scale[0]);
        CHECK(log.skipped[INJECT - 1], "%s: the step with an infinite gradient was not skipped", device);
        CHECK(!log.skipped[INJECT] && log.scale[INJECT] == log.scale[INJECT - 1] / 2,
              "%s: after the overflow: scale %g (was %g), skipped %d", device, log.scale[INJECT], log.scale[INJECT - 1],
              log.skipped[INJECT]);
        int skipped = 0;
        for (int i = 0; i < log.steps; i++) skipped += log.skipped[i];
        CHECK(s.skipped_steps == skipped && s.loss_scale == log.scale[5] / (log.skipped[5] ? 2 : 1),
              "%s: summary: %lld skipped, scale %g; progress: %d skipped", device, (long long)s.skipped_steps,
              s.loss_scale, skipped);
    }
    CHECK(in.unchanged_by_step, "%s: the skipped step changed the weights", device);
    CHECK(in.changed_by_next, "%s: the step after the overflow did not train", device);
    free(in.before);
    char *text = NULL;
    size_t n = 0;
    CHECK_OK(rf_read_file(run_path_in(dir, "log.jsonl"), &text, &n));
    CHECK(text && strstr(text, "\"train_loss_scale\":") && strstr(text, "\"train_skipped_steps\":"),
          "%s: log.jsonl lacks the loss scale: %s", device, text ? text : "");
    free(text);
}

/* After the first step, every weight 1e6: fp16 products overflow in the forward pass. */
static rf_status blow_up(void *user, struct rf_replicas *reps, rf_train_hook_point point) {
    int *steps = user;
    if (point != RF_TRAIN_HOOK_AFTER_STEP || ++*steps != 1) return RF_OK;
    rf_params *p = rf_replicas_at(reps, 0)->model->params;
    return rf_buffer_fill_f32(p->values, 0, (size_t)p->total, 1e6f);
}

static void test_fp16(void) {
    char straight[300], split[300], plain[300], on1[300];
    snprintf(straight, sizeof straight, "%s/fp16_straight", work_dir);
    snprintf(split, sizeof split, "%s/fp16_split", work_dir);
    snprintf(plain, sizeof plain, "%s/f32_inf", work_dir);
    snprintf(on1, sizeof on1, "%s/fp16_opencl1", work_dir);
    rf_train_config c;
    rf_train_summary s;
    check_injected_overflow("cpu", straight);
    if (rf_device_check_name("opencl:1", NULL) == RF_OK)
        check_injected_overflow("opencl:1", on1);
    else
        test_skip_part("test_train", "the fp16 overflow on opencl:1", "no opencl:1",
                       "POCL_DEVICES=\"pthread pthread\" (two PoCL devices; scripts/test.sh sets it)");

    /* The scaler's state resumes exactly: epoch 1 (with the overflow), then
     * --resume to 2, equals the straight run bit for bit. */
    base_config(&c, "cpu", split, 1);
    c.precision = RF_PRECISION_F16;
    injector again = {.inject_at = INJECT};
    CHECK_OK(rf_train_with_hook(&c, &s, inject, &again));
    free(again.before);
    base_config(&c, "cpu", split, 2);
    c.precision = RF_PRECISION_F16;
    c.resume = true;
    CHECK_OK(run(&c, &s));
    CHECK(same_training_state(straight, split), "fp16 resumed after epoch 1 differs from the uninterrupted run");
    char *a = run_log_without_times(straight), *b = run_log_without_times(split);
    CHECK(a && b && !strcmp(a, b), "fp16 log.jsonl differs:\n%s\n%s", a ? a : "", b ? b : "");
    free(a);
    free(b);

    /* Activations past fp16's range: no loss scale helps; the message says so. */
    char range[300];
    snprintf(range, sizeof range, "%s/fp16_range", work_dir);
    base_config(&c, "cpu", range, 1);
    c.precision = RF_PRECISION_F16;
    int steps = 0;
    rf_status big = rf_train_with_hook(&c, &s, blow_up, &steps);
    CHECK(big == RF_ERR_NUMERIC && strstr(rf_last_error(), "65504") && strstr(rf_last_error(), "bf16"),
          "fp16 forward overflow: %s: %s", rf_status_name(big), rf_last_error());

    /* Without loss scaling an infinite gradient is an error, never NaN weights. */
    base_config(&c, "cpu", plain, 1);
    injector f32 = {.inject_at = INJECT};
    rf_status st = rf_train_with_hook(&c, &s, inject, &f32);
    CHECK(st == RF_ERR_NUMERIC && strstr(rf_last_error(), "gradient norm is") &&
              strstr(rf_last_error(), "cpu") && strstr(rf_last_error(), "step 2"),
          "f32 run with an infinite gradient: %s: %s", rf_status_name(st), rf_last_error());
    free(f32.before);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "all";
    snprintf(work_dir, sizeof work_dir, "/tmp/rfdetr_train_XXXXXX");
    if (!mkdtemp(work_dir)) return 1;
    snprintf(data_dir, sizeof data_dir, "%s/data", work_dir);
    rf_shapes_config sc;
    rf_shapes_config_default(&sc);
    sc.train = 24;
    sc.valid = 8;
    sc.test = 8;
    sc.size = 128;
    sc.seed = 3;
    CHECK_OK(rf_shapes_write(data_dir, &sc));
    if (!strcmp(mode, "all") || !strcmp(mode, "layout")) test_layout();
    if (!strcmp(mode, "all") || !strcmp(mode, "resume")) test_resume();
    if (!strcmp(mode, "all") || !strcmp(mode, "devices")) test_devices();
    if (!strcmp(mode, "all") || !strcmp(mode, "faults")) test_faults();
    if (!strcmp(mode, "all") || !strcmp(mode, "fp16")) test_fp16();
    if (test_failed_count == 0) test_remove_tree(work_dir);
    else fprintf(stderr, "kept %s for inspection\n", work_dir);
    return test_finish("test_train");
}
