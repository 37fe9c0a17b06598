/* bench_infer — RF-DETR inference latency against PyTorch (CPU, eager) and
 * ONNX Runtime (CPU) measured in the same run on the same model, for every
 * thread count and batch size asked for (default: 1 and 2 threads, batch 1
 * and 8), with the ratios and the target (at least 1.1x ONNX
 * Runtime on every setting).
 *
 *   bench_infer [--size nano] [--resolution 384] [--device cpu] [--runs 10]
 *               [--threads 1,2] [--batch 1,8] [--no-python]
 *               [--weights W (ours alone, e.g. for perf)] [--openblas-core SKYLAKEX]
 *               [--profile (one more forward per setting, every kernel timed)]
 *               [--precision f32,bf16,fp16 (each precision of the products in the same run;
 *                the baselines and their ratios are against the first)]
 *
 * bench/infer_python_time.py builds the rfdetr package's model (random
 * initialisation, offline), saves its weights for us, times torch and an
 * ONNX export under onnxruntime; then we load those weights and time
 * forward + post-processing (top-300 per image) on the device. Each side runs alone
 * (never at the same time) and the medians are compared: ratio > 1 means
 * rfdetr.c is faster. Without Python the C number prints alone.
 *
 * Threads: every side gets each of --threads (torch.set_num_threads, onnxruntime's
 * intra-op threads, the cpu device's rf_device_options.cpu_threads; the
 * cpu device runs OpenBLAS single-threaded inside each part of its own
 * split). OpenBLAS reads its core type when it loads, so the benchmark
 * re-executes itself once with it set. --openblas-core SKYLAKEX picks OpenBLAS's AVX-512 kernels where
 * the environment pins another core type or OpenBLAS 0.3.21 does not
 * recognise the CPU (AMD Zen 4/5 fall back to its Haswell AVX2 kernels). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/profile.h"
#include "core/tensor.h"
#include "model/model.h"

#include "bench/bench_util.h"

/* Process CPU time (all threads): steadier than wall time on a shared machine. */
static double cpu_ms(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-3;
}

/* OpenBLAS's settings must be in the environment before it loads: set them
 * and start over (once). The cpu device calls OpenBLAS single-threaded from
 * its own threads, so OpenBLAS needs no threads of its own. */
static void configure_openblas(char **argv, const char *core) {
    if (getenv("RFDETR_BENCH_CONFIGURED")) return;
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    if (core) setenv("OPENBLAS_CORETYPE", core, 1);
    setenv("RFDETR_BENCH_CONFIGURED", "1", 1);
    execv("/proc/self/exe", argv);
    perror("bench_infer: re-executing with OpenBLAS's settings"); /* carry on with the defaults */
}

/* Median of the numbers in the JSON array after "key": [ ... ]. */
static double json_median(const char *json, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\": [", key);
    const char *p = strstr(json, pattern);
    if (!p) return NAN;
    p += strlen(pattern);
    double v[256];
    int n = 0;
    while (n < 256) {
        char *end;
        v[n] = strtod(p, &end);
        if (end == p) break;
        n++;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    return n ? bench_median(v, n) : NAN;
}

static void die(const char *what) {
    fprintf(stderr, "bench_infer: %s: %s\n", what, rf_last_error());
    exit(1);
}

#define MAX_SETTINGS 8

/* "1,2" -> {1, 2}; false on anything else. */
static bool parse_list(const char *text, int *out, int *n) {
    *n = 0;
    for (const char *p = text; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 256 || *n == MAX_SETTINGS) return false;
        out[(*n)++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return false;
    }
    return *n > 0;
}

/* "f32,bf16" -> the precisions, the first the baselines are compared with. */
static bool parse_precisions(const char *text, rf_precision *out, int *n) {
    char copy[64];
    snprintf(copy, sizeof copy, "%s", text);
    *n = 0;
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (*n == RF_PRECISION_COUNT || rf_precision_parse(item, &out[*n]) != RF_OK) return false;
        (*n)++;
    }
    return *n > 0;
}

/* Median ms (wall and process CPU) of `runs` forwards + post-processing of
 * `batch` images after 3 warm-ups. */
