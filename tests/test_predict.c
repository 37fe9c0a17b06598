/* test_predict.c — `rfdetr predict` end to end through the binary: batched
 * images to annotated images and COCO results JSON, and every bad input
 * (unreadable image, broken or foreign weights, bad resolution, unknown
 * device) answered with a message and exit code 2, never a crash. Uses the
 * micro reference model of tests/fixtures/model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <stb/stb_image_write.h>

#include "core/fileio.h"
#include "test_util.h"

static char bin[1024], work[1024], weights[1024];

/* Runs the binary with `args`; returns its exit code and its output (stdout
 * and stderr) in out. */
static int run(const char *args, char *out, size_t size) {
    char cmd[8192], log[1100];
    snprintf(log, sizeof log, "%s/out.txt", work);
    snprintf(cmd, sizeof cmd, "%s predict %s >%s 2>&1", bin, args, log);
    int rc = system(cmd);
    out[0] = 0;
    FILE *f = fopen(log, "r");
    if (f) {
        size_t n = fread(out, 1, size - 1, f);
        out[n] = 0;
        fclose(f);
    }
    return rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int count(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static char *slurp(const char *path) {
    char *data = NULL;
    size_t n;
    return rf_read_file(path, &data, &n) == RF_OK ? data : NULL;
}

int main(void) {
    const char *src = getenv("RFDETR_SOURCE_DIR"), *build = getenv("RFDETR_BUILD_DIR");
    if (!src || !build) {
        fprintf(stderr, "test_predict: run through ctest (RFDETR_SOURCE_DIR, RFDETR_BUILD_DIR)\n");
        return 1;
    }
    snprintf(bin, sizeof bin, "%s/rfdetr", build);
    snprintf(work, sizeof work, "%s/test_predict_tmp", build);
    snprintf(weights, sizeof weights, "%s/tests/fixtures/model/micro.safetensors", src);
    mkdir(work, 0755);

    /* Three images of different sizes and formats. */
    char img[3][1100], args[8192], out[65536];
    int sizes[3][2] = {{120, 90}, {64, 64}, {33, 200}};
    for (int i = 0; i < 3; i++) {
        int w = sizes[i][0], h = sizes[i][1];
        unsigned char *px = malloc((size_t)w * h * 3);
        for (int p = 0; p < w * h * 3; p++) px[p] = (unsigned char)((p * 37 + i * 101) % 251);
        snprintf(img[i], sizeof img[i], "%s/img%d.%s", work, i, i == 1 ? "jpg" : "png");
        int ok = i == 1 ? stbi_write_jpg(img[i], w, h, 3, px, 90) : stbi_write_png(img[i], w, h, 3, px, w * 3);
        CHECK(ok, "writing %s", img[i]);
        free(px);
    }

    /* Batched run on cpu, every top-k detection kept. */
    snprintf(args, sizeof args,
             "--weights %s --image %s %s %s --device cpu --threshold 0 --batch 2 --out %s/annotated --json %s/r.json",
             weights, img[0], img[1], img[2], work, work);
    int rc = run(args, out, sizeof out);
    CHECK(rc == 0, "predict exit %d: %s", rc, out);
    char path[1200];
    snprintf(path, sizeof path, "%s/r.json", work);
    char *json = slurp(path);
    CHECK(json && json[0] == '[' && count(json, "\"image_id\"") == 3 * 20, "results JSON: %.200s", json ? json : "(none)");
    CHECK(json && count(json, "\"bbox\"") == 60 && strstr(json, "\"category_id\""), "COCO fields");
    free(json);
    struct stat st;
    snprintf(path, sizeof path, "%s/annotated/img0_0.png", work);
    CHECK(stat(path, &st) == 0 && st.st_size > 0, "annotated %s", path);
    snprintf(path, sizeof path, "%s/annotated/img1_1.jpg", work);
    CHECK(stat(path, &st) == 0 && st.st_size > 0, "annotated %s", path);

    /* The same on every other device gives the same detections. */
    char devices[8][32];
    int n = test_device_names(devices, 8);
    for (int d = 0; d < n; d++) {
        if (strcmp(devices[d], "cpu") == 0) continue;
        snprintf(args, sizeof args, "--weights %s --image %s %s --device %s --threshold 0 --json %s/r_%d.json", weights,
                 img[0], img[2], devices[d], work, d);
        rc = run(args, out, sizeof out);
        CHECK(rc == 0, "predict on %s exit %d: %s", devices[d], rc, out);
        snprintf(path, sizeof path, "%s/r_%d.json", work, d);
        json = slurp(path);
        CHECK(json && count(json, "\"image_id\"") == 40, "%s results", devices[d]);
        free(json);
    }

    /* Bad inputs: message and exit 2; the readable images still run. */
    snprintf(path, sizeof path, "%s/broken.jpg", work);
    FILE *f = fopen(path, "wb");
    fputs("\xff\xd8\xff\xe0 not really a jpeg", f);
    fclose(f);
    snprintf(args, sizeof args, "--weights %s --image %s %s/nope.png %s --device cpu --threshold 0", weights, img[0],
             work, path);
    rc = run(args, out, sizeof out);
    CHECK(rc == 2 && strstr(out, "skipping") && strstr(out, "nope.png") && strstr(out, "broken.jpg") &&
              strstr(out, "2 images could not be read") && strstr(out, "img0.png: 20 detections"),
          "unreadable images: exit %d: %s", rc, out);

    snprintf(path, sizeof path, "%s/truncated.safetensors", work);
    char *w = NULL;
    f = fopen(weights, "rb");
    if (f) {
        w = malloc(100000);
        size_t got = fread(w, 1, 100000, f);
        fclose(f);
        f = fopen(path, "wb");
        fwrite(w, 1, got, f);
        fclose(f);
        free(w);
    }
    snprintf(args, sizeof args, "--weights %s --image %s --device cpu", path, img[0]);
    rc = run(args, out, sizeof out);
    CHECK(rc == 2 && strstr(out, "loading the model") && strstr(out, "truncated.safetensors"), "truncated weights: %d %s",
          rc, out);

    snprintf(args, sizeof args, "--weights %s/tests/fixtures/pth/state_dict.pth --image %s --device cpu", src, img[0]);
    rc = run(args, out, sizeof out);
    CHECK(rc == 2 && strstr(out, "not an RF-DETR checkpoint"), "foreign checkpoint: %d %s", rc, out);

    snprintf(args, sizeof args, "--weights %s/nothing.safetensors --image %s --device cpu", work, img[0]);
    rc = run(args, out, sizeof out);
    CHECK(rc == 2 && strstr(out, "cannot open"), "missing weights: %d %s", rc, out);

    snprintf(args, sizeof args, "--weights %s --image %s --device cpu --resolution 100", weights, img[0]);
    rc = run(args, out, sizeof out);
    CHECK(rc == 2 && strstr(out, "multiple of patch size x windows = 8 x 2 = 16"), "bad resolution: %d %s", rc, out);

    snprintf(args, sizeof args, "--weights %s --image %s --device cpu --resolution 96", weights, img[0]);
    rc = run(args, out, sizeof out);
    CHECK(rc == 0, "another allowed resolution: %d %s", rc, out);

    snprintf(args, sizeof args, "--weights %s --image %s --device opencl:99", weights, img[0]);
    rc = run(args, out, sizeof out);
    CHECK(rc == 2 && strstr(out, "opencl:99"), "unknown device: %d %s", rc, out);

    snprintf(args, sizeof args, "--image %s", img[0]);
    rc = run(args, out, sizeof out);
    CHECK(rc == 2 && strstr(out, "--weights and --image (or --coco) are required"), "no weights: %d %s", rc, out);

    snprintf(args, sizeof args, "--weights %s --image %s --threshold 2", weights, img[0]);
    rc = run(args, out, sizeof out);
    CHECK(rc == 2, "threshold 2: %d %s", rc, out);
    return test_finish("test_predict");
}
