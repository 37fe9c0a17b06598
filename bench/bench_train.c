/* bench_train.c — training throughput (images/s) of one RF-DETR optimizer
 * step on a device, against PyTorch CPU eager running the rfdetr package's
 * own model and criterion on the same configuration and batch, in the same
 * run (bench/train_python_time.py).
 *
 *   bench_train [--size tiny|nano|...] [--resolution R] [--batch B] [--steps N]
 *               [--device cpu] [--against D] [--threads T] [--torch-threads T] [--no-python]
 *               [--precision f32,bf16,fp16]
 *
 * One step = forward in training mode with every query group, the criterion
 * (matching on the host, IoU-aware BCE + L1 + GIoU on every head), backward,
 * global-norm clipping at 0.1, AdamW, and the EMA update — what the trainer
 * does per step, without data loading (both sides use one fixed batch whose
 * image i holds (i % 4) + 1 boxes). Median step time over --steps after one
 * warm-up step.
 *
 * --against D measures device D too, in the same run, and prints the ratio
 * of the two step times (e.g. --device opencl:1 --against cpu).
 * --precision f32,bf16,fp16 measures the device with each precision of the matrix
 * products in turn and prints the speed-ups over the first (which the other
 * comparisons use), with each one's peak device memory.
 *
 * Each step's device work (launches, host<->device bytes, synchronizations)
 * is printed from the device counters; --profile adds one more step with
 * every kernel timed (backend/profile.h).
 *
 * Threads: --threads T is the cpu device's thread count
 * (rf_device_options.cpu_threads) and, unless --torch-threads says
 * otherwise, torch.set_num_threads for the baseline. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/profile.h"
#include "core/ops.h"
#include "core/optim.h"
#include "core/random.h"
#include "model/criterion.h"
#include "model/model.h"

#include "bench/bench_util.h"

/* bench/train_python_time.py's targets_for, box for box. */
static void make_targets(int batch, int classes, float *boxes, int32_t *labels, rf_match_target *t) {
    int at = 0;
    for (int i = 0; i < batch; i++) {
        int n = i % 4 + 1;
        t[i] = (rf_match_target){n, boxes + at * 4, labels + at};
        for (int j = 0; j < n; j++, at++) {
            float *b = boxes + at * 4;
            b[0] = 0.2f + 0.15f * j;
            b[1] = 0.3f + 0.1f * ((i + j) % 3);
            b[2] = 0.1f + 0.05f * j;
            b[3] = 0.12f + 0.02f * (i % 5);
            labels[at] = (i + j) % classes;
        }
    }
}

static double python_ms(const char *size, int resolution, int batch, int steps, int threads) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "python3 %s/bench/train_python_time.py %s %d %d --steps %d --threads %d 2>/dev/null",
             getenv("RFDETR_SOURCE_DIR") ? getenv("RFDETR_SOURCE_DIR") : ".", size, resolution, batch, steps, threads);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    static char line[65536];
    size_t n = fread(line, 1, sizeof line - 1, p);
    line[n] = '\0';
    if (pclose(p) != 0) return -1;
    char *list = strstr(line, "\"torch_ms\": [");
    if (!list) return -1;
    list += strlen("\"torch_ms\": [");
    double v[256];
    int k = 0;
    while (k < 256) {
        char *end = NULL;
        v[k] = strtod(list, &end);
        if (end == list) break;
        k++;
        list = end;
        while (*list == ',' || *list == ' ') list++;
    }
    return k ? bench_median(v, k) : -1;
}

typedef struct bench_config {
    const char *size;
    int resolution, batch, steps, threads;
    rf_precision precision;
} bench_config;

/* The median step of `device` (ms; 0 on failure), printing its line and
 * per-step counters, and with `profile` its kernel profile. */
