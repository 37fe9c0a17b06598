/* ops.c — the basic differentiable ops: elementwise, reductions, softmax,
 * layer norms, matrix products, views and copies, attention. */
#include "core/ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/kernels/attention_sizes.h"
#include "backend/status.h"

/* ---- helpers ------------------------------------------------------------------ */


bool rf_op_ok(rf_ctx *ctx, rf_status s) {
    if (s == RF_OK) return true;
    rf_ctx_fail_last(ctx, s);
    return false;
}

bool rf_op_check_device(rf_ctx *ctx, const char *op, const rf_tensor *t) {
    if (ctx->status != RF_OK) return false;
    if (!t) {
        rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "%s: input tensor is NULL", op);
        return false;
    }
    if (rf_tensor_released(t)) {
        rf_ctx_fail(ctx, RF_ERR_INTERNAL, "%s: an input's memory was given back (rf_drop_recompute, rf_stash) before this op read it", op);
        return false;
    }
    if (t->device != ctx->device) {
        rf_ctx_fail(ctx, RF_ERR_DEVICE_MISMATCH, "%s: a tensor%s%s lives on %s but the op runs on %s", op,
                    t->name ? " " : "", t->name ? t->name : "", t->device ? t->device->info.name : "(none)",
                    ctx->device->info.name);
        return false;
    }
    return true;
}

bool rf_op_check_f32(rf_ctx *ctx, const char *op, const rf_tensor *t) {
    if (!rf_op_check_device(ctx, op, t)) return false;
    if (t->dtype != RF_F32) {
        rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "%s: expected f32, got %s", op, rf_dtype_name(t->dtype));
        return false;
    }
    return true;
}


static rf_tensor *fail_shape(rf_ctx *ctx, const char *op, const char *what, const rf_tensor *a, const rf_tensor *b) {
    char sa[96], sb[96] = "";
    rf_shape_str(a, sa, sizeof sa);
    if (b) rf_shape_str(b, sb, sizeof sb);
    return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "%s: %s %s%s%s", op, what, sa, b ? " and " : "", sb);
}

/* Strides of t seen through a broadcast to (ndim, shape): axes align right,
 * stretched axes get stride 0. */
static rf_view broadcast_view(const rf_tensor *t, int ndim, const int64_t *shape) {
    rf_view v = {t->buffer, t->offset, {0}};
    int lead = ndim - t->ndim;
    for (int i = 0; i < ndim; i++) {
        int ti = i - lead;
        v.stride[i] = (ti < 0 || (t->shape[ti] == 1 && shape[i] != 1)) ? 0 : t->stride[ti];
    }
    return v;
}

static rf_view contiguous_view(const rf_tensor *t) {
    rf_view v = {t->buffer, t->offset, {0}};
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        v.stride[i] = s;
        s *= t->shape[i];
    }
    return v;
}

static bool launch_copy(rf_ctx *ctx, int ndim, const int64_t *shape, rf_view src, rf_view dst, bool accumulate) {
    rf_copy_args a = {.ndim = ndim, .src = src, .dst = dst, .accumulate = accumulate};
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        a.shape[i] = shape[i];
        n *= shape[i];
    }
    if (n == 0) return true;
    return rf_op_ok(ctx, rf_kernel_copy(ctx->device, &a));
}

/* x's gradient (+)= g, where g is contiguous with x's element count and
 * nothing reads it afterwards (the gradient of a view or copy of x, after
 * its own backward step): when x has no gradient yet, g's storage becomes
 * x's gradient, with no copy. Only leaves' gradients are defined after
 * rf_backward, so sharing storage between upstream gradients is safe. */
static void grad_take(rf_ctx *ctx, rf_tensor *x, rf_tensor *g) {
    if (!x->requires_grad || !g || ctx->status != RF_OK) return;
    if (!x->grad) {
        rf_tensor *t = rf_ctx_view_of(ctx, g);
        if (!t) return;
        t->ndim = x->ndim;
        for (int i = 0; i < x->ndim; i++) t->shape[i] = x->shape[i];
        rf_tensor_set_contiguous_strides(t);
        x->grad = t;
        rf_grad_refer(t);
        return;
    }
    int64_t n = rf_tensor_numel(x);
    launch_copy(ctx, 1, &n, (rf_view){g->buffer, g->offset, {1}}, (rf_view){x->grad->buffer, x->grad->offset, {1}}, true);
}

/* x's gradient (+)= src summed over the axes along which x was broadcast to
 * src's shape. `src_dead`: nothing reads src afterwards, so it may become
 * x's gradient outright (grad_take). */
static void grad_add(rf_ctx *ctx, rf_tensor *x, rf_tensor *src, bool src_dead) {
    if (!x || !x->requires_grad || !src || ctx->status != RF_OK) return;
    int lead = src->ndim - x->ndim;
    unsigned mask = 0;
    for (int i = 0; i < src->ndim; i++) {
        int gi = i - lead;
        if (gi < 0 || (x->shape[gi] == 1 && src->shape[i] != 1)) mask |= 1u << i;
    }
    if (mask == 0 && src_dead && rf_tensor_is_contiguous(src)) {
        grad_take(ctx, x, src);
        return;
    }
    bool acc;
    rf_tensor *grad = rf_grad_for_write(ctx, x, &acc);
    if (!grad) return;
    if (mask == 0) {
        /* Same element count, same layout: grad (+)= src. */
        rf_view dst = contiguous_view(src);
        dst.buf = grad->buffer;
        dst.off = grad->offset;
        launch_copy(ctx, src->ndim, src->shape, rf_tensor_view(src), dst, acc);
        return;
    }
    rf_reduce_args a = {.op = RF_REDUCE_SUM, .ndim = src->ndim, .reduce_mask = mask, .x = rf_tensor_view(src),
                        .y = rf_tensor_mem(grad), .accumulate = acc};
    for (int i = 0; i < src->ndim; i++) a.shape[i] = src->shape[i];
    rf_op_ok(ctx, rf_kernel_reduce(ctx->device, &a));
}

/* ---- unary -------------------------------------------------------------------------- */

typedef struct unary_params {
    rf_unary_op op;
    float alpha, beta;
} unary_params;

static void unary_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *x = node->in[0];
    if (!x->requires_grad) return;
    const unary_params *p = node->params;
    bool acc;
    rf_tensor *dx = rf_grad_for_write(ctx, x, &acc);
    if (!dx) return;
    /* A dropped output is only ever one whose derivative reads x alone. */
    rf_tensor *y = node->out->dropped ? x : node->out;
    rf_unary_backward_args a = {.op = p->op, .n = rf_tensor_numel(x), .x = rf_tensor_mem(x),
                                .y = rf_tensor_mem(y), .dy = rf_tensor_mem(node->out->grad),
                                .dx = rf_tensor_mem(dx), .alpha = p->alpha, .beta = p->beta, .accumulate = acc};
    rf_op_ok(ctx, rf_kernel_unary_backward(ctx->device, &a));
}

static void unary_recompute(rf_ctx *ctx, rf_node *node) {
    const unary_params *p = node->params;
    rf_unary_args a = {.op = p->op, .n = rf_tensor_numel(node->out), .x = rf_tensor_mem(node->in[0]),
                       .y = rf_tensor_mem(node->out), .alpha = p->alpha, .beta = p->beta};
    if (a.n) rf_op_ok(ctx, rf_kernel_unary(ctx->device, &a));
}

/* Ops whose derivative is a function of x alone (rf_unary_derivative), so
 * their output may be dropped and computed again. */
static bool unary_derivative_reads_x(rf_unary_op op) {
    return op != RF_UNARY_SIGMOID && op != RF_UNARY_EXP && op != RF_UNARY_TANH && op != RF_UNARY_SQRT;
}

rf_tensor *rf_unary(rf_ctx *ctx, rf_unary_op op, rf_tensor *x, float alpha, float beta) {
    if (!rf_op_check_f32(ctx, "unary", x)) return NULL;
    x = rf_contiguous(ctx, x);
    rf_tensor *y = rf_ctx_tensor_like(ctx, x);
    if (!y) return NULL;
    rf_unary_args a = {.op = op, .n = rf_tensor_numel(x), .x = rf_tensor_mem(x), .y = rf_tensor_mem(y),
                       .alpha = alpha, .beta = beta};
    if (a.n && !rf_op_ok(ctx, rf_kernel_unary(ctx->device, &a))) return NULL;
    if (rf_needs_grad(ctx, (rf_tensor *const[]){x}, 1)) {
        rf_node *node = rf_ctx_record(ctx, "unary", unary_backward, y, (rf_tensor *const[]){x}, 1);
        unary_params *p = node ? rf_ctx_host_alloc(ctx, sizeof *p) : NULL;
        if (!p) return NULL;
        *p = (unary_params){op, alpha, beta};
        node->params = p;
        if (unary_derivative_reads_x(op)) {
            node->recompute = unary_recompute;
            node->unread = RF_UNREAD_OUT;
        }
    }
    return y;
}

