/* bench_data — images per second the loader decodes and augments into
 * 384 x 384 training batches, with 1 and 2 threads, against the baseline of
 * decoding alone on one thread (measured in the same run). Also times the
 * stages of one image (read, decode, resample) to show where the time goes.
 *
 *   build/bench_data [DIR ...]
 * Without DIR: ../shared/datasets/facemask (real photos, ~400 x 300 JPEG)
 * and a shapes set of 640 px JPEGs generated into build/bench-data (COCO-
 * sized images). Target: >= 200 images/s at 384 x 384 on 2 threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/fileio.h"
#include "data/augment.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/shapes.h"

#include "bench/bench_util.h"

enum { SIZE = 384, BATCH = 8, MIN_IMAGES = 1200 };

/* Baseline: read + decode every training image once, one thread; also the
 * per-stage split of one full pass (read, decode, plan + resample). */
static int stages(const rf_dataset *ds, double *decode_rate, double split[3]) {
    const rf_coco_dataset *c = ds->splits[RF_SPLIT_TRAIN].coco;
    size_t n = c->image_count;
    rf_resampler sc = {0};
    float *out = malloc(sizeof(float) * 3 * SIZE * SIZE);
    double t_read = 0, t_decode = 0, t_resample = 0;
    double pixels = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        if (rf_dataset_image_path(ds, RF_SPLIT_TRAIN, i, path, sizeof path) != RF_OK) return 1;
        double t0 = bench_now();
        char *data = NULL;
        size_t len = 0;
        if (rf_read_file(path, &data, &len) != RF_OK) return 1;
        double t1 = bench_now();
        rf_image img;
        if (rf_image_decode(data, len, path, &img) != RF_OK) {
            fprintf(stderr, "%s\n", rf_last_error());
            return 1;
        }
        double t2 = bench_now();
        rf_philox_stream rng;
        rf_philox_stream_init(&rng, 0, (uint32_t)i, 0, RF_RNG_TAG_AUGMENT);
        rf_augment_plan plan;
        rf_augment_plan_train(&rng, img.width, img.height, &plan);
        rf_image_resample_normalized(&img, &plan.region, SIZE, SIZE, &sc, out);
        double t3 = bench_now();
        t_read += t1 - t0, t_decode += t2 - t1, t_resample += t3 - t2;
        pixels += (double)img.width * img.height;
        rf_image_free(&img);
        free(data);
    }
    *decode_rate = n / (t_read + t_decode);
    split[0] = t_read / n * 1e3, split[1] = t_decode / n * 1e3, split[2] = t_resample / n * 1e3;
    printf("  one thread, per image: read %.3f ms, decode %.3f ms (%.2f Mpixel/image), augment+resample+normalise "
           "%.3f ms\n",
           split[0], split[1], pixels / n / 1e6, split[2]);
    rf_resampler_free(&sc);
    free(out);
    return 0;
}

/* CPU seconds this process has used (every thread): the machine may be
 * shared, so wall-clock rates undersell what idle cores would do. */
static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
}

static double loader_rate(const rf_dataset *ds, int threads, bool augment, size_t *images_out, double *cpu_ms) {
    rf_loader_config cfg;
    rf_loader_config_train(&cfg, BATCH, SIZE, 42);
    cfg.threads = threads;
    cfg.augment = augment;
    size_t n = ds->splits[RF_SPLIT_TRAIN].coco->image_count;
    cfg.epochs = (int64_t)((MIN_IMAGES + n - 1) / n);
    rf_loader *l = NULL;
    double t0 = bench_now(), c0 = cpu_seconds();
    if (rf_loader_open(ds, &cfg, &l) != RF_OK) {
        fprintf(stderr, "%s\n", rf_last_error());
        return 0;
    }
    const rf_batch *b;
    size_t images = 0;
    rf_status s;
    while ((s = rf_loader_next(l, &b)) == RF_OK && b) {
        images += (size_t)b->size;
        rf_loader_release(l, b);
    }
    double t = bench_now() - t0;
    rf_loader_close(l);
    *cpu_ms = (cpu_seconds() - c0) / (images ? images : 1) * 1e3;
    if (s != RF_OK) fprintf(stderr, "%s\n", rf_last_error());
    *images_out = images;
    return images / t;
}

static int bench(const char *dir) {
    rf_dataset *ds = NULL;
    if (rf_dataset_open(dir, RF_SPLIT_BIT(RF_SPLIT_TRAIN), &ds) != RF_OK) {
        fprintf(stderr, "bench_data: %s\n", rf_last_error());
        return 1;
    }
    printf("%s: %zu training images, %d x %d batches of %d\n", dir, ds->splits[RF_SPLIT_TRAIN].coco->image_count,
           SIZE, SIZE, BATCH);
    double decode_rate, split[3];
    if (stages(ds, &decode_rate, split)) return 1;
    printf("  %-40s %9.1f images/s  (baseline)\n", "read + decode only, 1 thread", decode_rate);
    for (int threads = 1; threads <= 2; threads++) {
        size_t n;
        double cpu_ms;
        double r = loader_rate(ds, threads, true, &n, &cpu_ms);
        char what[64];
        snprintf(what, sizeof what, "loader, augmented, %d thread%s", threads, threads > 1 ? "s" : "");
        printf("  %-40s %9.1f images/s  %5.2fx baseline  %.2f CPU ms/image  (%zu images)%s\n", what, r,
               r / decode_rate, cpu_ms, n, threads == 2 ? (r >= 200 ? "  target 200: met" : "  target 200: NOT met") : "");
        if (threads == 2)
            printf("  %-40s %9.1f images/s  (2 idle cores / CPU time per image)\n", "capacity of 2 idle cores",
                   2000.0 / cpu_ms);
    }
    size_t n;
    double cpu_ms;
    double r = loader_rate(ds, 2, false, &n, &cpu_ms);
    printf("  %-40s %9.1f images/s  %5.2fx baseline  %.2f CPU ms/image\n", "loader, square resize only, 2 threads",
           r, r / decode_rate, cpu_ms);
    rf_dataset_free(ds);
    return 0;
}

int main(int argc, char **argv) {
    int rc = 0;
    double load[3] = {0};
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
        fclose(f);
    }
    printf("bench_data: load average %.2f when starting (other processes share the cores)\n", load[0]);
    if (argc > 1) {
        for (int i = 1; i < argc; i++) rc |= bench(argv[i]);
        return rc;
    }
    if (rf_file_exists("../shared/datasets/facemask"))
        rc |= bench("../shared/datasets/facemask");
    else
        printf("../shared/datasets/facemask not found (run from the repository root); skipped\n");
    const char *shapes = "build/bench-data/shapes640";
    if (!rf_file_exists(shapes)) {
        rf_shapes_config cfg;
        rf_shapes_config_default(&cfg);
        cfg.train = 300, cfg.valid = 1, cfg.size = 640, cfg.seed = 1;
        rf_make_dirs("build/bench-data");
        printf("generating %s ...\n", shapes);
        if (rf_shapes_write(shapes, &cfg) != RF_OK) {
            fprintf(stderr, "bench_data: %s\n", rf_last_error());
            return 1;
        }
    }
    rc |= bench(shapes);
    return rc;
}