static double measure(const bench_config *bc, const char *device, bool profile, int *res_out) {
    rfdetr_config cfg;
    rf_device *dev = NULL;
    rfdetr_model *m = NULL;
    rf_ctx *ctx = NULL, *data = NULL;
    rf_adamw *opt = NULL;
    rf_ema *ema = NULL;
    if (rfdetr_config_preset(bc->size, &cfg) || (bc->resolution && rfdetr_config_set_resolution(&cfg, bc->resolution)) ||
        rf_device_open_with(device, &(rf_device_options){.cpu_threads = bc->threads}, &dev) ||
        rfdetr_model_create(dev, &cfg, 0, &m) || rf_ctx_create(dev, 0, &ctx) ||
        rf_ctx_create(dev, 0, &data)) {
        fprintf(stderr, "bench_train: %s\n", rf_last_error());
        return 0;
    }
    ctx->precision = bc->precision;
    rf_adamw_config ac = rf_adamw_default_config();
    ac.lr = 1e-4f;
    ac.weight_decay = 1e-4f;
    if (rf_adamw_create(m->params, &ac, &opt) || rf_ema_create(m->params, 0.993, 100, &ema)) {
        fprintf(stderr, "bench_train: %s\n", rf_last_error());
        return 0;
    }
    int res = cfg.resolution, batch = bc->batch, steps = bc->steps;
    *res_out = res;
    rf_ctx_set_seed(data, 1);
    rf_tensor *images = rf_ctx_tensor(data, RF_F32, 4, (int64_t[]){batch, 3, res, res});
    rf_rand_normal(data, images, 0.0f, 1.0f);
    float boxes[64 * 4 * 4];
    int32_t labels[64 * 4];
    rf_match_target targets[64];
    make_targets(batch, cfg.num_classes, boxes, labels, targets);
    double num_boxes = 0;
    for (int i = 0; i < batch; i++) num_boxes += targets[i].count;
    num_boxes *= cfg.group_detr;
    rf_criterion_config crit = rf_criterion_defaults();
    double times[65];
    rf_step_profile per_step = {0};
    /* The timed steps, then with --profile one more whose kernels are timed
     * one by one (synchronizing after each, so it is not timed itself). */
    for (int s = 0; s <= steps + profile; s++) {
        if (s == steps + 1 && rf_device_set_profiling(dev, true) != RF_OK) return 0;
        rf_device_counters before, after;
        rf_device_get_counters(dev, &before);
        double t0 = bench_now();
        rf_ctx_reset(ctx);
        rfdetr_outputs out;
        rf_status st = rfdetr_model_forward(m, ctx, images, true, &out);
        rf_head_output heads[RFDETR_MAX_DEC_LAYERS + 1];
        int nh = 0;
        if (st == RF_OK) {
            for (int l = 0; l < out.layers; l++) heads[nh++] = (rf_head_output){out.logits[l], out.boxes[l]};
            heads[nh++] = (rf_head_output){out.enc_logits, out.enc_boxes};
            rf_tensor *loss = rf_criterion(ctx, &crit, heads, nh, out.groups, targets, batch, num_boxes, NULL);
            st = loss ? rf_backward(ctx, loss, NULL) : rf_ctx_status(ctx);
        }
        if (st == RF_OK) st = rf_adamw_step_clipped(opt, 1.0f, 0.1, 1.0, NULL, NULL);
        if (st == RF_OK) st = rf_params_zero_grad(m->params);
        if (st == RF_OK) st = rf_ema_update(ema);
        if (st == RF_OK) st = rf_device_synchronize(dev);
        if (st != RF_OK) {
            fprintf(stderr, "bench_train: %s\n", rf_last_error());
            return 0;
        }
        if (s > 0 && s <= steps) times[s - 1] = (bench_now() - t0) * 1e3;
        rf_device_get_counters(dev, &after);
        if (s > 0 && s <= steps) rf_step_profile_add(&per_step, &before, &after, rf_ctx_arena_peak_bytes(ctx), rf_ctx_saved_bytes(ctx));
    }
    double ms = bench_median(times, steps);
    rf_device_counters end;
    rf_device_get_counters(dev, &end);
    printf("%-6s rfdetr.c on %-9s %9.1f ms/step  %7.2f images/s  %s products, peak device memory %.0f MB"
           " (activations kept %.0f MB, with gradients %.0f MB)",
           bc->size, dev->info.name, ms, batch * 1e3 / ms, rf_precision_name(bc->precision), end.bytes_peak / 1e6,
           rf_ctx_saved_bytes(ctx) / 1e6, rf_ctx_arena_peak_bytes(ctx) / 1e6);
    if (dev->backend == rf_backend_find("cpu"))
        printf("  (%d threads, GEMM: %s)", rf_cpu_threads(dev), rf_cpu_gemm_name(dev));
    printf("\n");
    rf_step_profile_print(&per_step, dev->info.name, stdout);
    if (profile) rf_device_profile_print(dev, stdout);
    rf_ema_free(ema);
    rf_adamw_free(opt);
    rf_ctx_free(ctx);
    rf_ctx_free(data);
    rfdetr_model_free(m);
    rf_device_close(dev);
    return ms;
}