rf_tensor *rf_scale(rf_ctx *ctx, rf_tensor *x, float alpha) { return rf_unary(ctx, RF_UNARY_AFFINE, x, alpha, 0.0f); }
rf_tensor *rf_affine(rf_ctx *ctx, rf_tensor *x, float alpha, float beta) { return rf_unary(ctx, RF_UNARY_AFFINE, x, alpha, beta); }
rf_tensor *rf_relu(rf_ctx *ctx, rf_tensor *x) { return rf_unary(ctx, RF_UNARY_RELU, x, 0, 0); }
rf_tensor *rf_gelu(rf_ctx *ctx, rf_tensor *x) { return rf_unary(ctx, RF_UNARY_GELU, x, 0, 0); }
rf_tensor *rf_silu(rf_ctx *ctx, rf_tensor *x) { return rf_unary(ctx, RF_UNARY_SILU, x, 0, 0); }
rf_tensor *rf_sigmoid(rf_ctx *ctx, rf_tensor *x) { return rf_unary(ctx, RF_UNARY_SIGMOID, x, 0, 0); }
rf_tensor *rf_exp(rf_ctx *ctx, rf_tensor *x) { return rf_unary(ctx, RF_UNARY_EXP, x, 0, 0); }
rf_tensor *rf_log_sigmoid(rf_ctx *ctx, rf_tensor *x) { return rf_unary(ctx, RF_UNARY_LOG_SIGMOID, x, 0, 0); }
rf_tensor *rf_tanh(rf_ctx *ctx, rf_tensor *x) { return rf_unary(ctx, RF_UNARY_TANH, x, 0, 0); }
rf_tensor *rf_sqrt(rf_ctx *ctx, rf_tensor *x) { return rf_unary(ctx, RF_UNARY_SQRT, x, 0, 0); }
rf_tensor *rf_log(rf_ctx *ctx, rf_tensor *x) { return rf_unary(ctx, RF_UNARY_LOG, x, 0, 0); }
rf_tensor *rf_sin(rf_ctx *ctx, rf_tensor *x) { return rf_unary(ctx, RF_UNARY_SIN, x, 0, 0); }
rf_tensor *rf_inverse_sigmoid(rf_ctx *ctx, rf_tensor *x, float eps) {
    return rf_unary(ctx, RF_UNARY_INVERSE_SIGMOID, x, eps, 0);
}

/* ---- binary with broadcasting --------------------------------------------------------- */

typedef struct binary_params {
    rf_binary_op op;
} binary_params;

/* y = a op b launched over the broadcast shape of y. */
static bool launch_binary(rf_ctx *ctx, rf_binary_op op, rf_tensor *a, rf_tensor *b, rf_tensor *y, bool accumulate) {
    rf_binary_args args = {.op = op, .ndim = y->ndim, .a = broadcast_view(a, y->ndim, y->shape),
                           .b = broadcast_view(b, y->ndim, y->shape), .y = rf_tensor_view(y), .accumulate = accumulate};
    for (int i = 0; i < y->ndim; i++) args.shape[i] = y->shape[i];
    if (rf_tensor_numel(y) == 0) return true;
    return rf_op_ok(ctx, rf_kernel_binary(ctx->device, &args));
}

static rf_tensor *binary_temp(rf_ctx *ctx, rf_binary_op op, rf_tensor *a, rf_tensor *b, rf_tensor *like) {
    rf_tensor *t = rf_ctx_tensor_like(ctx, like);
    if (!t || !launch_binary(ctx, op, a, b, t, false)) return NULL;
    return t;
}

static bool same_shape(const rf_tensor *a, const rf_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

/* x's gradient (+)= p op q (shaped like y): straight into the gradient when
 * x was not broadcast, else through a temporary summed over the broadcast. */
static void grad_add_binary(rf_ctx *ctx, rf_tensor *x, rf_binary_op op, rf_tensor *p, rf_tensor *q, rf_tensor *y) {
    if (!x->requires_grad || ctx->status != RF_OK) return;
    if (same_shape(x, y)) {
        bool acc;
        rf_tensor *g = rf_grad_for_write(ctx, x, &acc);
        if (g) launch_binary(ctx, op, p, q, g, acc);
        return;
    }
    grad_add(ctx, x, binary_temp(ctx, op, p, q, y), true);
}

/* Whether y = a + b may hand dy to both inputs as their gradient, with no
 * copy: both gradients are still empty, neither input is a leaf (leaves'
 * gradients outlive the step), and no node between b's producer and this
 * add reads a or b. Then every later write into a's gradient comes after
 * b's producer has read b's, the only read it gets. A residual block's add
 * is the usual case: it copied the residual stream's gradient once per
 * block, and kept the copy to the end of the step. */
static bool add_shares_gradient(const rf_ctx *ctx, const rf_node *node, const rf_tensor *a, const rf_tensor *b,
                                const rf_tensor *dy) {
    if (a == b || a->grad || b->grad || !a->producer || !b->producer || !rf_tensor_is_contiguous(dy)) return false;
    int64_t n = rf_tensor_numel(dy);
    if (rf_tensor_numel(a) != n || rf_tensor_numel(b) != n || a->ndim != dy->ndim || b->ndim != dy->ndim) return false;
    for (int i = 0; i < dy->ndim; i++)
        if (a->shape[i] != dy->shape[i] || b->shape[i] != dy->shape[i]) return false;
    size_t at = ctx->tape_len;
    while (at > 0 && ctx->tape[at - 1] != node) at--;
    for (size_t j = at - 1; at > 0 && j-- > 0;) {
        const rf_node *other = ctx->tape[j];
        for (int k = 0; k < other->n_in; k++)
            if (other->in[k] == a || other->in[k] == b) return false;
        if (other == b->producer) return true;
    }
    return false;
}

static void binary_backward(rf_ctx *ctx, rf_node *node) {
    const binary_params *p = node->params;
    rf_tensor *a = node->in[0], *b = node->in[1], *y = node->out, *dy = y->grad;
    switch (p->op) {
    case RF_BINARY_ADD:
        if (a->requires_grad && b->requires_grad && add_shares_gradient(ctx, node, a, b, dy)) {
            grad_take(ctx, a, dy);
            grad_take(ctx, b, dy);
            break;
        }
        grad_add(ctx, a, dy, !b->requires_grad);
        grad_add(ctx, b, dy, true);
        break;
    case RF_BINARY_SUB:
        grad_add(ctx, a, dy, false);
        if (b->requires_grad) grad_add(ctx, b, rf_scale(ctx, dy, -1.0f), true);
        break;
    case RF_BINARY_MUL:
        grad_add_binary(ctx, a, RF_BINARY_MUL, dy, b, y);
        grad_add_binary(ctx, b, RF_BINARY_MUL, dy, a, y);
        break;
    case RF_BINARY_DIV:
        /* d(a/b)/da = 1/b; d(a/b)/db = -a/b^2 = -y/b */
        grad_add_binary(ctx, a, RF_BINARY_DIV, dy, b, y);
        if (b->requires_grad) {
            rf_tensor *t = binary_temp(ctx, RF_BINARY_MUL, dy, y, dy);
            t = t ? binary_temp(ctx, RF_BINARY_DIV, t, b, dy) : NULL;
            grad_add(ctx, b, rf_scale(ctx, t, -1.0f), true);
        }
        break;
    default: rf_ctx_fail(ctx, RF_ERR_INTERNAL, "binary backward: op %d has no gradient", p->op);
    }
}

static rf_tensor *binary(rf_ctx *ctx, const char *name, rf_binary_op op, rf_tensor *a, rf_tensor *b) {
    if (!rf_op_check_f32(ctx, name, a) || !rf_op_check_f32(ctx, name, b)) return NULL;
    int ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t shape[RF_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        int ai = i - (ndim - a->ndim), bi = i - (ndim - b->ndim);
        int64_t da = ai >= 0 ? a->shape[ai] : 1, db = bi >= 0 ? b->shape[bi] : 1;
        if (da != db && da != 1 && db != 1) return fail_shape(ctx, name, "cannot broadcast", a, b);
        shape[i] = da == 1 ? db : da;
    }
    rf_tensor *y = rf_ctx_tensor(ctx, RF_F32, ndim, shape);
    if (!y || !launch_binary(ctx, op, a, b, y, false)) return NULL;
    if (rf_needs_grad(ctx, (rf_tensor *const[]){a, b}, 2)) {
        rf_node *node = rf_ctx_record(ctx, name, binary_backward, y, (rf_tensor *const[]){a, b}, 2);
        binary_params *p = node ? rf_ctx_host_alloc(ctx, sizeof *p) : NULL;
        if (!p) return NULL;
        p->op = op;
        node->params = p;
        /* A sum's gradient is dy's for both sides; a product's reads the
         * factors. */
        if (op == RF_BINARY_ADD || op == RF_BINARY_SUB)
            node->unread = RF_UNREAD_IN(0) | RF_UNREAD_IN(1) | RF_UNREAD_OUT;
        else if (op == RF_BINARY_MUL)
            node->unread = RF_UNREAD_OUT;
    }
    return y;
}

rf_tensor *rf_add(rf_ctx *ctx, rf_tensor *a, rf_tensor *b) { return binary(ctx, "add", RF_BINARY_ADD, a, b); }
rf_tensor *rf_sub(rf_ctx *ctx, rf_tensor *a, rf_tensor *b) { return binary(ctx, "sub", RF_BINARY_SUB, a, b); }
rf_tensor *rf_mul(rf_ctx *ctx, rf_tensor *a, rf_tensor *b) { return binary(ctx, "mul", RF_BINARY_MUL, a, b); }
rf_tensor *rf_div(rf_ctx *ctx, rf_tensor *a, rf_tensor *b) { return binary(ctx, "div", RF_BINARY_DIV, a, b); }

/* ---- reductions ------------------------------------------------------------------------ */

typedef struct reduce_params {
    unsigned mask;
    rf_reduce_op op;
    int64_t count; /* elements reduced into each output */
} reduce_params;

static void reduce_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *x = node->in[0];
    if (!x->requires_grad) return;
    const reduce_params *p = node->params;
    bool acc;
    rf_tensor *dx = rf_grad_for_write(ctx, x, &acc), *dy = node->out->grad;
    if (!dx) return;
    if (p->op == RF_REDUCE_MEAN) dy = rf_scale(ctx, dy, 1.0f / (float)p->count);
    if (!dy) return;
    /* dx += dy broadcast back over the reduced axes. */
    rf_view src = {dy->buffer, dy->offset, {0}};
    int64_t s = 1;
    for (int i = x->ndim - 1; i >= 0; i--) {
        if (p->mask & (1u << i)) continue;
        src.stride[i] = s;
        s *= x->shape[i];
    }
    launch_copy(ctx, x->ndim, x->shape, src, contiguous_view(dx), acc);
}

