/* coco_eval.h — COCO bbox evaluation with pycocotools' semantics, number for
 * number, plus the per-class metrics RF-DETR reports in results.json.
 *
 * What "the same as pycocotools" means here (docs/eval.md has the details):
 *  - images: the GT's image ids, sorted, unique; categories: the GT's
 *    category ids, sorted, unique. Detections of other categories are
 *    ignored; detections of images not in the GT are an error (pycocotools
 *    asserts).
 *  - per image and category, detections sorted by score (stable: file
 *    order breaks ties) and cut to the largest maxDets; crowd GT matched with
 *    IoU = intersection / detection area and never counted as missed; area
 *    ranges from the GT "area" field (all, small <= 32², medium, large, bounds
 *    inclusive); greedy matching per IoU threshold, ties going to the later GT;
 *  - thresholds built as numpy builds them (np.linspace), 101-point
 *    interpolated precision with the monotone envelope, -1 where a category
 *    has no GT, means taken with numpy's pairwise summation, so the 12 stats
 *    agree bit for bit;
 *  - pycocotools' quirks are kept: a GT annotation whose id is 0 never counts
 *    as a true positive (its match is stored as the id, and 0 reads as "no
 *    match"), and when GT annotation ids repeat, every one of them is
 *    replaced by the last annotation with that id.
 * One deliberate difference: stats[0] (AP@[.50:.95]) uses max_dets[2] like
 * every other stat, as RF-DETR's patched summarize does; pycocotools
 * hard-codes 100 there, which only differs when max_dets[2] != 100 (it then
 * prints -1).
 *
 * An empty detection list is valid (pycocotools crashes on it): every
 * category with GT then has precision 0 and recall 0, so each stat is 0
 * where its area range has GT and -1 where it has none — exactly what
 * pycocotools gives for detections that match nothing. */
#ifndef RFDETR_EVAL_COCO_EVAL_H
#define RFDETR_EVAL_COCO_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "data/coco.h"
#include "rfdetr.h"

enum {
    RF_COCO_IOU_THRESHOLDS = 10,     /* .50:.05:.95 */
    RF_COCO_RECALL_THRESHOLDS = 101, /* 0:.01:1 */
    RF_COCO_AREA_RANGES = 4,         /* all, small, medium, large */
    RF_COCO_MAX_DETS = 3,
    RF_COCO_STATS = 12,
};

typedef struct rf_coco_eval_params {
    int max_dets[RF_COCO_MAX_DETS]; /* sorted ascending; default 1, 10, 100 (RF-DETR trains with 1, 10, 500) */
    int threads;                    /* worker threads; 0: one per online CPU. Results do not depend on it. */
} rf_coco_eval_params;

void rf_coco_eval_params_default(rf_coco_eval_params *params);

/* One category's row of the per-class table. */
typedef struct rf_coco_class_result {
    int64_t category_id;
    const char *name;       /* owned by the result */
    size_t gt_count;        /* GT boxes that are not crowd regions */
    size_t detection_count; /* detections kept (after max_dets[2] per image) */
    /* AP@[.50:.95] and AP@.50 at area all, max_dets[2]: the mean of the
     * interpolated precision over recall, then over IoU (RF-DETR's
     * definition); -1 without non-crowd GT. */
    double ap, ap50;
    /* At IoU .50 and the confidence threshold that maximizes macro-F1
     * (rf_coco_eval_result.f1_threshold); -1 without non-crowd GT. */
    double precision, recall, f1;
} rf_coco_class_result;

typedef struct rf_coco_eval_result {
    /* pycocotools' order: AP, AP50, AP75, APs, APm, APl, AR@max_dets[0],
     * AR@max_dets[1], AR@max_dets[2], ARs, ARm, ARl; -1 where undefined. */
    double stats[RF_COCO_STATS];
    int max_dets[RF_COCO_MAX_DETS];
    size_t image_count, category_count, gt_count, detection_count;
    rf_coco_class_result *classes; /* one per GT category, by ascending id */
    size_t class_count;
    /* Macro (over categories with non-crowd GT) precision, recall and F1 at
     * IoU .50 at f1_threshold, the first of 0, .01, ..., 1 maximizing macro
     * F1: what RF-DETR's results.json reports. 0 when no category has GT. */
    double f1_threshold, precision, recall, f1;
    /* pycocotools' eval['precision'] [T][R][K][A][M] and eval['recall']
     * [T][K][A][M] (C order, K = class_count), -1 where undefined. */
    double *precision_curve;
    double *recall_curve;
} rf_coco_eval_result;

void rf_coco_eval_result_free(rf_coco_eval_result *result);

/* ---- evaluating detections as they come (the trainer's way) --------------------- */
typedef struct rf_coco_evaluator rf_coco_evaluator;

/* gt is borrowed: it must outlive the evaluator. params may be NULL (defaults). */
rf_status rf_coco_evaluator_create(const rf_coco_dataset *gt, const rf_coco_eval_params *params,
                                   rf_coco_evaluator **out);
/* Adds detections (any images, any order, any number of calls). Order of
 * addition is the "file order" that breaks score ties. An image id absent
 * from the GT, a NaN/infinite value, a negative width/height or score is
 * RF_ERR_INVALID_ARGUMENT naming the detection; nothing of that call is kept. */
rf_status rf_coco_evaluator_add(rf_coco_evaluator *ev, const rf_coco_detection *dets, size_t count);
/* Evaluates everything added so far; the evaluator can take more afterwards. */
rf_status rf_coco_evaluator_compute(rf_coco_evaluator *ev, rf_coco_eval_result **out);
void rf_coco_evaluator_free(rf_coco_evaluator *ev);

/* create + add + compute + free in one call. */
rf_status rf_coco_evaluate(const rf_coco_dataset *gt, const rf_coco_detection *dets, size_t count,
                           const rf_coco_eval_params *params, rf_coco_eval_result **out);

/* The thresholds exactly as numpy's linspace builds them. */
double rf_coco_iou_threshold(int t);
double rf_coco_recall_threshold(int r);

/* Sum of n doubles in numpy's pairwise order (what np.sum / np.mean do on a
 * contiguous float64 array), so means agree to the last bit. */
double rf_numpy_pairwise_sum(const double *values, size_t n);

#endif /* RFDETR_EVAL_COCO_EVAL_H */
