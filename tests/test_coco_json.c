/* test_coco_json.c — the COCO JSON reader: values kept exactly, ids
 * indexed, unknown content skipped, every kind of bad input rejected with
 * file, line, column and entry, results files round-tripped. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/coco.h"
#include "test_util.h"

static char temp_dir[64];

static const char *temp_path(const char *name) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", temp_dir, name);
    return path;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static const char *small_gt =
    "{\"info\": {\"description\": \"x\", \"nested\": [{\"a\": [1, 2, {\"b\": null}]}]},\n"
    " \"annotations\": [\n"
    "  {\"id\": 0, \"image_id\": 7, \"category_id\": 2, \"bbox\": [1.5, 2, 30.25, 40], \"area\": 900.5,\n"
    "   \"iscrowd\": 0, \"segmentation\": [[1, 2, 3, 4, 5, 6]]},\n"
    "  {\"id\": 9007199254740993, \"image_id\": 3, \"category_id\": 1, \"bbox\": [0, 0, 10, 20], \"iscrowd\": true,\n"
    "   \"segmentation\": {\"counts\": [1, 2], \"size\": [4, 5]}, \"ignore\": 1},\n"
    "  {\"id\": 5, \"image_id\": 99, \"category_id\": 1.0, \"bbox\": [0.1, 0.2, 0.3, 0.4], \"area\": 1e-3}\n"
    " ],\n"
    " \"images\": [{\"id\": 3, \"file_name\": \"a.jpg\", \"width\": 640, \"height\": 480},\n"
    "            {\"id\": 7, \"width\": 10, \"height\": 20, \"file_name\": \"first.jpg\", \"file_name\": \"b.jpg\"}],\n"
    " \"categories\": [{\"id\": 0, \"name\": \"thing\", \"supercategory\": \"none\"},\n"
    "                {\"id\": 2, \"name\": \"cat\", \"supercategory\": \"animal\"}, {\"id\": 1, \"name\": \"dog\"}],\n"
    " \"licenses\": []}\n";

static void test_values(void) {
    rf_coco_dataset *ds = NULL;
    CHECK_OK(rf_coco_parse(small_gt, strlen(small_gt), "small.json", &ds));
    if (!ds) return;
    CHECK(strcmp(ds->path, "small.json") == 0, "path %s", ds->path);
    CHECK(ds->image_count == 2 && ds->annotation_count == 3 && ds->category_count == 3, "counts %zu %zu %zu",
          ds->image_count, ds->annotation_count, ds->category_count);
    CHECK(ds->images[0].id == 3 && ds->images[0].width == 640 && ds->images[0].height == 480, "image 0");
    CHECK(strcmp(ds->images[1].file_name, "b.jpg") == 0, "a repeated key: the last wins, got %s",
          ds->images[1].file_name);
    const rf_coco_annotation *a = ds->annotations;
    CHECK(a[0].id == 0 && a[0].image_id == 7 && a[0].category_id == 2 && a[0].image_index == 1, "annotation 0 ids");
    CHECK(a[0].bbox[0] == 1.5 && a[0].bbox[1] == 2 && a[0].bbox[2] == 30.25 && a[0].bbox[3] == 40, "bbox 0");
    CHECK(a[0].area == 900.5 && a[0].iscrowd == 0, "area/iscrowd 0");
    CHECK(a[1].id == 9007199254740993LL, "64-bit ids are kept exactly: %lld", (long long)a[1].id);
    CHECK(a[1].iscrowd == 1 && a[1].area == 200.0, "iscrowd true, area defaults to w*h: %g", a[1].area);
    CHECK(a[1].image_index == 0, "image_index %lld", (long long)a[1].image_index);
    CHECK(a[2].image_index == -1 && a[2].category_id == 1, "unknown image -> -1; integral 1.0 is an id");
    CHECK(a[2].bbox[0] == 0.1 && a[2].bbox[3] == 0.4 && a[2].area == 1e-3, "decimals parse to the nearest double");
    CHECK(ds->max_category_id == 2, "max_category_id %lld", (long long)ds->max_category_id);
    CHECK(rf_coco_image_index(ds, 7) == 1 && rf_coco_image_index(ds, 3) == 0 && rf_coco_image_index(ds, 4) == -1,
          "image index");
    CHECK(rf_coco_category_index(ds, 1) == 2 && rf_coco_category_index(ds, 0) == 0 &&
              rf_coco_category_index(ds, 5) == -1,
          "category index");
    CHECK(rf_coco_category_is_placeholder(&ds->categories[0]), "supercategory none is the placeholder");
    CHECK(!rf_coco_category_is_placeholder(&ds->categories[1]), "a real class");
    CHECK(strcmp(ds->categories[2].supercategory, "") == 0, "absent supercategory is \"\"");
    rf_coco_free(ds);

    /* A dataset built by hand gets the same index. */
    rf_coco_dataset *manual = calloc(1, sizeof *manual);
    manual->images = calloc(2, sizeof *manual->images);
    manual->image_count = 2;
    manual->images[0] = (rf_coco_image){.id = 10, .file_name = strdup("x")};
    manual->images[1] = (rf_coco_image){.id = 20, .file_name = strdup("y")};
    CHECK(rf_coco_image_index(manual, 20) == 1, "lookup without an index");
    CHECK_OK(rf_coco_build_index(manual));
    CHECK(rf_coco_image_index(manual, 20) == 1 && rf_coco_image_index(manual, 30) == -1, "lookup with an index");
    CHECK(manual->max_category_id == -1, "no categories");
    rf_coco_free(manual);

    const char *empty = "{}";
    CHECK_OK(rf_coco_parse(empty, strlen(empty), "empty.json", &ds));
    if (ds) CHECK(ds->image_count == 0 && ds->max_category_id == -1, "empty dataset");
    rf_coco_free(ds);
}