static rf_tensor *reduce(rf_ctx *ctx, const char *name, rf_reduce_op op, rf_tensor *x, unsigned mask, bool keepdim) {
    if (!rf_op_check_f32(ctx, name, x)) return NULL;
    if (x->ndim == 0 || mask == 0 || (mask >> x->ndim) != 0)
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "%s: axes mask 0x%x invalid for a rank-%d tensor", name, mask, x->ndim);
    int64_t shape[RF_MAX_DIMS], count = 1;
    int ndim = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (mask & (1u << i)) {
            count *= x->shape[i];
            if (keepdim) shape[ndim++] = 1;
        } else {
            shape[ndim++] = x->shape[i];
        }
    }
    if (ndim == 0) shape[ndim++] = 1;
    rf_tensor *y = rf_ctx_tensor(ctx, RF_F32, ndim, shape);
    if (!y) return NULL;
    rf_reduce_args a = {.op = op, .ndim = x->ndim, .reduce_mask = mask, .x = rf_tensor_view(x), .y = rf_tensor_mem(y)};
    for (int i = 0; i < x->ndim; i++) a.shape[i] = x->shape[i];
    if (!rf_op_ok(ctx, rf_kernel_reduce(ctx->device, &a))) return NULL;
    if (rf_needs_grad(ctx, (rf_tensor *const[]){x}, 1)) {
        rf_node *node = rf_ctx_record(ctx, name, reduce_backward, y, (rf_tensor *const[]){x}, 1);
        reduce_params *p = node ? rf_ctx_host_alloc(ctx, sizeof *p) : NULL;
        if (!p) return NULL;
        *p = (reduce_params){mask, op, count};
        node->params = p;
    }
    return y;
}

rf_tensor *rf_sum(rf_ctx *ctx, rf_tensor *x, unsigned mask, bool keepdim) { return reduce(ctx, "sum", RF_REDUCE_SUM, x, mask, keepdim); }
rf_tensor *rf_mean(rf_ctx *ctx, rf_tensor *x, unsigned mask, bool keepdim) { return reduce(ctx, "mean", RF_REDUCE_MEAN, x, mask, keepdim); }
rf_tensor *rf_sum_all(rf_ctx *ctx, rf_tensor *x) {
    if (!rf_op_check_f32(ctx, "sum_all", x)) return NULL;
    return reduce(ctx, "sum", RF_REDUCE_SUM, x, (1u << x->ndim) - 1, false);
}

static void max_last_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *x = node->in[0];
    if (!x->requires_grad) return;
    bool acc;
    rf_tensor *dx = rf_grad_for_write(ctx, x, &acc);
    if (!dx) return;
    int64_t cols = x->shape[x->ndim - 1];
    rf_max_last_backward_args a = {.rows = rf_tensor_numel(x) / (cols ? cols : 1), .cols = cols,
                                   .dy = rf_tensor_mem(node->out->grad), .indices = rf_tensor_mem(node->saved[0]),
                                   .dx = rf_tensor_mem(dx), .accumulate = acc};
    rf_op_ok(ctx, rf_kernel_max_last_backward(ctx->device, &a));
}

rf_tensor *rf_max_last(rf_ctx *ctx, rf_tensor *x, rf_tensor **indices) {
    if (indices) *indices = NULL;
    if (!rf_op_check_f32(ctx, "max_last", x)) return NULL;
    if (x->ndim < 1 || x->shape[x->ndim - 1] == 0)
        return fail_shape(ctx, "max_last", "needs a non-empty last axis, got", x, NULL);
    x = rf_contiguous(ctx, x);
    if (!x) return NULL;
    int64_t shape[RF_MAX_DIMS];
    int ndim = x->ndim - 1;
    for (int i = 0; i < ndim; i++) shape[i] = x->shape[i];
    if (ndim == 0) shape[ndim++] = 1;
    rf_tensor *values = rf_ctx_tensor(ctx, RF_F32, ndim, shape);
    rf_tensor *idx = rf_ctx_tensor(ctx, RF_I32, ndim, shape);
    if (!values || !idx) return NULL;
    int64_t cols = x->shape[x->ndim - 1];
    rf_max_last_args a = {.rows = rf_tensor_numel(x) / cols, .cols = cols, .x = rf_tensor_mem(x),
                          .values = rf_tensor_mem(values), .indices = rf_tensor_mem(idx)};
    if (!rf_op_ok(ctx, rf_kernel_max_last(ctx->device, &a))) return NULL;
    if (rf_needs_grad(ctx, (rf_tensor *const[]){x}, 1)) {
        rf_node *node = rf_ctx_record(ctx, "max_last", max_last_backward, values, (rf_tensor *const[]){x}, 1);
        if (!node) return NULL;
        node->saved[0] = idx;
    }
    if (indices) *indices = idx;
    return values;
}

/* ---- softmax ---------------------------------------------------------------------------- */

static void softmax_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *x = node->in[0];
    if (!x->requires_grad) return;
    bool acc;
    rf_tensor *dx = rf_grad_for_write(ctx, x, &acc), *y = node->out;
    if (!dx) return;
    int64_t cols = y->shape[y->ndim - 1];
    rf_softmax_backward_args a = {.rows = rf_tensor_numel(y) / cols, .cols = cols, .y = rf_tensor_mem(y),
                                  .dy = rf_tensor_mem(y->grad), .dx = rf_tensor_mem(dx), .accumulate = acc};
    rf_op_ok(ctx, rf_kernel_softmax_backward(ctx->device, &a));
}

rf_tensor *rf_softmax(rf_ctx *ctx, rf_tensor *x, rf_tensor *mask) {
    if (!rf_op_check_f32(ctx, "softmax", x)) return NULL;
    if (x->ndim < 1 || x->shape[x->ndim - 1] == 0) return fail_shape(ctx, "softmax", "needs a non-empty last axis, got", x, NULL);
    int64_t cols = x->shape[x->ndim - 1];
    int64_t mask_rows = 0;
    if (mask) {
        if (!rf_op_check_f32(ctx, "softmax mask", mask)) return NULL;
        mask_rows = mask->ndim == 2 ? mask->shape[0] : 0;
        int64_t lq = x->ndim >= 2 ? x->shape[x->ndim - 2] : 1;
        if (mask->ndim != 2 || mask->shape[1] != cols || mask_rows != lq)
            return fail_shape(ctx, "softmax", "mask must be (Lq, L) for input (..., Lq, L): got", mask, x);
        mask = rf_contiguous(ctx, mask);
    }
    x = rf_contiguous(ctx, x);
    rf_tensor *y = rf_ctx_tensor_like(ctx, x);
    if (!y) return NULL;
    rf_softmax_args a = {.rows = rf_tensor_numel(x) / cols, .cols = cols, .x = rf_tensor_mem(x), .y = rf_tensor_mem(y),
                         .has_mask = mask != NULL, .mask_rows = mask_rows};
    if (mask) a.mask = rf_tensor_mem(mask);
    if (a.rows && !rf_op_ok(ctx, rf_kernel_softmax(ctx->device, &a))) return NULL;
    /* The mask is a constant: no gradient flows into it. */
    if (rf_needs_grad(ctx, (rf_tensor *const[]){x}, 1) && !rf_ctx_record(ctx, "softmax", softmax_backward, y, (rf_tensor *const[]){x}, 1))
        return NULL;
    return y;
}

