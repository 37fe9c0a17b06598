/* test_api.c — the public C API (include/rfdetr.h) as a program embedding the
 * library uses it, nothing else included: open a device, create / save /
 * open a model, predict on pixels, evaluate files and a model on a dataset,
 * train a few steps, and the errors each call reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rfdetr.h"

static int passed, failed;
#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (cond) passed++;                                                      \
        else {                                                                   \
            failed++;                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                        \
            fprintf(stderr, " (%s)\n", rf_last_error());                        \
        }                                                                        \
    } while (0)

int main(void) {
    char dir[] = "/tmp/rfdetr_api_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char weights[256], data[256], run[256];
    snprintf(weights, sizeof weights, "%s/model.safetensors", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(run, sizeof run, "%s/run", dir);

    rf_device *dev = NULL;
    CHECK(rf_device_open("cpu", &dev) == RF_OK, "open cpu");
    rf_device *unknown = NULL;
    CHECK(rf_device_open("opencl:99", &unknown) == RF_ERR_NO_DEVICE && !unknown && strstr(rf_last_error(), "available devices"),
          "unknown device");
    if (!dev) return 1;

    rf_model *m = NULL;
    CHECK(rf_model_new(dev, "huge", 3, 0, 1, &m) == RF_ERR_INVALID_ARGUMENT, "unknown size refused");
    CHECK(rf_model_new(dev, "tiny", 3, 100, 1, &m) == RF_ERR_INVALID_ARGUMENT, "resolution rule enforced");
    CHECK(rf_model_new(dev, "tiny", 3, 128, 1, &m) == RF_OK && m, "create tiny");
    CHECK(rf_model_num_classes(m) == 3 && rf_model_resolution(m) == 128 && !strcmp(rf_model_size(m), "tiny"), "getters");
    CHECK(rf_model_save(m, weights) == RF_OK, "save");
    rf_model_free(m);
    m = NULL;
    CHECK(rf_model_open(dev, weights, &m) == RF_OK, "open saved weights");
    rf_model *missing = NULL;
    CHECK(rf_model_open(dev, "/nonexistent.safetensors", &missing) != RF_OK && !missing, "missing weights refused");
    if (!m) return 1;

    /* Two images of different sizes in one batch. */
    uint8_t *a = malloc(96 * 64 * 3), *b = malloc(50 * 80 * 3);
    for (int i = 0; i < 96 * 64 * 3; i++) a[i] = (uint8_t)(i * 31);
    for (int i = 0; i < 50 * 80 * 3; i++) b[i] = (uint8_t)(i * 7);
    rf_image_rgb8 images[2] = {{a, 96, 64}, {b, 50, 80}};
    rf_detection *det = NULL;
    size_t n = 0;
    CHECK(rf_model_predict(m, images, 2, 0.0f, &det, &n) == RF_OK && n > 0, "predict, threshold 0 keeps top-k");
    bool in_bounds = true, ordered = true;
    for (size_t i = 0; i < n; i++) {
        int w = images[det[i].image].width, h = images[det[i].image].height;
        in_bounds &= det[i].box[0] >= 0 && det[i].box[2] <= w && det[i].box[1] >= 0 && det[i].box[3] <= h;
        if (i > 0 && det[i].image == det[i - 1].image) ordered &= det[i].score <= det[i - 1].score;
        ordered &= i == 0 || det[i].image >= det[i - 1].image;
    }
    CHECK(in_bounds && ordered, "boxes inside each image, grouped by image, best first");
    rf_detections_free(det);
    rf_image_rgb8 empty = {NULL, 0, 0};
    CHECK(rf_model_predict(m, &empty, 1, 0.5f, &det, &n) == RF_ERR_INVALID_ARGUMENT, "empty image refused");
    free(a);
    free(b);

    /* Train a few steps on a generated dataset, then evaluate the result. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s/rfdetr make-shapes %s --train 16 --valid 8 --size 128 >/dev/null 2>&1",
             getenv("RFDETR_BUILD_DIR") ? getenv("RFDETR_BUILD_DIR") : "build", data);
    CHECK(system(cmd) == 0, "make-shapes");
    rf_train_config cfg;
    rf_train_config_defaults(&cfg);
    cfg.data = data;
    cfg.out_dir = run;
    cfg.device = "cpu";
    cfg.epochs = 1;
    cfg.batch = 4;
    cfg.resolution = 128;
    rf_train_summary sum;
    CHECK(rf_train(&cfg, &sum) == RF_OK && sum.steps == 4, "train one epoch");
    char best[300];
    snprintf(best, sizeof best, "%s/checkpoint_best_total.safetensors", run);
    rf_model *trained = NULL;
    double stats[12] = {0};
    CHECK(rf_model_open(dev, best, &trained) == RF_OK, "open the trained model");
    const int max_dets[3] = {1, 10, 500};
    CHECK(rf_model_evaluate(trained, data, "valid", max_dets, stats) == RF_OK, "evaluate on valid");
    CHECK(stats[0] == sum.best_total_stats[0] && stats[1] == sum.best_total_stats[1],
          "the same AP as the trainer measured: %.6f vs %.6f", stats[0], sum.best_total_stats[0]);
    CHECK(rf_model_evaluate(trained, data, "bogus", NULL, stats) == RF_ERR_INVALID_ARGUMENT, "unknown split");
    rf_model_free(trained);

    /* Files: perfect detections give AP 1 (written here, so the test needs
     * nothing outside the repository). */
    char gt_path[300], dt_path[300];
    snprintf(gt_path, sizeof gt_path, "%s/gt.json", dir);
    snprintf(dt_path, sizeof dt_path, "%s/dt.json", dir);
    FILE *f = fopen(gt_path, "w");
    if (f) {
        fputs("{\"images\": [{\"id\": 1, \"width\": 100, \"height\": 80}, {\"id\": 2, \"width\": 64, \"height\": 64}],\n"
              " \"categories\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 2, \"name\": \"b\"}],\n"
              " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [10, 10, 30, 20], \"area\": 600, \"iscrowd\": 0},\n"
              "  {\"id\": 2, \"image_id\": 1, \"category_id\": 2, \"bbox\": [50, 40, 40, 30], \"area\": 1200, \"iscrowd\": 0},\n"
              "  {\"id\": 3, \"image_id\": 2, \"category_id\": 1, \"bbox\": [5, 5, 50, 50], \"area\": 2500, \"iscrowd\": 0}]}\n",
              f);
        fclose(f);
    }
    f = fopen(dt_path, "w");
    if (f) {
        fputs("[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [10, 10, 30, 20], \"score\": 0.9},\n"
              " {\"image_id\": 1, \"category_id\": 2, \"bbox\": [50, 40, 40, 30], \"score\": 0.8},\n"
              " {\"image_id\": 2, \"category_id\": 1, \"bbox\": [5, 5, 50, 50], \"score\": 0.7}]\n",
              f);
        fclose(f);
    }
    CHECK(rf_evaluate_files(gt_path, dt_path, NULL, stats) == RF_OK, "evaluate files");
    CHECK(stats[0] > 0.99 && stats[1] > 0.99, "perfect detections: AP %.3f AP50 %.3f", stats[0], stats[1]);
    CHECK(rf_evaluate_files("/nonexistent.json", "x.json", NULL, stats) == RF_ERR_IO, "missing file");

    rf_model_free(m);
    rf_device_close(dev);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!failed) system(cmd);
    printf("test_api: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
