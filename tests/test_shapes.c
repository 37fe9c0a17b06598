/* test_shapes.c — the shapes generator: same seed same bytes (whatever the
 * thread count), the reference's distribution (objects per image, sizes,
 * overlap, class balance), every class drawable, config checks, and the
 * write-then-rename contract. With --default it also builds the default set
 * in a temporary cache (slow: it is the 2,200-image set). */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "data/dataset.h"
#include "data/shapes.h"
#include "test_util.h"

static double box_iou(const double *a, const double *b) {
    double ix = fmin(a[0] + a[2], b[0] + b[2]) - fmax(a[0], b[0]);
    double iy = fmin(a[1] + a[3], b[1] + b[3]) - fmax(a[1], b[1]);
    double inter = (ix > 0 ? ix : 0) * (iy > 0 ? iy : 0);
    return inter / (a[2] * a[3] + b[2] * b[3] - inter);
}

static void test_render(void) {
    rf_shapes_config cfg;
    rf_shapes_config_default(&cfg);
    const int S = cfg.size, N = 150;
    uint8_t *a = malloc((size_t)S * S * 3), *b = malloc((size_t)S * S * 3);
    rf_shapes_object oa[RF_SHAPES_MAX_OBJECTS], ob[RF_SHAPES_MAX_OBJECTS];
    int na, nb;
    rf_shapes_render(&cfg, 0, 17, a, oa, &na);
    rf_shapes_render(&cfg, 0, 17, b, ob, &nb);
    CHECK(na == nb && memcmp(a, b, (size_t)S * S * 3) == 0 && memcmp(oa, ob, sizeof(rf_shapes_object) * na) == 0,
          "same image twice");
    rf_shapes_render(&cfg, 1, 17, b, ob, &nb);
    CHECK(memcmp(a, b, (size_t)S * S * 3) != 0, "another split gives another image");
    cfg.seed = 1;
    rf_shapes_render(&cfg, 0, 17, b, ob, &nb);
    CHECK(memcmp(a, b, (size_t)S * S * 3) != 0, "another seed gives another image");
    cfg.seed = 0;

    int per_count[RF_SHAPES_MAX_OBJECTS + 1] = {0}, per_class[3] = {0}, objects = 0, bad = 0, overlap = 0, small = 0;
    double mean_w = 0;
    for (int i = 0; i < N; i++) {
        rf_shapes_render(&cfg, 0, i, a, oa, &na);
        per_count[na]++;
        for (int k = 0; k < na; k++) {
            const double *bb = oa[k].bbox;
            objects++;
            per_class[oa[k].category_id]++;
            mean_w += bb[2];
            small += bb[2] * bb[3] < 32 * 32;
            if (bb[0] < 0 || bb[1] < 0 || bb[0] + bb[2] > S || bb[1] + bb[3] > S || bb[2] < 4 || bb[3] < 4 ||
                bb[2] > 70 || bb[3] > 70)
                bad++;
            for (int m = 0; m < k; m++) overlap += box_iou(bb, oa[m].bbox) > 0.3 + 1e-9;
        }
    }
    CHECK(per_count[0] == 0, "every image has an object");
    for (int c = 1; c <= RF_SHAPES_MAX_OBJECTS; c++)
        CHECK(per_count[c] > N / 4 - 30 && per_count[c] < N / 4 + 30, "%d images with %d objects", per_count[c], c);
    CHECK(bad == 0, "%d boxes outside the image or the 4..70 px range", bad);
    CHECK(overlap == 0, "%d pairs overlap more than IoU 0.3", overlap);
    for (int c = 0; c < 3; c++)
        CHECK(abs(per_class[c] - objects / 3) < objects / 8, "class %d: %d of %d", c, per_class[c], objects);
    /* The reference (shapes.py, 2,000 images) has median width 39, mean ~40,
     * 36% of boxes under 32x32 px. */
    mean_w /= objects;
    CHECK(mean_w > 36 && mean_w < 44, "mean width %g", mean_w);
    CHECK(small > objects * 0.28 && small < objects * 0.44, "small fraction %g", (double)small / objects);

    /* Every extra class is drawn and labelled. */
    cfg.classes = RF_SHAPES_MAX_CLASSES;
    int seen[RF_SHAPES_MAX_CLASSES] = {0};
    for (int i = 0; i < 80; i++) {
        rf_shapes_render(&cfg, 0, i, a, oa, &na);
        for (int k = 0; k < na; k++) seen[oa[k].category_id]++;
    }
    for (int c = 0; c < RF_SHAPES_MAX_CLASSES; c++)
        CHECK(seen[c] > 5, "class %d (%s) seen %d times", c, rf_shapes_class_name(c), seen[c]);
    free(a);
    free(b);
}