int main(int argc, char **argv) {
    bench_config bc = {.size = "tiny", .batch = 8, .steps = 5, .threads = 2};
    const char *device = "cpu", *against = NULL;
    int torch_threads = 0;
    bool python = true, profile = false;
    rf_precision precisions[RF_PRECISION_COUNT] = {RF_PRECISION_F32};
    int n_precisions = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc) bc.size = argv[++i];
        else if (!strcmp(argv[i], "--resolution") && i + 1 < argc) bc.resolution = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) bc.batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) bc.steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--against") && i + 1 < argc) against = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) bc.threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--torch-threads") && i + 1 < argc) torch_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-python")) python = false;
        else if (!strcmp(argv[i], "--profile")) profile = true;
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc) {
            char list[64];
            snprintf(list, sizeof list, "%s", argv[++i]);
            for (char *save = NULL, *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save))
                if (n_precisions == RF_PRECISION_COUNT || rf_precision_parse(item, &precisions[n_precisions++]) != RF_OK) {
                    fprintf(stderr, "bench_train: --precision takes up to 3 of f32, bf16, fp16, comma-separated\n");
                    return 2;
                }
        } else {
            fprintf(stderr, "usage: bench_train [--size S] [--resolution R] [--batch B] [--steps N] [--device D] "
                            "[--against D] [--threads T] [--torch-threads T] [--no-python] [--profile] [--precision P,...]\n");
            return 2;
        }
    }
    if (bc.steps < 1 || bc.steps > 64 || bc.batch < 1 || bc.batch > 64 || bc.threads < 1 || torch_threads < 0) {
        fprintf(stderr, "bench_train: --steps 1..64, --batch 1..64, --threads >= 1\n");
        return 2;
    }
    if (!torch_threads) torch_threads = bc.threads;
    rfdetr_config cfg;
    if (rfdetr_config_preset(bc.size, &cfg)) {
        fprintf(stderr, "bench_train: %s\n", rf_last_error());
        return 2;
    }
    printf("# one RF-DETR training step (forward with %d query groups, criterion on %d heads, backward, clip, AdamW, "
           "EMA), batch %d, median of %d steps, on %s\n",
           cfg.group_detr, cfg.dec_layers + 1, bc.batch, bc.steps, bench_cpu_model());
    int res = 0;
    if (n_precisions == 0) n_precisions = 1;
    bc.precision = precisions[0];
    double ours = measure(&bc, device, profile, &res), base = 0;
    if (ours <= 0) return 1;
    for (int p = 1; p < n_precisions; p++) {
        bench_config other = bc;
        other.precision = precisions[p];
        double t = measure(&other, device, false, &res);
        if (t <= 0) return 1;
        printf("%-6s speed-up of %s over %s products on %s: %.2fx\n", bc.size, rf_precision_name(precisions[p]),
               rf_precision_name(precisions[0]), device, ours / t);
    }
    if (against) {
        base = measure(&bc, against, false, &res);
        if (base <= 0) return 1;
        printf("%-6s ratio %s / %s step time: %.2fx\n", bc.size, device, against, ours / base);
    }
    if (python) {
        double torch_ms = python_ms(bc.size, res, bc.batch, bc.steps, torch_threads);
        if (torch_ms > 0) {
            printf("%-6s PyTorch CPU eager     %9.1f ms/step  %7.2f images/s  (rfdetr package, %d torch threads)\n",
                   bc.size, torch_ms, bc.batch * 1e3 / torch_ms, torch_threads);
            for (int d = 0; d < (against ? 2 : 1); d++)
                printf("%-6s speed-up of rfdetr.c on %s over PyTorch: %.2fx (target on the cpu >= 1.5x: %s)\n",
                       bc.size, d ? against : device, torch_ms / (d ? base : ours),
                       torch_ms / (d ? base : ours) >= 1.5 ? "met" : "NOT met");
        } else {
            printf("%-6s PyTorch baseline unavailable (torch or rfdetr not importable)\n", bc.size);
        }
    }
    return 0;
}