/* ---- layer norms --------------------------------------------------------------------------- */

typedef struct layernorm_params {
    int64_t rows, cols, inner, outer_stride, col_stride;
    float eps;
} layernorm_params;

static void layernorm_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *x = node->in[0], *gamma = node->in[1], *beta = node->in[2];
    const layernorm_params *p = node->params;
    bool affine = gamma != NULL, acc = false;
    rf_tensor *dx = x->requires_grad ? rf_grad_for_write(ctx, x, &acc) : NULL;
    rf_tensor *dgamma = NULL, *dbeta = NULL;
    if (affine) {
        /* The kernel always produces both affine gradients; frozen ones land
         * in scratch. */
        dgamma = gamma->requires_grad ? rf_grad_of(ctx, gamma) : rf_ctx_zeros(ctx, RF_F32, gamma->ndim, gamma->shape);
        dbeta = beta->requires_grad ? rf_grad_of(ctx, beta) : rf_ctx_zeros(ctx, RF_F32, beta->ndim, beta->shape);
        if (!dgamma || !dbeta) return;
    }
    rf_tensor *dx_target = dx ? dx : rf_ctx_tensor_like(ctx, x);
    if (!dx_target) return;
    rf_layernorm_backward_args a = {.rows = p->rows, .cols = p->cols, .inner = p->inner, .outer_stride = p->outer_stride,
                                    .col_stride = p->col_stride, .x = rf_tensor_mem(x), .mean = rf_tensor_mem(node->saved[0]),
                                    .rstd = rf_tensor_mem(node->saved[1]), .dy = rf_tensor_mem(node->out->grad),
                                    .dx = rf_tensor_mem(dx_target), .has_affine = affine, .accumulate = acc};
    if (affine) {
        a.gamma = rf_tensor_mem(gamma);
        a.dgamma = rf_tensor_mem(dgamma);
        a.dbeta = rf_tensor_mem(dbeta);
    }
    rf_op_ok(ctx, rf_kernel_layernorm_backward(ctx->device, &a));
}

/* The forward kernel again, its statistics into scratch (the node's saved
 * ones are the same bits). */
static void layernorm_recompute(rf_ctx *ctx, rf_node *node) {
    const layernorm_params *p = node->params;
    rf_tensor *gamma = node->in[1], *beta = node->in[2];
    rf_tensor *mean = rf_ctx_tensor_like(ctx, node->saved[0]), *rstd = rf_ctx_tensor_like(ctx, node->saved[1]);
    if (!mean || !rstd) return;
    rf_layernorm_args a = {.rows = p->rows, .cols = p->cols, .inner = p->inner, .outer_stride = p->outer_stride,
                           .col_stride = p->col_stride, .eps = p->eps, .x = rf_tensor_mem(node->in[0]),
                           .y = rf_tensor_mem(node->out), .mean = rf_tensor_mem(mean), .rstd = rf_tensor_mem(rstd),
                           .has_affine = gamma != NULL};
    if (gamma) {
        a.gamma = rf_tensor_mem(gamma);
        a.beta = rf_tensor_mem(beta);
    }
    if (p->rows && p->cols) rf_op_ok(ctx, rf_kernel_layernorm(ctx->device, &a));
}

static rf_tensor *layernorm_general(rf_ctx *ctx, const char *name, rf_tensor *x, rf_tensor *gamma, rf_tensor *beta,
                                    float eps, bool channel) {
    if (!rf_op_check_f32(ctx, name, x)) return NULL;
    if ((gamma == NULL) != (beta == NULL))
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "%s: give both gamma and beta, or neither", name);
    if (channel && x->ndim != 4) return fail_shape(ctx, name, "expects NCHW, got", x, NULL);
    if (x->ndim < 1) return fail_shape(ctx, name, "needs at least one axis, got", x, NULL);
    int64_t cols = channel ? x->shape[1] : x->shape[x->ndim - 1];
    if (gamma) {
        if (!rf_op_check_f32(ctx, name, gamma) || !rf_op_check_f32(ctx, name, beta)) return NULL;
        if (rf_tensor_numel(gamma) != cols || rf_tensor_numel(beta) != cols)
            return fail_shape(ctx, name, "gamma/beta must have one value per normalized channel:", gamma, x);
    }
    x = rf_contiguous(ctx, x);
    rf_tensor *y = rf_ctx_tensor_like(ctx, x);
    if (!y) return NULL;
    layernorm_params p;
    if (channel) {
        int64_t hw = x->shape[2] * x->shape[3];
        p = (layernorm_params){x->shape[0] * hw, cols, hw, cols * hw, hw, eps};
    } else {
        p = (layernorm_params){cols ? rf_tensor_numel(x) / cols : 0, cols, 1, cols, 1, eps};
    }
    int64_t rows_shape[1] = {p.rows};
    rf_tensor *mean = rf_ctx_tensor(ctx, RF_F32, 1, rows_shape), *rstd = rf_ctx_tensor(ctx, RF_F32, 1, rows_shape);
    if (!mean || !rstd) return NULL;
    rf_layernorm_args a = {.rows = p.rows, .cols = p.cols, .inner = p.inner, .outer_stride = p.outer_stride,
                           .col_stride = p.col_stride, .eps = eps, .x = rf_tensor_mem(x), .y = rf_tensor_mem(y),
                           .mean = rf_tensor_mem(mean), .rstd = rf_tensor_mem(rstd), .has_affine = gamma != NULL};
    if (gamma) {
        gamma = rf_contiguous(ctx, gamma);
        beta = rf_contiguous(ctx, beta);
        if (!gamma || !beta) return NULL;
        a.gamma = rf_tensor_mem(gamma);
        a.beta = rf_tensor_mem(beta);
    }
    if (p.rows && cols && !rf_op_ok(ctx, rf_kernel_layernorm(ctx->device, &a))) return NULL;
    rf_tensor *inputs[3] = {x, gamma, beta};
    if (rf_needs_grad(ctx, inputs, 3)) {
        rf_node *node = rf_ctx_record(ctx, name, layernorm_backward, y, inputs, 3);
        layernorm_params *saved = node ? rf_ctx_host_alloc(ctx, sizeof *saved) : NULL;
        if (!saved) return NULL;
        *saved = p;
        node->params = saved;
        node->saved[0] = mean;
        node->saved[1] = rstd;
        node->recompute = layernorm_recompute;
        node->unread = RF_UNREAD_OUT;
    }
    return y;
}

rf_tensor *rf_layernorm(rf_ctx *ctx, rf_tensor *x, rf_tensor *gamma, rf_tensor *beta, float eps) {
    return layernorm_general(ctx, "layernorm", x, gamma, beta, eps, false);
}

rf_tensor *rf_channel_layernorm(rf_ctx *ctx, rf_tensor *x, rf_tensor *gamma, rf_tensor *beta, float eps) {
    return layernorm_general(ctx, "channel_layernorm", x, gamma, beta, eps, true);
}

/* ---- matrix products ---------------------------------------------------------------- */

typedef struct matmul_params {
    bool trans_a, trans_b;
    int64_t batch_a, batch_b, m, n, k;
} matmul_params;

/* C (+)= op(A) op(B) (+ bias over C's columns) over `batch` entries;
 * a_stride / b_stride 0 broadcast. */
static bool gemm_bias(rf_ctx *ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const rf_tensor *a,
                      int64_t a_stride, const rf_tensor *b, int64_t b_stride, rf_tensor *c, int64_t batch, float beta,
                      const rf_tensor *bias) {
    if (ctx->status != RF_OK) return false;
    rf_gemm_desc d = {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .alpha = 1.0f, .beta = beta,
                      .a = a->buffer, .a_offset = a->offset, .lda = ta ? m : k, .stride_a = a_stride,
                      .b = b->buffer, .b_offset = b->offset, .ldb = tb ? k : n, .stride_b = b_stride,
                      .c = c->buffer, .c_offset = c->offset, .ldc = n, .stride_c = m * n, .batch = batch,
                      .compute = ctx->precision};
    if (bias) {
        d.bias = bias->buffer;
        d.bias_offset = bias->offset;
    }
    if (d.lda < 1) d.lda = 1;
    if (d.ldb < 1) d.ldb = 1;
    if (d.ldc < 1) d.ldc = 1;
    return rf_op_ok(ctx, rf_gemm(ctx->device, &d));
}

