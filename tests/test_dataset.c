/* test_dataset.c — datasets on disk: the real Roboflow export in
 * ../shared/datasets/facemask with the exact counts its SOURCE.md states,
 * the COCO ground-truth fixtures, one dataset in all four layouts giving the
 * same in-memory form, and every bad input of issue 4 (message naming file
 * and field, the documented status, the documented training policy). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "core/fileio.h"
#include "data/dataset.h"
#include "data/shapes.h"
#include "test_util.h"

static char tmp[] = "/tmp/rfdetr_test_dataset_XXXXXX";

static void write_file(const char *path, const char *text, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        CHECK(0, "cannot write %s", path);
        return;
    }
    fwrite(text, 1, n, f);
    fclose(f);
}

static void write_text(const char *path, const char *text) { write_file(path, text, strlen(text)); }

static size_t count_kind(const rf_coco_problems *p, rf_coco_problem_kind kind, const char *needle) {
    size_t n = 0;
    for (size_t i = 0; i < p->count; i++)
        n += p->items[i].kind == kind && (!needle || strstr(p->items[i].message, needle) != NULL);
    return n;
}

/* ---- the real Roboflow export ------------------------------------------------------- */

static void test_facemask(void) {
    const char *dir = "../shared/datasets/facemask";
    if (!rf_file_exists(dir)) {
        /* Exact counts of the copy CI keeps: another export may differ. */
        test_skip_part("test_dataset", "the facemask export's exact counts", "../shared/datasets/facemask not found",
                       TEST_ENABLE_SHARED);
        return;
    }
    rf_data_format format;
    CHECK_OK(rf_dataset_detect(dir, &format));
    CHECK(format == RF_DATA_ROBOFLOW, "facemask is %s", rf_data_format_name(format));
    rf_dataset *ds = NULL;
    CHECK_OK(rf_dataset_open(dir, RF_SPLITS_ALL, &ds));
    if (!ds) return;
    /* SOURCE.md: train 650 / 3057, valid 132 / 584, test 86 / 459; 6 categories. */
    const size_t images[3] = {650, 132, 86}, anns[3] = {3057, 584, 459}, max_per_image[3] = {115, 41, 53};
    for (int s = 0; s < RF_SPLIT_COUNT; s++) {
        const rf_dataset_split *sp = &ds->splits[s];
        CHECK(sp->present && sp->coco, "%s present", rf_split_name(s));
        if (!sp->coco) continue;
        CHECK(sp->coco->image_count == images[s], "%s: %zu images", rf_split_name(s), sp->coco->image_count);
        CHECK(sp->coco->annotation_count == anns[s], "%s: %zu annotations", rf_split_name(s),
              sp->coco->annotation_count);
        CHECK(sp->coco->category_count == 6, "%s: %zu categories", rf_split_name(s), sp->coco->category_count);
        /* iscrowd is always 0, so every annotation is a training target. */
        CHECK(sp->target_start[sp->coco->image_count] == anns[s], "%s: targets", rf_split_name(s));
        CHECK(sp->max_targets == max_per_image[s], "%s: at most %zu boxes per image", rf_split_name(s),
              sp->max_targets);
    }
    CHECK(ds->num_classes == 6, "class head logits %lld (ids 0..5)", (long long)ds->num_classes);
    CHECK(ds->problems.count == 0, "%zu problems, first: %s", ds->problems.count,
          ds->problems.count ? ds->problems.items[0].message : "");
    const rf_coco_dataset *train = ds->splits[RF_SPLIT_TRAIN].coco;
    if (train) {
        /* The placeholder id 0 is named like class 1: ids, not names, identify classes. */
        int64_t k0 = rf_coco_category_index(train, 0), k1 = rf_coco_category_index(train, 1);
        CHECK(k0 >= 0 && rf_coco_category_is_placeholder(&train->categories[k0]), "id 0 is the placeholder");
        CHECK(k1 >= 0 && !rf_coco_category_is_placeholder(&train->categories[k1]) &&
                  strcmp(train->categories[k0].name, train->categories[k1].name) == 0,
              "id 1 'Mask' is a class named like the placeholder");
        const char *names[6] = {"Mask", "Mask", "No-Mask", "mask_weared_incorrect", "with_mask", "without_mask"};
        for (int64_t id = 0; id < 6; id++) {
            int64_t k = rf_coco_category_index(train, id);
            CHECK(k >= 0 && strcmp(train->categories[k].name, names[id]) == 0, "category %lld", (long long)id);
        }
        /* Per-class annotation counts of SOURCE.md's table (train column). */
        size_t per_class[6] = {0};
        for (size_t a = 0; a < train->annotation_count; a++)
            if (train->annotations[a].category_id >= 0 && train->annotations[a].category_id < 6)
                per_class[train->annotations[a].category_id]++;
        const size_t want[6] = {0, 36, 16, 90, 2350, 565};
        for (int c = 0; c < 6; c++) CHECK(per_class[c] == want[c], "train class %d: %zu boxes", c, per_class[c]);
        char path[4096];
        CHECK_OK(rf_dataset_image_path(ds, RF_SPLIT_TRAIN, 0, path, sizeof path));
        CHECK(rf_file_exists(path), "image path %s exists", path);
    }
    /* Decoding every image finds nothing wrong (all 868 decode, sizes match). */
    for (int s = 0; s < RF_SPLIT_COUNT; s++) CHECK_OK(rf_dataset_check_images(ds, s));
    CHECK(ds->problems.count == 0, "decoding found %zu problems: %s", ds->problems.count,
          ds->problems.count ? ds->problems.items[0].message : "");
    rf_dataset_free(ds);

    /* Opening only the valid split loads nothing else. */
    CHECK_OK(rf_dataset_open(dir, RF_SPLIT_BIT(RF_SPLIT_VALID), &ds));
    if (ds) {
        CHECK(ds->splits[RF_SPLIT_VALID].coco && !ds->splits[RF_SPLIT_TRAIN].coco && ds->splits[RF_SPLIT_TRAIN].present,
              "only valid loaded");
        rf_dataset_free(ds);
    }
}

