/* test_coco_eval.c — the COCO evaluator against numbers pycocotools
 * computed (tests/eval/expected.h, written by tests/eval/oracle.py) on every
 * shared fixture and every edge case in tests/data/eval/, |Δ| <= 1e-12 for
 * every stat (they agree bit for bit); numpy's thresholds and sums; the
 * in-memory API (batches, threads, empty input, bad detections). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/coco.h"
#include "eval/coco_eval.h"
#include "eval/expected.h"
#include "test_util.h"

#define TOLERANCE 1e-12

static double worst_difference;

static void check_close(double got, double want, const char *what, const char *name, const int *max_dets) {
    double d = fabs(got - want);
    if (d > worst_difference) worst_difference = d;
    CHECK(d <= TOLERANCE, "%s (maxDets %d,%d,%d): %s = %.17g, pycocotools %.17g", name, max_dets[0], max_dets[1],
          max_dets[2], what, got, want);
}

static void test_numpy_replicas(void) {
    for (int t = 0; t < RF_COCO_IOU_THRESHOLDS; t++)
        CHECK(rf_coco_iou_threshold(t) == expected_iou_thresholds[t], "iouThrs[%d] %a != numpy %a", t,
              rf_coco_iou_threshold(t), expected_iou_thresholds[t]);
    for (int r = 0; r < RF_COCO_RECALL_THRESHOLDS; r++)
        CHECK(rf_coco_recall_threshold(r) == expected_recall_thresholds[r], "recThrs[%d] %a != numpy %a", r,
              rf_coco_recall_threshold(r), expected_recall_thresholds[r]);
    /* A few of numpy's thresholds are not the decimals they look like. */
    CHECK(rf_coco_recall_threshold(35) != 0.35 && rf_coco_recall_threshold(95) != 0.95, "linspace's 35 * 0.01 is not 0.35");
    CHECK(rf_coco_iou_threshold(8) != 0.9, "linspace's 0.5 + 8 * 0.05 is 0.8999999999999999");
    CHECK(rf_coco_iou_threshold(5) == 0.75, "0.75 is exact (pycocotools' AP75 looks it up with ==)");
    double *values = malloc(80800 * sizeof *values);
    for (size_t i = 0; i < 80800; i++) values[i] = ((double)((i * 7919) % 1000) / 997.0) * pow(10.0, (double)(i % 7) - 3);
    for (size_t j = 0; j < sizeof expected_pairwise_sums / sizeof expected_pairwise_sums[0]; j++) {
        size_t n = expected_pairwise_sums[j].n;
        double got = rf_numpy_pairwise_sum(values, n);
        CHECK(got == expected_pairwise_sums[j].sum, "pairwise sum of %zu: %a != numpy %a", n, got,
              expected_pairwise_sums[j].sum);
    }
    free(values);
}

static void check_case(const expected_case *c, const rf_coco_eval_result *r) {
    char what[96];
    for (int i = 0; i < RF_COCO_STATS; i++) {
        snprintf(what, sizeof what, "stats[%d]", i);
        check_close(r->stats[i], c->stats[i], what, c->name, c->max_dets);
    }
    check_close(r->f1_threshold, c->f1_threshold, "f1 threshold", c->name, c->max_dets);
    check_close(r->precision, c->precision, "macro precision", c->name, c->max_dets);
    check_close(r->recall, c->recall, "macro recall", c->name, c->max_dets);
    check_close(r->f1, c->f1, "macro F1", c->name, c->max_dets);
    CHECK(r->class_count == c->class_count, "%s: %zu classes, pycocotools %zu", c->name, r->class_count,
          c->class_count);
    for (size_t k = 0; k < r->class_count && k < c->class_count; k++) {
        const rf_coco_class_result *g = &r->classes[k];
        const expected_class *w = &c->classes[k];
        CHECK(g->category_id == w->id && g->gt_count == w->gt_boxes && g->detection_count == w->detections,
              "%s class %zu: id %lld gt %zu dets %zu, expected %lld %zu %zu", c->name, k, (long long)g->category_id,
              g->gt_count, g->detection_count, (long long)w->id, w->gt_boxes, w->detections);
        snprintf(what, sizeof what, "class %lld AP", (long long)w->id);
        check_close(g->ap, w->ap, what, c->name, c->max_dets);
        snprintf(what, sizeof what, "class %lld AP50", (long long)w->id);
        check_close(g->ap50, w->ap50, what, c->name, c->max_dets);
        snprintf(what, sizeof what, "class %lld precision", (long long)w->id);
        check_close(g->precision, w->precision, what, c->name, c->max_dets);
        snprintf(what, sizeof what, "class %lld recall", (long long)w->id);
        check_close(g->recall, w->recall, what, c->name, c->max_dets);
        snprintf(what, sizeof what, "class %lld F1", (long long)w->id);
        check_close(g->f1, w->f1, what, c->name, c->max_dets);
    }
}

