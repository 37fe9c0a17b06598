/* test_matcher.c — the host Hungarian matcher against RF-DETR's own
 * HungarianMatcher (rfdetr package): the assignment for random logits,
 * boxes and targets, with query groups, an image without targets and one
 * with more targets than a group has queries. The checked-in case always
 * runs; `--python SEED` regenerates a fresh case with the rfdetr package
 * and skips (77) when it is not installed. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "model/matcher.h"
#include "test_util.h"

static bool read_floats(FILE *f, float *out, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fscanf(f, "%f", &out[i]) != 1) return false;
    return true;
}

static void check_case(const char *path) {
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f) return;
    int batch, queries, classes, groups;
    CHECK(fscanf(f, "%d %d %d %d", &batch, &queries, &classes, &groups) == 4, "header");
    float *logits = malloc((size_t)batch * queries * classes * sizeof *logits);
    float *boxes = malloc((size_t)batch * queries * 4 * sizeof *boxes);
    CHECK(read_floats(f, logits, (size_t)batch * queries * classes) && read_floats(f, boxes, (size_t)batch * queries * 4),
          "inputs");
    rf_match_target targets[16];
    float *tboxes[16];
    int32_t *tlabels[16];
    for (int b = 0; b < batch; b++) {
        int n = 0;
        CHECK(fscanf(f, "%d", &n) == 1, "target count");
        tboxes[b] = malloc((size_t)(n * 4 + 1) * sizeof(float));
        tlabels[b] = malloc((size_t)(n + 1) * sizeof(int32_t));
        read_floats(f, tboxes[b], (size_t)n * 4);
        for (int t = 0; t < n; t++) CHECK(fscanf(f, "%d", &tlabels[b][t]) == 1, "label");
        targets[b] = (rf_match_target){n, tboxes[b], tlabels[b]};
    }
    rf_matcher_config cfg = rf_matcher_defaults();
    rf_match_result r;
    CHECK_OK(rf_match(&cfg, logits, boxes, batch, queries, classes, groups, targets, &r));
    for (int b = 0; b < batch; b++) {
        int n = 0;
        CHECK(fscanf(f, "%d", &n) == 1, "pair count");
        CHECK(r.images[b].count == n, "image %d: %d pairs, RF-DETR %d", b, r.images[b].count, n);
        /* RF-DETR's pairs are sorted by query here; ours come group by group
         * in query order, which is the same order. */
        for (int k = 0; k < n; k++) {
            int q, t;
            CHECK(fscanf(f, "%d %d", &q, &t) == 2, "pair");
            if (k < r.images[b].count)
                CHECK(r.images[b].query[k] == q && r.images[b].target[k] == t, "image %d pair %d: (%d, %d), RF-DETR (%d, %d)",
                      b, k, r.images[b].query[k], r.images[b].target[k], q, t);
        }
    }
    rf_match_result_free(&r);
    for (int b = 0; b < batch; b++) {
        free(tboxes[b]);
        free(tlabels[b]);
    }
    free(logits);
    free(boxes);
    fclose(f);
}

static void check_errors(void) {
    float logits[2 * 3] = {0}, boxes[2 * 4] = {0.5f, 0.5f, 0.2f, 0.2f, 0.5f, 0.5f, 0.2f, 0.2f};
    int32_t bad_label = 7;
    float tb[4] = {0.5f, 0.5f, 0.1f, 0.1f};
    rf_match_target t = {1, tb, &bad_label};
    rf_matcher_config cfg = rf_matcher_defaults();
    rf_match_result r;
    CHECK_STATUS(rf_match(&cfg, logits, boxes, 1, 2, 3, 1, &t, &r), RF_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(rf_match(&cfg, logits, boxes, 1, 2, 3, 4, &t, &r), RF_ERR_INVALID_ARGUMENT); /* 2 queries, 4 groups */
    /* NaN logits are replaced, not fatal: training goes on as in RF-DETR. */
    int32_t label = 1;
    float nan_logits[2 * 3] = {NAN, NAN, NAN, 0, 0, 0};
    t.labels = &label;
    CHECK_OK(rf_match(&cfg, nan_logits, boxes, 1, 2, 3, 1, &t, &r));
    CHECK(r.sanitized == 1 && r.images[0].count == 1 && r.images[0].query[0] == 1, "NaN query avoided");
    rf_match_result_free(&r);
}

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "--python")) {
        char cmd[512], path[] = "/tmp/rfdetr_matcher_case_XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0) return 1;
        close(fd);
        snprintf(cmd, sizeof cmd, "python3 -c 'import rfdetr, torch' 2>/dev/null && python3 tests/fixtures/make_matcher_case.py %s --seed %s >/dev/null 2>&1", path, argv[2]);
        if (system(cmd) != 0) {
            unlink(path);
            return test_skip("test_matcher", "python3 cannot import rfdetr and torch (RF-DETR's HungarianMatcher is the oracle)",
                             TEST_ENABLE_RFDETR);
        }
        check_case(path);
        unlink(path);
    } else {
        check_case("tests/fixtures/matcher_case.txt");
        check_errors();
    }
    return test_finish("test_matcher");
}
