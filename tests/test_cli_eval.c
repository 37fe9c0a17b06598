/* test_cli_eval.c — `rfdetr eval` as a user runs it: the summary and table,
 * --json, --max-dets, and every kind of bad input answered with a message
 * naming the file and the entry, exit code 2, and no crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "test_util.h"

static char rfdetr[1024], temp_dir[64];

/* Runs `rfdetr eval ARGS`, returns its exit code; output (stdout and
 * stderr) in out. 128+N when killed by signal N (a crash). */
static int run_eval(const char *args, char *out, size_t size) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' eval %s 2>&1", rfdetr, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *temp_file(const char *name, const char *text) {
    static char paths[8][256];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, 256, "%s/%s", temp_dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static const char *gt_text =
    "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\"}, {\"id\": 2, \"file_name\": \"b.jpg\"}],\n"
    " \"categories\": [{\"id\": 1, \"name\": \"cat\"}, {\"id\": 2, \"name\": \"dog\"}],\n"
    " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [10, 10, 50, 50], \"area\": 2500, \"iscrowd\": 0},\n"
    "                 {\"id\": 2, \"image_id\": 2, \"category_id\": 2, \"bbox\": [5, 5, 20, 30], \"area\": 600, \"iscrowd\": 0}]}\n";

static void test_success(void) {
    static char out[1 << 16];
    const char *gt = temp_file("gt.json", gt_text);
    char dt[256], json[256], args[2048];
    snprintf(dt, sizeof dt, "%s", temp_file("dt.json",
             "[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [10, 10, 50, 50], \"score\": 0.9},\n"
             " {\"image_id\": 2, \"category_id\": 2, \"bbox\": [5, 5, 20, 15], \"score\": 0.8},\n"
             " {\"image_id\": 2, \"category_id\": 7, \"bbox\": [5, 5, 20, 30], \"score\": 0.99}]\n"));
    snprintf(json, sizeof json, "%s/out.json", temp_dir);
    snprintf(args, sizeof args, "--gt '%s' --dt '%s' --json '%s'", gt, dt, json);
    int rc = run_eval(args, out, sizeof out);
    CHECK(rc == 0, "exit %d: %s", rc, out);
    CHECK(strstr(out, " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.550\n") != NULL,
          "pycocotools' first line: %s", out);
    CHECK(strstr(out, " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000\n") != NULL,
          "pycocotools' last line: %s", out);
    CHECK(strstr(out, "dog ") && strstr(out, "all "), "per-class table: %s", out);
    FILE *f = fopen(json, "r");
    CHECK(f != NULL, "--json wrote %s", json);
    if (f) {
        static char text[1 << 16];
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
        CHECK(strstr(text, "\"stats\": [") && strstr(text, "\"per_class\": [") && strstr(text, "\"name\": \"dog\""),
              "json content: %s", text);
    }
    snprintf(args, sizeof args, "--gt '%s' --dt '%s' --max-dets 1,10,500 --threads 1", gt, dt);
    rc = run_eval(args, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "maxDets=500 ] = 0.550"), "--max-dets 1,10,500: %d %s", rc, out);

    snprintf(args, sizeof args, "--gt '%s' --dt '%s'", gt, temp_file("empty.json", "[]"));
    rc = run_eval(args, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "has no detections") && strstr(out, "maxDets=100 ] = 0.000"),
          "empty detections: %d %s", rc, out);
}

/* Each bad input: exit 2 and every fragment in the message. */
static void expect_bad(const char *args, const char *const *fragments) {
    static char out[1 << 16];
    int rc = run_eval(args, out, sizeof out);
    CHECK(rc == 2, "rfdetr eval %s: exit %d (2 expected): %s", args, rc, out);
    for (int i = 0; fragments[i]; i++)
        CHECK(strstr(out, fragments[i]) != NULL, "rfdetr eval %s: output lacks '%s': %s", args, fragments[i], out);
}

#define EXPECT_BAD(args, ...) expect_bad(args, (const char *const[]){__VA_ARGS__, NULL})

static void expect_bad_dt(const char *dt_text, const char *const *fragments) {
    char args[1024];
    const char *gt = temp_file("gt.json", gt_text);
    char gt_copy[256];
    snprintf(gt_copy, sizeof gt_copy, "%s", gt);
    snprintf(args, sizeof args, "--gt '%s' --dt '%s'", gt_copy, temp_file("bad_dt.json", dt_text));
    expect_bad(args, fragments);
}

static void expect_bad_gt(const char *gt, const char *const *fragments) {
    char args[1024], gt_path[256];
    snprintf(gt_path, sizeof gt_path, "%s", temp_file("bad_gt.json", gt));
    snprintf(args, sizeof args, "--gt '%s' --dt '%s'", gt_path, temp_file("dt_ok.json", "[]"));
    expect_bad(args, fragments);
}