static bool gemm(rf_ctx *ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const rf_tensor *a, int64_t a_stride,
                 const rf_tensor *b, int64_t b_stride, rf_tensor *c, int64_t batch, float beta) {
    return gemm_bias(ctx, ta, tb, m, n, k, a, a_stride, b, b_stride, c, batch, beta, NULL);
}

/* Sums per-batch products into one 2-D gradient: one GEMM per batch entry,
 * accumulating, in batch order (deterministic); `beta` for the first. */
static void gemm_reduce_batches(rf_ctx *ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k, rf_tensor *a,
                                int64_t a_stride, rf_tensor *b, int64_t b_stride, rf_tensor *c, int64_t batch, float beta) {
    for (int64_t i = 0; i < batch && ctx->status == RF_OK; i++) {
        rf_tensor ai = *a, bi = *b;
        ai.offset += (size_t)(i * a_stride);
        bi.offset += (size_t)(i * b_stride);
        gemm(ctx, ta, tb, m, n, k, &ai, 0, &bi, 0, c, 1, i == 0 ? beta : 1.0f);
    }
}

static void matmul_backward(rf_ctx *ctx, rf_node *node) {
    const matmul_params *p = node->params;
    rf_tensor *a = node->in[0], *b = node->in[1], *dc = node->out->grad;
    int64_t batch = p->batch_a > p->batch_b ? p->batch_a : p->batch_b;
    int64_t sa = p->batch_a > 1 ? p->m * p->k : 0, sb = p->batch_b > 1 ? p->k * p->n : 0, sc = p->m * p->n;
    bool acc;
    if (a->requires_grad) {
        rf_tensor *da = rf_grad_for_write(ctx, a, &acc);
        if (!da) return;
        float beta = acc ? 1.0f : 0.0f;
        /* dA = dC op(B)^T, stored as A is (transposed when trans_a). */
        if (p->batch_a == batch || batch == 1) {
            if (!p->trans_a)
                gemm(ctx, false, !p->trans_b, p->m, p->k, p->n, dc, sc, b, sb, da, batch, beta);
            else
                gemm(ctx, p->trans_b, true, p->k, p->m, p->n, b, sb, dc, sc, da, batch, beta);
        } else if (!p->trans_a) {
            gemm_reduce_batches(ctx, false, !p->trans_b, p->m, p->k, p->n, dc, sc, b, sb, da, batch, beta);
        } else {
            gemm_reduce_batches(ctx, p->trans_b, true, p->k, p->m, p->n, b, sb, dc, sc, da, batch, beta);
        }
    }
    if (b->requires_grad) {
        rf_tensor *db = rf_grad_for_write(ctx, b, &acc);
        if (!db) return;
        float beta = acc ? 1.0f : 0.0f;
        /* dB = op(A)^T dC, stored as B is. */
        if (p->batch_b == batch || batch == 1) {
            if (!p->trans_b)
                gemm(ctx, !p->trans_a, false, p->k, p->n, p->m, a, sa, dc, sc, db, batch, beta);
            else
                gemm(ctx, true, p->trans_a, p->n, p->k, p->m, dc, sc, a, sa, db, batch, beta);
        } else if (!p->trans_b) {
            gemm_reduce_batches(ctx, !p->trans_a, false, p->k, p->n, p->m, a, sa, dc, sc, db, batch, beta);
        } else {
            gemm_reduce_batches(ctx, true, p->trans_a, p->n, p->k, p->m, dc, sc, a, sa, db, batch, beta);
        }
    }
}

rf_tensor *rf_matmul(rf_ctx *ctx, rf_tensor *a, rf_tensor *b, bool trans_a, bool trans_b) {
    if (!rf_op_check_f32(ctx, "matmul", a) || !rf_op_check_f32(ctx, "matmul", b)) return NULL;
    if (a->ndim < 2 || b->ndim < 2) return fail_shape(ctx, "matmul", "needs matrices, got", a, b);
    int64_t m = trans_a ? a->shape[a->ndim - 1] : a->shape[a->ndim - 2];
    int64_t ka = trans_a ? a->shape[a->ndim - 2] : a->shape[a->ndim - 1];
    int64_t kb = trans_b ? b->shape[b->ndim - 1] : b->shape[b->ndim - 2];
    int64_t n = trans_b ? b->shape[b->ndim - 2] : b->shape[b->ndim - 1];
    if (ka != kb) return fail_shape(ctx, "matmul", "inner dimensions differ:", a, b);
    int64_t a_matrix = m * ka, b_matrix = kb * n;
    int64_t batch_a = a_matrix > 0 ? rf_tensor_numel(a) / a_matrix : 1;
    int64_t batch_b = b_matrix > 0 ? rf_tensor_numel(b) / b_matrix : 1;
    const rf_tensor *batched = a->ndim >= b->ndim ? a : b;
    if (a->ndim > 2 && b->ndim > 2) {
        if (a->ndim != b->ndim) return fail_shape(ctx, "matmul", "batch axes differ:", a, b);
        for (int i = 0; i < a->ndim - 2; i++)
            if (a->shape[i] != b->shape[i]) return fail_shape(ctx, "matmul", "batch axes differ:", a, b);
    }
    a = rf_contiguous(ctx, a);
    b = rf_contiguous(ctx, b);
    if (!a || !b) return NULL;
    int64_t shape[RF_MAX_DIMS];
    int ndim = batched->ndim;
    for (int i = 0; i < ndim - 2; i++) shape[i] = batched->shape[i];
    shape[ndim - 2] = m;
    shape[ndim - 1] = n;
    rf_tensor *c = rf_ctx_tensor(ctx, RF_F32, ndim, shape);
    if (!c) return NULL;
    int64_t batch = batch_a > batch_b ? batch_a : batch_b;
    if (!gemm(ctx, trans_a, trans_b, m, n, ka, a, batch_a > 1 ? m * ka : 0, b, batch_b > 1 ? kb * n : 0, c, batch, 0.0f))
        return NULL;
    if (rf_needs_grad(ctx, (rf_tensor *const[]){a, b}, 2)) {
        rf_node *node = rf_ctx_record(ctx, "matmul", matmul_backward, c, (rf_tensor *const[]){a, b}, 2);
        matmul_params *p = node ? rf_ctx_host_alloc(ctx, sizeof *p) : NULL;
        if (!p) return NULL;
        *p = (matmul_params){trans_a, trans_b, batch_a, batch_b, m, n, ka};
        node->params = p;
        node->unread = RF_UNREAD_OUT;
    }
    return c;
}

static void linear_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *x = node->in[0], *w = node->in[1], *b = node->in[2], *dy = node->out->grad;
    int64_t in = w->shape[1], out = w->shape[0], rows = rf_tensor_numel(x) / (in ? in : 1);
    if (x->requires_grad) {
        bool acc;
        rf_tensor *dx = rf_grad_for_write(ctx, x, &acc);
        if (dx) gemm(ctx, false, false, rows, in, out, dy, 0, w, 0, dx, 1, acc ? 1.0f : 0.0f); /* dx (+)= dy W */
    }
    if (w->requires_grad) {
        rf_tensor *dw = rf_grad_of(ctx, w);
        if (dw) gemm(ctx, true, false, out, in, rows, dy, 0, x, 0, dw, 1, 1.0f); /* dW += dy^T x */
    }
    if (b && b->requires_grad) {
        rf_tensor *db = rf_grad_of(ctx, b);
        rf_reduce_args a = {.op = RF_REDUCE_SUM, .ndim = 2, .shape = {rows, out}, .reduce_mask = 1u,
                            .x = {dy->buffer, dy->offset, {out, 1}}, .y = db ? rf_tensor_mem(db) : (rf_mem){0},
                            .accumulate = true};
        if (db && rows) rf_op_ok(ctx, rf_kernel_reduce(ctx->device, &a));
    }
}

rf_tensor *rf_linear(rf_ctx *ctx, rf_tensor *x, rf_tensor *w, rf_tensor *b) {
    if (!rf_op_check_f32(ctx, "linear", x) || !rf_op_check_f32(ctx, "linear", w)) return NULL;
    if (b && !rf_op_check_f32(ctx, "linear", b)) return NULL;
    if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
        return fail_shape(ctx, "linear", "input (..., in) does not fit weight (out, in):", x, w);
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) return fail_shape(ctx, "linear", "bias must be (out):", b, w);
    x = rf_contiguous(ctx, x);
    w = rf_contiguous(ctx, w);
    if (!x || !w) return NULL;
    int64_t in = w->shape[1], out = w->shape[0], rows = rf_tensor_numel(x) / (in ? in : 1);
    int64_t shape[RF_MAX_DIMS];
    for (int i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = out;
    rf_tensor *y = rf_ctx_tensor(ctx, RF_F32, x->ndim, shape);
    if (!y) return NULL;
    if (b) b = rf_contiguous(ctx, b);
    /* y = x W^T + b, the bias added as the product is written. */
    if (rows && out && !gemm_bias(ctx, false, true, rows, out, in, x, 0, w, 0, y, 1, 0.0f, b)) return NULL;
    rf_tensor *inputs[3] = {x, w, b};
    if (rf_needs_grad(ctx, inputs, 3)) {
        rf_node *node = rf_ctx_record(ctx, "linear", linear_backward, y, inputs, 3);
        if (!node) return NULL;
        node->unread = RF_UNREAD_IN(2) | RF_UNREAD_OUT; /* dW reads x, dx W; db sums dy */
    }
    return y;
}

