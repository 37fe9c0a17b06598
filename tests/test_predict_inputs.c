/* test_predict_inputs.c — `rfdetr predict` on many images as a user gives
 * them: a folder, a quoted pattern, a COCO file (whose image ids --json
 * must carry, so `rfdetr eval --gt` scores the results as `rfdetr eval
 * --weights` scores the model), progress on stderr, and every detection's
 * box on the console. Each bad input is exit 2 with the argument named.
 * Uses the micro reference model of tests/fixtures/model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <stb/stb_image_write.h>

#include "core/fileio.h"
#include "data/coco.h"
#include "test_util.h"

static char bin[1024], work[1024], weights[1024];

/* Runs `rfdetr <args>`; stdout and stderr go to separate buffers. */
static int run(const char *args, char *out, char *err, size_t size) {
    char cmd[12288];
    snprintf(cmd, sizeof cmd, "%s %s >%s/stdout.txt 2>%s/stderr.txt", bin, args, work, work);
    int rc = system(cmd);
    char *bufs[2] = {out, err};
    const char *names[2] = {"stdout", "stderr"};
    for (int i = 0; i < 2; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.txt", work, names[i]);
        bufs[i][0] = 0;
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(bufs[i], 1, size - 1, f);
        bufs[i][n] = 0;
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

static void write_image(const char *path, int w, int h, int seed) {
    unsigned char *px = malloc((size_t)w * h * 3);
    for (int p = 0; p < w * h * 3; p++) px[p] = (unsigned char)((p * 31 + seed * 97 + (p / (w * 3)) * 5) % 253);
    /* A bright square in the middle, so there is something to find. */
    for (int y = h / 5; y < h * 4 / 5; y++)
        for (int x = w / 5; x < w * 4 / 5; x++) px[(y * w + x) * 3 + seed % 3] = 250;
    CHECK(stbi_write_png(path, w, h, 3, px, w * 3), "writing %s", path);
    free(px);
}

/* The COCO file of a Roboflow-style split of n images: listed in reverse
 * name order with ids 1000 + 7 * k (neither positions nor name order), one
 * box each: gt[k] (category, x, y, w, h) when given, else a large one. */
static void write_coco(const char *dir, int n, const double (*gt)[5]) {
    char path[1200];
    snprintf(path, sizeof path, "%s/_annotations.coco.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"categories\": [");
    for (int c = 0; c < 5; c++) fprintf(f, "%s{\"id\": %d, \"name\": \"class_%d\", \"supercategory\": \"shapes\"}", c ? ", " : "", c, c);
    fprintf(f, "],\n \"images\": [");
    for (int k = 0; k < n; k++) {
        int i = n - 1 - k;
        fprintf(f, "%s{\"id\": %d, \"file_name\": \"im%02d.png\", \"width\": 96, \"height\": 80}", k ? ", " : "", 1000 + 7 * k, i);
    }
    fprintf(f, "],\n \"annotations\": [");
    for (int k = 0; k < n; k++) {
        double box[5] = {k % 5, 19, 16, 58, 48};
        if (gt) memcpy(box, gt[k], sizeof box);
        fprintf(f, "%s{\"id\": %d, \"image_id\": %d, \"category_id\": %d, \"bbox\": [%.17g, %.17g, %.17g, %.17g], \"area\": %.17g, \"iscrowd\": 0}",
                k ? ", " : "", k + 1, 1000 + 7 * k, (int)box[0], box[1], box[2], box[3], box[4], box[3] * box[4]);
    }
    fprintf(f, "]}\n");
    fclose(f);
}

static void write_split(const char *dir, int n) {
    mkdir(dir, 0755);
    write_coco(dir, n, NULL);
    char path[1200];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/im%02d.png", dir, i);
        write_image(path, 96, 80, i);
    }
}

/* Every entry of a predict results file: its image_id must be the id the
 * COCO file gives its file_name. Returns the number of entries checked. */
static int check_ids(const char *results, const rf_coco_dataset *coco, int expect_position) {
    int checked = 0, wrong = 0;
    for (const char *p = strstr(results, "\"image_id\":"); p; p = strstr(p + 1, "\"image_id\":")) {
        long long id = strtoll(p + strlen("\"image_id\":"), NULL, 10);
        const char *fn = strstr(p, "\"file_name\":\"");
        if (!fn) break;
        fn += strlen("\"file_name\":\"");
        const char *end = strchr(fn, '"');
        const char *base = fn;
        for (const char *q = fn; q < end; q++)
            if (*q == '/') base = q + 1;
        long long want = -1;
        if (expect_position >= 0) {
            want = atoi(base + 2); /* imNN.png: position NN in name order */
        } else {
            for (size_t i = 0; i < coco->image_count; i++)
                if (strncmp(coco->images[i].file_name, base, (size_t)(end - base)) == 0 &&
                    strlen(coco->images[i].file_name) == (size_t)(end - base))
                    want = coco->images[i].id;
        }
        if (id != want && wrong++ < 3) fprintf(stderr, "%.*s has image_id %lld, expected %lld\n", (int)(end - fn), fn, id, want);
        checked++;
    }
    return wrong ? -1 : checked;
}

/* The first number after `key` in text. */
static double number_after(const char *text, const char *key) {
    const char *p = text ? strstr(text, key) : NULL;
    return p ? strtod(p + strlen(key), NULL) : -99;
}

int main(void) {
    const char *src = getenv("RFDETR_SOURCE_DIR"), *build = getenv("RFDETR_BUILD_DIR");
    if (!src || !build) {
        fprintf(stderr, "test_predict_inputs: run through ctest (RFDETR_SOURCE_DIR, RFDETR_BUILD_DIR)\n");
        return 1;
    }
    snprintf(bin, sizeof bin, "%s/rfdetr", build);
    snprintf(work, sizeof work, "%s/test_predict_inputs_tmp", build);
    snprintf(weights, sizeof weights, "%s/tests/fixtures/model/micro.safetensors", src);
    test_remove_tree(work);
    mkdir(work, 0755);
    static char out[1 << 20], err[1 << 16], args[8192], path[2048];
    char data[1100], valid[1200];
    snprintf(data, sizeof data, "%s/data", work);
    snprintf(valid, sizeof valid, "%s/valid", data);
    mkdir(data, 0755);
    write_split(valid, 8);
    rf_coco_dataset *coco = NULL;
    snprintf(path, sizeof path, "%s/_annotations.coco.json", valid);
    CHECK_OK(rf_coco_load(path, &coco));

    /* A folder holding a COCO file: its images in name order, its ids. */
    snprintf(args, sizeof args, "predict --weights %s --image %s --device cpu --threshold 0 --batch 3 --json %s/dir.json",
             weights, valid, work);
    int rc = run(args, out, err, sizeof out);
    CHECK(rc == 0 && strstr(err, "image ids from ") && strstr(err, "_annotations.coco.json"), "folder: %d %s", rc, err);
    snprintf(path, sizeof path, "%s/dir.json", work);
    char *json = slurp(path);
    CHECK(json && check_ids(json, coco, -1) == 8 * 20, "folder: every result carries its COCO id");
    free(json);
    /* Console: a header per image and one line per detection with its box,
     * the numbers --json holds. */
    CHECK(count(out, " detections\n") == 8 && count(out, "  box ") == 8 * 20, "console lines: %.300s", out);
    const char *first = strstr(out, "im00.png: 20 detections\n  ");
    CHECK(strncmp(out, valid, strlen(valid)) == 0 && strncmp(out + strlen(valid), "/im00.png: 20 detections", 24) == 0,
          "im00.png comes first (name order): %.200s", out);
    const char *box = first ? strstr(first, "  box ") : NULL;
    double x0 = -1, y0 = -1, x1 = -1, y1 = -1;
    CHECK(box && sscanf(box, "  box %lf %lf %lf %lf", &x0, &y0, &x1, &y1) == 4, "a box on the console: %.200s", out);
    snprintf(path, sizeof path, "%s/dir.json", work);
    json = slurp(path);
    const char *bbox = json ? strstr(json, "\"bbox\":[") : NULL;
    double bx = -9, by = -9, bw = -9, bh = -9;
    CHECK(bbox && sscanf(bbox, "\"bbox\":[%lf,%lf,%lf,%lf]", &bx, &by, &bw, &bh) == 4, "a bbox in --json");
    CHECK(fabs(x0 - bx) < 0.051 && fabs(y0 - by) < 0.051 && fabs(x1 - x0 - bw) < 0.11 && fabs(y1 - y0 - bh) < 0.11,
          "the console's best box of im00.png %.1f %.1f %.1f %.1f is --json's [%g, %g, %g, %g]", x0, y0, x1, y1, bx, by, bw, bh);
    free(json);
    /* Progress: 8 images in batches of 3 is more than one batch. */
    CHECK(strstr(err, "3/8 images") && strstr(err, "8/8 images") && strstr(err, "ETA"), "progress: %s", err);

    /* The results evaluate against the COCO file exactly as the model does.
     * The ground truth is each image's best detection, so results under the
     * right ids score well and under wrong ids close to nothing. */
    snprintf(path, sizeof path, "%s/dir.json", work);
    rf_coco_detection *dets = NULL;
    size_t ndets = 0;
    CHECK_OK(rf_coco_load_detections(path, coco, &dets, &ndets));
    double gt[8][5] = {{0}};
    double best[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    for (size_t i = 0; i < ndets; i++) {
        int k = (int)((dets[i].image_id - 1000) / 7);
        if (k < 0 || k >= 8 || dets[i].score <= best[k] || dets[i].bbox[2] < 2 || dets[i].bbox[3] < 2) continue;
        best[k] = dets[i].score;
        gt[k][0] = (double)dets[i].category_id;
        memcpy(&gt[k][1], dets[i].bbox, sizeof dets[i].bbox);
    }
    free(dets);
    write_coco(valid, 8, (const double(*)[5])gt);
    snprintf(args, sizeof args, "predict --weights %s --image %s --device cpu --threshold 0 --batch 3 --json %s/dir.json",
             weights, valid, work);
    CHECK(run(args, out, err, sizeof out) == 0, "predict again: %s", err);
    snprintf(args, sizeof args, "eval --gt %s/_annotations.coco.json --dt %s/dir.json --json %s/dt_eval.json", valid, work, work);
    rc = run(args, out, err, sizeof out);
    CHECK(rc == 0, "eval --gt --dt: %d %s", rc, err);
    snprintf(args, sizeof args, "eval --weights %s --data %s --split valid --device cpu --json %s/model_eval.json", weights,
             data, work);
    rc = run(args, out, err, sizeof out);
    CHECK(rc == 0, "eval --weights: %d %s", rc, err);
    snprintf(path, sizeof path, "%s/dt_eval.json", work);
    char *a = slurp(path);
    snprintf(path, sizeof path, "%s/model_eval.json", work);
    char *b = slurp(path);
    double ap_dt = number_after(a, "\"stats\": ["), ap_model = number_after(b, "\"stats\": [");
    double ar_dt = number_after(a, "\"recall\": "), ar_model = number_after(b, "\"recall\": ");
    CHECK(ap_dt > 0.2 && ap_dt == ap_model && ar_dt == ar_model, "predict+eval AP %.9f recall %.6f, eval --weights AP %.9f recall %.6f",
          ap_dt, ar_dt, ap_model, ar_model);
    free(a);
    free(b);

    /* --coco alone: every image the file lists, found beside it. */
    snprintf(args, sizeof args, "predict --weights %s --coco %s/_annotations.coco.json --device cpu --batch 8 --json %s/coco.json",
             weights, valid, work);
    rc = run(args, out, err, sizeof out);
    snprintf(path, sizeof path, "%s/coco.json", work);
    json = slurp(path);
    CHECK(rc == 0 && count(out, " detection") == 8 && !strstr(err, "images  "), "--coco alone: %d %s %s", rc, out, err);
    CHECK(json && check_ids(json, coco, -1) >= 0, "--coco alone: ids");
    free(json);

    /* A quoted pattern: positions in name order, no COCO file consulted. */
    snprintf(args, sizeof args, "predict --weights %s --image '%s/im0[0-4].png' --device cpu --threshold 0 --json %s/glob.json",
             weights, valid, work);
    rc = run(args, out, err, sizeof out);
    snprintf(path, sizeof path, "%s/glob.json", work);
    json = slurp(path);
    CHECK(rc == 0 && !strstr(err, "image ids from") && count(out, " detections\n") == 5, "pattern: %d %s", rc, err);
    CHECK(json && check_ids(json, NULL, 0) == 5 * 20, "pattern: positions");
    free(json);

    /* Explicit files with --coco: looked up by name. */
    snprintf(args, sizeof args, "predict --weights %s --image %s/im03.png %s/im06.png --coco %s/_annotations.coco.json --device cpu --threshold 0 --json %s/two.json",
             weights, valid, valid, valid, work);
    rc = run(args, out, err, sizeof out);
    snprintf(path, sizeof path, "%s/two.json", work);
    json = slurp(path);
    CHECK(rc == 0 && json && check_ids(json, coco, -1) == 2 * 20 && strstr(json, "\"image_id\":1028") &&
              strstr(json, "\"image_id\":1007"),
          "files with --coco: %d %s", rc, err);
    free(json);

    /* Bad inputs: exit 2, the argument named, nothing written. */
    snprintf(args, sizeof args, "predict --weights %s --image '%s/*.gif' --device cpu --json %s/none.json", weights, valid, work);
    rc = run(args, out, err, sizeof out);
    snprintf(path, sizeof path, "%s/none.json", work);
    CHECK(rc == 2 && strstr(err, "*.gif' matches no files") && !rf_file_exists(path), "no match: %d %s", rc, err);
    snprintf(path, sizeof path, "%s/empty", work);
    mkdir(path, 0755);
    snprintf(args, sizeof args, "predict --weights %s --image %s --device cpu", weights, path);
    rc = run(args, out, err, sizeof out);
    CHECK(rc == 2 && strstr(err, "no images (.jpg .jpeg .png .bmp) in this folder") && strstr(err, "/empty"),
          "empty folder: %d %s", rc, err);
    snprintf(path, sizeof path, "%s/extra.png", valid);
    write_image(path, 40, 40, 9);
    snprintf(args, sizeof args, "predict --weights %s --image %s --device cpu --out %s/drawn", weights, valid, work);
    rc = run(args, out, err, sizeof out);
    snprintf(path, sizeof path, "%s/drawn", work);
    CHECK(rc == 2 && strstr(err, "extra.png is not among the images of") && strstr(err, "DIR/*.jpg"),
          "image outside the COCO file: %d %s", rc, err);
    CHECK(!rf_file_exists(path), "a refused run leaves no --out folder behind");
    snprintf(path, sizeof path, "%s/extra.png", valid);
    remove(path);
    char other[1200];
    snprintf(other, sizeof other, "%s/other", data);
    write_split(other, 2);
    snprintf(args, sizeof args, "predict --weights %s --image %s %s --device cpu", weights, valid, other);
    rc = run(args, out, err, sizeof out);
    CHECK(rc == 2 && strstr(err, "both hold image ids") && strstr(err, "--coco"), "two COCO folders: %d %s", rc, err);
    snprintf(args, sizeof args, "predict --weights %s --coco %s/missing.json --device cpu", weights, work);
    rc = run(args, out, err, sizeof out);
    CHECK(rc == 2 && strstr(err, "--coco ") && strstr(err, "missing.json"), "missing --coco: %d %s", rc, err);

    /* One batch: no progress lines. */
    snprintf(args, sizeof args, "predict --weights %s --image %s --device cpu --batch 8", weights, valid);
    rc = run(args, out, err, sizeof out);
    CHECK(rc == 0 && !strstr(err, "8/8 images"), "one batch, no progress: %s", err);

    rf_coco_free(coco);
    if (test_failed_count == 0) test_remove_tree(work);
    return test_finish("test_predict_inputs");
}
