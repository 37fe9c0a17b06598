/* bench/gemm.c — GEMM GFLOP/s on every device for square sizes, against
 * OpenBLAS called directly on host memory in the same run.
 *
 *   bench_gemm [--sizes 256,512,1024,2048] [--devices cpu,opencl:0] [--min-time S]
 *
 * For OpenCL devices it measures CLBlast twice: with CLBlast's stock
 * parameters first, then with the parameters rfdetr.c ships (CLBlast keeps
 * parameters per device for the whole process, so the stock run must come
 * first), and prints tuned/stock. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "rfdetr.h"
#ifdef RFDETR_HAVE_OPENCL
#include "backend/opencl/opencl_internal.h"
#endif

#define MAX_SIZES 16

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fill(float *x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
}

/* Repeats until min_time has passed (after one warm-up call) and returns
 * the best-of-3 rate of whole batches of repetitions. */
static double openblas_gflops(int n, double min_time) {
    size_t count = (size_t)n * n;
    float *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b), *c = malloc(count * sizeof *c);
    fill(a, count, 1);
    fill(b, count, 2);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double best = 0;
    for (int trial = 0; trial < 3; trial++) {
        int reps = 0;
        double t0 = now(), t;
        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            reps++;
            t = now() - t0;
        } while (t < min_time / 3);
        double rate = 2.0 * n * n * (double)n * reps / t * 1e-9;
        if (rate > best) best = rate;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static double device_gflops(rf_device *dev, int n, double min_time) {
    size_t count = (size_t)n * n;
    float *host = malloc(count * sizeof *host);
    rf_buffer *a = NULL, *b = NULL, *c = NULL;
    double best = -1;
    if (rf_buffer_alloc(dev, count * 4, &a) || rf_buffer_alloc(dev, count * 4, &b) || rf_buffer_alloc(dev, count * 4, &c))
        goto done;
    fill(host, count, 1);
    rf_buffer_upload(a, 0, host, count * 4);
    fill(host, count, 2);
    rf_buffer_upload(b, 0, host, count * 4);
    rf_gemm_desc d = {.m = n, .n = n, .k = n, .alpha = 1, .beta = 0, .a = a, .lda = n, .b = b, .ldb = n,
                      .c = c, .ldc = n, .batch = 1};
    /* Warm-up compiles kernels (CLBlast, PoCL) outside the timing. */
    if (rf_gemm(dev, &d) != RF_OK || rf_device_synchronize(dev) != RF_OK) goto done;
    best = 0;
    for (int trial = 0; trial < 3; trial++) {
        int reps = 0;
        double t0 = now(), t;
        do {
            if (rf_gemm(dev, &d) != RF_OK) goto done;
            reps++;
            if (rf_device_synchronize(dev) != RF_OK) goto done;
            t = now() - t0;
        } while (t < min_time / 3);
        double rate = 2.0 * n * n * (double)n * reps / t * 1e-9;
        if (rate > best) best = rate;
    }
done:
    if (best < 0) fprintf(stderr, "bench_gemm: %s n=%d failed: %s\n", dev->info.name, n, rf_last_error());
    rf_buffer_free(a);
    rf_buffer_free(b);
    rf_buffer_free(c);
    free(host);
    return best;
}

static int parse_sizes(const char *text, int *sizes) {
    int n = 0;
    char *copy = strdup(text), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && n < MAX_SIZES; tok = strtok_r(NULL, ",", &save)) sizes[n++] = atoi(tok);
    free(copy);
    return n;
}

int main(int argc, char **argv) {
    int sizes[MAX_SIZES] = {256, 512, 1024, 2048}, nsizes = 4;
    const char *only = NULL;
    double min_time = 1.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sizes") && i + 1 < argc) nsizes = parse_sizes(argv[++i], sizes);
        else if (!strcmp(argv[i], "--devices") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--min-time") && i + 1 < argc) min_time = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_gemm [--sizes 256,512,1024,2048] [--devices cpu,opencl:0] [--min-time S]\n");
            return 2;
        }
    }

    printf("# GEMM, row-major C = A*B, square n, f32; GFLOP/s = 2n^3/s, best of 3 timed batches\n");
    double base[MAX_SIZES];
    printf("%-28s", "baseline OpenBLAS (host)");
    for (int s = 0; s < nsizes; s++) {
        base[s] = openblas_gflops(sizes[s], min_time);
        printf("  n=%-5d %8.1f", sizes[s], base[s]);
    }
    printf("\n");

    int total = rf_device_count();
    for (int i = 0; i < total; i++) {
        rf_device_info info;
        if (rf_device_info_at(i, &info) != RF_OK) continue;
        if (only) {
            char list[512], needle[48];
            snprintf(list, sizeof list, ",%s,", only);
            snprintf(needle, sizeof needle, ",%s,", info.name);
            if (!strstr(list, needle)) continue;
        }
        bool is_opencl = strcmp(info.backend, "opencl") == 0;
        rf_device_options opts = {.opencl_stock_gemm = is_opencl};
        rf_device *dev = NULL;
        if (rf_device_open_with(info.name, &opts, &dev) != RF_OK) {
            fprintf(stderr, "bench_gemm: %s\n", rf_last_error());
            continue;
        }
        double first[MAX_SIZES];
        char label[64];
        snprintf(label, sizeof label, "%s%s", info.name, is_opencl ? " CLBlast stock" : "");
        printf("%-28s", label);
        for (int s = 0; s < nsizes; s++) {
            first[s] = device_gflops(dev, sizes[s], min_time);
            printf("  n=%-5d %8.1f", sizes[s], first[s]);
        }
        printf("\n%-28s", "  ratio to OpenBLAS");
        for (int s = 0; s < nsizes; s++) printf("  n=%-5d %8.2f", sizes[s], first[s] / base[s]);
        printf("\n");
#ifdef RFDETR_HAVE_OPENCL
        if (is_opencl) {
            rf_opencl_gemm_tune_device(dev);
            snprintf(label, sizeof label, "%s rfdetr tuned", info.name);
            printf("%-28s", label);
            double tuned[MAX_SIZES];
            for (int s = 0; s < nsizes; s++) {
                tuned[s] = device_gflops(dev, sizes[s], min_time);
                printf("  n=%-5d %8.1f", sizes[s], tuned[s]);
            }
            printf("\n%-28s", "  ratio tuned/stock");
            for (int s = 0; s < nsizes; s++) printf("  n=%-5d %8.2f", sizes[s], tuned[s] / first[s]);
            printf("\n%-28s", "  ratio tuned/OpenBLAS");
            for (int s = 0; s < nsizes; s++) printf("  n=%-5d %8.2f", sizes[s], tuned[s] / base[s]);
            printf("\n");
        }
#endif
        rf_device_close(dev);
    }
    return 0;
}