/* ---- views and copies ---------------------------------------------------------------------- */

/* A view's backward: x.grad seen through the same index mapping as the view
 * (saved as a view of a contiguous tensor of x's shape) += dy. */
typedef enum view_kind {
    VIEW_SAME_ORDER, /* reshape: y's elements are x's, in x's order */
    VIEW_ALL,        /* permute: every element of x, in another order */
    VIEW_PART,       /* slice: some elements of x */
} view_kind;

typedef struct view_params {
    int ndim;
    int64_t stride[RF_MAX_DIMS]; /* strides into a contiguous x-shaped tensor */
    int64_t offset;
    view_kind kind;
} view_params;

static void view_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *x = node->in[0], *y = node->out;
    if (!x->requires_grad) return;
    const view_params *p = node->params;
    if (p->kind == VIEW_SAME_ORDER) {
        grad_take(ctx, x, y->grad);
        return;
    }
    bool acc = true;
    rf_tensor *dx = p->kind == VIEW_ALL ? rf_grad_for_write(ctx, x, &acc) : rf_grad_of(ctx, x);
    if (!dx) return;
    rf_view dst = {dx->buffer, dx->offset + (size_t)p->offset, {0}};
    for (int i = 0; i < p->ndim; i++) dst.stride[i] = p->stride[i];
    launch_copy(ctx, y->ndim, y->shape, contiguous_view(y->grad), dst, acc);
}

static void contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);

/* When x is itself a view of `base`, rewrites y's map into x's gradient
 * (stride, offset, kind) as a map into base's, so that y's gradient lands
 * there in one copy instead of passing through every intermediate layout
 * (the heads of a fused q/k/v projection: slice of a permute of a reshape,
 * two full copies of the activation per layer). It composes when each of
 * y's axes steps inside one of x's axes without carrying into the next,
 * which every permute and slice does; a reshape that merges x's axes does
 * not, and keeps its own node. */
static bool compose_view(const rf_tensor *x, const view_params *px, const int64_t *shape, int ndim,
                         int64_t *stride, int64_t *offset, view_kind *kind) {
    int64_t xs[RF_MAX_DIMS], digit[RF_MAX_DIMS], reach[RF_MAX_DIMS], rest = *offset;
    contiguous_strides(x->ndim, x->shape, xs);
    for (int a = 0; a < x->ndim; a++) {
        if (x->shape[a] == 0) return false;
        digit[a] = rest / xs[a];
        rest -= digit[a] * xs[a];
        reach[a] = digit[a];
    }
    int64_t composed[RF_MAX_DIMS];
    for (int j = 0; j < ndim; j++) {
        composed[j] = 0;
        if (shape[j] == 1 || stride[j] == 0) continue;
        int a = x->ndim - 1;
        while (a >= 0 && !(stride[j] >= xs[a] && stride[j] < xs[a] * x->shape[a])) a--;
        if (a < 0 || stride[j] % xs[a] != 0) return false;
        int64_t step = stride[j] / xs[a];
        reach[a] += step * (shape[j] - 1);
        composed[j] = step * px->stride[a];
    }
    int64_t base_offset = px->offset;
    for (int a = 0; a < x->ndim; a++) {
        if (reach[a] >= x->shape[a]) return false;
        base_offset += digit[a] * px->stride[a];
    }
    for (int j = 0; j < ndim; j++) stride[j] = composed[j];
    *offset = base_offset;
    if (*kind == VIEW_PART || px->kind == VIEW_PART) *kind = VIEW_PART;
    else if (*kind == VIEW_ALL || px->kind == VIEW_ALL) *kind = VIEW_ALL;
    return true;
}

/* Records a view node: `stride`/`offset` map y's index into a contiguous
 * tensor shaped like x, or, composed, into the tensor x is a view of. */
static rf_tensor *record_view(rf_ctx *ctx, const char *name, view_kind kind, rf_tensor *x, rf_tensor *y,
                              const int64_t *stride_in, int64_t offset) {
    if (!rf_needs_grad(ctx, (rf_tensor *const[]){x}, 1)) return y;
    int64_t stride[RF_MAX_DIMS];
    for (int i = 0; i < y->ndim; i++) stride[i] = stride_in[i];
    if (x->producer && x->producer->backward == view_backward &&
        compose_view(x, x->producer->params, y->shape, y->ndim, stride, &offset, &kind))
        x = x->producer->in[0];
    rf_node *node = rf_ctx_record(ctx, name, view_backward, y, (rf_tensor *const[]){x}, 1);
    view_params *p = node ? rf_ctx_host_alloc(ctx, sizeof *p) : NULL;
    if (!p) return NULL;
    p->ndim = y->ndim;
    for (int i = 0; i < y->ndim; i++) p->stride[i] = stride[i];
    p->offset = offset;
    p->kind = kind;
    node->params = p;
    node->unread = RF_UNREAD_IN(0) | RF_UNREAD_OUT; /* moves gradients only */
    return y;
}

static void contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i];
    }
}

/* y holds x's elements in x's logical order, so y's gradient is x's. */
static void contiguous_backward(rf_ctx *ctx, rf_node *node) { grad_take(ctx, node->in[0], node->out->grad); }

rf_tensor *rf_contiguous(rf_ctx *ctx, rf_tensor *x) {
    if (!rf_op_check_device(ctx, "contiguous", x)) return NULL;
    if (rf_tensor_is_contiguous(x)) return x;
    rf_tensor *y = rf_ctx_tensor_like(ctx, x);
    if (!y || !launch_copy(ctx, x->ndim, x->shape, rf_tensor_view(x), rf_tensor_view(y), false)) return NULL;
    if (rf_needs_grad(ctx, (rf_tensor *const[]){x}, 1)) {
        rf_node *node = rf_ctx_record(ctx, "contiguous", contiguous_backward, y, (rf_tensor *const[]){x}, 1);
        if (!node) return NULL;
        node->unread = RF_UNREAD_IN(0) | RF_UNREAD_OUT;
    }
    return y;
}

/* Strides under which `shape` walks x's elements in x's logical order
 * without a copy, or false when none exist. x's axes fall into runs laid
 * out back to back in memory (each axis' stride its inner neighbour's times
 * that one's size); a new shape is a view when every run's element count
 * is the product of a run of the new axes, which then step through it with
 * contiguous strides scaled by the run's innermost stride. A reshape of a
 * permuted or sliced tensor (the heads of a fused q/k/v projection) is so
 * often such a view that copying it would cost more than the attention. */
static bool reshape_strides(const rf_tensor *x, int ndim, const int64_t *shape, int64_t *stride) {
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= shape[i];
    if (numel == 0 || x->ndim == 0) {
        contiguous_strides(ndim, shape, stride);
        return true;
    }
    int nd = ndim - 1;
    int64_t base = x->stride[x->ndim - 1], run = 1, covered = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        run *= x->shape[d];
        bool run_ends = d == 0 || (x->shape[d - 1] != 1 && x->stride[d - 1] != run * base);
        if (!run_ends) continue;
        while (nd >= 0 && (covered < run || shape[nd] == 1)) {
            stride[nd] = covered * base;
            covered *= shape[nd];
            nd--;
        }
        if (covered != run) return false;
        if (d > 0) base = x->stride[d - 1], run = 1, covered = 1;
    }
    return nd < 0;
}

rf_tensor *rf_reshape(rf_ctx *ctx, rf_tensor *x, int ndim, const int64_t *shape_in) {
    if (!rf_op_check_device(ctx, "reshape", x)) return NULL;
    if (ndim < 0 || ndim > RF_MAX_DIMS) return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "reshape: rank %d", ndim);
    int64_t shape[RF_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        shape[i] = shape_in[i];
        if (shape[i] == -1) {
            if (infer >= 0) return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "reshape: more than one -1");
            infer = i;
        } else {
            known *= shape[i];
        }
    }
    int64_t numel = rf_tensor_numel(x);
    if (infer >= 0) shape[infer] = known ? numel / known : 0;
    int64_t total = 1;
    for (int i = 0; i < ndim; i++) total *= shape[i];
    if (total != numel) {
        rf_tensor target = {.ndim = ndim};
        for (int i = 0; i < ndim; i++) target.shape[i] = shape[i];
        return fail_shape(ctx, "reshape", "element counts differ:", x, &target);
    }
    int64_t view_stride[RF_MAX_DIMS];
    if (!reshape_strides(x, ndim, shape, view_stride)) {
        x = rf_contiguous(ctx, x);
        if (!x) return NULL;
        contiguous_strides(ndim, shape, view_stride);
    }
    rf_tensor *y = rf_ctx_view_of(ctx, x);
    if (!y) return NULL;
    y->ndim = ndim;
    for (int i = 0; i < ndim; i++) y->shape[i] = shape[i], y->stride[i] = view_stride[i];
    /* Gradients are contiguous, so y's gradient is x's in either case. */
    int64_t grad_stride[RF_MAX_DIMS];
    contiguous_strides(ndim, shape, grad_stride);
    return record_view(ctx, "reshape", VIEW_SAME_ORDER, x, y, grad_stride, 0);
}