/* Parses `json` as a dataset (or results file) and checks the error names
 * every fragment in `expect` (NULL-terminated). */
static void expect_error(int detections, const char *json, rf_status status, const char *const *expect) {
    rf_status s;
    if (detections) {
        rf_coco_detection *dets = NULL;
        size_t n = 0;
        s = rf_coco_parse_detections(json, strlen(json), "bad.json", NULL, &dets, &n);
        CHECK(dets == NULL && n == 0, "no output on failure");
        free(dets);
    } else {
        rf_coco_dataset *ds = NULL;
        s = rf_coco_parse(json, strlen(json), "bad.json", &ds);
        CHECK(ds == NULL, "no dataset on failure");
        rf_coco_free(ds);
    }
    CHECK(s == status, "%s: got %s (%s)", json, rf_status_name(s), rf_last_error());
    for (int i = 0; expect[i]; i++)
        CHECK(strstr(rf_last_error(), expect[i]) != NULL, "message for %s lacks '%s': %s", json, expect[i],
              rf_last_error());
}

#define EXPECT_DATASET_ERROR(json, ...) expect_error(0, json, RF_ERR_FORMAT, (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_RESULTS_ERROR(json, ...) expect_error(1, json, RF_ERR_FORMAT, (const char *const[]){__VA_ARGS__, NULL})