static void time_ours(rfdetr_model *m, rf_ctx *ctx, int batch, int runs, bool profile, double *wall,
                      double *cpu_per_run) {
    int R = m->cfg.resolution;
    size_t image = 3 * (size_t)R * R;
    float *img = malloc(sizeof *img * image * (size_t)batch);
    for (size_t i = 0; i < image * (size_t)batch; i++) img[i] = (float)sin((double)(i % image) * 0.001 + (double)(i / image)) * 2.0f;
    rfdetr_detection *det = malloc(sizeof *det * (size_t)m->cfg.num_select * (size_t)batch);
    int(*hw)[2] = malloc(sizeof *hw * (size_t)batch);
    for (int b = 0; b < batch; b++) hw[b][0] = 480, hw[b][1] = 640;
    double *ms = malloc(sizeof *ms * (size_t)runs), *cpu = malloc(sizeof *cpu * (size_t)runs);
    /* With --profile one more forward runs with every kernel timed (and
     * synchronised), after the timed runs, so that they are not disturbed. */
    for (int r = -3; r < runs + profile; r++) {
        if (r == runs && rf_device_set_profiling(ctx->device, true) != RF_OK) die("profiling");
        double start = 1e3 * bench_now(), cpu_start = cpu_ms();
        rf_ctx_reset(ctx);
        rf_ctx_set_grad(ctx, false);
        rf_tensor *x = rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){batch, 3, R, R}, img);
        rfdetr_outputs o;
        int k;
        if (!x || rfdetr_model_forward(m, ctx, x, false, &o) != RF_OK) die("forward");
        if (rfdetr_postprocess(ctx, o.logits[o.layers - 1], o.boxes[o.layers - 1], (const int(*)[2])hw,
                               m->cfg.num_select, det, &k) != RF_OK)
            die("post-process");
        if (r >= 0 && r < runs) {
            ms[r] = 1e3 * bench_now() - start;
            cpu[r] = cpu_ms() - cpu_start;
        }
    }
    if (profile) {
        printf("profile of one forward + post-processing, batch %d:\n", batch);
        rf_device_profile_print(ctx->device, stdout);
        rf_device_set_profiling(ctx->device, false);
    }
    *wall = bench_median(ms, runs);
    *cpu_per_run = bench_median(cpu, runs);
    free(ms);
    free(cpu);
    free(hw);
    free(det);
    free(img);
}

