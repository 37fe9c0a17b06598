/* criterion.c — see criterion.h. */
#include "model/criterion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "core/ops.h"
#include "core/ops_loss.h"
#include "core/ops_vision.h"

rf_criterion_config rf_criterion_defaults(void) {
    rf_criterion_config c = {.matcher = rf_matcher_defaults(), .focal_alpha = 0.25, .coef_class = 1.0,
                             .coef_bbox = 5.0, .coef_giou = 2.0};
    return c;
}

/* Host data of one head's loss: the matched pairs and the constant parts of
 * the classification weights. */
typedef struct head_plan {
    float *pos_w;       /* B*Q*C: t at matched (query, class), else 0 */
    float *neg_keep;    /* B*Q*C: 1 where neg_w = sigmoid(x)^2, 0 at matches */
    float *neg_const;   /* B*Q*C: 1 - t at matches, else 0 */
    int32_t *rows;      /* K matched rows b * Q + q */
    float *target_boxes; /* K x 4 */
    int64_t pairs;
} head_plan;

static void plan_free(head_plan *p) {
    free(p->pos_w);
    free(p->neg_keep);
    free(p->neg_const);
    free(p->rows);
    free(p->target_boxes);
    memset(p, 0, sizeof *p);
}

static rf_status plan_head(const rf_criterion_config *cfg, const float *logits, const float *boxes, int batch,
                           int queries, int classes, int groups, const rf_match_target *targets, head_plan *p) {
    rf_match_result match;
    RF_TRY(rf_match(&cfg->matcher, logits, boxes, batch, queries, classes, groups, targets, &match));
    size_t n = (size_t)batch * queries * classes;
    p->pos_w = calloc(n, sizeof *p->pos_w);
    p->neg_keep = malloc(n * sizeof *p->neg_keep);
    p->neg_const = calloc(n, sizeof *p->neg_const);
    p->rows = malloc((size_t)(match.total + 1) * sizeof *p->rows);
    p->target_boxes = malloc((size_t)(match.total + 1) * 4 * sizeof *p->target_boxes);
    if (!p->pos_w || !p->neg_keep || !p->neg_const || !p->rows || !p->target_boxes) {
        rf_match_result_free(&match);
        plan_free(p);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "criterion: out of host memory (%zu logits)", n);
    }
    for (size_t i = 0; i < n; i++) p->neg_keep[i] = 1.0f;
    double alpha = cfg->focal_alpha;
    for (int b = 0; b < batch; b++) {
        const rf_match_image *img = &match.images[b];
        for (int k = 0; k < img->count; k++) {
            int q = img->query[k], t = img->target[k];
            size_t row = (size_t)b * queries + q;
            int cls = targets[b].labels[t];
            size_t at = row * classes + cls;
            const float *tb = targets[b].boxes + (size_t)t * 4;
            /* RF-DETR: prob^alpha * IoU^(1 - alpha) of the detached prediction, at least 0.01. */
            double prob = 1.0 / (1.0 + exp(-(double)logits[at]));
            double iou = rf_box_iou_cxcywh(boxes + row * 4, tb);
            double tv = pow(prob, alpha) * pow(iou, 1.0 - alpha);
            if (!(tv >= 0.01)) tv = 0.01; /* clamp(min=0.01); NaN IoU of a degenerate box too */
            p->pos_w[at] = (float)tv;
            p->neg_keep[at] = 0.0f;
            p->neg_const[at] = (float)(1.0 - tv);
            p->rows[p->pairs] = (int32_t)row;
            memcpy(p->target_boxes + p->pairs * 4, tb, 4 * sizeof(float));
            p->pairs++;
        }
    }
    rf_match_result_free(&match);
    return RF_OK;
}

/* Sum of a tensor's elements as a (1) tensor, divided by num_boxes. */
static rf_tensor *normalised_sum(rf_ctx *ctx, rf_tensor *x, double num_boxes) {
    return rf_scale(ctx, rf_sum_all(ctx, x), (float)(1.0 / num_boxes));
}