/* ---- the COCO ground-truth fixtures ------------------------------------------------------ */

static void test_fixtures(void) {
    struct {
        const char *name;
        size_t images, annotations, categories, crowd;
        int64_t max_id;
    } cases[] = {
        {"cocoapi_val2014_fake100", 100, 839, 80, 9, 90}, {"detectron2_tiny", 2, 2, 2, 0, 65},
        {"fce_crowd_2299", 1, 14, 1, 1, 1},               {"fce_shapes3", 3, 9, 4, 0, 4},
        {"keras_cv_sample_boxes", 84, 657, 52, 0, 90},     {"mmdet_dummy", 1, 4, 2, 0, 1},
        {"rafaelpadilla_sampled", 100, 830, 80, 0, 90},    {"rafaelpadilla_toy", 10, 12, 1, 0, 0},
        {"torchmetrics_4img", 4, 11, 6, 0, 5},
    };
    if (!rf_file_exists("../shared/coco_fixtures")) {
        test_skip_part("test_dataset", "loading the shared COCO fixtures", "../shared/coco_fixtures not found",
                       TEST_ENABLE_SHARED);
        return;
    }
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char path[512];
        snprintf(path, sizeof path, "../shared/coco_fixtures/%s/gt.json", cases[k].name);
        rf_coco_dataset *ds = NULL;
        CHECK_OK(rf_coco_load(path, &ds));
        if (!ds) continue;
        CHECK(ds->image_count == cases[k].images && ds->annotation_count == cases[k].annotations &&
                  ds->category_count == cases[k].categories && ds->max_category_id == cases[k].max_id,
              "%s: %zu images %zu annotations %zu categories, max id %lld", cases[k].name, ds->image_count,
              ds->annotation_count, ds->category_count, (long long)ds->max_category_id);
        size_t crowd = 0;
        for (size_t a = 0; a < ds->annotation_count; a++) crowd += ds->annotations[a].iscrowd != 0;
        CHECK(crowd == cases[k].crowd, "%s: %zu crowd regions", cases[k].name, crowd);
        /* Semantically clean, except the toy set whose only category has
         * supercategory "none": fine to evaluate, refused for training. */
        rf_coco_problems p = {0};
        rf_status s = rf_coco_validate(ds, &p);
        if (strcmp(cases[k].name, "rafaelpadilla_toy") == 0)
            CHECK(s == RF_ERR_FORMAT && p.count == 1 && p.items[0].kind == RF_COCO_PROBLEM_ALL_PLACEHOLDER,
                  "toy: %zu problems", p.count);
        else
            CHECK(s == RF_OK && p.count == 0, "%s: %zu problems: %s", cases[k].name, p.count,
                  p.count ? p.items[0].message : "");
        rf_coco_problems_free(&p);
        rf_coco_free(ds);
    }
}

