/* test_loader.c — the prefetching loader: evaluation batches cover every
 * image once, in order, square-resized with exact targets; training batches
 * are the same bytes for a seed whatever the thread count, differ for
 * another seed, resume at an epoch exactly, visit every image once per epoch
 * and pick their multi-scale size per batch; a corrupt image fails with its
 * name; a stop flag (also raised by a real SIGINT) and close-at-any-time shut
 * down cleanly. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fileio.h"
#include "data/augment.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/shapes.h"
#include "test_util.h"

static char tmp[] = "/tmp/rfdetr_test_loader_XXXXXX";

enum { TRAIN = 24, VALID = 10 };

/* FNV-1a over a run's batches: pixels, sizes, targets. */
static uint64_t hash_bytes(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static uint64_t hash_batch(uint64_t h, const rf_batch *b) {
    h = hash_bytes(h, &b->size, sizeof b->size);
    h = hash_bytes(h, &b->height, sizeof b->height);
    h = hash_bytes(h, b->pixels, sizeof(float) * 3 * (size_t)b->size * b->height * b->width);
    for (int i = 0; i < b->size; i++) {
        const rf_target *t = &b->targets[i];
        h = hash_bytes(h, &t->image_index, sizeof t->image_index);
        h = hash_bytes(h, t->boxes, sizeof(float) * 4 * t->count);
        h = hash_bytes(h, t->labels, sizeof(int64_t) * t->count);
    }
    return h;
}

/* Runs a loader to the end (or `limit` batches) and hashes what it gave. */
static uint64_t run(const rf_dataset *ds, const rf_loader_config *cfg, int limit, int *batches) {
    rf_loader *l = NULL;
    uint64_t h = 1469598103934665603ull;
    *batches = 0;
    CHECK_OK(rf_loader_open(ds, cfg, &l));
    if (!l) return 0;
    const rf_batch *b;
    while ((limit < 0 || *batches < limit) && rf_loader_next(l, &b) == RF_OK && b) {
        h = hash_batch(h, b);
        (*batches)++;
        rf_loader_release(l, b);
    }
    rf_loader_close(l);
    return h;
}

static void test_eval(const rf_dataset *ds) {
    rf_loader_config cfg;
    rf_loader_config_eval(&cfg, RF_SPLIT_VALID, 4, 96);
    rf_loader *l = NULL;
    CHECK_OK(rf_loader_open(ds, &cfg, &l));
    if (!l) return;
    CHECK(rf_loader_batches_per_epoch(l) == 3, "10 images in batches of 4: 3 batches");
    const rf_coco_dataset *c = ds->splits[RF_SPLIT_VALID].coco;
    rf_resampler sc = {0};
    float *want = malloc(sizeof(float) * 3 * 96 * 96);
    size_t next_image = 0;
    int batches = 0, pixel_mismatch = 0, box_mismatch = 0;
    const rf_batch *b;
    while (rf_loader_next(l, &b) == RF_OK && b) {
        CHECK(b->epoch == 0 && b->index == batches && b->height == 96 && b->width == 96, "batch %d header", batches);
        CHECK(b->size == (batches < 2 ? 4 : 2), "batch %d has %d images", batches, b->size);
        CHECK(b->last_in_epoch == (batches == 2), "last_in_epoch");
        for (int i = 0; i < b->size; i++, next_image++) {
            const rf_target *t = &b->targets[i];
            CHECK(t->image_index == next_image && t->image_id == c->images[next_image].id, "file order");
            CHECK(t->orig_width == 192 && t->orig_height == 192, "original size");
            /* Square resize only: the pixels are the plain resample of the file. */
            char path[4096];
            rf_image img;
            CHECK_OK(rf_dataset_image_path(ds, RF_SPLIT_VALID, next_image, path, sizeof path));
            CHECK_OK(rf_image_load(path, &img));
            rf_resample_region all = {0, 0, img.width, img.height, false};
            CHECK_OK(rf_image_resample_normalized(&img, &all, 96, 96, &sc, want));
            rf_image_free(&img);
            pixel_mismatch += memcmp(want, b->pixels + (size_t)i * 3 * 96 * 96, sizeof(float) * 3 * 96 * 96) != 0;
            /* Targets: the file's boxes divided by the image size. */
            size_t n = 0;
            for (size_t a = 0; a < c->annotation_count; a++) {
                const rf_coco_annotation *an = &c->annotations[a];
                if (an->image_index != (int64_t)next_image) continue;
                if (n < t->count) {
                    const float *bx = t->boxes + 4 * n;
                    box_mismatch += fabsf(bx[0] - (float)((an->bbox[0] + an->bbox[2] / 2) / 192)) > 1e-6f ||
                                    fabsf(bx[3] - (float)(an->bbox[3] / 192)) > 1e-6f ||
                                    t->labels[n] != an->category_id;
                }
                n++;
            }
            CHECK(n == t->count, "image %zu: %zu targets, want %zu", next_image, t->count, n);
        }
        batches++;
        rf_loader_release(l, b);
    }
    CHECK(batches == 3 && next_image == VALID, "%d batches, %zu images", batches, next_image);
    CHECK(pixel_mismatch == 0, "%d images differ from a direct resample", pixel_mismatch);
    CHECK(box_mismatch == 0, "%d boxes differ", box_mismatch);
    CHECK_OK(rf_loader_next(l, &b));
    CHECK(b == NULL, "after the last epoch: no batch");
    rf_loader_close(l);
    rf_resampler_free(&sc);
    free(want);
}

static void test_train_determinism(const rf_dataset *ds) {
    rf_loader_config cfg;
    rf_loader_config_train(&cfg, 4, 64, 1234);
    cfg.epochs = 2;
    int n1, n2, n3, n4;
    cfg.threads = 1;
    uint64_t h1 = run(ds, &cfg, -1, &n1);
    cfg.threads = 3;
    cfg.prefetch = 5;
    uint64_t h2 = run(ds, &cfg, -1, &n2);
    CHECK(n1 == 2 * TRAIN / 4 && n1 == n2, "%d and %d batches", n1, n2);
    CHECK(h1 == h2, "1 thread and 3 threads give the same batches");
    cfg.seed = 1235;
    uint64_t h3 = run(ds, &cfg, -1, &n3);
    CHECK(h3 != h1, "another seed gives other batches");

    /* Resuming at epoch 1 gives what the full run gave in its second epoch. */
    cfg.seed = 1234;
    cfg.epochs = 1;
    cfg.first_epoch = 1;
    uint64_t resumed = run(ds, &cfg, -1, &n4);
    cfg.first_epoch = 0;
    cfg.epochs = 2;
    rf_loader *l = NULL;
    CHECK_OK(rf_loader_open(ds, &cfg, &l));
    uint64_t second = 1469598103934665603ull;
    const rf_batch *b;
    int seen[TRAIN] = {0}, epochs_ok = 1;
    while (l && rf_loader_next(l, &b) == RF_OK && b) {
        if (b->epoch == 1) second = hash_batch(second, b);
        for (int i = 0; i < b->size; i++) {
            seen[b->targets[i].image_index]++;
            for (size_t k = 0; k < b->targets[i].count; k++) {
                const float *x = b->targets[i].boxes + 4 * k;
                if (!(x[2] > 0 && x[3] > 0 && x[0] - x[2] / 2 >= -1e-6f && x[0] + x[2] / 2 <= 1 + 1e-6f &&
                      x[1] - x[3] / 2 >= -1e-6f && x[1] + x[3] / 2 <= 1 + 1e-6f))
                    epochs_ok = 0;
            }
        }
        rf_loader_release(l, b);
    }
    rf_loader_close(l);
    CHECK(second == resumed && n4 == TRAIN / 4, "resumed epoch 1 equals the full run's epoch 1");
    int twice = 1;
    for (int i = 0; i < TRAIN; i++) twice &= seen[i] == 2;
    CHECK(twice, "every image exactly once per epoch");
    CHECK(epochs_ok, "every training box inside [0, 1] and non-empty");
}

static void test_multi_scale(const rf_dataset *ds) {
    rf_loader_config cfg;
    rf_loader_config_train(&cfg, 2, 64, 5);
    cfg.size_count = rf_multi_scale_sizes(64, 16, 1, false, cfg.sizes, RF_LOADER_MAX_SIZES);
    cfg.epochs = 3;
    rf_loader *l = NULL;
    CHECK_OK(rf_loader_open(ds, &cfg, &l));
    int counts[RF_LOADER_MAX_SIZES] = {0}, bad = 0;
    const rf_batch *b;
    while (l && rf_loader_next(l, &b) == RF_OK && b) {
        int k = -1;
        for (int i = 0; i < cfg.size_count; i++)
            if (cfg.sizes[i] == b->height) k = i;
        if (k < 0 || b->width != b->height) bad++;
        else counts[k]++;
        rf_loader_release(l, b);
    }
    rf_loader_close(l);
    CHECK(bad == 0, "%d batches of a size not in the list", bad);
    int used = 0;
    for (int i = 0; i < cfg.size_count; i++) used += counts[i] > 0;
    CHECK(used >= cfg.size_count - 2, "sizes used: %d of %d over 36 batches", used, cfg.size_count);
}

static volatile sig_atomic_t stop_flag;
static void on_sigint(int sig) {
    (void)sig;
    stop_flag = 1;
}

static void test_shutdown(const rf_dataset *ds) {
    rf_loader_config cfg;
    rf_loader_config_train(&cfg, 2, 64, 9);
    cfg.stop = &stop_flag;
    /* Ctrl-C: a SIGINT handler raises the flag; next() reports it promptly. */
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);
    rf_loader *l = NULL;
    CHECK_OK(rf_loader_open(ds, &cfg, &l));
    const rf_batch *b;
    int got = 0;
    rf_status s = RF_OK;
    while (l && (s = rf_loader_next(l, &b)) == RF_OK && b) {
        rf_loader_release(l, b);
        if (++got == 3) raise(SIGINT);
        if (got > 1000) break;
    }
    CHECK(stop_flag == 1 && s == RF_ERR_INTERRUPTED && got == 3, "stopped after %d batches: %s", got,
          rf_status_name(s));
    CHECK_STATUS(rf_loader_next(l, &b), RF_ERR_INTERRUPTED);
    rf_loader_close(l);
    sigaction(SIGINT, &old, NULL);
    stop_flag = 0;

    /* Close at once, while every worker is busy, and with batches still held. */
    cfg.stop = NULL;
    for (int k = 0; k < 5; k++) {
        CHECK_OK(rf_loader_open(ds, &cfg, &l));
        if (k % 2 && l && rf_loader_next(l, &b) == RF_OK) { /* hold one */
        }
        rf_loader_close(l);
    }
    /* Holding every staging batch and asking for more is refused, not a hang. */
    cfg.prefetch = 2;
    CHECK_OK(rf_loader_open(ds, &cfg, &l));
    const rf_batch *b1 = NULL, *b2 = NULL, *b3 = NULL;
    CHECK_OK(rf_loader_next(l, &b1));
    CHECK_OK(rf_loader_next(l, &b2));
    CHECK_STATUS(rf_loader_next(l, &b3), RF_ERR_INVALID_ARGUMENT);
    rf_loader_release(l, b1);
    CHECK_OK(rf_loader_next(l, &b3));
    CHECK(b3 && b2 && b3->index == b2->index + 1, "order kept after a refusal");
    rf_loader_close(l);

    /* Bad configurations. */
    rf_loader_config bad = cfg;
    bad.batch_size = 0;
    CHECK_STATUS(rf_loader_open(ds, &bad, &l), RF_ERR_INVALID_ARGUMENT);
    bad = cfg;
    bad.batch_size = TRAIN + 1;
    CHECK_STATUS(rf_loader_open(ds, &bad, &l), RF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(rf_last_error(), "fewer than one batch") != NULL, "message: %s", rf_last_error());
    bad = cfg;
    bad.split = RF_SPLIT_TEST;
    CHECK_STATUS(rf_loader_open(ds, &bad, &l), RF_ERR_INVALID_ARGUMENT);
}