#define EXPECT_BAD_DT(text, ...) expect_bad_dt(text, (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_BAD_GT(text, ...) expect_bad_gt(text, (const char *const[]){__VA_ARGS__, NULL})

#define DET(img, box, score) "{\"image_id\": " #img ", \"category_id\": 1, \"bbox\": " box ", \"score\": " score "}"

static void test_bad_input(void) {
    EXPECT_BAD_GT("{\"images\": [{\"id\": 1}", "bad_gt.json:1:", "malformed JSON", "premature EOF");
    EXPECT_BAD_GT("{\"images\": [{\"id\": 1}],\n \"annotations\": [{\"id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]}]}",
                  "bad_gt.json:2:", "annotations[0]: missing required key \"image_id\"");
    EXPECT_BAD_GT("{\"images\": [{\"id\": \"one\"}]}", "bad_gt.json:1:", "images[0].id: expected an integer, got a string");
    EXPECT_BAD_GT("[]", "bad_gt.json:1:", "expected a JSON object");

    EXPECT_BAD_DT("[" DET(1, "[1, 2, 3, 4]", "0.5") ",]", "bad_dt.json:1:", "malformed JSON", "[1]");
    EXPECT_BAD_DT("[" DET(1, "[1, 2, 3, 4]", "0.5") ",\n " DET(99, "[1, 2, 3, 4]", "0.5") "]",
                  "bad_dt.json:2:", "[1]: image_id 99 is not an image of the ground truth");
    EXPECT_BAD_DT("[" DET(1, "[1, 2, -3, 4]", "0.5") "]", "bad_dt.json:1:", "[0]: bbox [1, 2, -3, 4] has a negative width");
    EXPECT_BAD_DT("[" DET(1, "[1, 2, 3, NaN]", "0.5") "]", "bad_dt.json:1:", "NaN and Infinity are not JSON", "[0].bbox");
    EXPECT_BAD_DT("[" DET(1, "[1, 2, 3, 4]", "Infinity") "]", "NaN and Infinity are not JSON", "[0].score");
    EXPECT_BAD_DT("[" DET(1, "[1, 2, 3, 1e999]", "0.5") "]", "[0].bbox", "not finite");
    EXPECT_BAD_DT("[" DET(1, "[1, 2, 3, 4]", "-0.5") "]", "[0]: score -0.5 is negative");
    EXPECT_BAD_DT("[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]}]", "[0]: missing required key \"score\"");
    EXPECT_BAD_DT("[" DET(1, "\"1,2,3,4\"", "0.5") "]", "[0].bbox: expected a list of 4 numbers");
    EXPECT_BAD_DT("[" DET(1, "[1, 2, 3, 4]", "\"0.5\"") "]", "[0].score: expected a number, got a string");
    EXPECT_BAD_DT("{\"annotations\": []}", "expected a JSON list of detections");

    char args[1024];
    const char *gt = temp_file("gt.json", gt_text);
    char gt_copy[256];
    snprintf(gt_copy, sizeof gt_copy, "%s", gt);
    snprintf(args, sizeof args, "--gt '%s' --dt '%s/missing.json'", gt_copy, temp_dir);
    EXPECT_BAD(args, "missing.json: cannot open");
    snprintf(args, sizeof args, "--gt '%s' --dt '%s' --max-dets 1,10", gt_copy, temp_file("e.json", "[]"));
    EXPECT_BAD(args, "--max-dets expects three positive integers");
    snprintf(args, sizeof args, "--gt '%s' --dt '%s' --max-dets 10,10,100", gt_copy, temp_file("e.json", "[]"));
    EXPECT_BAD(args, "max_dets must be 3 distinct positive numbers");
    snprintf(args, sizeof args, "--gt '%s'", gt_copy);
    EXPECT_BAD(args, "give --gt and --dt, or --weights and --data");
    snprintf(args, sizeof args, "--gt '%s' --dt '%s' --json '%s/no/such/dir/out.json'", gt_copy,
             temp_file("e.json", "[]"), temp_dir);
    EXPECT_BAD(args, "writing --json", "cannot create");
    EXPECT_BAD("--frobnicate", "unknown option");
    snprintf(args, sizeof args, "--weights '%s' --data '%s' --split bogus", gt_copy, temp_dir);
    EXPECT_BAD(args, "--split must be train, valid or test, got 'bogus'");
}

int main(void) {
    const char *build = getenv("RFDETR_BUILD_DIR");
    snprintf(rfdetr, sizeof rfdetr, "%s/rfdetr", build ? build : "build");
    snprintf(temp_dir, sizeof temp_dir, "/tmp/rfdetr_cli_eval_XXXXXX");
    if (!mkdtemp(temp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_success();
    test_bad_input();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", temp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", temp_dir);
    return test_finish("test_cli_eval");
}