static void test_config(void) {
    rf_shapes_config cfg;
    rf_shapes_config_default(&cfg);
    CHECK(cfg.train == 2000 && cfg.valid == 200 && cfg.test == 0 && cfg.size == 192 && cfg.classes == 3,
          "defaults are the reference's");
    CHECK_OK(rf_shapes_config_check(&cfg));
    rf_shapes_config bad = cfg;
    bad.classes = 0;
    CHECK_STATUS(rf_shapes_config_check(&bad), RF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(rf_last_error(), "classes") != NULL, "message names the field: %s", rf_last_error());
    bad = cfg;
    bad.classes = RF_SHAPES_MAX_CLASSES + 1;
    CHECK_STATUS(rf_shapes_config_check(&bad), RF_ERR_INVALID_ARGUMENT);
    bad = cfg;
    bad.size = 16;
    CHECK_STATUS(rf_shapes_config_check(&bad), RF_ERR_INVALID_ARGUMENT);
    bad = cfg;
    bad.train = -1;
    CHECK_STATUS(rf_shapes_config_check(&bad), RF_ERR_INVALID_ARGUMENT);
    bad = cfg;
    bad.train = bad.valid = bad.test = 0;
    CHECK_STATUS(rf_shapes_config_check(&bad), RF_ERR_INVALID_ARGUMENT);
}

/* Compares two files byte for byte. */
static int same_file(const char *a, const char *b) {
    char *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    int same = rf_read_file(a, &da, &la) == RF_OK && rf_read_file(b, &db, &lb) == RF_OK && la == lb &&
               memcmp(da, db, la) == 0;
    free(da);
    free(db);
    return same;
}

static void test_write(const char *tmp) {
    rf_shapes_config cfg;
    rf_shapes_config_default(&cfg);
    cfg.train = 23;
    cfg.valid = 7;
    cfg.test = 5;
    cfg.seed = 42;
    cfg.size = 64;
    char one[4096], two[4096], path_a[4300], path_b[4300];
    snprintf(one, sizeof one, "%s/one", tmp);
    snprintf(two, sizeof two, "%s/two/nested", tmp);
    cfg.threads = 1;
    CHECK_OK(rf_shapes_write(one, &cfg));
    char parent[4096];
    snprintf(parent, sizeof parent, "%s/two", tmp);
    CHECK_OK(rf_make_dirs(parent));
    cfg.threads = 3;
    CHECK_OK(rf_shapes_write(two, &cfg));
    const char *splits[3] = {"train", "valid", "test"};
    int counts[3] = {23, 7, 5}, differ = 0, missing = 0;
    for (int s = 0; s < 3; s++) {
        snprintf(path_a, sizeof path_a, "%s/%s/_annotations.coco.json", one, splits[s]);
        snprintf(path_b, sizeof path_b, "%s/%s/_annotations.coco.json", two, splits[s]);
        missing += !rf_file_exists(path_a);
        differ += !same_file(path_a, path_b);
        for (int i = 0; i < counts[s]; i++) {
            snprintf(path_a, sizeof path_a, "%s/%s/shapes_%06d.jpg", one, splits[s], i);
            snprintf(path_b, sizeof path_b, "%s/%s/shapes_%06d.jpg", two, splits[s], i);
            missing += !rf_file_exists(path_a);
            differ += !same_file(path_a, path_b);
        }
    }
    CHECK(missing == 0, "%d files missing", missing);
    CHECK(differ == 0, "%d files differ between 1 and 3 threads", differ);
    /* No temporary directory is left beside the result. */
    DIR *d = opendir(tmp);
    int leftovers = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) leftovers += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    CHECK(leftovers == 0, "%d temporary directories left", leftovers);

    /* A split with no images is not written at all. */
    char no_test[4096];
    snprintf(no_test, sizeof no_test, "%s/no_test", tmp);
    cfg.test = 0;
    CHECK_OK(rf_shapes_write(no_test, &cfg));
    snprintf(path_a, sizeof path_a, "%s/test", no_test);
    CHECK(!rf_file_exists(path_a), "no test/ folder without test images");

    /* An existing non-empty directory is never overwritten; an empty one is filled. */
    CHECK_STATUS(rf_shapes_write(one, &cfg), RF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(rf_last_error(), one) != NULL, "message names the directory: %s", rf_last_error());
    char empty[4096];
    snprintf(empty, sizeof empty, "%s/empty", tmp);
    CHECK_OK(rf_make_dirs(empty));
    CHECK_OK(rf_shapes_write(empty, &cfg));
    /* A directory that cannot be created is an I/O error naming it. */
    CHECK_STATUS(rf_shapes_write("/proc/rfdetr-cannot-write-here", &cfg), RF_ERR_IO);
}

