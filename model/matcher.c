/* matcher.c — see matcher.h. */
#include "model/matcher.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "model/lsa.h"

rf_matcher_config rf_matcher_defaults(void) { return (rf_matcher_config){2.0, 5.0, 2.0, 0.25}; }

static void xyxy(const float *b, double *o) {
    o[0] = (double)b[0] - 0.5 * b[2];
    o[1] = (double)b[1] - 0.5 * b[3];
    o[2] = (double)b[0] + 0.5 * b[2];
    o[3] = (double)b[1] + 0.5 * b[3];
}

/* IoU and the union, as torchvision's box_iou computes them. */
static double iou_union(const double *a, const double *b, double *union_out) {
    double area_a = (a[2] - a[0]) * (a[3] - a[1]), area_b = (b[2] - b[0]) * (b[3] - b[1]);
    double w = fmin(a[2], b[2]) - fmax(a[0], b[0]), h = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    double inter = (w > 0 ? w : 0) * (h > 0 ? h : 0);
    double uni = area_a + area_b - inter;
    *union_out = uni;
    return inter / uni;
}

double rf_box_iou_cxcywh(const float *a, const float *b) {
    double pa[4], pb[4], u;
    xyxy(a, pa);
    xyxy(b, pb);
    return iou_union(pa, pb, &u);
}

double rf_box_giou_cxcywh(const float *a, const float *b) {
    double pa[4], pb[4], u;
    xyxy(a, pa);
    xyxy(b, pb);
    double iou = iou_union(pa, pb, &u);
    double w = fmax(pa[2], pb[2]) - fmin(pa[0], pb[0]), h = fmax(pa[3], pb[3]) - fmin(pa[1], pb[1]);
    double enclosing = (w > 0 ? w : 0) * (h > 0 ? h : 0);
    return iou - (enclosing - u) / enclosing;
}

/* log(sigmoid(x)) without overflow. */
static double log_sigmoid(double x) { return (x < 0 ? x : 0) - log1p(exp(-fabs(x))); }

/* RF-DETR's focal classification cost in the logsigmoid form. */
static double focal_cost(double logit, double alpha) {
    double p = 1.0 / (1.0 + exp(-logit));
    double negative = (1 - alpha) * p * p * -log_sigmoid(-logit);
    double positive = alpha * (1 - p) * (1 - p) * -log_sigmoid(logit);
    return positive - negative;
}

void rf_match_result_free(rf_match_result *r) {
    if (!r->images) return;
    for (int b = 0; b < r->batch; b++) {
        free(r->images[b].query);
        free(r->images[b].target);
    }
    free(r->images);
    memset(r, 0, sizeof *r);
}

rf_status rf_match(const rf_matcher_config *cfg, const float *logits, const float *boxes, int batch, int queries,
                   int classes, int groups, const rf_match_target *targets, rf_match_result *out) {
    memset(out, 0, sizeof *out);
    if (batch < 0 || queries < 0 || classes < 1 || groups < 1 || queries % groups)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "matcher: %d queries cannot be split into %d groups", queries, groups);
    /* Costs of every image, queries x its targets, one block after another,
     * so the non-finite replacement sees the whole batch as RF-DETR's does. */
    size_t total_cost = 0;
    for (int b = 0; b < batch; b++) {
        if (targets[b].count < 0) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "matcher: image %d has a negative count", b);
        for (int t = 0; t < targets[b].count; t++)
            if (targets[b].labels[t] < 0 || targets[b].labels[t] >= classes)
                return RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                                "matcher: image %d target %d has class %d, the model predicts classes 0..%d", b, t,
                                targets[b].labels[t], classes - 1);
        total_cost += (size_t)queries * (size_t)targets[b].count;
    }
    double *cost = malloc((total_cost ? total_cost : 1) * sizeof *cost);
    out->images = calloc((size_t)(batch ? batch : 1), sizeof *out->images);
    out->batch = batch;
    if (!cost || !out->images) {
        free(cost);
        free(out->images);
        out->images = NULL;
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "matcher: out of host memory");
    }
    double *block = cost;
    for (int b = 0; b < batch; b++) {
        const rf_match_target *tg = &targets[b];
        for (int q = 0; q < queries; q++) {
            const float *lq = logits + ((size_t)b * queries + q) * classes;
            const float *bq = boxes + ((size_t)b * queries + q) * 4;
            for (int t = 0; t < tg->count; t++) {
                const float *bt = tg->boxes + (size_t)t * 4;
                double l1 = 0;
                for (int k = 0; k < 4; k++) l1 += fabs((double)bq[k] - bt[k]);
                block[(size_t)q * tg->count + t] = cfg->cost_bbox * l1 +
                                                   cfg->cost_class * focal_cost(lq[tg->labels[t]], cfg->focal_alpha) -
                                                   cfg->cost_giou * rf_box_giou_cxcywh(bq, bt);
            }
        }
        block += (size_t)queries * tg->count;
    }
    out->sanitized = (int64_t)rf_lsa_replace_nonfinite(cost, total_cost);

    int per_group = queries / groups;
    rf_status s = RF_OK;
    int *assignment = malloc((size_t)(per_group ? per_group : 1) * sizeof *assignment);
    double *sub = NULL;
    block = cost;
    for (int b = 0; b < batch && s == RF_OK; b++) {
        int n = targets[b].count;
        int pairs_per_group = n < per_group ? n : per_group;
        rf_match_image *img = &out->images[b];
        img->query = malloc((size_t)(pairs_per_group * groups + 1) * sizeof *img->query);
        img->target = malloc((size_t)(pairs_per_group * groups + 1) * sizeof *img->target);
        sub = realloc(sub, ((size_t)per_group * n + 1) * sizeof *sub);
        if (!assignment || !img->query || !img->target || !sub) {
            s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "matcher: out of host memory");
            break;
        }
        for (int g = 0; g < groups && n > 0 && s == RF_OK; g++) {
            /* The group's rows are contiguous in the image block. */
            memcpy(sub, block + (size_t)g * per_group * n, (size_t)per_group * n * sizeof *sub);
            s = rf_lsa_solve(sub, per_group, n, assignment);
            for (int r = 0; r < per_group && s == RF_OK; r++)
                if (assignment[r] >= 0) {
                    img->query[img->count] = g * per_group + r;
                    img->target[img->count] = assignment[r];
                    img->count++;
                }
        }
        out->total += img->count;
        block += (size_t)queries * n;
    }
    free(sub);
    free(assignment);
    free(cost);
    if (s != RF_OK) {
        rf_match_result_free(out);
        return rf_error_prefix(s, "matcher: ");
    }
    return RF_OK;
}
