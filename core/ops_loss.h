/* ops_loss.h — differentiable loss terms of RF-DETR: the weighted sigmoid
 * BCE (its IoU-aware classification loss) and the L1 + GIoU box losses.
 * Per-element results: the caller sums and normalises (by num_boxes x
 * groups), so every term can be logged on its own. Conventions as
 * core/ops.h (device checks, arena outputs, tape nodes, sticky errors). */
#ifndef RFDETR_OPS_LOSS_H
#define RFDETR_OPS_LOSS_H

#include "core/tensor.h"

/* loss = -pos_w * log(sigmoid(logits)) - neg_w * log(1 - sigmoid(logits)),
 * elementwise, computed stably; logits, pos_w, neg_w share one shape (...)
 * and so does the result. The gradient flows into the logits, and into a
 * weight when it requires one (RF-DETR's neg_w = sigmoid(logits)^2 is not
 * detached); weights built without gradients act as constants. */
rf_tensor *rf_bce_weighted(rf_ctx *ctx, rf_tensor *logits, rf_tensor *pos_w, rf_tensor *neg_w);

/* Matched box pairs, pred and target (N, 4) in cxcywh: returns the (2, N)
 * tensor whose row 0 is l1 (sum of |pred - target| per pair) and row 1 giou
 * (1 - GIoU per pair, RF-DETR's box_ops); *l1 and *giou (when not NULL)
 * receive those rows as (N) views. The gradient flows into pred only: the
 * targets are data. */
rf_tensor *rf_box_losses(rf_ctx *ctx, rf_tensor *pred, rf_tensor *target, rf_tensor **l1, rf_tensor **giou);

#endif /* RFDETR_OPS_LOSS_H */