/* ---- one dataset, four layouts ------------------------------------------------------------- */

static void link_or_copy(const char *from, const char *to) {
    if (link(from, to) == 0) return;
    char *data = NULL;
    size_t n = 0;
    if (rf_read_file(from, &data, &n) == RF_OK) write_file(to, data, n);
    free(data);
}

/* Writes a split of `rf` (a Roboflow dataset) as YOLO: images and labels folders. */
static void write_yolo_split(const char *rf, const char *split, const char *images, const char *labels) {
    char json[4096];
    snprintf(json, sizeof json, "%s/%s/_annotations.coco.json", rf, split);
    rf_coco_dataset *ds = NULL;
    CHECK_OK(rf_coco_load(json, &ds));
    if (!ds) return;
    CHECK_OK(rf_make_dirs(images));
    CHECK_OK(rf_make_dirs(labels));
    for (size_t i = 0; i < ds->image_count; i++) {
        const rf_coco_image *im = &ds->images[i];
        char from[4096], to[4096], label[4096];
        snprintf(from, sizeof from, "%s/%s/%s", rf, split, im->file_name);
        snprintf(to, sizeof to, "%s/%s", images, im->file_name);
        link_or_copy(from, to);
        snprintf(label, sizeof label, "%s/%.*s.txt", labels, (int)(strlen(im->file_name) - 4), im->file_name);
        FILE *f = fopen(label, "w");
        for (size_t a = 0; f && a < ds->annotation_count; a++) {
            const rf_coco_annotation *an = &ds->annotations[a];
            if (an->image_id != im->id) continue;
            fprintf(f, "%lld %.17g %.17g %.17g %.17g\n", (long long)an->category_id,
                    (an->bbox[0] + an->bbox[2] / 2) / im->width, (an->bbox[1] + an->bbox[3] / 2) / im->height,
                    an->bbox[2] / im->width, an->bbox[3] / im->height);
        }
        if (f) fclose(f);
    }
    rf_coco_free(ds);
}

static void write_coco_split(const char *rf, const char *split, const char *root, const char *name) {
    char from[4096], to[4096];
    snprintf(to, sizeof to, "%s/annotations", root);
    CHECK_OK(rf_make_dirs(to));
    snprintf(from, sizeof from, "%s/%s/_annotations.coco.json", rf, split);
    snprintf(to, sizeof to, "%s/annotations/instances_%s.json", root, name);
    link_or_copy(from, to);
    rf_coco_dataset *ds = NULL;
    CHECK_OK(rf_coco_load(from, &ds));
    snprintf(to, sizeof to, "%s/%s", root, name);
    CHECK_OK(rf_make_dirs(to));
    for (size_t i = 0; ds && i < ds->image_count; i++) {
        snprintf(from, sizeof from, "%s/%s/%s", rf, split, ds->images[i].file_name);
        snprintf(to, sizeof to, "%s/%s/%s", root, name, ds->images[i].file_name);
        link_or_copy(from, to);
    }
    rf_coco_free(ds);
}