static void test_default(const char *tmp) {
    char cache[4096], dir[4096], again[4096];
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    setenv("XDG_CACHE_HOME", cache, 1);
    CHECK_OK(rf_shapes_default_dir(dir, sizeof dir));
    CHECK(strncmp(dir, cache, strlen(cache)) == 0, "default dir %s is under XDG_CACHE_HOME", dir);
    int generated = -1;
    CHECK_OK(rf_shapes_ensure_default(again, sizeof again, &generated));
    CHECK(generated == 1 && strcmp(again, dir) == 0, "first use generates (%d) %s", generated, again);
    CHECK_OK(rf_shapes_ensure_default(again, sizeof again, &generated));
    CHECK(generated == 0, "second use reuses");
    /* --data shapes resolves to it, and it opens as a dataset with the reference's counts. */
    CHECK_OK(rf_dataset_resolve_dir("shapes", again, sizeof again, &generated));
    CHECK(generated == 0 && strcmp(again, dir) == 0, "--data shapes is the cached set");
    rf_dataset *ds = NULL;
    CHECK_OK(rf_dataset_open(again, RF_SPLIT_BIT(RF_SPLIT_TRAIN) | RF_SPLIT_BIT(RF_SPLIT_VALID), &ds));
    if (ds) {
        CHECK(ds->splits[RF_SPLIT_TRAIN].coco->image_count == 2000 && ds->splits[RF_SPLIT_VALID].coco->image_count == 200 &&
                  ds->num_classes == 3 && ds->problems.count == 0,
              "default set: %zu train, %zu valid, %lld classes", ds->splits[RF_SPLIT_TRAIN].coco->image_count,
              ds->splits[RF_SPLIT_VALID].coco->image_count, (long long)ds->num_classes);
        rf_dataset_free(ds);
    }
    char path[4300];
    snprintf(path, sizeof path, "%s/train/shapes_001999.jpg", dir);
    CHECK(rf_file_exists(path), "2000 train images");
    snprintf(path, sizeof path, "%s/valid/shapes_000199.jpg", dir);
    CHECK(rf_file_exists(path), "200 valid images");
}

int main(int argc, char **argv) {
    char tmp[] = "/tmp/rfdetr_test_shapes_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    if (argc > 1 && strcmp(argv[1], "--default") == 0) {
        test_default(tmp);
    } else {
        test_render();
        test_config();
        test_write(tmp);
    }
    test_remove_tree(tmp);
    return test_finish("test_shapes");
}
