/* test_yolo.c — data.yaml in every shape exports write it (names as a flow
 * list, a block list, a flow or block mapping; quotes, comments, lines split
 * inside brackets), every error with its line number, and label files
 * (boxes, polygons, malformed lines naming file and line). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "core/fileio.h"
#include "data/yolo.h"
#include "test_util.h"

static int parse(const char *text, rf_yolo_yaml *y) {
    return rf_yolo_yaml_parse(text, strlen(text), "data.yaml", y) == RF_OK;
}

static void check_names(const rf_yolo_yaml *y, size_t n, const char *const *names, const int64_t *ids,
                        const char *what) {
    CHECK(y->name_count == n, "%s: %zu names, want %zu", what, y->name_count, n);
    for (size_t i = 0; i < n && i < y->name_count; i++) {
        CHECK(strcmp(y->names[i], names[i]) == 0, "%s: name %zu '%s' want '%s'", what, i, y->names[i], names[i]);
        CHECK(y->ids[i] == (ids ? ids[i] : (int64_t)i), "%s: id %zu = %lld", what, i, (long long)y->ids[i]);
    }
}

static void test_yaml_forms(void) {
    const char *const abc[] = {"cat", "dog", "traffic light"};
    rf_yolo_yaml y;
    /* Roboflow's export: flow list, relative folders, extra keys. */
    CHECK(parse("train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\nnc: 3\n"
                "names: ['cat', 'dog', 'traffic light']\n\nroboflow:\n  workspace: w\n  version: 2\n",
                &y),
          "roboflow yaml: %s", rf_last_error());
    check_names(&y, 3, abc, NULL, "flow list");
    CHECK(y.nc == 3 && y.train && strcmp(y.train, "../train/images") == 0 && strcmp(y.val, "../valid/images") == 0,
          "folders");
    rf_yolo_yaml_free(&y);

    /* Ultralytics: path key, block mapping of ids, comments. */
    CHECK(parse("# COCO-style\npath: ../datasets/x  # root\ntrain: images/train\nval: images/val\n"
                "names:\n  0: cat\n  1: dog   # a comment\n  2: \"traffic light\"\n",
                &y),
          "ultralytics yaml: %s", rf_last_error());
    check_names(&y, 3, abc, NULL, "block mapping");
    CHECK(y.path && strcmp(y.path, "../datasets/x") == 0 && y.nc == -1 && !y.test, "path key");
    rf_yolo_yaml_free(&y);

    /* Block list at the key's own indent, and indented. */
    CHECK(parse("names:\n- cat\n- dog\n- 'traffic light'\n", &y), "block list: %s", rf_last_error());
    check_names(&y, 3, abc, NULL, "block list");
    rf_yolo_yaml_free(&y);
    CHECK(parse("names:\n    - cat\n    - dog\n    - traffic light\nnc: 3\n", &y), "indented list: %s",
          rf_last_error());
    check_names(&y, 3, abc, NULL, "indented block list");
    rf_yolo_yaml_free(&y);

    /* Flow mapping with sparse ids, split over lines; '#' inside quotes kept. */
    const int64_t sparse[] = {1, 5, 7};
    const char *const odd[] = {"a#b", "it's", "c, d"};
    CHECK(parse("names: {1: 'a#b',\n  5: 'it''s',\n  7: \"c, d\"}\n", &y), "flow mapping: %s", rf_last_error());
    check_names(&y, 3, odd, sparse, "flow mapping");
    rf_yolo_yaml_free(&y);

    /* A flow list over several lines, CRLF line ends. */
    CHECK(parse("nc: 3\r\nnames: [cat,\r\n  dog,\r\n  traffic light]\r\n", &y), "multi-line list: %s",
          rf_last_error());
    check_names(&y, 3, abc, NULL, "multi-line flow list");
    rf_yolo_yaml_free(&y);
}