static void test_bad_datasets(void) {
    EXPECT_DATASET_ERROR("{\"images\": [{\"id\": 1,}]}", "bad.json:1:22:", "malformed JSON", "images[0]");
    EXPECT_DATASET_ERROR("{\n  \"images\": [\n    {\"id\": 1}\n    {\"id\": 2}]}", "bad.json:4:5:", "malformed JSON");
    EXPECT_DATASET_ERROR("{\"images\": [{\"id\": 1}]", "premature EOF");
    EXPECT_DATASET_ERROR("{\"images\": []} x", "trailing garbage");
    EXPECT_DATASET_ERROR("", "bad.json:1:1:", "premature EOF");
    EXPECT_DATASET_ERROR("[]", "expected a JSON object", "got a list");
    EXPECT_DATASET_ERROR("{\"images\": {}}", "images", "expected a list, got an object");
    EXPECT_DATASET_ERROR("{\"images\": [3]}", "images[0]: expected an object, got a number");
    EXPECT_DATASET_ERROR("{\"images\": [{\"id\": 1}, {\"id\": \"2\"}]}", "bad.json:1:33:",
                         "images[1].id: expected an integer, got a string");
    EXPECT_DATASET_ERROR("{\"images\": [{\"id\": 1.5}]}", "images[0].id: expected an integer, got 1.5");
    EXPECT_DATASET_ERROR("{\"images\": [{\"file_name\": \"a.jpg\"}]}", "images[0]: missing required key \"id\"");
    EXPECT_DATASET_ERROR("{\"images\": [{\"id\": 1, \"file_name\": 7}]}", "images[0].file_name: expected a string");
    EXPECT_DATASET_ERROR("{\"images\": [{\"id\": 1, \"width\": 1e10}]}", "images[0].width", "out of range");
    EXPECT_DATASET_ERROR("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1}]}",
                         "annotations[0]: missing required key \"bbox\"");
    EXPECT_DATASET_ERROR("{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3]}]}",
                         "annotations[0].bbox: expected 4 numbers [x, y, w, h], got 3");
    EXPECT_DATASET_ERROR("{\"annotations\": [{\"bbox\": [1, 2, \"3\", 4]}]}",
                         "annotations[0].bbox: expected numbers, got a string at index 2");
    EXPECT_DATASET_ERROR("{\"annotations\": [{\"bbox\": {\"x\": 1}}]}", "annotations[0].bbox: expected a list");
    EXPECT_DATASET_ERROR("{\"annotations\": [{\"area\": null}]}", "annotations[0].area: expected a number, got null");
    EXPECT_DATASET_ERROR("{\"annotations\": [{\"iscrowd\": \"no\"}]}", "annotations[0].iscrowd");
    EXPECT_DATASET_ERROR("{\"annotations\": [{\"id\": 99999999999999999999}]}", "annotations[0].id",
                         "expected an integer");
    EXPECT_DATASET_ERROR("{\"annotations\": [{\"area\": 1e999}]}", "annotations[0].area", "not finite");
    EXPECT_DATASET_ERROR("{\"categories\": [{\"id\": 1}]}", "categories[0]: missing required key \"name\"");
    EXPECT_DATASET_ERROR("{\"categories\": [{\"id\": 1, \"name\": \"a\xff\"}]}", "malformed JSON");
}

