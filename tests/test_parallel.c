/* test_parallel.c — data-parallel training over several devices in one
 * process (train/replicas.c), on a small shapes set (tiny at 128 px):
 *   - lists: device lists parse as strictly as one name (junk, unknown and
 *     out-of-range names, empty entries and duplicates such as "cpu,cpu:0"
 *     are refused; '/' groups need as many MPI ranks on the machine); a
 *     sharded loader (an MPI rank's) keeps its batches byte for byte and
 *     marks the others skipped;
 *   - contract: 2 devices with batch 4 equal 1 device with batch 4 and
 *     grad-accum 2 bit for bit over 2 epochs (log.jsonl without its times,
 *     checkpoint.safetensors, training_state.safetensors, the best EMA),
 *     with 5 batches per epoch so each epoch ends on a step of one
 *     micro-batch; the replicas hold identical weights and EMA after every
 *     step; a run interrupted after one step (the stop flag Ctrl-C raises)
 *     and resumed equals the uninterrupted one;
 *   - mixed: cpu + opencl:0 (different kernels: replica 0 steps, the other
 *     copies) keeps the replicas identical after every step too; a NaN on
 *     a two-device run stops it naming the device, step and checkpoint,
 *     and resuming that run on one device is refused, the run untouched.
 * Modes: no argument runs all; or one of lists, contract, mixed. Needs two
 * OpenCL devices (POCL_DEVICES="pthread pthread"); skips without them. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/shapes.h"
#include "run_compare.h"
#include "test_util.h"
#include "train/replicas.h"
#include "train/trainer.h"

static char data_dir[300], work_dir[256];

static void base_config(rf_train_config *c, const char *device, const char *out, int epochs) {
    rf_train_config_defaults(c);
    c->data = data_dir;
    c->device = device;
    c->out_dir = out;
    c->epochs = epochs;
    c->batch = 4;
    c->grad_accum = 1;
    c->resolution = 128;
    c->warmup_steps = 2;
    c->eval_batch = 4; /* 8 valid images: 2 batches, one per device */
    c->seed = 7;
    c->threads = 2;
}