static int same_result(const rf_coco_eval_result *a, const rf_coco_eval_result *b) {
    size_t K = a->category_count;
    size_t np = (size_t)RF_COCO_IOU_THRESHOLDS * RF_COCO_RECALL_THRESHOLDS * K * RF_COCO_AREA_RANGES * RF_COCO_MAX_DETS;
    size_t nr = (size_t)RF_COCO_IOU_THRESHOLDS * K * RF_COCO_AREA_RANGES * RF_COCO_MAX_DETS;
    if (K != b->category_count || memcmp(a->stats, b->stats, sizeof a->stats) != 0) return 0;
    if (memcmp(a->precision_curve, b->precision_curve, np * sizeof(double)) != 0) return 0;
    if (memcmp(a->recall_curve, b->recall_curve, nr * sizeof(double)) != 0) return 0;
    for (size_t k = 0; k < K; k++) {
        const rf_coco_class_result *x = &a->classes[k], *y = &b->classes[k];
        if (x->ap != y->ap || x->ap50 != y->ap50 || x->precision != y->precision || x->recall != y->recall ||
            x->f1 != y->f1 || x->detection_count != y->detection_count)
            return 0;
    }
    return a->f1 == b->f1 && a->f1_threshold == b->f1_threshold;
}

/* Every stored case, from files, through the one-call API; the ones with
 * many detections again with 1 vs 2 threads and in batches. */
static void test_expected_cases(void) {
    size_t n_cases = sizeof expected_cases / sizeof expected_cases[0], checked = 0, absent = 0;
    for (size_t i = 0; i < n_cases; i++) {
        const expected_case *c = &expected_cases[i];
        if (access(c->gt, R_OK) != 0) {
            absent++;
            continue;
        }
        rf_coco_dataset *gt = NULL;
        rf_coco_detection *dets = NULL;
        size_t count = 0;
        CHECK_OK(rf_coco_load(c->gt, &gt));
        CHECK_OK(rf_coco_load_detections(c->dt, gt, &dets, &count));
        if (!gt) continue;
        rf_coco_eval_params params;
        rf_coco_eval_params_default(&params);
        memcpy(params.max_dets, c->max_dets, sizeof params.max_dets);
        params.threads = 1;
        rf_coco_eval_result *one = NULL, *two = NULL, *batched = NULL;
        CHECK_OK(rf_coco_evaluate(gt, dets, count, &params, &one));
        if (one) {
            check_case(c, one);
            checked++;
        }
        /* Threads and batching must not change a bit. */
        params.threads = 2;
        CHECK_OK(rf_coco_evaluate(gt, dets, count, &params, &two));
        rf_coco_evaluator *ev = NULL;
        CHECK_OK(rf_coco_evaluator_create(gt, &params, &ev));
        for (size_t at = 0; ev && at < count; at += 97)
            CHECK_OK(rf_coco_evaluator_add(ev, dets + at, count - at < 97 ? count - at : 97));
        if (ev) CHECK_OK(rf_coco_evaluator_compute(ev, &batched));
        if (one && two && batched)
            CHECK(same_result(one, two) && same_result(one, batched),
                  "%s: threads or batches changed the result", c->name);
        rf_coco_evaluator_free(ev);
        rf_coco_eval_result_free(one);
        rf_coco_eval_result_free(two);
        rf_coco_eval_result_free(batched);
        free(dets);
        rf_coco_free(gt);
    }
    printf("test_coco_eval: %zu of %zu cases checked against pycocotools, largest |difference| %.3g\n", checked,
           n_cases, worst_difference);
    if (absent) {
        char part[64];
        snprintf(part, sizeof part, "%zu cases from ../shared/coco_fixtures", absent);
        test_skip_part("test_coco_eval", part, "their files are not found", TEST_ENABLE_SHARED);
    }
    CHECK(checked >= 9 * 2, "the edge cases in tests/data/eval must always be checked (%zu)", checked);
}

static rf_coco_dataset *parse_gt(const char *json) {
    rf_coco_dataset *gt = NULL;
    CHECK_OK(rf_coco_parse(json, strlen(json), "inline.json", &gt));
    return gt;
}