static void test_detections(void) {
    const char *gt_text = "{\"images\": [{\"id\": 1}, {\"id\": 2}], \"categories\": [{\"id\": 1, \"name\": \"a\"}]}";
    rf_coco_dataset *gt = NULL;
    CHECK_OK(rf_coco_parse(gt_text, strlen(gt_text), "gt.json", &gt));
    const char *text = "[{\"image_id\": 2, \"category_id\": 7, \"bbox\": [-1.5, 2, 3, 4], \"score\": 0.25,\n"
                       "  \"segmentation\": {\"counts\": \"abc\", \"size\": [1, 2]}, \"area\": -5, \"id\": \"x\"},\n"
                       " {\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 0, 0], \"score\": 0}]";
    rf_coco_detection *dets = NULL;
    size_t n = 0;
    CHECK_OK(rf_coco_parse_detections(text, strlen(text), "dt.json", gt, &dets, &n));
    CHECK(n == 2, "count %zu", n);
    if (n == 2) {
        CHECK(dets[0].image_id == 2 && dets[0].category_id == 7 && dets[0].bbox[0] == -1.5 && dets[0].score == 0.25,
              "detection 0 (negative x allowed, unknown category kept, area/id/segmentation ignored)");
        CHECK(dets[1].bbox[2] == 0 && dets[1].score == 0, "zero-size box and zero score are valid");
    }
    free(dets);

    CHECK_OK(rf_coco_parse_detections("[]", 2, "empty.json", gt, &dets, &n));
    CHECK(n == 0, "an empty list is valid");
    free(dets);

    const char *unknown_image = "[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 1, 1], \"score\": 1},\n"
                                " {\"image_id\": 3, \"category_id\": 1, \"bbox\": [0, 0, 1, 1], \"score\": 1}]";
    rf_status s = rf_coco_parse_detections(unknown_image, strlen(unknown_image), "dt.json", gt, &dets, &n);
    CHECK(s == RF_ERR_FORMAT && strstr(rf_last_error(), "dt.json:2:") &&
              strstr(rf_last_error(), "[1]: image_id 3 is not an image of the ground truth gt.json"),
          "unknown image: %s", rf_last_error());
    CHECK(dets == NULL, "no output on failure");
    rf_coco_free(gt);

    EXPECT_RESULTS_ERROR("{\"annotations\": []}", "expected a JSON list of detections", "got an object");
    EXPECT_RESULTS_ERROR("[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 1, NaN], \"score\": 1}]",
                         "bad.json:1:54:", "malformed JSON", "NaN and Infinity are not JSON", "[0].bbox");
    EXPECT_RESULTS_ERROR("[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 1, 1], \"score\": -Infinity}]",
                         "NaN and Infinity are not JSON", "[0].score");
    EXPECT_RESULTS_ERROR("[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 1, 1], \"score\": 1e400}]",
                         "[0].score: number 1e400 is not finite");
    EXPECT_RESULTS_ERROR("[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 1, 1], \"score\": 0.5},\n"
                         " {\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, -1, 1], \"score\": 0.5}]",
                         "bad.json:2:", "[1]: bbox [0, 0, -1, 1] has a negative width or height");
    EXPECT_RESULTS_ERROR("[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 1, 1], \"score\": -0.5}]",
                         "[0]: score -0.5 is negative");
    EXPECT_RESULTS_ERROR("[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 1, 1]}]",
                         "[0]: missing required key \"score\"");
    EXPECT_RESULTS_ERROR("[{\"image_id\": \"1\", \"category_id\": 1, \"bbox\": [0, 0, 1, 1], \"score\": 1}]",
                         "[0].image_id: expected an integer, got a string");
    EXPECT_RESULTS_ERROR("[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 1, 1], \"score\": \"high\"}]",
                         "[0].score: expected a number, got a string");
    EXPECT_RESULTS_ERROR("[[1, 2]]", "[0]: expected an object, got a list");
}

static void test_round_trip(void) {
    rf_coco_detection dets[3] = {
        {.image_id = 1, .category_id = 2, .bbox = {0.1, 1.0 / 3.0, 1e-300, 12345.678}, .score = 0.9999999999999999},
        {.image_id = -4, .category_id = 9007199254740993LL, .bbox = {0.0, 5e-324, 1e300, 2}, .score = 0},
        {.image_id = 3, .category_id = 0, .bbox = {1, 2, 3, 4}, .score = 1},
    };
    const char *path = temp_path("dt.json");
    CHECK_OK(rf_coco_write_detections(path, dets, 3));
    rf_coco_detection *back = NULL;
    size_t n = 0;
    CHECK_OK(rf_coco_load_detections(path, NULL, &back, &n));
    CHECK(n == 3 && back && memcmp(back, dets, sizeof dets) == 0, "written detections read back bit for bit");
    free(back);

    dets[2].score = NAN;
    rf_status s = rf_coco_write_detections(path, dets, 3);
    CHECK(s == RF_ERR_NUMERIC && strstr(rf_last_error(), "detection 2"), "NaN refused: %s", rf_last_error());
    CHECK_OK(rf_coco_load_detections(path, NULL, &back, &n));
    CHECK(n == 3, "the old file is kept");
    free(back);

    CHECK_OK(rf_coco_write_detections(path, NULL, 0));
    CHECK_OK(rf_coco_load_detections(path, NULL, &back, &n));
    CHECK(n == 0, "an empty results file");
    free(back);

    s = rf_coco_load_detections(temp_path("missing.json"), NULL, &back, &n);
    CHECK(s == RF_ERR_IO && strstr(rf_last_error(), "missing.json"), "missing file: %s", rf_last_error());
}

