/* matcher.h — RF-DETR's Hungarian matcher on the host.
 *
 * For each image and each query group, the cost of pairing query q with
 * target t is
 *     cost_class * focal(q, label_t) + cost_bbox * L1(box_q, box_t)
 *       + cost_giou * -GIoU(xyxy(box_q), xyxy(box_t))
 * with the focal classification cost of RF-DETR (alpha 0.25, gamma 2, in the
 * logsigmoid form), boxes in normalised cxcywh. Non-finite costs are
 * replaced as RF-DETR 1.11 does (model/lsa.h) over the whole batch, then
 * every group of every image is solved exactly by linear sum assignment.
 * Queries are grouped contiguously: group g owns queries
 * [g * Q/G, (g + 1) * Q/G). */
#ifndef RFDETR_MATCHER_H
#define RFDETR_MATCHER_H

#include <stdint.h>

#include "rfdetr.h"

typedef struct rf_matcher_config {
    double cost_class, cost_bbox, cost_giou;
    double focal_alpha;
} rf_matcher_config;

/* RF-DETR's defaults: 2, 5, 2, alpha 0.25. */
rf_matcher_config rf_matcher_defaults(void);

/* The targets of one image. */
typedef struct rf_match_target {
    int count;
    const float *boxes;    /* count x 4, normalised cx cy w h */
    const int32_t *labels; /* count class ids */
} rf_match_target;

/* The pairs of one image: query[k] matched to target[k]. */
typedef struct rf_match_image {
    int count;
    int32_t *query, *target;
} rf_match_image;

typedef struct rf_match_result {
    int batch;
    rf_match_image *images;
    int64_t total; /* pairs over the batch */
    int64_t sanitized; /* non-finite costs replaced */
} rf_match_result;

/* logits: batch x queries x classes, boxes: batch x queries x 4 (host,
 * row-major, cxcywh after the sigmoid). queries must be a multiple of
 * groups. A label outside [0, classes) is RF_ERR_INVALID_ARGUMENT. */
rf_status rf_match(const rf_matcher_config *config, const float *logits, const float *boxes, int batch, int queries,
                   int classes, int groups, const rf_match_target *targets, rf_match_result *out);
void rf_match_result_free(rf_match_result *r);

/* Box helpers shared with the criterion (normalised cxcywh). */
double rf_box_iou_cxcywh(const float *a, const float *b);
double rf_box_giou_cxcywh(const float *a, const float *b);

#endif
