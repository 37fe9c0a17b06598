/* test_cli_data.c — `rfdetr make-shapes` and `rfdetr check-data` as a user
 * runs them: exit codes (0 / 2), make-shapes output passing check-data, the
 * same seed writing the same bytes, check-data --json's exact shape (checked
 * with python3's json module when present) and counts, and problems that
 * name the file and the field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fileio.h"
#include "test_util.h"

static char rfdetr[1024];
static char tmp[] = "/tmp/rfdetr_test_cli_data_XXXXXX";

/* Runs a shell command, capturing stdout into out (if given); returns the exit code. */
static int run(const char *cmd, char *out, size_t size) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = 0;
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0)
        if (out && n + 1 < size) {
            size_t k = got < size - 1 - n ? got : size - 1 - n;
            memcpy(out + n, buf, k);
            n += k;
        }
    if (out) out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int have_python_json(void) { return system("python3 -c 'import json' >/dev/null 2>&1") == 0; }

/* check-data --json's output must have exactly these keys; python prints a verdict. */
static void check_json_shape(const char *json_path, const char *expect_splits) {
    if (!have_python_json()) return;
    char cmd[8192], out[4096];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys; d=json.load(open(\"%s\")); "
             "assert sorted(d)==[\"classes\",\"format\",\"num_classes\",\"problems\",\"splits\"], sorted(d); "
             "assert all(sorted(c)==[\"id\",\"name\",\"placeholder\"] for c in d[\"classes\"]); "
             "assert isinstance(d[\"problems\"], list); "
             "assert all(sorted(v)==[\"annotations\",\"categories\",\"images\"] and all(isinstance(x,int) for x in "
             "v.values()) for v in d[\"splits\"].values()); "
             "print(\",\".join(sorted(d[\"splits\"])))'",
             json_path);
    int rc = run(cmd, out, sizeof out);
    CHECK(rc == 0, "check-data --json shape (%s)", json_path);
    if (rc == 0) CHECK(strncmp(out, expect_splits, strlen(expect_splits)) == 0, "splits %s, want %s", out, expect_splits);
}

int main(void) {
    const char *build = getenv("RFDETR_BUILD_DIR");
    snprintf(rfdetr, sizeof rfdetr, "%s/rfdetr", build ? build : "build");
    if (access(rfdetr, X_OK) != 0) {
        char why[1100];
        snprintf(why, sizeof why, "%s is not built", rfdetr);
        return test_skip("test_cli_data", why, "cmake --build build (the rfdetr target)");
    }
    if (!mkdtemp(tmp)) return 1;
    char cmd[8192], out[65536], path[1024];

    /* make-shapes, then check-data passes it. */
    snprintf(cmd, sizeof cmd, "%s make-shapes %s/s --train 20 --valid 5 --test 3 --seed 7 --size 96", rfdetr, tmp);
    CHECK(run(cmd, out, sizeof out) == 0, "make-shapes: %s", out);
    snprintf(cmd, sizeof cmd, "%s check-data %s/s", rfdetr, tmp);
    CHECK(run(cmd, out, sizeof out) == 0, "check-data passes make-shapes output:\n%s", out);
    CHECK(strstr(out, "format: roboflow") && strstr(out, "problems: none") && strstr(out, "circle") &&
              strstr(out, "triangle"),
          "text report:\n%s", out);
    snprintf(path, sizeof path, "%s/s.json", tmp);
    snprintf(cmd, sizeof cmd, "%s check-data %s/s --json > %s", rfdetr, tmp, path);
    CHECK(run(cmd, NULL, 0) == 0, "check-data --json");
    char *json = NULL;
    CHECK_OK(rf_read_file(path, &json, NULL));
    CHECK(json && strstr(json, "\"format\": \"roboflow\"") && strstr(json, "\"train\": {\n      \"images\": 20,") &&
              strstr(json, "\"problems\": []") && strstr(json, "\"num_classes\": 3") &&
              strstr(json, "\"name\": \"circle\"") && strstr(json, "\"name\": \"triangle\""),
          "json:\n%s", json ? json : "");
    free(json);
    check_json_shape(path, "test,train,valid");

    /* Same seed, same bytes; the folder is never overwritten. */
    snprintf(cmd, sizeof cmd, "%s make-shapes %s/s2 --train 20 --valid 5 --test 3 --seed 7 --size 96 --threads 3 "
                              ">/dev/null && diff -r %s/s %s/s2",
             rfdetr, tmp, tmp, tmp);
    CHECK(run(cmd, out, sizeof out) == 0, "same seed, same bytes: %s", out);
    snprintf(cmd, sizeof cmd, "%s make-shapes %s/s 2>&1", rfdetr, tmp);
    CHECK(run(cmd, out, sizeof out) == 2 && strstr(out, "not an empty directory"), "existing folder: %s", out);
    snprintf(cmd, sizeof cmd, "%s make-shapes %s/bad --classes 0 2>&1", rfdetr, tmp);
    CHECK(run(cmd, out, sizeof out) == 2 && strstr(out, "--classes"), "bad --classes: %s", out);
    snprintf(cmd, sizeof cmd, "%s make-shapes 2>&1", rfdetr);
    CHECK(run(cmd, out, sizeof out) == 2, "no DIR: %s", out);
    snprintf(cmd, sizeof cmd, "%s make-shapes --help", rfdetr);
    CHECK(run(cmd, out, sizeof out) == 0 && strstr(out, "--classes"), "help");

    /* The real Roboflow export: its exact counts. */
    if (!rf_file_exists("../shared/datasets/facemask")) {
        test_skip_part("test_cli_data", "check-data on the facemask export's exact counts",
                       "../shared/datasets/facemask not found", TEST_ENABLE_SHARED);
    } else {
        snprintf(path, sizeof path, "%s/facemask.json", tmp);
        snprintf(cmd, sizeof cmd, "%s check-data ../shared/datasets/facemask --json --quick > %s", rfdetr, path);
        CHECK(run(cmd, NULL, 0) == 0, "check-data facemask");
        json = NULL;
        CHECK_OK(rf_read_file(path, &json, NULL));
        CHECK(json && strstr(json, "\"images\": 650,\n      \"annotations\": 3057,\n      \"categories\": 6") &&
                  strstr(json, "\"images\": 132,\n      \"annotations\": 584") &&
                  strstr(json, "\"images\": 86,\n      \"annotations\": 459") && strstr(json, "\"num_classes\": 6") &&
                  strstr(json, "\"name\": \"without_mask\"") && strstr(json, "\"placeholder\": true"),
              "facemask counts and classes:\n%s", json ? json : "");
        free(json);
        check_json_shape(path, "test,train,valid");
        snprintf(cmd, sizeof cmd, "%s check-data ../shared/datasets/facemask --quick", rfdetr);
        CHECK(run(cmd, out, sizeof out) == 0 && strstr(out, "0  Mask   (Roboflow placeholder") &&
                  strstr(out, "5  without_mask") && strstr(out, "6 logits"),
              "facemask classes by id:\n%s", out);
    }

    /* A box outside its image: exit 2, the file and the field named. */
    snprintf(cmd, sizeof cmd,
             "cp -r %s/s %s/outside && sed -i 's/\"bbox\":\\[/\"bbox\":[500,/; s/\"bbox\":\\[500,[^,]*,/\"bbox\":[500,/' "
             "%s/outside/valid/_annotations.coco.json",
             tmp, tmp, tmp);
    CHECK(run(cmd, NULL, 0) == 0, "made a bad dataset");
    snprintf(cmd, sizeof cmd, "%s check-data %s/outside --quick", rfdetr, tmp);
    CHECK(run(cmd, out, sizeof out) == 2 && strstr(out, "valid/_annotations.coco.json: annotations[0].bbox") &&
              strstr(out, "outside"),
          "bbox outside:\n%s", out);
    snprintf(path, sizeof path, "%s/outside.json", tmp);
    snprintf(cmd, sizeof cmd, "%s check-data %s/outside --json --quick > %s", rfdetr, tmp, path);
    CHECK(run(cmd, NULL, 0) == 2, "--json exit code with problems");
    check_json_shape(path, "test,train,valid");

    /* Malformed JSON: line and column; the other splits still reported. */
    snprintf(cmd, sizeof cmd, "printf '{\"images\": [\\n  {\"id\": 1,,}]}' > %s/outside/test/_annotations.coco.json",
             tmp);
    CHECK(run(cmd, NULL, 0) == 0, "wrote malformed JSON");
    snprintf(cmd, sizeof cmd, "%s check-data %s/outside --quick", rfdetr, tmp);
    char train_row[64];
    snprintf(train_row, sizeof train_row, "%-6s %9d", "train", 20);
    CHECK(run(cmd, out, sizeof out) == 2 && strstr(out, "test/_annotations.coco.json:2:") &&
              strstr(out, "malformed JSON") && strstr(out, train_row),
          "malformed JSON:\n%s", out);

    /* Not a dataset; no such folder. */
    snprintf(cmd, sizeof cmd, "%s check-data %s", rfdetr, tmp);
    CHECK(run(cmd, out, sizeof out) == 2 && strstr(out, "not a known dataset layout"), "unknown layout:\n%s", out);
    snprintf(path, sizeof path, "%s/none.json", tmp);
    snprintf(cmd, sizeof cmd, "%s check-data %s/none --json > %s", rfdetr, tmp, path);
    CHECK(run(cmd, NULL, 0) == 2, "missing folder");
    check_json_shape(path, "");

    test_remove_tree(tmp);
    return test_finish("test_cli_data");
}