/* Numbers take a fast exact path (Clinger's) or strtod: either way the
 * double must be strtod's, i.e. Python's. */
static void test_number_parsing(void) {
    enum { N = 20000 };
    static char texts[N][40];
    size_t size = 64 + (size_t)N * 100;
    char *json = malloc(size), *at = json;
    unsigned long long state = 12345;
    at += sprintf(at, "[");
    for (int i = 0; i < N; i++) {
        double magnitude = pow(10.0, (double)((int)test_uniform(&state, 0, 40) - 20));
        double v = test_uniform(&state, 0, 1) * magnitude;
        int digits = (int)test_uniform(&state, 1, 19);
        switch (i % 4) {
        case 0: snprintf(texts[i], sizeof texts[i], "%.*g", digits, v); break;
        case 1: snprintf(texts[i], sizeof texts[i], "%.*f", digits % 8, v * 1e6); break;
        case 2: snprintf(texts[i], sizeof texts[i], "%.*e", digits, v); break;
        default: snprintf(texts[i], sizeof texts[i], "%llu", (unsigned long long)(v * 1e6)); break;
        }
        if (i % 4 == 3) {
            at += sprintf(at, "%s{\"image_id\": 1, \"category_id\": 1, \"bbox\": [%s, %s, %s, %s], \"score\": 1}",
                          i > 3 ? ",\n" : "", texts[i - 3], texts[i - 2], texts[i - 1], texts[i]);
        }
    }
    sprintf(at, "]");
    rf_coco_detection *dets = NULL;
    size_t n = 0;
    CHECK_OK(rf_coco_parse_detections(json, strlen(json), "numbers.json", NULL, &dets, &n));
    int mismatches = 0;
    for (size_t i = 0; i < n * 4 && i < N; i++) {
        double want = strtod(texts[i], NULL), got = dets[i / 4].bbox[i % 4];
        if (memcmp(&want, &got, sizeof want) != 0 && mismatches++ < 5)
            CHECK(0, "'%s' parsed to %a, strtod gives %a", texts[i], got, want);
    }
    CHECK(n == N / 4 && mismatches == 0, "%d of %d numbers differ from strtod", mismatches, N);
    free(dets);
    free(json);
    const char *edge = "[{\"image_id\": -0, \"category_id\": 123456789012345678, \"bbox\": "
                       "[-0.0, 1e22, 1e23, 0.30000000000000004441], \"score\": 1E-2}]";
    CHECK_OK(rf_coco_parse_detections(edge, strlen(edge), "edge.json", NULL, &dets, &n));
    if (n == 1) {
        CHECK(dets[0].image_id == 0 && dets[0].category_id == 123456789012345678LL, "integers beyond the fast path");
        CHECK(signbit(dets[0].bbox[0]) && dets[0].bbox[1] == 1e22 && dets[0].bbox[2] == 1e23 &&
                  dets[0].bbox[3] == strtod("0.30000000000000004441", NULL) && dets[0].score == 0.01,
              "edge numbers");
    }
    free(dets);
}

/* Files are fed to yajl in 1 MiB chunks: positions must add up across them. */
static void test_chunked_positions(void) {
    const char *path = temp_path("big.json");
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs("{\"images\": [\n", f);
    const int lines = 60000; /* ~2 MiB: the error lands in the third chunk */
    for (int i = 0; i < lines; i++) fprintf(f, "{\"id\": %d, \"file_name\": \"%08d.jpg\"},\n", i, i);
    fputs("{\"id\": 1, \"width\": \"wide\"}]}\n", f);
    fclose(f);
    rf_coco_dataset *ds = NULL;
    rf_status s = rf_coco_load(path, &ds);
    char expect[64];
    snprintf(expect, sizeof expect, "big.json:%d:25:", lines + 2); /* the closing quote of "wide" */
    CHECK(s == RF_ERR_FORMAT && strstr(rf_last_error(), expect) &&
              strstr(rf_last_error(), "images[60000].width: expected an integer, got a string"),
          "position across chunks, want %s: %s", expect, rf_last_error());
    CHECK(ds == NULL, "no dataset");

    write_text(path, "\xEF\xBB\xBF{\"images\": [{\"id\": 4}]}");
    CHECK_OK(rf_coco_load(path, &ds));
    CHECK(ds && ds->image_count == 1 && ds->images[0].id == 4 && strcmp(ds->images[0].file_name, "") == 0,
          "a UTF-8 byte order mark is skipped");
    rf_coco_free(ds);
}