static void expect_error(const char *text, const char *needle, const char *what) {
    rf_yolo_yaml y;
    rf_status s = rf_yolo_yaml_parse(text, strlen(text), "data.yaml", &y);
    CHECK(s == RF_ERR_FORMAT, "%s: status %s", what, rf_status_name(s));
    CHECK(strstr(rf_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what, rf_last_error(), needle);
    if (s == RF_OK) rf_yolo_yaml_free(&y);
}

static void test_yaml_errors(void) {
    expect_error("train: a\nval: b\n", "names: missing", "no names");
    expect_error("names: []\n", "data.yaml:1: names: the list is empty", "empty names");
    expect_error("nc: 2\nnames: [a, b, c]\n", "nc is 2 but names lists 3", "nc mismatch");
    expect_error("nc: x\nnames: [a]\n", "data.yaml:1: nc", "bad nc");
    expect_error("names:\n  a: cat\n", "data.yaml:1: names: key 'a' is not a class id", "non-integer key");
    expect_error("names: [a, b\nnc: 2\n", "data.yaml:1: '[' is never closed", "unclosed bracket");
    expect_error("names: ['a, b]\n", "data.yaml:1: unterminated", "unterminated quote");
    expect_error("names: [a]\n  stray\n", "data.yaml:2", "stray indented line");
    expect_error("names: [a]\njust text\n", "data.yaml:2: expected a top-level 'key: value'", "no colon");
    expect_error("names: {0: a, 0: b}\n", "class id 0 appears twice", "repeated id");
    expect_error("train: [a, b]\nnames: [x]\n", "data.yaml:1: train: a list of folders is not supported",
                 "list of folders");
    expect_error("names:\n\t- a\n", "data.yaml:2: tab", "tab indentation");
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void write_png(const char *path, int w, int h) {
    unsigned char *px = calloc((size_t)w * h * 3, 1);
    stbi_write_png(path, w, h, 3, px, w * 3);
    free(px);
}

static void test_labels(const char *tmp) {
    char images[512], labels[512], p[1024];
    snprintf(images, sizeof images, "%s/images", tmp);
    snprintf(labels, sizeof labels, "%s/labels", tmp);
    CHECK_OK(rf_make_dirs(images));
    CHECK_OK(rf_make_dirs(labels));
    snprintf(p, sizeof p, "%s/b.png", images), write_png(p, 200, 100);
    snprintf(p, sizeof p, "%s/a.png", images), write_png(p, 40, 80);
    snprintf(p, sizeof p, "%s/c.PNG", images), write_png(p, 10, 10); /* no label file: a background image */
    snprintf(p, sizeof p, "%s/notes.md", images), write_file(p, "not an image");
    snprintf(p, sizeof p, "%s/b.txt", labels), write_file(p, "0 0.5 0.5 0.2 0.4\n\n  1 0.1 0.2 0.3 0.4  \r\n");
    snprintf(p, sizeof p, "%s/a.txt", labels), write_file(p, "2 0.1 0.1 0.5 0.2 0.3 0.6");
    snprintf(p, sizeof p, "%s/orphan.txt", labels), write_file(p, "0 0.5 0.5 0.1 0.1\n");
    rf_yolo_yaml y;
    CHECK(parse("names: [x, y, z]\n", &y), "yaml");
    rf_coco_dataset *ds = NULL;
    rf_coco_problems problems = {0};
    CHECK_OK(rf_yolo_load_split(images, labels, &y, &ds, &problems));
    if (ds) {
        CHECK(ds->image_count == 3 && ds->annotation_count == 3 && ds->category_count == 3, "%zu images %zu anns",
              ds->image_count, ds->annotation_count);
        /* Name order: a.png, b.png, c.PNG; ids 0..2; sizes from the files. */
        CHECK(strcmp(ds->images[0].file_name, "a.png") == 0 && ds->images[0].width == 40 && ds->images[0].height == 80,
              "first image %s", ds->images[0].file_name);
        CHECK(strcmp(ds->images[2].file_name, "c.PNG") == 0 && ds->images[2].id == 2, "third image");
        /* a.txt is a triangle polygon: its bounding box, in pixels. */
        const rf_coco_annotation *a = &ds->annotations[0];
        CHECK(a->image_id == 0 && a->category_id == 2, "polygon annotation");
        CHECK(fabs(a->bbox[0] - 4) < 1e-9 && fabs(a->bbox[1] - 8) < 1e-9 && fabs(a->bbox[2] - 16) < 1e-9 &&
                  fabs(a->bbox[3] - 40) < 1e-9,
              "polygon bbox %g %g %g %g", a->bbox[0], a->bbox[1], a->bbox[2], a->bbox[3]);
        const rf_coco_annotation *b = &ds->annotations[1];
        CHECK(b->image_id == 1 && fabs(b->bbox[0] - 80) < 1e-9 && fabs(b->bbox[1] - 30) < 1e-9 &&
                  fabs(b->bbox[2] - 40) < 1e-9 && fabs(b->bbox[3] - 40) < 1e-9,
              "box %g %g %g %g", b->bbox[0], b->bbox[1], b->bbox[2], b->bbox[3]);
        CHECK(ds->annotations[2].image_index == 1 && ds->annotations[2].category_id == 1, "index built");
        CHECK(strcmp(ds->categories[2].name, "z") == 0 && !rf_coco_category_is_placeholder(&ds->categories[2]),
              "category");
        CHECK(ds->max_category_id == 2, "max id");
    }
    CHECK(problems.count == 1 && strstr(problems.items[0].message, "1 label files have no image"),
          "orphan label reported: %zu", problems.count);
    rf_coco_free(ds);
    rf_coco_problems_free(&problems);

    /* Malformed lines: the file and line are named. */
    const char *bad[][2] = {{"0 0.5 0.5 0.2\n", "b.txt:1: expected 'class cx cy w h'"},
                            {"0 0.5 0.5 0.2 0.2\n0 0.5 x 0.2 0.2\n", "b.txt:2: value 3: 'x' is not a number"},
                            {"-1 0.5 0.5 0.2 0.2\n", "b.txt:1: class"},
                            {"1.5 0.5 0.5 0.2 0.2\n", "b.txt:1: class"},
                            {"0 0.5 0.5 -0.2 0.2\n", "b.txt:1: negative box width"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(p, sizeof p, "%s/b.txt", labels), write_file(p, bad[k][0]);
        rf_status s = rf_yolo_load_split(images, labels, &y, &ds, &problems);
        CHECK(s == RF_ERR_FORMAT && strstr(rf_last_error(), bad[k][1]), "bad label %zu: %s: %s", k,
              rf_status_name(s), rf_last_error());
        if (s == RF_OK) rf_coco_free(ds);
        rf_coco_problems_free(&problems);
    }
    /* A corrupt image is left out and reported, not fatal to reading. */
    snprintf(p, sizeof p, "%s/b.txt", labels), write_file(p, "0 0.5 0.5 0.2 0.2\n");
    snprintf(p, sizeof p, "%s/c.PNG", images), write_file(p, "");
    CHECK_OK(rf_yolo_load_split(images, labels, &y, &ds, &problems));
    if (ds) CHECK(ds->image_count == 2, "corrupt image left out: %zu", ds->image_count);
    size_t unreadable = 0;
    for (size_t i = 0; i < problems.count; i++)
        unreadable += problems.items[i].kind == RF_COCO_PROBLEM_IMAGE_UNREADABLE &&
                      strstr(problems.items[i].message, "c.PNG") != NULL;
    CHECK(unreadable == 1, "unreadable image reported by name");
    rf_coco_free(ds);
    rf_coco_problems_free(&problems);
    rf_yolo_yaml_free(&y);
}

int main(void) {
    test_yaml_forms();
    test_yaml_errors();
    char tmp[] = "/tmp/rfdetr_test_yolo_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_labels(tmp);
    test_remove_tree(tmp);
    return test_finish("test_yolo");
}