static void compare_datasets(const rf_dataset *a, const rf_dataset *b, const char *what) {
    for (int s = 0; s < 2; s++) {
        const rf_coco_dataset *x = a->splits[s].coco, *y = b->splits[s].coco;
        CHECK(x && y, "%s: %s loaded", what, rf_split_name(s));
        if (!x || !y) continue;
        CHECK(x->image_count == y->image_count && x->annotation_count == y->annotation_count &&
                  x->category_count == y->category_count,
              "%s %s: %zu/%zu images, %zu/%zu annotations", what, rf_split_name(s), x->image_count, y->image_count,
              x->annotation_count, y->annotation_count);
        if (x->image_count != y->image_count || x->annotation_count != y->annotation_count) continue;
        int bad = 0;
        for (size_t i = 0; i < x->image_count; i++)
            bad += strcmp(x->images[i].file_name, y->images[i].file_name) != 0 || x->images[i].width != y->images[i].width;
        for (size_t k = 0; k < x->annotation_count; k++) {
            const rf_coco_annotation *p = &x->annotations[k], *q = &y->annotations[k];
            bad += p->category_id != q->category_id || p->image_index != q->image_index;
            for (int c = 0; c < 4; c++) bad += fabs(p->bbox[c] - q->bbox[c]) > 1e-9;
        }
        for (size_t c = 0; c < x->category_count; c++)
            bad += x->categories[c].id != y->categories[c].id || strcmp(x->categories[c].name, y->categories[c].name);
        CHECK(bad == 0, "%s %s: %d differences", what, rf_split_name(s), bad);
    }
    CHECK(a->num_classes == b->num_classes, "%s: %lld / %lld classes", what, (long long)a->num_classes,
          (long long)b->num_classes);
}

static void test_layouts(void) {
    char rf[512], coco[512], yolo_rf[512], yolo_ul[512], a[600], b[600];
    snprintf(rf, sizeof rf, "%s/layout_roboflow", tmp);
    snprintf(coco, sizeof coco, "%s/layout_coco", tmp);
    snprintf(yolo_rf, sizeof yolo_rf, "%s/layout_yolo_roboflow", tmp);
    snprintf(yolo_ul, sizeof yolo_ul, "%s/layout_yolo_ultralytics", tmp);
    rf_shapes_config cfg;
    rf_shapes_config_default(&cfg);
    cfg.train = 9, cfg.valid = 4, cfg.size = 64, cfg.seed = 3;
    CHECK_OK(rf_shapes_write(rf, &cfg));

    write_coco_split(rf, "train", coco, "train2017");
    write_coco_split(rf, "valid", coco, "val2017");

    /* Roboflow's YOLO export: train/images + train/labels, "../x" folders. */
    snprintf(a, sizeof a, "%s/train/images", yolo_rf), snprintf(b, sizeof b, "%s/train/labels", yolo_rf);
    write_yolo_split(rf, "train", a, b);
    snprintf(a, sizeof a, "%s/valid/images", yolo_rf), snprintf(b, sizeof b, "%s/valid/labels", yolo_rf);
    write_yolo_split(rf, "valid", a, b);
    snprintf(a, sizeof a, "%s/data.yaml", yolo_rf);
    write_text(a, "train: ../train/images\nval: ../valid/images\n\nnc: 3\nnames: ['circle', 'rectangle', "
                  "'triangle']\n");

    /* Ultralytics: images/<split> + labels/<split>, names as a mapping. */
    snprintf(a, sizeof a, "%s/images/train", yolo_ul), snprintf(b, sizeof b, "%s/labels/train", yolo_ul);
    write_yolo_split(rf, "train", a, b);
    snprintf(a, sizeof a, "%s/images/val", yolo_ul), snprintf(b, sizeof b, "%s/labels/val", yolo_ul);
    write_yolo_split(rf, "valid", a, b);
    snprintf(a, sizeof a, "%s/data.yaml", yolo_ul);
    write_text(a, "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: circle\n  1: rectangle\n  2: triangle\n");

    const char *dirs[4] = {rf, coco, yolo_rf, yolo_ul};
    const rf_data_format formats[4] = {RF_DATA_ROBOFLOW, RF_DATA_COCO, RF_DATA_YOLO, RF_DATA_YOLO};
    rf_dataset *ds[4] = {0};
    for (int k = 0; k < 4; k++) {
        rf_data_format f;
        CHECK_OK(rf_dataset_detect(dirs[k], &f));
        CHECK(f == formats[k], "%s detected as %s", dirs[k], rf_data_format_name(f));
        CHECK_OK(rf_dataset_open(dirs[k], RF_SPLIT_BIT(RF_SPLIT_TRAIN) | RF_SPLIT_BIT(RF_SPLIT_VALID), &ds[k]));
        if (ds[k]) CHECK(ds[k]->problems.count == 0, "%s: %zu problems: %s", dirs[k], ds[k]->problems.count,
                         ds[k]->problems.count ? ds[k]->problems.items[0].message : "");
    }
    for (int k = 1; k < 4; k++)
        if (ds[0] && ds[k]) compare_datasets(ds[0], ds[k], dirs[k]);
    /* A split asked for but absent is an error naming it. */
    rf_dataset *none = NULL;
    CHECK_STATUS(rf_dataset_open(rf, RF_SPLIT_BIT(RF_SPLIT_TEST), &none), RF_ERR_FORMAT);
    CHECK(strstr(rf_last_error(), "no test split") != NULL, "message: %s", rf_last_error());
    for (int k = 0; k < 4; k++) rf_dataset_free(ds[k]);

    /* --data: a folder is taken as it is; "shapes" is the built-in set
     * (tests/test_shapes.c --default builds it; here only the folder is checked). */
    char resolved[4096];
    int generated = -1;
    CHECK_OK(rf_dataset_resolve_dir(rf, resolved, sizeof resolved, &generated));
    CHECK(strcmp(resolved, rf) == 0 && generated == 0, "folder kept: %s", resolved);
    CHECK_STATUS(rf_dataset_resolve_dir("", resolved, sizeof resolved, NULL), RF_ERR_INVALID_ARGUMENT);

    /* A split folder given instead of the dataset: say so. */
    snprintf(a, sizeof a, "%s/train", rf);
    rf_data_format f;
    CHECK_STATUS(rf_dataset_detect(a, &f), RF_ERR_FORMAT);
    CHECK(strstr(rf_last_error(), "give the folder above it") != NULL, "message: %s", rf_last_error());
}

