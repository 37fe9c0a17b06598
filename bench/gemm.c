/* bench/gemm.c — GEMM GFLOP/s on every device for square sizes, against
 * OpenBLAS called directly on host memory in the same run.
 *
 *   bench_gemm [--sizes 256,512,1024,2048] [--devices cpu,opencl:0] [--min-time S]
 *
 * For OpenCL devices it measures CLBlast twice: with CLBlast's stock
 * parameters first, then with the parameters rfdetr.c ships (CLBlast keeps
 * parameters per device for the whole process, so the stock run must come
 * first), and prints tuned/stock. On CPU-backed OpenCL it then measures the
 * GEMM such a device uses by default, rfdetr.c's own kernel
 * (backend/kernels/gemm.h), and prints own/tuned. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "bench/bench_util.h"
#include "rfdetr.h"
#ifdef RFDETR_HAVE_OPENCL
#include "backend/opencl/opencl_internal.h"
#endif

#define MAX_SIZES 16

static void fill(float *x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
}

/* Host matrices for the OpenBLAS baseline, kept across slices. */
typedef struct host_gemm {
    int n;
    float *a, *b, *c;
} host_gemm;

static void host_gemm_init(host_gemm *h, int n) {
    size_t count = (size_t)n * n;
    h->n = n;
    h->a = malloc(count * sizeof *h->a);
    h->b = malloc(count * sizeof *h->b);
    h->c = malloc(count * sizeof *h->c);
    fill(h->a, count, 1);
    fill(h->b, count, 2);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, h->a, n, h->b, n, 0.0f, h->c, n);
}

static void host_gemm_free(host_gemm *h) {
    free(h->a);
    free(h->b);
    free(h->c);
}

int openblas_get_num_threads(void);
void openblas_set_num_threads(int threads);

/* GFLOP/s of OpenBLAS over one time slice, on every core: the cpu device
 * sets OpenBLAS to one thread per call (it splits the work itself), and
 * the baseline is OpenBLAS as an application gets it by default. */
static double openblas_slice(host_gemm *h, double slice) {
    int n = h->n, reps = 0, before = openblas_get_num_threads();
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    openblas_set_num_threads(cores > 0 ? (int)cores : 1);
    double t0 = bench_now(), t;
    do {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, h->a, n, h->b, n, 0.0f, h->c, n);
        reps++;
        t = bench_now() - t0;
    } while (t < slice);
    openblas_set_num_threads(before);
    return 2.0 * n * n * (double)n * reps / t * 1e-9;
}

#define SLICES 5

typedef struct pair_result {
    double device, baseline, ratio; /* medians over interleaved slices */
} pair_result;

/* Alternates slices of the device and of OpenBLAS so both see the same
 * machine load (this machine is shared): reports each one's median and the
 * median of the per-pair ratios. */
static pair_result measure_pair(rf_device *dev, host_gemm *h, double min_time) {
    int n = h->n;
    size_t count = (size_t)n * n;
    float *host = malloc(count * sizeof *host);
    rf_buffer *a = NULL, *b = NULL, *c = NULL;
    pair_result r = {-1, -1, -1};
    double dev_rates[SLICES], base_rates[SLICES], ratios[SLICES], slice = min_time / (2 * SLICES);
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
    for (int i = 0; i < SLICES; i++) {
        int reps = 0;
        double t0 = bench_now(), t;
        do {
            if (rf_gemm(dev, &d) != RF_OK || rf_device_synchronize(dev) != RF_OK) goto done;
            reps++;
            t = bench_now() - t0;
        } while (t < slice);
        dev_rates[i] = 2.0 * n * n * (double)n * reps / t * 1e-9;
        base_rates[i] = openblas_slice(h, slice);
        ratios[i] = dev_rates[i] / base_rates[i];
    }
    r.device = bench_median(dev_rates, SLICES);
    r.baseline = bench_median(base_rates, SLICES);
    r.ratio = bench_median(ratios, SLICES);
done:
    if (r.device < 0) fprintf(stderr, "bench_gemm: %s n=%d failed: %s\n", dev->info.name, n, rf_last_error());
    rf_buffer_free(a);
    rf_buffer_free(b);
    rf_buffer_free(c);
    free(host);
    return r;
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

    printf("# GEMM, row-major C = A*B, square n, f32. GFLOP/s = 2n^3/s, medians of %d slices; each device slice\n"
           "# alternates with an OpenBLAS slice on the host (the baseline), and ratios are medians of the pairs.\n",
           SLICES);
    host_gemm hosts[MAX_SIZES];
    for (int s = 0; s < nsizes; s++) host_gemm_init(&hosts[s], sizes[s]);

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
        rf_device_options opts = {.opencl_stock_gemm = is_opencl, .opencl_gemm = is_opencl ? RF_OPENCL_GEMM_CLBLAST : RF_OPENCL_GEMM_AUTO};
        rf_device *dev = NULL;
        if (rf_device_open_with(info.name, &opts, &dev) != RF_OK) {
            fprintf(stderr, "bench_gemm: %s\n", rf_last_error());
            continue;
        }
        pair_result first[MAX_SIZES];
        printf("%-10s %s%s\n", info.name, info.description, is_opencl ? " (CLBlast stock parameters)" : "");
        for (int s = 0; s < nsizes; s++) {
            first[s] = measure_pair(dev, &hosts[s], min_time);
            printf("  n=%-5d %8.1f GFLOP/s   OpenBLAS %8.1f GFLOP/s   ratio %.2f\n", sizes[s], first[s].device,
                   first[s].baseline, first[s].ratio);
        }
#ifdef RFDETR_HAVE_OPENCL
        if (is_opencl) {
            rf_opencl_gemm_tune_device(dev);
            printf("%-10s %s (rfdetr.c tuned parameters)\n", info.name, info.description);
            pair_result tuned[MAX_SIZES];
            for (int s = 0; s < nsizes; s++) {
                pair_result t = tuned[s] = measure_pair(dev, &hosts[s], min_time);
                printf("  n=%-5d %8.1f GFLOP/s   OpenBLAS %8.1f GFLOP/s   ratio %.2f   tuned/stock %.2f\n", sizes[s],
                       t.device, t.baseline, t.ratio, t.ratio / first[s].ratio);
            }
            rf_device *own = NULL;
            if (info.type == RF_DEVICE_CPU && rf_device_open(info.name, &own) == RF_OK) {
                printf("%-10s %s (rfdetr.c's own GEMM kernel, the default here)\n", info.name, info.description);
                for (int s = 0; s < nsizes; s++) {
                    pair_result t = measure_pair(own, &hosts[s], min_time);
                    printf("  n=%-5d %8.1f GFLOP/s   OpenBLAS %8.1f GFLOP/s   ratio %.2f   own/tuned %.2f\n", sizes[s],
                           t.device, t.baseline, t.ratio, t.ratio / tuned[s].ratio);
                }
                rf_device_close(own);
            }
        }
#endif
        rf_device_close(dev);
    }
    for (int s = 0; s < nsizes; s++) host_gemm_free(&hosts[s]);
    return 0;
}
