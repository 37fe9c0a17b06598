/* test_public_api.c — the installable library as a program embedding it
 * sees it: linked against librfdetr.so (not the static library the other
 * tests use), so only what the shared library exports is reachable, and
 * only rfdetr.h is included. Reads images, predicts, and evaluates a model
 * and a results file with the per-class table that `rfdetr eval` prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rfdetr.h"
#include "test_util.h"

int main(void) {
    const char *src = getenv("RFDETR_SOURCE_DIR"), *build = getenv("RFDETR_BUILD_DIR");
    if (!src || !build) {
        fprintf(stderr, "test_public_api: run through ctest (RFDETR_SOURCE_DIR, RFDETR_BUILD_DIR)\n");
        return 1;
    }
    char dir[1024], data[1100], weights[1100], cmd[4096], path[1200];
    snprintf(dir, sizeof dir, "%s/test_public_api_tmp", build);
    test_remove_tree(dir);
    mkdir(dir, 0755);
    snprintf(data, sizeof data, "%s/shapes", dir);
    snprintf(weights, sizeof weights, "%s/tests/fixtures/model/micro.safetensors", src);
    snprintf(cmd, sizeof cmd, "%s/rfdetr make-shapes %s --train 2 --valid 6 --size 96 --classes 5 >/dev/null 2>&1", build, data);
    CHECK(system(cmd) == 0, "make-shapes");

    /* Images: decoded by the library, errors named. */
    rf_image_rgb8 img = {0};
    snprintf(path, sizeof path, "%s/valid", data);
    snprintf(cmd, sizeof cmd, "ls %s/*.jpg | head -1 > %s/first.txt", path, dir);
    CHECK(system(cmd) == 0, "listing the images");
    char first[1200] = "";
    snprintf(path, sizeof path, "%s/first.txt", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(first, sizeof first, f)) first[strcspn(first, "\n")] = 0;
        fclose(f);
    }
    CHECK_OK(rf_image_read(first, &img));
    CHECK(img.rgb && img.width == 96 && img.height == 96, "decoded %s: %d x %d", first, img.width, img.height);
    rf_image_rgb8 missing = {0};
    CHECK_STATUS(rf_image_read("/nonexistent/x.jpg", &missing), RF_ERR_IO);
    CHECK(strstr(rf_last_error(), "/nonexistent/x.jpg") != NULL, "the message names the file: %s", rf_last_error());
    CHECK(missing.rgb == NULL && missing.width == 0, "nothing handed out on failure");
    CHECK_STATUS(rf_image_read(weights, &missing), RF_ERR_FORMAT);
    CHECK_STATUS(rf_image_read(NULL, &missing), RF_ERR_INVALID_ARGUMENT);

    rf_device *dev = NULL;
    rf_model *model = NULL;
    CHECK_OK(rf_device_open("cpu", &dev));
    CHECK_OK(rf_model_open(dev, weights, &model));
    rf_detection *det = NULL;
    size_t n = 0;
    CHECK_OK(rf_model_predict(model, &img, 1, 0.0f, &det, &n));
    CHECK(n == 20, "top-k detections of one image: %zu", n);
    rf_detections_free(det);
    rf_image_rgb8_free(&img);
    CHECK(img.rgb == NULL, "freed image cleared");
    rf_image_rgb8_free(NULL);

    /* Evaluation with the whole result, equal to the stats-only call. */
    rf_eval_options opt = {.max_dets = {1, 10, 500}, .batch = 4, .threads = 1};
    rf_eval_result *r = NULL;
    double stats[12];
    CHECK_OK(rf_model_evaluate_with(model, data, "valid", &opt, &r));
    CHECK_OK(rf_model_evaluate(model, data, "valid", opt.max_dets, stats));
    if (r) {
        CHECK(memcmp(stats, r->stats, sizeof stats) == 0, "the same 12 stats both ways");
        CHECK(r->images == 6 && r->max_dets[2] == 500 && r->detections == 6 * 20, "images %zu, dets %zu", r->images,
              r->detections);
        CHECK(r->class_count == 5 && r->classes[0].name && strcmp(r->classes[0].name, "circle") == 0 &&
                  r->classes[4].category_id == 4,
              "per-class rows: %zu, first %s", r->class_count, r->class_count ? r->classes[0].name : "-");
        size_t gt = 0;
        for (size_t k = 0; k < r->class_count; k++) gt += r->classes[k].gt_boxes;
        CHECK(gt == r->gt_boxes && gt > 0, "class GT boxes add up: %zu of %zu", gt, r->gt_boxes);
        CHECK(strstr(r->annotations, "valid/_annotations.coco.json") != NULL, "annotations: %s", r->annotations);
    }
    rf_eval_result_free(r);
    rf_eval_result_free(NULL);
    r = NULL;
    rf_eval_options bad = {.batch = -1};
    CHECK_STATUS(rf_model_evaluate_with(model, data, "valid", &bad, &r), RF_ERR_INVALID_ARGUMENT);
    CHECK(r == NULL, "nothing handed out on failure");
    CHECK_STATUS(rf_model_evaluate_with(model, data, "bogus", NULL, &r), RF_ERR_INVALID_ARGUMENT);

    /* A results file against its ground truth: the GT itself as detections
     * scores AP 1. */
    snprintf(path, sizeof path, "%s/dt.json", dir);
    f = fopen(path, "w");
    fprintf(f, "[{\"image_id\": 1, \"category_id\": 2, \"bbox\": [10, 10, 20, 20], \"score\": 0.9}]\n");
    fclose(f);
    char gt[1200];
    snprintf(gt, sizeof gt, "%s/gt.json", dir);
    f = fopen(gt, "w");
    fprintf(f, "{\"images\": [{\"id\": 1, \"width\": 64, \"height\": 64}], \"categories\": [{\"id\": 2, \"name\": \"dog\"}],"
               " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 2, \"bbox\": [10, 10, 20, 20], \"area\": 400, \"iscrowd\": 0}]}\n");
    fclose(f);
    CHECK_OK(rf_evaluate_files_with(gt, path, NULL, &r));
    if (r) {
        CHECK(r->stats[0] > 0.99 && r->class_count == 1 && strcmp(r->classes[0].name, "dog") == 0 &&
                  r->classes[0].ap > 0.99 && r->max_dets[2] == 100 && strcmp(r->annotations, gt) == 0,
              "perfect detections: AP %.3f", r->stats[0]);
    }
    rf_eval_result_free(r);
    CHECK_STATUS(rf_evaluate_files_with(gt, "/nonexistent.json", NULL, &r), RF_ERR_IO);
    CHECK_STATUS(rf_evaluate_files_with(NULL, path, NULL, &r), RF_ERR_INVALID_ARGUMENT);

    rf_model_free(model);
    rf_device_close(dev);
    if (test_failed_count == 0) test_remove_tree(dir);
    return test_finish("test_public_api");
}