/* ---- bad inputs ----------------------------------------------------------------------------- */

static const char *const base_json =
    "{\"categories\": [{\"id\": 0, \"name\": \"things\", \"supercategory\": \"none\"},\n"
    "  {\"id\": 1, \"name\": \"cat\", \"supercategory\": \"things\"},\n"
    "  {\"id\": 2, \"name\": \"dog\", \"supercategory\": \"things\"}],\n"
    " \"images\": [{\"id\": 0, \"file_name\": \"img0.jpg\", \"width\": 64, \"height\": 48},\n"
    "  {\"id\": 1, \"file_name\": \"img1.jpg\", \"width\": 64, \"height\": 48}],\n"
    " \"annotations\": [{\"id\": 0, \"image_id\": 0, \"category_id\": 1, \"bbox\": [4, 5, 20, 10], \"area\": 200, "
    "\"iscrowd\": 0},\n"
    "  {\"id\": 1, \"image_id\": 1, \"category_id\": 2, \"bbox\": [10, 10, 30, 30], \"area\": 900, \"iscrowd\": 0},\n"
    "  {\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 64, 48], \"area\": 3072, \"iscrowd\": 1}]}\n";

/* Replaces the first `from` in base_json by `to`. */
static char *edited(const char *from, const char *to) {
    const char *at = strstr(base_json, from);
    CHECK(at != NULL, "'%s' not in the base JSON", from);
    if (!at) return strdup(base_json);
    size_t n = strlen(base_json) + strlen(to) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%.*s%s%s", (int)(at - base_json), base_json, to, at + strlen(from));
    return s;
}

static int case_number;

/* A Roboflow dataset whose train split has this JSON and two 64x48 images;
 * its valid split is the clean base. Returns the folder. */
static const char *make_case(const char *train_json, char *dir, size_t size) {
    snprintf(dir, size, "%s/bad%02d", tmp, case_number++);
    const char *splits[2] = {"train", "valid"};
    unsigned char px[64 * 48 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (unsigned char)(i * 7);
    for (int s = 0; s < 2; s++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", dir, splits[s]);
        rf_make_dirs(path);
        snprintf(path, sizeof path, "%s/%s/_annotations.coco.json", dir, splits[s]);
        write_text(path, s == 0 ? train_json : base_json);
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof path, "%s/%s/img%d.jpg", dir, splits[s], i);
            stbi_write_jpg(path, 64, 48, 3, px, 90);
        }
    }
    return dir;
}

/* Opening for training fails (status), naming `needle`; inspecting reports
 * `kind` with severity error naming `needle`. */