int main(int argc, char **argv) {
    const char *size = "nano", *device = "cpu", *given = NULL, *core = NULL;
    int resolution = 384, runs = 10, threads[MAX_SETTINGS] = {1, 2}, batches[MAX_SETTINGS] = {1, 8};
    int n_threads = 2, n_batches = 2;
    bool python = true, profile = false;
    rf_precision precisions[RF_PRECISION_COUNT] = {RF_PRECISION_F32};
    int n_precisions = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc) size = argv[++i];
        else if (!strcmp(argv[i], "--resolution") && i + 1 < argc) resolution = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc && parse_list(argv[i + 1], threads, &n_threads)) i++;
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc && parse_list(argv[i + 1], batches, &n_batches)) i++;
        else if (!strcmp(argv[i], "--no-python")) python = false;
        else if (!strcmp(argv[i], "--profile")) profile = true;
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc && parse_precisions(argv[i + 1], precisions, &n_precisions))
            i++;
        else if (!strcmp(argv[i], "--openblas-core") && i + 1 < argc) core = argv[++i];
        else if (!strcmp(argv[i], "--weights") && i + 1 < argc) given = argv[++i], python = false;
        else {
            fprintf(stderr, "usage: bench_infer [--size S] [--resolution R] [--device D] [--runs N] [--threads T,...] "
                            "[--batch B,...] [--no-python] [--weights W] [--openblas-core C] [--profile] [--precision P,...]\n"
                            "  --threads and --batch take up to %d numbers from 1 to 256, comma-separated\n",
                    MAX_SETTINGS);
            return 2;
        }
    }
    if (runs < 1 || runs > 200) runs = 10;
    configure_openblas(argv, core);
    const char *tmp = getenv("TMPDIR"), *source = getenv("RFDETR_SOURCE_DIR");
    char dir[1024], weights[1200], cmd[4096], tlist[64] = "", blist[64] = "";
    snprintf(dir, sizeof dir, "%s/bench_infer_%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    snprintf(weights, sizeof weights, "%s/%s.safetensors", dir, size);
    source = source && *source ? source : ".";
    for (int i = 0; i < n_threads; i++) snprintf(tlist + strlen(tlist), sizeof tlist - strlen(tlist), "%s%d", i ? "," : "", threads[i]);
    for (int i = 0; i < n_batches; i++) snprintf(blist + strlen(blist), sizeof blist - strlen(blist), "%s%d", i ? "," : "", batches[i]);

    static char result[1 << 20];
    if (python) {
        snprintf(cmd, sizeof cmd,
                 "python3 %s/bench/infer_python_time.py %s %d %s --runs %d --threads %s --batch %s 2>/dev/null", source,
                 size, resolution, dir, runs, tlist, blist);
        FILE *p = popen(cmd, "r");
        size_t n = p ? fread(result, 1, sizeof result - 1, p) : 0;
        result[n] = 0;
        int rc = p ? pclose(p) : -1;
        if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
            fprintf(stderr, "bench_infer: Python baseline unavailable (%s); timing rfdetr.c alone on random weights\n",
                    rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 77 ? "torch/rfdetr not importable" : "failed");
            python = false;
        }
    }

    double ours[RF_PRECISION_COUNT][MAX_SETTINGS][MAX_SETTINGS], ours_cpu[RF_PRECISION_COUNT][MAX_SETTINGS][MAX_SETTINGS];
    char gemm[160] = "";
    int R = resolution;
    for (int ti = 0; ti < n_threads; ti++) {
        rf_device *dev;
        rf_device_options opts = {.cpu_threads = threads[ti]};
        if (rf_device_open_with(device, &opts, &dev) != RF_OK) die("opening the device");
        rfdetr_model *m;
        if (python || given) {
            if (rfdetr_model_open(dev, given ? given : weights, NULL, 0, &m) != RF_OK) die("loading weights");
        } else {
            rfdetr_config cfg;
            if (rfdetr_config_preset(size, &cfg) != RF_OK || rfdetr_config_set_resolution(&cfg, resolution) != RF_OK)
                die("configuration");
            if (rfdetr_model_create(dev, &cfg, 0, &m) != RF_OK) die("creating the model");
        }
        rf_ctx *ctx;
        if (rf_ctx_create(dev, 0, &ctx) != RF_OK) die("context");
        R = m->cfg.resolution;
        for (int bi = 0; bi < n_batches; bi++)
            for (int pi = 0; pi < n_precisions; pi++) {
                ctx->precision = precisions[pi];
                time_ours(m, ctx, batches[bi], runs, profile, &ours[pi][ti][bi], &ours_cpu[pi][ti][bi]);
            }
        if (dev->backend == rf_backend_find("cpu")) snprintf(gemm, sizeof gemm, "%s", rf_cpu_gemm_name(dev));
        rf_ctx_free(ctx);
        rfdetr_model_free(m);
        rf_device_close(dev);
    }

    core = getenv("OPENBLAS_CORETYPE");
    printf("bench_infer: %s at %d px, %d runs (medians, ms per batch), on %s (%ld online cores)\n", size, R, runs,
           bench_cpu_model(), sysconf(_SC_NPROCESSORS_ONLN));
    printf("  rfdetr.c on %s; GEMM: %s; OpenBLAS core %s\n", device, gemm[0] ? gemm : "device's", core ? core : "auto-detected");
    printf("  %7s %5s %12s %12s", "threads", "batch", "rfdetr.c", "(CPU ms)");
    if (python) printf(" %12s %10s %12s %8s", "PyTorch", "vs torch", "ORT", "vs ORT");
    for (int pi = 1; pi < n_precisions; pi++) {
        char ms[32], vs[32];
        snprintf(ms, sizeof ms, "%s ms", rf_precision_name(precisions[pi]));
        snprintf(vs, sizeof vs, "vs %s", rf_precision_name(precisions[0]));
        printf(" %12s %9s", ms, vs);
    }
    printf("   (rfdetr.c: %s products)\n", rf_precision_name(precisions[0]));
    bool all_ort = python, met = python;
    for (int ti = 0; ti < n_threads; ti++)
        for (int bi = 0; bi < n_batches; bi++) {
            double mine = ours[0][ti][bi];
            printf("  %7d %5d %12.1f %12.1f", threads[ti], batches[bi], mine, ours_cpu[0][ti][bi]);
            if (python) {
                char key[64];
                snprintf(key, sizeof key, "torch_ms_t%d_b%d", threads[ti], batches[bi]);
                double t = json_median(result, key);
                snprintf(key, sizeof key, "ort_ms_t%d_b%d", threads[ti], batches[bi]);
                double o = json_median(result, key);
                printf(" %12.1f %9.2fx", t, t / mine);
                if (isnan(o)) {
                    printf(" %12s %8s", "-", "-");
                    all_ort = met = false;
                } else {
                    printf(" %12.1f %7.2fx", o, o / mine);
                    if (o / mine < 1.1) met = false;
                }
            }
            for (int pi = 1; pi < n_precisions; pi++)
                printf(" %12.1f %8.2fx", ours[pi][ti][bi], mine / ours[pi][ti][bi]);
            printf("\n");
        }
    if (python) {
        if (all_ort)
            printf("  target (>= 1.1x ONNX Runtime on every setting): %s\n", met ? "met" : "NOT met");
        else
            printf("  ONNX Runtime unavailable (pip install onnx onnxruntime)\n");
        printf("  baseline: %s", result);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_infer: could not remove %s\n", dir);
    return 0;
}