static rf_tensor *head_loss(rf_ctx *ctx, const rf_criterion_config *cfg, const rf_head_output *h, int groups,
                            const rf_match_target *targets, int batch, double num_boxes, rf_tensor *parts[3]) {
    rf_tensor *logits = rf_contiguous(ctx, h->logits), *boxes = rf_contiguous(ctx, h->boxes);
    if (!logits || !boxes) return NULL;
    if (logits->ndim != 3 || boxes->ndim != 3 || boxes->shape[2] != 4 || logits->shape[0] != batch ||
        boxes->shape[0] != batch || logits->shape[1] != boxes->shape[1])
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "criterion: a head must give logits (B, Q, C) and boxes (B, Q, 4)");
    int queries = (int)logits->shape[1], classes = (int)logits->shape[2];
    size_t n = (size_t)batch * queries * classes;
    float *host_logits = malloc(n * sizeof *host_logits);
    float *host_boxes = malloc((size_t)batch * queries * 4 * sizeof *host_boxes);
    head_plan plan = {0};
    rf_status s = (host_logits && host_boxes) ? RF_OK : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "criterion: out of host memory");
    if (s == RF_OK) s = rf_tensor_download(logits, host_logits);
    if (s == RF_OK) s = rf_tensor_download(boxes, host_boxes);
    if (s == RF_OK) s = plan_head(cfg, host_logits, host_boxes, batch, queries, classes, groups, targets, &plan);
    free(host_logits);
    free(host_boxes);
    if (s != RF_OK) return rf_ctx_fail_last(ctx, s);

    /* Classification: neg_w = sigmoid(x)^2 where unmatched (with its
     * gradient), the constant 1 - t where matched. */
    rf_tensor *pos_w = rf_ctx_from_host(ctx, RF_F32, 3, logits->shape, plan.pos_w);
    rf_tensor *keep = rf_ctx_from_host(ctx, RF_F32, 3, logits->shape, plan.neg_keep);
    rf_tensor *neg_const = rf_ctx_from_host(ctx, RF_F32, 3, logits->shape, plan.neg_const);
    rf_tensor *sig = rf_sigmoid(ctx, logits);
    rf_tensor *neg_w = rf_add(ctx, rf_mul(ctx, rf_mul(ctx, sig, sig), keep), neg_const);
    rf_tensor *loss_ce = normalised_sum(ctx, rf_bce_weighted(ctx, logits, pos_w, neg_w), num_boxes);

    /* Boxes of the matched queries. */
    rf_tensor *loss_bbox, *loss_giou;
    if (plan.pairs > 0) {
        int64_t k = plan.pairs;
        rf_tensor *rows = rf_ctx_from_host(ctx, RF_I32, 1, (int64_t[]){k}, plan.rows);
        rf_tensor *flat = rf_reshape(ctx, boxes, 2, (int64_t[]){(int64_t)batch * queries, 4});
        rf_tensor *pred = rf_gather_rows(ctx, flat, rows);
        rf_tensor *target = rf_ctx_from_host(ctx, RF_F32, 2, (int64_t[]){k, 4}, plan.target_boxes);
        rf_tensor *l1 = NULL, *giou = NULL;
        rf_box_losses(ctx, pred, target, &l1, &giou);
        loss_bbox = normalised_sum(ctx, l1, num_boxes);
        loss_giou = normalised_sum(ctx, giou, num_boxes);
    } else {
        /* No targets: zero terms that still join the graph harmlessly. */
        loss_bbox = rf_scale(ctx, rf_sum_all(ctx, boxes), 0.0f);
        loss_giou = rf_scale(ctx, rf_sum_all(ctx, boxes), 0.0f);
    }
    plan_free(&plan);
    parts[0] = loss_ce;
    parts[1] = loss_bbox;
    parts[2] = loss_giou;
    rf_tensor *total = rf_scale(ctx, loss_ce, (float)cfg->coef_class);
    total = rf_add(ctx, total, rf_scale(ctx, loss_bbox, (float)cfg->coef_bbox));
    return rf_add(ctx, total, rf_scale(ctx, loss_giou, (float)cfg->coef_giou));
}

rf_tensor *rf_criterion(rf_ctx *ctx, const rf_criterion_config *cfg, const rf_head_output *heads, int n_heads,
                        int groups, const rf_match_target *targets, int batch, double num_boxes, rf_loss_terms *terms) {
    if (ctx->status != RF_OK) return NULL;
    if (n_heads < 1) return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "criterion: no prediction heads");
    if (!(num_boxes >= 1.0)) num_boxes = 1.0; /* RF-DETR clamps the normaliser at 1 */
    rf_tensor *total = NULL;
    rf_tensor *parts[64][3];
    if (n_heads > 64) return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "criterion: %d heads (at most 64)", n_heads);
    for (int h = 0; h < n_heads; h++) {
        rf_tensor *l = head_loss(ctx, cfg, &heads[h], groups, targets, batch, num_boxes, parts[h]);
        total = h == 0 ? l : rf_add(ctx, total, l);
    }
    if (!total) return NULL;
    if (terms) {
        for (int h = 0; h < n_heads; h++) {
            float v[3] = {0};
            for (int k = 0; k < 3; k++) {
                rf_status s = rf_tensor_download(parts[h][k], &v[k]);
                if (s != RF_OK) return rf_ctx_fail_last(ctx, s);
            }
            terms[h] = (rf_loss_terms){v[0], v[1], v[2]};
        }
    }
    return total;
}
