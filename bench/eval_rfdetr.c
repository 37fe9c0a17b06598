/* eval_rfdetr.c — times rfdetr.c's COCO evaluation in phases, for
 * bench/eval.py: load GT, load detections, evaluate (prepare, match,
 * accumulate, summarize, per-class). Prints one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "data/coco.h"
#include "eval/coco_eval.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s GT.json DT.json THREADS\n", argv[0]);
        return 2;
    }
    rf_coco_eval_params params;
    rf_coco_eval_params_default(&params);
    params.threads = atoi(argv[3]);
    double t0 = now();
    rf_coco_dataset *gt = NULL;
    rf_coco_detection *dets = NULL;
    size_t count = 0;
    rf_coco_eval_result *r = NULL;
    if (rf_coco_load(argv[1], &gt) != RF_OK) goto fail;
    double t1 = now();
    if (rf_coco_load_detections(argv[2], gt, &dets, &count) != RF_OK) goto fail;
    double t2 = now();
    if (rf_coco_evaluate(gt, dets, count, &params, &r) != RF_OK) goto fail;
    double t3 = now();
    printf("{\"load_gt\": %.6f, \"load_dt\": %.6f, \"evaluate\": %.6f, \"total\": %.6f, \"stats\": [", t1 - t0, t2 - t1,
           t3 - t2, t3 - t0);
    for (int i = 0; i < RF_COCO_STATS; i++) printf("%s%.17g", i ? ", " : "", r->stats[i]);
    printf("]}\n");
    rf_coco_eval_result_free(r);
    free(dets);
    rf_coco_free(gt);
    return 0;
fail:
    fprintf(stderr, "%s\n", rf_last_error());
    return 1;
}