/* The third-party fixtures and the real Roboflow export load with their
 * documented counts. */
static void test_shared_files(void) {
    static const struct {
        const char *name;
        size_t images, annotations, categories, detections;
    } fixtures[] = {
        {"cocoapi_val2014_fake100", 100, 839, 80, 734}, {"detectron2_tiny", 2, 2, 2, 3},
        {"fce_crowd_2299", 1, 14, 1, 63},               {"fce_shapes3", 3, 9, 4, 9},
        {"keras_cv_sample_boxes", 84, 657, 52, 657},    {"mmdet_dummy", 1, 4, 2, 4},
        {"rafaelpadilla_sampled", 100, 830, 80, 734},   {"rafaelpadilla_toy", 10, 12, 1, 12},
        {"torchmetrics_4img", 4, 11, 6, 11},
    };
    char path[512];
    snprintf(path, sizeof path, "../shared/coco_fixtures/README.md");
    if (access(path, R_OK) != 0) {
        test_skip_part("test_coco_json", "the shared COCO fixtures and the facemask export", "../shared not found",
                       TEST_ENABLE_SHARED);
        return;
    }
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        rf_coco_dataset *gt = NULL;
        snprintf(path, sizeof path, "../shared/coco_fixtures/%s/gt.json", fixtures[i].name);
        CHECK_OK(rf_coco_load(path, &gt));
        if (!gt) continue;
        CHECK(gt->image_count == fixtures[i].images && gt->annotation_count == fixtures[i].annotations &&
                  gt->category_count == fixtures[i].categories,
              "%s: %zu images %zu annotations %zu categories", fixtures[i].name, gt->image_count,
              gt->annotation_count, gt->category_count);
        rf_coco_detection *dets = NULL;
        size_t n = 0;
        snprintf(path, sizeof path, "../shared/coco_fixtures/%s/dt.json", fixtures[i].name);
        CHECK_OK(rf_coco_load_detections(path, gt, &dets, &n));
        CHECK(n == fixtures[i].detections, "%s: %zu detections", fixtures[i].name, n);
        free(dets);
        rf_coco_free(gt);
    }
    static const struct {
        const char *split;
        size_t images, annotations;
    } splits[] = {{"train", 650, 3057}, {"valid", 132, 584}, {"test", 86, 459}};
    for (size_t i = 0; i < 3; i++) {
        rf_coco_dataset *ds = NULL;
        snprintf(path, sizeof path, "../shared/datasets/facemask/%s/_annotations.coco.json", splits[i].split);
        CHECK_OK(rf_coco_load(path, &ds));
        if (!ds) continue;
        CHECK(ds->image_count == splits[i].images && ds->annotation_count == splits[i].annotations &&
                  ds->category_count == 6 && ds->max_category_id == 5,
              "facemask %s: %zu images %zu annotations", splits[i].split, ds->image_count, ds->annotation_count);
        CHECK(rf_coco_category_is_placeholder(&ds->categories[rf_coco_category_index(ds, 0)]),
              "facemask category 0 is Roboflow's placeholder");
        rf_coco_free(ds);
    }
}

int main(void) {
    snprintf(temp_dir, sizeof temp_dir, "/tmp/rfdetr_coco_json_XXXXXX");
    if (!mkdtemp(temp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_values();
    test_bad_datasets();
    test_detections();
    test_round_trip();
    test_number_parsing();
    test_chunked_positions();
    test_shared_files();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", temp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", temp_dir);
    return test_finish("test_coco_json");
}
