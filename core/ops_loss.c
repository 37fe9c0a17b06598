/* ops_loss.c — the loss ops: validation, launches and tape nodes for the
 * loss kernel family. */
#include "core/ops_loss.h"

#include "core/ops.h"


static bool same_shape(const rf_tensor *a, const rf_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

static rf_tensor *fail_shapes(rf_ctx *ctx, const char *op, const char *what, const rf_tensor *a, const rf_tensor *b) {
    char sa[96], sb[96];
    return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "%s: %s %s and %s", op, what, rf_shape_str(a, sa, sizeof sa),
                       rf_shape_str(b, sb, sizeof sb));
}

/* The gradient of t when it wants one, else fresh scratch of t's shape that
 * the kernel may write (zero-filled: backward kernels accumulate). */
static rf_tensor *grad_or_scratch(rf_ctx *ctx, rf_tensor *t) {
    return t->requires_grad ? rf_grad_of(ctx, t) : rf_ctx_zeros(ctx, RF_F32, t->ndim, t->shape);
}

/* ---- weighted BCE ------------------------------------------------------------------ */

static void bce_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *x = node->in[0], *pw = node->in[1], *nw = node->in[2];
    bool dweights = pw->requires_grad || nw->requires_grad, acc = false;
    rf_tensor *dx = x->requires_grad ? rf_grad_for_write(ctx, x, &acc) : rf_ctx_tensor_like(ctx, x);
    rf_tensor *dpw = dweights ? grad_or_scratch(ctx, pw) : NULL, *dnw = dweights ? grad_or_scratch(ctx, nw) : NULL;
    if (!dx || (dweights && (!dpw || !dnw))) return;
    rf_bce_backward_args a = {.n = rf_tensor_numel(x), .x = rf_tensor_mem(x), .pos_w = rf_tensor_mem(pw),
                              .neg_w = rf_tensor_mem(nw), .dloss = rf_tensor_mem(node->out->grad),
                              .dx = rf_tensor_mem(dx), .accumulate = acc, .has_dweights = dweights};
    if (dweights) {
        a.dpos_w = rf_tensor_mem(dpw);
        a.dneg_w = rf_tensor_mem(dnw);
    }
    if (a.n) rf_op_ok(ctx, rf_kernel_bce_backward(ctx->device, &a));
}

rf_tensor *rf_bce_weighted(rf_ctx *ctx, rf_tensor *logits, rf_tensor *pos_w, rf_tensor *neg_w) {
    const char *op = "bce_weighted";
    if (!rf_op_check_f32(ctx, op, logits) || !rf_op_check_f32(ctx, op, pos_w) || !rf_op_check_f32(ctx, op, neg_w))
        return NULL;
    if (!same_shape(logits, pos_w)) return fail_shapes(ctx, op, "logits and pos_w differ in shape:", logits, pos_w);
    if (!same_shape(logits, neg_w)) return fail_shapes(ctx, op, "logits and neg_w differ in shape:", logits, neg_w);
    logits = rf_contiguous(ctx, logits);
    pos_w = rf_contiguous(ctx, pos_w);
    neg_w = rf_contiguous(ctx, neg_w);
    rf_tensor *y = rf_ctx_tensor_like(ctx, logits);
    if (!y || !pos_w || !neg_w) return NULL;
    rf_bce_args a = {.n = rf_tensor_numel(y), .x = rf_tensor_mem(logits), .pos_w = rf_tensor_mem(pos_w),
                     .neg_w = rf_tensor_mem(neg_w), .loss = rf_tensor_mem(y)};
    if (a.n && !rf_op_ok(ctx, rf_kernel_bce(ctx->device, &a))) return NULL;
    rf_tensor *inputs[3] = {logits, pos_w, neg_w};
    if (rf_needs_grad(ctx, inputs, 3) && !rf_ctx_record(ctx, op, bce_backward, y, inputs, 3)) return NULL;
    return y;
}

/* ---- L1 + GIoU on matched boxes ------------------------------------------------------- */

static void box_losses_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *pred = node->in[0], *target = node->in[1], *dy = node->out->grad;
    if (!pred->requires_grad) return;
    bool acc;
    rf_tensor *dpred = rf_grad_for_write(ctx, pred, &acc);
    if (!dpred) return;
    int64_t n = pred->shape[0];
    rf_box_loss_backward_args a = {.n = n, .pred = rf_tensor_mem(pred), .target = rf_tensor_mem(target),
                                   .dl1 = rf_tensor_mem(dy), .dgiou = {dy->buffer, dy->offset + (size_t)n},
                                   .dpred = rf_tensor_mem(dpred), .accumulate = acc};
    if (n) rf_op_ok(ctx, rf_kernel_box_loss_backward(ctx->device, &a));
}

/* Row `row` of a (2, N) tensor as an (N) view (tracked by the tape). */
static rf_tensor *row_of(rf_ctx *ctx, rf_tensor *t, int64_t row) {
    rf_tensor *r = rf_slice(ctx, t, 0, row, row + 1);
    return rf_reshape(ctx, r, 1, &t->shape[1]);
}

rf_tensor *rf_box_losses(rf_ctx *ctx, rf_tensor *pred, rf_tensor *target, rf_tensor **l1, rf_tensor **giou) {
    const char *op = "box_losses";
    if (l1) *l1 = NULL;
    if (giou) *giou = NULL;
    if (!rf_op_check_f32(ctx, op, pred) || !rf_op_check_f32(ctx, op, target)) return NULL;
    if (pred->ndim != 2 || pred->shape[1] != 4 || !same_shape(pred, target))
        return fail_shapes(ctx, op, "needs pred and target both (N, 4) cxcywh, got", pred, target);
    pred = rf_contiguous(ctx, pred);
    target = rf_contiguous(ctx, target);
    int64_t n = pred ? pred->shape[0] : 0;
    rf_tensor *y = rf_ctx_tensor(ctx, RF_F32, 2, (int64_t[]){2, n}); /* (2, N): row 0 l1, row 1 giou */
    if (!y || !target) return NULL;
    rf_box_loss_args a = {.n = n, .pred = rf_tensor_mem(pred), .target = rf_tensor_mem(target),
                          .l1 = rf_tensor_mem(y), .giou = {y->buffer, y->offset + (size_t)n}};
    if (n && !rf_op_ok(ctx, rf_kernel_box_loss(ctx->device, &a))) return NULL;
    /* The targets are data: only pred is an input of the node. */
    if (rf_needs_grad(ctx, &pred, 1) && !rf_ctx_record(ctx, op, box_losses_backward, y, (rf_tensor *const[]){pred, target}, 2))
        return NULL;
    if (l1 && !(*l1 = row_of(ctx, y, 0))) return NULL;
    if (giou && !(*giou = row_of(ctx, y, 1))) return NULL;
    return y;
}