static void check_same_run(const char *a, const char *b, const char *what) {
    const char *files[] = {"checkpoint.safetensors", "training_state.safetensors", "checkpoint_best_ema.safetensors",
                           "checkpoint_best_regular.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        CHECK(run_same_file(run_path_in(a, files[i]), run_path_in(b, files[i])), "%s: %s differs", what, files[i]);
    char *la = run_log_without_times(a), *lb = run_log_without_times(b);
    CHECK(la && lb && !strcmp(la, lb), "%s: log.jsonl differs:\n%s\n%s", what, la ? la : "", lb ? lb : "");
    free(la);
    free(lb);
}

typedef struct watcher {
    int steps, differing_steps, replicas;
    bool copy_mode;
    int stop_after;
    volatile sig_atomic_t *stop;
} watcher;

static rf_status after_step(void *user, struct rf_replicas *reps, rf_train_hook_point point) {
    if (point != RF_TRAIN_HOOK_AFTER_STEP) return RF_OK;
    watcher *w = user;
    int differing = 0;
    RF_TRY(rf_replicas_compare(reps, &differing));
    w->steps++;
    w->differing_steps += differing > 0;
    w->replicas = rf_replicas_count(reps);
    w->copy_mode = rf_replicas_copy_mode(reps);
    if (w->stop_after && w->steps == w->stop_after) *w->stop = 1;
    return RF_OK;
}

static rf_status run(rf_train_config *c, watcher *w) {
    rf_train_summary s;
    rf_status st = rf_train_with_hook(c, &s, w ? after_step : NULL, w);
    if (st != RF_OK && st != RF_ERR_INTERRUPTED) fprintf(stderr, "rf_train: %s\n", rf_last_error());
    return st;
}

/* ---- device lists -------------------------------------------------------------------------------- */
static void test_lists(void) {
    char names[RF_MAX_LOCAL_DEVICES][32];
    int n = 0;
    CHECK_OK(rf_device_list_parse("opencl:1,cpu:0,opencl:0", 0, 1, names, RF_MAX_LOCAL_DEVICES, &n));
    CHECK(n == 3 && !strcmp(names[0], "opencl:1") && !strcmp(names[1], "cpu") && !strcmp(names[2], "opencl:0"),
          "list order and canonical names: %d %s %s %s", n, names[0], names[1], names[2]);
    const char *bad[] = {"opencl:0,opencl:0", "cpu,cpu:0", "opencl:0,", ",opencl:0", "opencl:0,,opencl:1",
                         "opencl:0,opencl:99", "opencl:0,junk", "opencl:0 ,opencl:1", "opencl:0/opencl:1", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rf_status s = rf_device_list_parse(bad[i], 0, 1, names, RF_MAX_LOCAL_DEVICES, &n);
        CHECK(s == RF_ERR_NO_DEVICE || s == RF_ERR_INVALID_ARGUMENT, "'%s' accepted (%s)", bad[i], rf_status_name(s));
    }
    rf_device_list_parse("opencl:0,opencl:0", 0, 1, names, RF_MAX_LOCAL_DEVICES, &n);
    CHECK(strstr(rf_last_error(), "twice"), "duplicate message: %s", rf_last_error());
    rf_device_list_parse("opencl:0,opencl:99", 0, 1, names, RF_MAX_LOCAL_DEVICES, &n);
    CHECK(strstr(rf_last_error(), "opencl:99") && strstr(rf_last_error(), "opencl:1"),
          "out-of-range message names it and lists the devices: %s", rf_last_error());
    /* One group per rank of the machine: the second of two ranks takes the second group. */
    CHECK_OK(rf_device_list_parse("opencl:0/opencl:1,cpu", 1, 2, names, RF_MAX_LOCAL_DEVICES, &n));
    CHECK(n == 2 && !strcmp(names[0], "opencl:1") && !strcmp(names[1], "cpu"), "group 1: %d %s", n, names[0]);
    CHECK_OK(rf_device_list_parse("opencl:1", 1, 2, names, RF_MAX_LOCAL_DEVICES, &n));
    CHECK(n == 1 && !strcmp(names[0], "opencl:1"), "one group for every rank");
    CHECK_STATUS(rf_device_list_parse("opencl:0/opencl:1/cpu", 0, 2, names, RF_MAX_LOCAL_DEVICES, &n),
                 RF_ERR_INVALID_ARGUMENT);
    /* The trainer refuses a bad list before touching anything. */
    rf_train_config c;
    char out[300];
    snprintf(out, sizeof out, "%s/never", work_dir);
    base_config(&c, "opencl:0,opencl:0", out, 1);
    CHECK_STATUS(run(&c, NULL), RF_ERR_INVALID_ARGUMENT);
    CHECK(!rf_file_exists(out), "a refused run created %s", out);
}

/* A sharded loader (one MPI rank's) gives the unsharded batches it keeps, byte
 * for byte, and marks the others skipped. */
static void test_shard(void) {
    rf_dataset *ds = NULL;
    CHECK_OK(rf_dataset_open(data_dir, RF_SPLIT_BIT(RF_SPLIT_TRAIN), &ds));
    if (!ds) return;
    float *kept[8] = {0};
    size_t bytes = (size_t)4 * 3 * 128 * 128 * sizeof(float);
    for (int sharded = 0; sharded < 2; sharded++) {
        rf_loader_config lc;
        rf_loader_config_train(&lc, 4, 128, 7);
        lc.epochs = 1;
        if (sharded) {
            lc.shard_count = 3;
            lc.shard_first = 1;
            lc.shard_span = 1;
        }
        rf_loader *l = NULL;
        CHECK_OK(rf_loader_open(ds, &lc, &l));
        const rf_batch *b = NULL;
        int i = 0;
        while (l && rf_loader_next(l, &b) == RF_OK && b && i < 8) {
            if (!sharded) {
                kept[i] = malloc(bytes);
                memcpy(kept[i], b->pixels, bytes);
                CHECK(!b->skipped, "unsharded batch %d skipped", i);
            } else {
                CHECK(b->skipped == (i % 3 != 1), "batch %d: skipped %d", i, b->skipped);
                if (!b->skipped) CHECK(!memcmp(kept[i], b->pixels, bytes), "sharded batch %d differs", i);
                CHECK(b->size == 4 && b->index == i, "batch %d: size %d index %lld", i, b->size, (long long)b->index);
            }
            rf_loader_release(l, b);
            i++;
        }
        CHECK(i == 5, "%d batches of 5", i);
        rf_loader_close(l);
    }
    for (int i = 0; i < 8; i++) free(kept[i]);
    rf_loader_config bad;
    rf_loader_config_train(&bad, 4, 128, 7);
    bad.shard_count = 2;
    bad.shard_first = 1;
    bad.shard_span = 2;
    rf_loader *l = NULL;
    CHECK_STATUS(rf_loader_open(ds, &bad, &l), RF_ERR_INVALID_ARGUMENT);
    rf_dataset_free(ds);
}

/* ---- the bitwise contract ---------------------------------------------------------------------- */
static void test_contract(void) {
    char one[300], two[300], stopped[300];
    snprintf(one, sizeof one, "%s/one_accum2", work_dir);
    snprintf(two, sizeof two, "%s/two_devices", work_dir);
    snprintf(stopped, sizeof stopped, "%s/two_stopped", work_dir);
    rf_train_config c;
    base_config(&c, "opencl:0", one, 2);
    c.grad_accum = 2;
    CHECK_OK(run(&c, NULL));

    watcher w = {0};
    base_config(&c, "opencl:0,opencl:1", two, 2);
    CHECK_OK(run(&c, &w));
    CHECK(w.replicas == 2 && !w.copy_mode, "two replicas each stepping (%d, copy mode %d)", w.replicas, w.copy_mode);
    CHECK(w.steps == 6, "2 epochs of 3 steps (5 batches, 2 per step), got %d", w.steps);
    CHECK(w.differing_steps == 0, "replicas differed after %d of %d steps", w.differing_steps, w.steps);
    check_same_run(one, two, "2 devices x batch 4 vs 1 device x batch 4 x grad-accum 2");

    /* Stopped after the first step (Ctrl-C), then resumed. */
    volatile sig_atomic_t stop = 0;
    watcher ws = {.stop_after = 1, .stop = &stop};
    base_config(&c, "opencl:0,opencl:1", stopped, 2);
    c.stop = &stop;
    CHECK_STATUS(run(&c, &ws), RF_ERR_INTERRUPTED);
    CHECK(strstr(rf_last_error(), "--resume"), "interrupt message: %s", rf_last_error());
    base_config(&c, "opencl:0,opencl:1", stopped, 2);
    c.resume = true;
    CHECK_OK(run(&c, NULL));
    check_same_run(two, stopped, "interrupted 2-device run resumed");
}

/* ---- different kernels ---------------------------------------------------------------------------- */
static void test_mixed(void) {
    char out[300];
    snprintf(out, sizeof out, "%s/mixed", work_dir);
    rf_train_config c;
    watcher w = {0};
    base_config(&c, "cpu,opencl:0", out, 1);
    c.max_steps = 2;
    CHECK_OK(run(&c, &w));
    CHECK(w.copy_mode, "cpu + opencl run different kernels: replica 0 must step alone");
    CHECK(w.steps == 2 && w.differing_steps == 0, "replicas differed after %d of %d steps", w.differing_steps, w.steps);
}

/* A device that fails mid-step stops the run naming the device, the step and
 * the last good checkpoint. The failure: replica 1's weights turned to NaN
 * after the first step of epoch 2 (a resume may not change the options,
 * so the run itself must go wrong), which makes its next loss NaN. */
typedef struct poisoner {
    int steps, poison_after;
} poisoner;

static rf_status poison_replica_1(void *user, struct rf_replicas *reps, rf_train_hook_point point) {
    if (point != RF_TRAIN_HOOK_AFTER_STEP) return RF_OK;
    poisoner *p = user;
    if (++p->steps != p->poison_after) return RF_OK;
    rf_params *params = rf_replicas_at(reps, 1)->model->params;
    return rf_buffer_fill_f32(params->values, 0, (size_t)params->total, NAN);
}

static void test_fault(void) {
    char out[300];
    snprintf(out, sizeof out, "%s/nan", work_dir);
    rf_train_config c;
    base_config(&c, "opencl:0,opencl:1", out, 2);
    poisoner p = {.poison_after = 4}; /* 3 steps per epoch (5 batches, 2 per step) */
    rf_train_summary s;
    rf_status st = rf_train_with_hook(&c, &s, poison_replica_1, &p);
    CHECK(st == RF_ERR_NUMERIC, "NaN loss gave %s: %s", rf_status_name(st), rf_last_error());
    CHECK(strstr(rf_last_error(), "device opencl:1") && strstr(rf_last_error(), "replica") &&
              strstr(rf_last_error(), "at step") && strstr(rf_last_error(), "last good checkpoint"),
          "message: %s", rf_last_error());
    CHECK(rf_file_exists(run_path_in(out, "training_state.safetensors")), "epoch 1's training state is gone");

    /* Resuming it on one device would make each step half as large. */
    char *state_before = NULL;
    size_t state_bytes = 0;
    CHECK_OK(rf_read_file(run_path_in(out, "training_state.safetensors"), &state_before, &state_bytes));
    base_config(&c, "opencl:0", out, 2);
    c.resume = true;
    st = rf_train(&c, &s);
    CHECK(st == RF_ERR_INVALID_ARGUMENT && strstr(rf_last_error(), "trains on 2") &&
              strstr(rf_last_error(), "resume it on 2 devices"),
          "resume on 1 of 2 devices gave %s: %s", rf_status_name(st), rf_last_error());
    char *state_after = NULL;
    size_t after_bytes = 0;
    CHECK_OK(rf_read_file(run_path_in(out, "training_state.safetensors"), &state_after, &after_bytes));
    CHECK(state_after && after_bytes == state_bytes && !memcmp(state_before, state_after, state_bytes),
          "the refused resume changed the training state");
    free(state_before);
    free(state_after);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "all";
    if (rf_device_check_name("opencl:1", NULL) != RF_OK) {
        printf("test_parallel: skipped: needs two OpenCL devices (POCL_DEVICES=\"pthread pthread\" with PoCL)\n");
        return TEST_SKIP_CODE;
    }
    snprintf(work_dir, sizeof work_dir, "/tmp/rfdetr_parallel_XXXXXX");
    if (!mkdtemp(work_dir)) return 1;
    snprintf(data_dir, sizeof data_dir, "%s/data", work_dir);
    rf_shapes_config sc;
    rf_shapes_config_default(&sc);
    sc.train = 20;
    sc.valid = 8;
    sc.test = 0;
    sc.size = 128;
    sc.seed = 3;
    CHECK_OK(rf_shapes_write(data_dir, &sc));
    if (!strcmp(mode, "all") || !strcmp(mode, "lists")) {
        test_lists();
        test_shard();
    }
    if (!strcmp(mode, "all") || !strcmp(mode, "contract")) test_contract();
    if (!strcmp(mode, "all") || !strcmp(mode, "mixed")) {
        test_mixed();
        test_fault();
    }
    if (test_failed_count == 0) test_remove_tree(work_dir);
    else fprintf(stderr, "kept %s for inspection\n", work_dir);
    return test_finish("test_parallel");
}