static void test_api(void) {
    rf_coco_dataset *gt = parse_gt(
        "{\"images\": [{\"id\": 1}, {\"id\": 2}], \"categories\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 2, \"name\": \"b\"}],"
        " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 10, 10], \"area\": 100},"
        "                  {\"id\": 2, \"image_id\": 2, \"category_id\": 1, \"bbox\": [0, 0, 50, 50], \"area\": 2500}]}");
    if (!gt) return;

    /* Empty detections: 0 where an area range has GT, -1 where it has none. */
    rf_coco_eval_result *r = NULL;
    CHECK_OK(rf_coco_evaluate(gt, NULL, 0, NULL, &r));
    if (r) {
        static const double want[RF_COCO_STATS] = {0, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, -1};
        CHECK(memcmp(r->stats, want, sizeof want) == 0, "empty detections: stats %g %g %g %g %g %g ...",
              r->stats[0], r->stats[1], r->stats[2], r->stats[3], r->stats[4], r->stats[5]);
        CHECK(r->class_count == 2 && r->classes[0].ap == 0 && r->classes[1].ap == -1, "per class: 0 with GT, -1 without");
        CHECK(r->f1 == 0 && r->f1_threshold == 0 && r->detection_count == 0, "nothing found at any threshold");
        CHECK(r->max_dets[0] == 1 && r->max_dets[1] == 10 && r->max_dets[2] == 100, "default max_dets");
        rf_coco_eval_result_free(r);
    }

    /* A perfect detector: every AP and AR 1 where there is GT. */
    rf_coco_detection perfect[2] = {{.image_id = 2, .category_id = 1, .bbox = {0, 0, 50, 50}, .score = 0.5},
                                    {.image_id = 1, .category_id = 1, .bbox = {0, 0, 10, 10}, .score = 0.9}};
    rf_coco_eval_params params;
    rf_coco_eval_params_default(&params);
    params.max_dets[0] = 500, params.max_dets[1] = 1, params.max_dets[2] = 10; /* sorted like pycocotools */
    CHECK_OK(rf_coco_evaluate(gt, perfect, 2, &params, &r));
    if (r) {
        CHECK(r->max_dets[0] == 1 && r->max_dets[1] == 10 && r->max_dets[2] == 500, "max_dets sorted");
        /* precision = tp / (tp + fp + eps): with a single true positive that is
         * 1 / (1 + 2^-52), one ulp below 1, in pycocotools as here. */
        double one_tp = 1 / (1 + 2.220446049250313e-16);
        CHECK(r->stats[0] == 1 && r->stats[1] == 1 && r->stats[3] == one_tp && r->stats[4] == one_tp &&
                  r->stats[5] == -1,
              "perfect AP: %.17g %.17g %.17g %.17g %.17g", r->stats[0], r->stats[1], r->stats[3], r->stats[4], r->stats[5]);
        CHECK(r->stats[6] == 1 && r->stats[7] == 1, "one GT per image: AR@1 is 1, got %g", r->stats[6]);
        CHECK(r->f1 == 1 && r->precision == 1 && r->recall == 1 && r->f1_threshold == 0, "perfect F1 from threshold 0");
        rf_coco_eval_result_free(r);
    }

    /* Bad detections through the in-memory API name the detection. */
    rf_coco_evaluator *ev = NULL;
    CHECK_OK(rf_coco_evaluator_create(gt, NULL, &ev));
    struct {
        rf_coco_detection d;
        const char *why;
    } bad[] = {
        {{.image_id = 3, .category_id = 1, .bbox = {0, 0, 1, 1}, .score = 1}, "not in the ground truth"},
        {{.image_id = 1, .category_id = 1, .bbox = {0, 0, NAN, 1}, .score = 1}, "NaN or infinite"},
        {{.image_id = 1, .category_id = 1, .bbox = {0, 0, 1, 1}, .score = INFINITY}, "NaN or infinite"},
        {{.image_id = 1, .category_id = 1, .bbox = {0, 0, -1, 1}, .score = 1}, "negative width or height"},
        {{.image_id = 1, .category_id = 1, .bbox = {0, 0, 1, 1}, .score = -0.1}, "negative score"},
    };
    for (size_t i = 0; ev && i < sizeof bad / sizeof bad[0]; i++) {
        rf_coco_detection batch[2] = {perfect[0], bad[i].d};
        rf_status s = rf_coco_evaluator_add(ev, batch, 2);
        CHECK(s == RF_ERR_INVALID_ARGUMENT && strstr(rf_last_error(), "detection 1 of this batch") &&
                  strstr(rf_last_error(), bad[i].why),
              "bad detection %zu: %s", i, rf_last_error());
    }
    if (ev) {
        CHECK_OK(rf_coco_evaluator_compute(ev, &r));
        CHECK(r && r->detection_count == 0, "a refused batch adds nothing");
        rf_coco_eval_result_free(r);
    }
    rf_coco_evaluator_free(ev);

    int bad_max_dets[][3] = {{0, 10, 100}, {1, 1, 100}, {-5, 10, 100}};
    for (size_t i = 0; i < 3; i++) {
        rf_coco_eval_params p;
        rf_coco_eval_params_default(&p);
        memcpy(p.max_dets, bad_max_dets[i], sizeof p.max_dets);
        ev = NULL;
        CHECK_STATUS(rf_coco_evaluator_create(gt, &p, &ev), RF_ERR_INVALID_ARGUMENT);
        CHECK(ev == NULL, "no evaluator");
    }
    rf_coco_free(gt);

    /* A GT without categories or images evaluates to -1 everywhere. */
    gt = parse_gt("{\"images\": [{\"id\": 1}]}");
    if (gt) {
        CHECK_OK(rf_coco_evaluate(gt, NULL, 0, NULL, &r));
        if (r) CHECK(r->stats[0] == -1 && r->stats[11] == -1 && r->class_count == 0, "no categories: -1");
        rf_coco_eval_result_free(r);
        rf_coco_free(gt);
    }
}

int main(void) {
    test_numpy_replicas();
    test_expected_cases();
    test_api();
    return test_finish("test_coco_eval");
}