static void expect_fatal(const char *dir, rf_status status, rf_coco_problem_kind kind, const char *needle,
                         const char *what) {
    char valid[700];
    snprintf(valid, sizeof valid, "%s/valid", dir);
    bool has_valid = rf_file_exists(valid);
    rf_dataset *ds = NULL;
    rf_status s = rf_dataset_open(dir, RF_SPLIT_BIT(RF_SPLIT_TRAIN), &ds);
    CHECK(s == status, "%s: open gave %s, want %s", what, rf_status_name(s), rf_status_name(status));
    CHECK(strstr(rf_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what, rf_last_error(), needle);
    rf_dataset_free(ds);
    CHECK_OK(rf_dataset_inspect(dir, &ds));
    if (!ds) return;
    CHECK(count_kind(&ds->problems, kind, needle) >= 1, "%s: inspect lacks the problem (kind %d) naming '%s'", what,
          (int)kind, needle);
    CHECK(rf_coco_problems_errors(&ds->problems) >= 1, "%s: check-data sees an error", what);
    if (has_valid) CHECK(ds->splits[RF_SPLIT_VALID].coco != NULL, "%s: the clean split still loads", what);
    rf_dataset_free(ds);
}

/* Opening for training works with a warning of `kind`; check-data still
 * reports it with `severity`. */
static rf_dataset *expect_warning(const char *dir, rf_coco_problem_kind kind, rf_coco_severity severity,
                                  const char *needle, const char *what) {
    rf_dataset *ds = NULL;
    CHECK_OK(rf_dataset_inspect(dir, &ds));
    if (ds) {
        size_t n = 0;
        for (size_t i = 0; i < ds->problems.count; i++)
            n += ds->problems.items[i].kind == kind && ds->problems.items[i].severity == severity &&
                 strstr(ds->problems.items[i].message, needle) != NULL;
        CHECK(n == 1, "%s: check-data reports it once (%zu)", what, n);
        rf_dataset_free(ds);
    }
    ds = NULL;
    CHECK_OK(rf_dataset_open(dir, RF_SPLIT_BIT(RF_SPLIT_TRAIN), &ds));
    if (ds) CHECK(count_kind(&ds->problems, kind, needle) == 1 && rf_coco_problems_errors(&ds->problems) == 0,
                  "%s: training keeps it as a warning", what);
    return ds;
}

static void test_bad_inputs(void) {
    char dir[600], path[800];
    char *j;

    /* The base itself is clean. */
    rf_dataset *ds = NULL;
    CHECK_OK(rf_dataset_open(make_case(base_json, dir, sizeof dir), RF_SPLITS_ALL & ~RF_SPLIT_BIT(RF_SPLIT_TEST), &ds));
    if (ds) {
        CHECK(ds->problems.count == 0 && ds->num_classes == 3, "base: %zu problems", ds->problems.count);
        /* The crowd region is not a training target. */
        const rf_dataset_split *t = &ds->splits[RF_SPLIT_TRAIN];
        CHECK(t->target_start[1] - t->target_start[0] == 1 && t->target_start[2] - t->target_start[1] == 1,
              "crowd excluded from targets");
        rf_dataset_free(ds);
    }

    /* Malformed JSON: file, line and column. */
    j = edited("\"images\": [{", "\"images\": [,{");
    expect_fatal(make_case(j, dir, sizeof dir), RF_ERR_FORMAT, RF_COCO_PROBLEM_SYNTAX,
                 "train/_annotations.coco.json:4:", "malformed JSON");
    CHECK(strstr(rf_last_error(), "malformed JSON") != NULL, "says malformed: %s", rf_last_error());
    free(j);
    /* Cut short. */
    char cut[200];
    snprintf(cut, sizeof cut, "%.150s", base_json);
    expect_fatal(make_case(cut, dir, sizeof dir), RF_ERR_FORMAT, RF_COCO_PROBLEM_SYNTAX, "train/_annotations.coco.json",
                 "truncated JSON");
    /* A missing key and a wrong type: the entry is named. */
    j = edited("{\"id\": 1, \"file_name\"", "{\"file_name\"");
    expect_fatal(make_case(j, dir, sizeof dir), RF_ERR_FORMAT, RF_COCO_PROBLEM_SYNTAX, "images[1]", "missing key");
    CHECK(strstr(rf_last_error(), "id") != NULL, "names the key: %s", rf_last_error());
    free(j);
    j = edited("\"bbox\": [4, 5, 20, 10]", "\"bbox\": \"4 5 20 10\"");
    expect_fatal(make_case(j, dir, sizeof dir), RF_ERR_FORMAT, RF_COCO_PROBLEM_SYNTAX, "annotations[0]",
                 "wrong type");
    CHECK(strstr(rf_last_error(), "bbox") != NULL, "names the field: %s", rf_last_error());
    free(j);

    /* Missing image file. */
    make_case(base_json, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/train/img1.jpg", dir);
    unlink(path);
    expect_fatal(dir, RF_ERR_FORMAT, RF_COCO_PROBLEM_IMAGE_MISSING, "img1.jpg", "missing image");
    /* Zero-size image file: refused when opening. */
    make_case(base_json, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/train/img0.jpg", dir);
    write_text(path, "");
    expect_fatal(dir, RF_ERR_FORMAT, RF_COCO_PROBLEM_IMAGE_UNREADABLE, "img0.jpg", "zero-size image");
    /* Corrupt and truncated images: found by decoding (check-data; the loader fails on them). */
    const char *breakage[2] = {"corrupt", "truncated"};
    for (int k = 0; k < 2; k++) {
        make_case(base_json, dir, sizeof dir);
        snprintf(path, sizeof path, "%s/train/img1.jpg", dir);
        char *data = NULL;
        size_t n = 0;
        CHECK_OK(rf_read_file(path, &data, &n));
        if (k == 0) memcpy(data, "GIF89a-not-really", 17);
        write_file(path, data, k == 0 ? n : n / 2);
        free(data);
        CHECK_OK(rf_dataset_inspect(dir, &ds));
        if (!ds) continue;
        CHECK_OK(rf_dataset_check_images(ds, RF_SPLIT_TRAIN));
        CHECK(count_kind(&ds->problems, RF_COCO_PROBLEM_IMAGE_UNREADABLE, "img1.jpg") == 1 &&
                  rf_coco_problems_errors(&ds->problems) == 1,
              "%s image reported by name", breakage[k]);
        rf_dataset_free(ds);
    }

    /* Boxes outside the image: check-data error; training clamps with a warning. */
    j = edited("[10, 10, 30, 30]", "[50, 40, 30, 30]");
    ds = expect_warning(make_case(j, dir, sizeof dir), RF_COCO_PROBLEM_BBOX_OUTSIDE, RF_COCO_ERROR, "annotations[1].bbox",
                        "bbox outside");
    rf_dataset_free(ds);
    free(j);
    /* Negative size: check-data error; training drops it with a warning. */
    j = edited("[4, 5, 20, 10]", "[4, 5, -20, 10]");
    ds = expect_warning(make_case(j, dir, sizeof dir), RF_COCO_PROBLEM_BBOX_NEGATIVE, RF_COCO_ERROR,
                        "annotations[0].bbox", "negative bbox");
    rf_dataset_free(ds);
    free(j);
    /* Zero width: a warning everywhere. */
    j = edited("[4, 5, 20, 10]", "[4, 5, 0, 10]");
    ds = expect_warning(make_case(j, dir, sizeof dir), RF_COCO_PROBLEM_BBOX_EMPTY, RF_COCO_WARNING,
                        "annotations[0].bbox", "empty bbox");
    rf_dataset_free(ds);
    free(j);

    /* Category id not among the categories. */
    j = edited("\"category_id\": 2", "\"category_id\": 7");
    expect_fatal(make_case(j, dir, sizeof dir), RF_ERR_FORMAT, RF_COCO_PROBLEM_UNKNOWN_CATEGORY,
                 "annotations[1].category_id: 7", "unknown category");
    free(j);
    /* Duplicate image ids. */
    j = edited("{\"id\": 1, \"file_name\"", "{\"id\": 0, \"file_name\"");
    expect_fatal(make_case(j, dir, sizeof dir), RF_ERR_FORMAT, RF_COCO_PROBLEM_DUPLICATE_IMAGE_ID, "images[1].id",
                 "duplicate image id");
    free(j);
    /* Duplicate category ids. */
    j = edited("{\"id\": 2, \"name\": \"dog\"", "{\"id\": 1, \"name\": \"dog\"");
    expect_fatal(make_case(j, dir, sizeof dir), RF_ERR_FORMAT, RF_COCO_PROBLEM_DUPLICATE_CATEGORY_ID,
                 "categories[2].id", "duplicate category id");
    free(j);
    /* An empty split. */
    expect_fatal(make_case("{\"images\": [], \"annotations\": [], \"categories\": [{\"id\": 1, \"name\": \"a\"}]}", dir,
                           sizeof dir),
                 RF_ERR_FORMAT, RF_COCO_PROBLEM_EMPTY_SPLIT, "train/_annotations.coco.json: images", "empty split");
    /* Every category is Roboflow's placeholder. */
    j = edited("\"supercategory\": \"things\"},\n  {\"id\": 2, \"name\": \"dog\", \"supercategory\": \"things\"",
               "\"supercategory\": \"none\"},\n  {\"id\": 2, \"name\": \"dog\", \"supercategory\": \"none\"");
    expect_fatal(make_case(j, dir, sizeof dir), RF_ERR_FORMAT, RF_COCO_PROBLEM_ALL_PLACEHOLDER, "supercategory \"none\"",
                 "all placeholder");
    free(j);
    /* An annotation of an image that does not exist: an error to check-data, unused in training. */
    j = edited("\"image_id\": 1, \"category_id\": 2", "\"image_id\": 9, \"category_id\": 2");
    ds = expect_warning(make_case(j, dir, sizeof dir), RF_COCO_PROBLEM_UNKNOWN_IMAGE, RF_COCO_ERROR,
                        "annotations[1].image_id: 9", "unknown image");
    if (ds) CHECK(ds->splits[0].target_start[2] == 1, "the orphan is not a target");
    rf_dataset_free(ds);
    free(j);

    /* A folder that is no known layout, and one that does not exist. */
    snprintf(path, sizeof path, "%s/empty_dir", tmp);
    rf_make_dirs(path);
    CHECK_STATUS(rf_dataset_open(path, RF_SPLITS_ALL, &ds), RF_ERR_FORMAT);
    CHECK(strstr(rf_last_error(), "not a known dataset layout") && strstr(rf_last_error(), path), "message: %s",
          rf_last_error());
    CHECK_STATUS(rf_dataset_inspect(path, &ds), RF_ERR_FORMAT);
    snprintf(path, sizeof path, "%s/no_such_dir", tmp);
    CHECK_STATUS(rf_dataset_open(path, RF_SPLITS_ALL, &ds), RF_ERR_IO);

    /* YOLO: bad data.yaml, bad label line, class id missing from names. */
    snprintf(dir, sizeof dir, "%s/bad_yolo", tmp);
    snprintf(path, sizeof path, "%s/train/images", dir);
    rf_make_dirs(path);
    snprintf(path, sizeof path, "%s/train/labels", dir);
    rf_make_dirs(path);
    unsigned char px[32 * 32 * 3] = {0};
    snprintf(path, sizeof path, "%s/train/images/a.png", dir);
    stbi_write_png(path, 32, 32, 3, px, 32 * 3);
    snprintf(path, sizeof path, "%s/train/labels/a.txt", dir);
    write_text(path, "0 0.5 0.5 0.5 0.5\n3 0.5 0.5 0.25 0.25\n");
    snprintf(path, sizeof path, "%s/data.yaml", dir);
    write_text(path, "names: [a, b\n");
    expect_fatal(dir, RF_ERR_FORMAT, RF_COCO_PROBLEM_SYNTAX, "data.yaml:1", "bad data.yaml");
    write_text(path, "names: [a, b]\n");
    expect_fatal(dir, RF_ERR_FORMAT, RF_COCO_PROBLEM_UNKNOWN_CATEGORY, "category_id: 3", "yolo class not in names");
    snprintf(path, sizeof path, "%s/train/labels/a.txt", dir);
    write_text(path, "0 0.5 0.5 0.5\n");
    expect_fatal(dir, RF_ERR_FORMAT, RF_COCO_PROBLEM_SYNTAX, "a.txt:1", "bad label line");
}

int main(void) {
    if (!mkdtemp(tmp)) return 1;
    test_facemask();
    test_fixtures();
    test_layouts();
    test_bad_inputs();
    test_remove_tree(tmp);
    return test_finish("test_dataset");
}