rf_tensor *rf_permute(rf_ctx *ctx, rf_tensor *x, const int *perm) {
    if (!rf_op_check_device(ctx, "permute", x)) return NULL;
    unsigned seen = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= x->ndim || (seen & (1u << perm[i])))
            return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "permute: not a permutation of %d axes", x->ndim);
        seen |= 1u << perm[i];
    }
    rf_tensor *y = rf_ctx_view_of(ctx, x);
    if (!y) return NULL;
    int64_t xs[RF_MAX_DIMS], gs[RF_MAX_DIMS];
    contiguous_strides(x->ndim, x->shape, xs);
    for (int i = 0; i < x->ndim; i++) {
        y->shape[i] = x->shape[perm[i]];
        y->stride[i] = x->stride[perm[i]];
        gs[i] = xs[perm[i]];
    }
    return record_view(ctx, "permute", VIEW_ALL, x, y, gs, 0);
}

rf_tensor *rf_transpose(rf_ctx *ctx, rf_tensor *x, int d0, int d1) {
    if (!rf_op_check_device(ctx, "transpose", x)) return NULL;
    if (d0 < 0) d0 += x->ndim;
    if (d1 < 0) d1 += x->ndim;
    if (d0 < 0 || d1 < 0 || d0 >= x->ndim || d1 >= x->ndim)
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "transpose: axes %d, %d of a rank-%d tensor", d0, d1, x->ndim);
    int perm[RF_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) perm[i] = i;
    perm[d0] = d1;
    perm[d1] = d0;
    return rf_permute(ctx, x, perm);
}

rf_tensor *rf_slice(rf_ctx *ctx, rf_tensor *x, int dim, int64_t start, int64_t end) {
    if (!rf_op_check_device(ctx, "slice", x)) return NULL;
    if (dim < 0) dim += x->ndim;
    if (dim < 0 || dim >= x->ndim || start < 0 || end < start || end > x->shape[dim])
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "slice: [%lld, %lld) of axis %d of a tensor with that axis %lld long",
                           (long long)start, (long long)end, dim, dim >= 0 && dim < x->ndim ? (long long)x->shape[dim] : -1LL);
    rf_tensor *y = rf_ctx_view_of(ctx, x);
    if (!y) return NULL;
    y->shape[dim] = end - start;
    y->offset = x->offset + (size_t)(start * x->stride[dim]);
    int64_t gs[RF_MAX_DIMS];
    contiguous_strides(x->ndim, x->shape, gs);
    return record_view(ctx, "slice", end - start == x->shape[dim] ? VIEW_ALL : VIEW_PART, x, y, gs, start * gs[dim]);
}

typedef struct concat_params {
    int dim;
} concat_params;

static void concat_backward(rf_ctx *ctx, rf_node *node) {
    const concat_params *p = node->params;
    rf_tensor *dy = node->out->grad;
    int64_t start = 0, ys[RF_MAX_DIMS];
    contiguous_strides(dy->ndim, dy->shape, ys);
    for (int i = 0; i < node->n_in; i++) {
        rf_tensor *x = node->in[i];
        if (x->requires_grad) {
            bool acc;
            rf_tensor *dx = rf_grad_for_write(ctx, x, &acc);
            if (!dx) return;
            rf_view src = {dy->buffer, dy->offset + (size_t)(start * ys[p->dim]), {0}};
            for (int k = 0; k < dy->ndim; k++) src.stride[k] = ys[k];
            launch_copy(ctx, x->ndim, x->shape, src, contiguous_view(dx), acc);
        }
        start += x->shape[p->dim];
    }
}

rf_tensor *rf_concat(rf_ctx *ctx, rf_tensor *const *xs, int n, int dim) {
    if (n < 1 || n > RF_NODE_MAX_INPUTS)
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "concat: %d inputs (1..%d)", n, RF_NODE_MAX_INPUTS);
    for (int i = 0; i < n; i++)
        if (!rf_op_check_f32(ctx, "concat", xs[i])) return NULL;
    const rf_tensor *first = xs[0];
    if (dim < 0) dim += first->ndim;
    if (dim < 0 || dim >= first->ndim) return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "concat: axis out of range");
    int64_t shape[RF_MAX_DIMS];
    for (int k = 0; k < first->ndim; k++) shape[k] = first->shape[k];
    shape[dim] = 0;
    for (int i = 0; i < n; i++) {
        if (xs[i]->ndim != first->ndim) return fail_shape(ctx, "concat", "ranks differ:", xs[i], first);
        for (int k = 0; k < first->ndim; k++)
            if (k != dim && xs[i]->shape[k] != first->shape[k]) return fail_shape(ctx, "concat", "shapes differ off the axis:", xs[i], first);
        shape[dim] += xs[i]->shape[dim];
    }
    rf_tensor *y = rf_ctx_tensor(ctx, RF_F32, first->ndim, shape);
    if (!y) return NULL;
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        rf_view dst = {y->buffer, y->offset + (size_t)(start * y->stride[dim]), {0}};
        for (int k = 0; k < y->ndim; k++) dst.stride[k] = y->stride[k];
        if (!launch_copy(ctx, xs[i]->ndim, xs[i]->shape, rf_tensor_view(xs[i]), dst, false)) return NULL;
        start += xs[i]->shape[dim];
    }
    if (rf_needs_grad(ctx, xs, n)) {
        rf_node *node = rf_ctx_record(ctx, "concat", concat_backward, y, xs, n);
        concat_params *p = node ? rf_ctx_host_alloc(ctx, sizeof *p) : NULL;
        if (!p) return NULL;
        p->dim = dim;
        node->params = p;
        node->unread = RF_UNREAD_OUT;
        for (int i = 0; i < n; i++) node->unread |= RF_UNREAD_IN(i);
    }
    return y;
}

/* dx += the interior of dy (params: the interior's element offset). */
static void pad_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *x = node->in[0], *dy = node->out->grad;
    if (!x->requires_grad) return;
    bool acc;
    rf_tensor *dx = rf_grad_for_write(ctx, x, &acc);
    if (!dx) return;
    rf_view src = contiguous_view(dy);
    src.off += (size_t)*(const int64_t *)node->params;
    launch_copy(ctx, x->ndim, x->shape, src, contiguous_view(dx), acc);
}

rf_tensor *rf_pad2d(rf_ctx *ctx, rf_tensor *x, int64_t top, int64_t bottom, int64_t left, int64_t right) {
    if (!rf_op_check_f32(ctx, "pad2d", x)) return NULL;
    if (x->ndim < 2 || top < 0 || bottom < 0 || left < 0 || right < 0)
        return fail_shape(ctx, "pad2d", "needs (..., H, W) and non-negative padding, got", x, NULL);
    int64_t shape[RF_MAX_DIMS];
    for (int k = 0; k < x->ndim; k++) shape[k] = x->shape[k];
    shape[x->ndim - 2] += top + bottom;
    shape[x->ndim - 1] += left + right;
    rf_tensor *y = rf_ctx_zeros(ctx, RF_F32, x->ndim, shape);
    if (!y) return NULL;
    int64_t offset = top * y->stride[x->ndim - 2] + left;
    rf_view dst = {y->buffer, y->offset + (size_t)offset, {0}};
    for (int k = 0; k < y->ndim; k++) dst.stride[k] = y->stride[k];
    if (!launch_copy(ctx, x->ndim, x->shape, rf_tensor_view(x), dst, false)) return NULL;
    if (rf_needs_grad(ctx, (rf_tensor *const[]){x}, 1)) {
        rf_node *node = rf_ctx_record(ctx, "pad2d", pad_backward, y, (rf_tensor *const[]){x}, 1);
        int64_t *saved = node ? rf_ctx_host_alloc(ctx, sizeof *saved) : NULL;
        if (!saved) return NULL;
        *saved = offset;
        node->params = saved;
    }
    return y;
}

/* ---- windows ------------------------------------------------------------------------------ */

