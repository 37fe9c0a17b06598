/* criterion.h — RF-DETR's training loss (SetCriterion with ia_bce_loss).
 *
 * For every prediction head (the final decoder layer, each auxiliary layer,
 * the encoder proposals): match queries to targets per image and query
 * group (model/matcher.h), then
 *   loss_ce   = sum over all logits of the IoU-aware BCE
 *               neg_w * x - log_sigmoid(x) * (pos_w + neg_w)
 *               with pos_w = t and neg_w = 1 - t at matched (query, class)
 *               entries, t = clamp(p^alpha * IoU^(1 - alpha), 0.01)
 *               (detached), and neg_w = sigmoid(x)^2 elsewhere — not
 *               detached, exactly as RF-DETR, so its gradient flows;
 *   loss_bbox = sum of L1 over matched boxes (cxcywh);
 *   loss_giou = sum of 1 - GIoU over matched boxes;
 * each divided by num_boxes (targets in the batch x query groups, at least
 * 1), weighted 1 / 5 / 2 and summed over the heads. Matching runs on the host
 * (logits and boxes are downloaded); the losses run on the device with
 * autograd. */
#ifndef RFDETR_CRITERION_H
#define RFDETR_CRITERION_H

#include "core/tensor.h"
#include "model/matcher.h"

typedef struct rf_criterion_config {
    rf_matcher_config matcher;
    double focal_alpha;          /* 0.25 */
    double coef_class, coef_bbox, coef_giou; /* 1, 5, 2 */
} rf_criterion_config;

rf_criterion_config rf_criterion_defaults(void);

/* One prediction head: logits (B, Q, C) and boxes (B, Q, 4) in normalised
 * cxcywh (after the sigmoid). */
typedef struct rf_head_output {
    rf_tensor *logits, *boxes;
} rf_head_output;

/* Unweighted terms of one head, each already divided by num_boxes. */
typedef struct rf_loss_terms {
    double loss_ce, loss_bbox, loss_giou;
} rf_loss_terms;

/* The weighted total over the heads, a (1) tensor with autograd. terms, when
 * not NULL, receives each head's unweighted terms (n_heads entries; reading
 * them synchronizes the device). num_boxes: RF-DETR's normaliser, computed by
 * the caller over the whole optimizer step (all micro-batches). */
rf_tensor *rf_criterion(rf_ctx *ctx, const rf_criterion_config *config, const rf_head_output *heads, int n_heads,
                        int groups, const rf_match_target *targets, int batch, double num_boxes, rf_loss_terms *terms);

#endif
