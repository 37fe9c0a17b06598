/* bench_attention — the fused attention op against the composition it
 * replaces (matmul + softmax + matmul, the scale on q), on the shapes RF-DETR
 * nano runs at 384 px, forward alone and forward + backward, on the cpu
 * device in fast mode. The two alternate run by run and the medians of
 * process CPU time are compared (ratio > 1: fused is faster), so a loaded
 * machine slows both alike.
 *
 * --precision bf16 runs both in bf16 products (q, k, v and the probabilities
 * rounded; AMX where the CPU has it).
 *
 *   bench_attention [--threads 1] [--runs 9] [--precision f32|bf16] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/ops.h"

#include "bench/bench_util.h"

static double cpu_ms(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-3;
}

typedef struct shape {
    const char *name;
    int64_t b, h, l, d;
} shape;

/* One forward (and backward) on fresh leaves; returns process CPU ms. */
static double once(rf_ctx *ctx, const shape *s, const float *data, bool fused, bool backward) {
    rf_ctx_reset(ctx);
    int64_t dims[4] = {s->b, s->h, s->l, s->d};
    rf_tensor *q = rf_ctx_from_host(ctx, RF_F32, 4, dims, data), *k = rf_ctx_from_host(ctx, RF_F32, 4, dims, data + 1);
    rf_tensor *v = rf_ctx_from_host(ctx, RF_F32, 4, dims, data + 2);
    q->requires_grad = k->requires_grad = v->requires_grad = backward;
    rf_ctx_set_grad(ctx, backward);
    float scale = (float)(1.0 / sqrt((double)s->d));
    double start = cpu_ms();
    rf_tensor *o;
    if (fused) {
        o = rf_attention(ctx, q, k, v, NULL, scale);
    } else {
        rf_tensor *scores = rf_matmul(ctx, rf_scale(ctx, q, scale), k, false, true);
        o = rf_matmul(ctx, rf_softmax(ctx, scores, NULL), v, false, false);
    }
    if (backward && o) rf_backward(ctx, rf_sum_all(ctx, rf_mul(ctx, o, o)), NULL);
    double ms = cpu_ms() - start;
    if (rf_ctx_status(ctx) != RF_OK) {
        fprintf(stderr, "bench_attention: %s\n", rf_last_error());
        exit(1);
    }
    return ms;
}

int main(int argc, char **argv) {
    int threads = 1, runs = 9;
    rf_precision precision = RF_PRECISION_F32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc && !strcmp(argv[i + 1], "f32")) i++;
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc && !strcmp(argv[i + 1], "bf16")) {
            precision = RF_PRECISION_BF16;
            i++;
        } else {
            fprintf(stderr, "usage: bench_attention [--threads T] [--runs N] [--precision f32|bf16]\n");
            return 2;
        }
    }
    if (threads < 1 || runs < 1 || runs > 100) {
        fprintf(stderr, "bench_attention: --threads >= 1, --runs 1..100\n");
        return 2;
    }
    const shape shapes[] = {
        {"backbone global (1 image, 6 heads, 576 tokens, d 64)", 1, 6, 576, 64},
        {"backbone windows (4 windows, 6 heads, 144 tokens, d 64)", 4, 6, 144, 64},
        {"decoder self-attention, training (13 groups, 8 heads, 300 queries, d 32)", 13, 8, 300, 32},
        {"tiny backbone windows (8 windows, 4 heads, 145 tokens, d 32)", 8, 4, 145, 32},
        {"tiny decoder self-attention, training (32 groups, 4 heads, 50 queries, d 32)", 32, 4, 50, 32},
    };
    rf_device *dev;
    rf_device_options o = {.cpu_threads = threads};
    rf_ctx *ctx;
    if (rf_device_open_with("cpu", &o, &dev) != RF_OK || rf_ctx_create(dev, 0, &ctx) != RF_OK) {
        fprintf(stderr, "bench_attention: %s\n", rf_last_error());
        return 1;
    }
    ctx->precision = precision;
    printf("bench_attention: cpu (fast mode), %d thread%s, %s products, %d runs (medians of process CPU ms), on %s\n",
           threads, threads == 1 ? "" : "s", rf_precision_name(precision), runs, bench_cpu_model());
    printf("  %-74s %9s %10s %8s %7s\n", "shape", "pass", "composed", "fused", "ratio");
    double *t[2] = {malloc(sizeof(double) * (size_t)runs), malloc(sizeof(double) * (size_t)runs)};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        size_t n = (size_t)(s->b * s->h * s->l * s->d) + 2;
        float *data = malloc(sizeof *data * n);
        for (size_t j = 0; j < n; j++) data[j] = (float)sin((double)j * 0.37) * 1.5f;
        for (int backward = 0; backward < 2; backward++) {
            once(ctx, s, data, false, backward), once(ctx, s, data, true, backward); /* warm-up */
            for (int r = 0; r < runs; r++)
                for (int fused = 0; fused < 2; fused++) t[fused][r] = once(ctx, s, data, fused, backward);
            double composed = bench_median(t[0], runs), fused = bench_median(t[1], runs);
            printf("  %-74s %9s %10.2f %8.2f %6.2fx\n", s->name, backward ? "fwd+bwd" : "forward", composed, fused,
                   composed / fused);
        }
        free(data);
    }
    free(t[0]);
    free(t[1]);
    rf_ctx_free(ctx);
    rf_device_close(dev);
    return 0;
}