rf_tensor *rf_window_partition(rf_ctx *ctx, rf_tensor *x, int64_t wh, int64_t ww) {
    if (!rf_op_check_device(ctx, "window_partition", x)) return NULL;
    if (x->ndim != 4 || wh < 1 || ww < 1 || x->shape[1] % wh || x->shape[2] % ww)
        return fail_shape(ctx, "window_partition", "needs (B, H, W, C) with H, W divisible by the window counts, got", x, NULL);
    int64_t b = x->shape[0], h = x->shape[1], w = x->shape[2], c = x->shape[3];
    /* (B, wh, H/wh, ww, W/ww, C) -> (B, wh, ww, H/wh, W/ww, C) -> (B*wh*ww, H/wh*W/ww, C) */
    rf_tensor *t = rf_reshape(ctx, x, 6, (int64_t[]){b, wh, h / wh, ww, w / ww, c});
    t = rf_permute(ctx, t, (int[]){0, 1, 3, 2, 4, 5});
    return rf_reshape(ctx, t, 3, (int64_t[]){b * wh * ww, (h / wh) * (w / ww), c});
}

rf_tensor *rf_window_reverse(rf_ctx *ctx, rf_tensor *x, int64_t b, int64_t h, int64_t w, int64_t wh, int64_t ww) {
    if (!rf_op_check_device(ctx, "window_reverse", x)) return NULL;
    if (x->ndim != 3 || wh < 1 || ww < 1 || h % wh || w % ww || x->shape[0] != b * wh * ww ||
        x->shape[1] != (h / wh) * (w / ww))
        return fail_shape(ctx, "window_reverse", "input does not match the window layout:", x, NULL);
    int64_t c = x->shape[2];
    rf_tensor *t = rf_reshape(ctx, x, 6, (int64_t[]){b, wh, ww, h / wh, w / ww, c});
    t = rf_permute(ctx, t, (int[]){0, 1, 3, 2, 4, 5});
    return rf_reshape(ctx, t, 4, (int64_t[]){b, h, w, c});
}

/* ---- attention ------------------------------------------------------------------------------ */

/* Whether the device's fused attention kernels take these heads, and are
 * its faster way: the cpu's always. The GPU backends' tiled kernels
 * (backend/kernels/attention.h) hold heads up to RF_ATTN_D wide in private
 * rows and need groups of RF_ATTN_ROWS items; and on CPU-backed OpenCL
 * (PoCL), whose compiler does not vectorise their loops across work items
 * while the own GEMM kernel is vectorised by hand, GEMM + softmax + GEMM is
 * 3.3x faster (bench/RESULTS.md), so only GPUs run them. */
static bool attention_fused(const rf_device *dev, const rf_tensor *q, const rf_tensor *v) {
    if (!dev->gpu) return true;
    return dev->info.type == RF_DEVICE_GPU && q->shape[3] <= RF_ATTN_D && v->shape[3] <= RF_ATTN_D &&
           dev->max_group_size >= RF_ATTN_ROWS;
}

/* The composition the fused kernels replace, for the devices above. The
 * scale goes on q rather than on the Lq x Lk scores. */
static rf_tensor *attention_composed(rf_ctx *ctx, rf_tensor *q, rf_tensor *k, rf_tensor *v, rf_tensor *mask,
                                     float scale) {
    rf_tensor *scores = rf_matmul(ctx, rf_scale(ctx, q, scale), k, false, true); /* (B, H, Lq, Lk) */
    return rf_matmul(ctx, rf_softmax(ctx, scores, mask), v, false, false);     /* (B, H, Lq, Dv) */
}

/* A 4-d tensor whose rows (last axis) are contiguous, as the kernel reads it. */
static rf_tensor *rows_contiguous(rf_ctx *ctx, rf_tensor *t) {
    return t && (t->stride[3] == 1 || t->shape[3] == 1) ? t : rf_contiguous(ctx, t);
}

static rf_view attention_view(const rf_tensor *t) {
    return (rf_view){t->buffer, t->offset, {t->stride[0], t->stride[1], t->stride[2], 1}};
}

typedef struct attention_params {
    float scale;
} attention_params;

/* Inputs: q, k, v (and the mask, no gradient); saved[0]: the rows'
 * log-sum-exp. The kernel writes fresh gradients; grad_add hands them
 * over (no copy when a gradient is still empty). */
static void attention_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *q = node->in[0], *k = node->in[1], *v = node->in[2], *o = node->out;
    rf_tensor *mask = node->n_in > 3 ? node->in[3] : NULL;
    const attention_params *p = node->params;
    rf_tensor *dq = rf_ctx_tensor_like(ctx, q), *dk = rf_ctx_tensor_like(ctx, k), *dv = rf_ctx_tensor_like(ctx, v);
    if (!dq || !dk || !dv) return;
    rf_attention_backward_args a = {.batch = q->shape[0], .heads = q->shape[1], .lq = q->shape[2], .lk = k->shape[2],
                                    .head_dim = q->shape[3], .value_dim = v->shape[3], .scale = p->scale,
                                    .q = attention_view(q), .k = attention_view(k), .v = attention_view(v),
                                    .o = attention_view(o), .dout = attention_view(o->grad), .dq = attention_view(dq),
                                    .dk = attention_view(dk), .dv = attention_view(dv), .has_mask = mask != NULL,
                                    .lse = rf_tensor_mem(node->saved[0]), .compute = ctx->precision};
    if (mask) a.mask = rf_tensor_mem(mask);
    if (!rf_op_ok(ctx, rf_kernel_attention_backward(ctx->device, &a))) return;
    grad_add(ctx, q, dq, true);
    grad_add(ctx, k, dk, true);
    grad_add(ctx, v, dv, true);
}

rf_tensor *rf_attention(rf_ctx *ctx, rf_tensor *q, rf_tensor *k, rf_tensor *v, rf_tensor *mask, float scale) {
    if (!rf_op_check_f32(ctx, "attention", q) || !rf_op_check_f32(ctx, "attention", k) ||
        !rf_op_check_f32(ctx, "attention", v))
        return NULL;
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4 || q->shape[3] != k->shape[3] || k->shape[2] != v->shape[2] ||
        q->shape[0] != k->shape[0] || q->shape[1] != k->shape[1] || v->shape[0] != k->shape[0] || v->shape[1] != k->shape[1])
        return fail_shape(ctx, "attention", "expects q (B,H,Lq,D), k (B,H,Lk,D), v (B,H,Lk,Dv); got q, k", q, k);
    if (k->shape[2] == 0) return fail_shape(ctx, "attention", "needs at least one key, got k", k, NULL);
    if (mask) {
        if (!rf_op_check_f32(ctx, "attention mask", mask)) return NULL;
        if (mask->ndim != 2 || mask->shape[0] != q->shape[2] || mask->shape[1] != k->shape[2])
            return fail_shape(ctx, "attention", "mask must be (Lq, Lk) for q (B,H,Lq,D): got", mask, q);
    }
    if (!attention_fused(ctx->device, q, v)) return attention_composed(ctx, q, k, v, mask, scale);
    q = rows_contiguous(ctx, q);
    k = rows_contiguous(ctx, k);
    v = rows_contiguous(ctx, v);
    if (mask) mask = rf_contiguous(ctx, mask);
    int64_t B = q->shape[0], H = q->shape[1], Lq = q->shape[2], Dv = v->shape[3];
    /* Stored (B, Lq, H, Dv) and returned as its (B, H, Lq, Dv) view: the
     * usual next step (heads back beside each other) is then free. */
    rf_tensor *store = rf_ctx_tensor(ctx, RF_F32, 4, (int64_t[]){B, Lq, H, Dv});
    rf_tensor *lse = rf_ctx_tensor(ctx, RF_F32, 3, (int64_t[]){B, H, Lq});
    rf_tensor *o = store ? rf_ctx_view_of(ctx, store) : NULL;
    if (!o || !lse) return NULL;
    o->shape[1] = H, o->shape[2] = Lq;
    o->stride[1] = store->stride[2], o->stride[2] = store->stride[1];
    rf_attention_args a = {.batch = B, .heads = H, .lq = Lq, .lk = k->shape[2], .head_dim = q->shape[3],
                           .value_dim = Dv, .scale = scale, .q = attention_view(q), .k = attention_view(k),
                           .v = attention_view(v), .o = attention_view(o), .has_mask = mask != NULL,
                           .lse = rf_tensor_mem(lse), .compute = ctx->precision};
    if (mask) a.mask = rf_tensor_mem(mask);
    if (B * H * Lq > 0 && !rf_op_ok(ctx, rf_kernel_attention(ctx->device, &a))) return NULL;
    if (rf_needs_grad(ctx, (rf_tensor *const[]){q, k, v}, 3)) {
        rf_tensor *in[4] = {q, k, v, mask};
        rf_node *node = rf_ctx_record(ctx, "attention", attention_backward, o, in, mask ? 4 : 3);
        attention_params *p = node ? rf_ctx_host_alloc(ctx, sizeof *p) : NULL;
        if (!p) return NULL;
        p->scale = scale;
        node->params = p;
        node->saved[0] = lse;
    }
    return o;
}