static void test_corrupt_image(void) {
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/corrupt", tmp);
    rf_shapes_config sc;
    rf_shapes_config_default(&sc);
    sc.train = 8, sc.valid = 2, sc.size = 64;
    CHECK_OK(rf_shapes_write(dir, &sc));
    snprintf(path, sizeof path, "%s/train/shapes_000005.jpg", dir);
    char *data = NULL;
    size_t n = 0;
    CHECK_OK(rf_read_file(path, &data, &n));
    FILE *f = fopen(path, "wb");
    if (f) fwrite(data, 1, n / 2, f), fclose(f); /* truncated */
    free(data);
    rf_dataset *ds = NULL;
    CHECK_OK(rf_dataset_open(dir, RF_SPLIT_BIT(RF_SPLIT_TRAIN), &ds));
    if (!ds) return;
    rf_loader_config cfg;
    rf_loader_config_eval(&cfg, RF_SPLIT_TRAIN, 2, 64);
    rf_loader *l = NULL;
    CHECK_OK(rf_loader_open(ds, &cfg, &l));
    const rf_batch *b;
    rf_status s = RF_OK;
    int got = 0;
    while (l && (s = rf_loader_next(l, &b)) == RF_OK && b) {
        got++;
        rf_loader_release(l, b);
    }
    CHECK(s == RF_ERR_FORMAT && strstr(rf_last_error(), "shapes_000005.jpg"), "failure names the file: %s: %s",
          rf_status_name(s), rf_last_error());
    CHECK(got <= 2, "batches before the broken one: %d", got);
    CHECK_STATUS(rf_loader_next(l, &b), RF_ERR_FORMAT);
    rf_loader_close(l);
    rf_dataset_free(ds);
}

int main(void) {
    if (!mkdtemp(tmp)) return 1;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/shapes", tmp);
    rf_shapes_config sc;
    rf_shapes_config_default(&sc);
    sc.train = TRAIN, sc.valid = VALID;
    rf_dataset *ds = NULL;
    CHECK_OK(rf_shapes_write(dir, &sc));
    CHECK_OK(rf_dataset_open(dir, RF_SPLIT_BIT(RF_SPLIT_TRAIN) | RF_SPLIT_BIT(RF_SPLIT_VALID), &ds));
    if (ds) {
        test_eval(ds);
        test_train_determinism(ds);
        test_multi_scale(ds);
        test_shutdown(ds);
        rf_dataset_free(ds);
    }
    test_corrupt_image();
    test_remove_tree(tmp);
    return test_finish("test_loader");
}
