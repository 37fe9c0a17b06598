/* ops_sampling.c — the sampling ops: bilinear grid sample, multi-scale
 * deformable attention, row gather (differentiable) and top-k (not). */
#include "backend/status.h"
#include "core/ops.h"
#include "core/ops_vision.h"


static rf_tensor *fail_shapes(rf_ctx *ctx, const char *op, const char *expect, const rf_tensor *a, const rf_tensor *b) {
    char sa[96], sb[96] = "";
    rf_shape_str(a, sa, sizeof sa);
    if (b) rf_shape_str(b, sb, sizeof sb);
    return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "%s: expects %s; got %s%s%s", op, expect, sa, b ? " and " : "", sb);
}

/* The gradient of t when it needs one, else scratch of t's shape for a
 * kernel that always writes (the result is dropped). */
static rf_tensor *grad_or_scratch(rf_ctx *ctx, rf_tensor *t) {
    return t->requires_grad ? rf_grad_of(ctx, t) : rf_ctx_tensor_like(ctx, t);
}

/* ---- grid sample ---------------------------------------------------------------------- */

static void grid_sample_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *x = node->in[0], *grid = node->in[1], *y = node->out;
    rf_tensor *dx = x->requires_grad ? rf_grad_of(ctx, x) : NULL;
    rf_tensor *dgrid = grid->requires_grad ? rf_grad_of(ctx, grid) : NULL;
    if (ctx->status != RF_OK || (!dx && !dgrid)) return;
    rf_grid_sample_backward_args a = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], y->shape[2], y->shape[3],
                                      rf_tensor_mem(x), rf_tensor_mem(grid), rf_tensor_mem(y->grad),
                                      dx != NULL, dgrid != NULL, true,
                                      dx ? rf_tensor_mem(dx) : (rf_mem){0}, dgrid ? rf_tensor_mem(dgrid) : (rf_mem){0}};
    rf_op_ok(ctx, rf_kernel_grid_sample_backward(ctx->device, &a));
}

rf_tensor *rf_grid_sample(rf_ctx *ctx, rf_tensor *x, rf_tensor *grid) {
    if (!rf_op_check_f32(ctx, "grid_sample", x) || !rf_op_check_f32(ctx, "grid_sample", grid)) return NULL;
    if (x->ndim != 4 || grid->ndim != 4 || grid->shape[0] != x->shape[0] || grid->shape[3] != 2)
        return fail_shapes(ctx, "grid_sample", "x (N, C, H, W) and grid (N, Ho, Wo, 2)", x, grid);
    x = rf_contiguous(ctx, x);
    grid = rf_contiguous(ctx, grid);
    if (!x || !grid) return NULL;
    rf_tensor *y = rf_ctx_tensor(ctx, RF_F32, 4, (int64_t[]){x->shape[0], x->shape[1], grid->shape[1], grid->shape[2]});
    if (!y) return NULL;
    rf_grid_sample_args a = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], grid->shape[1], grid->shape[2],
                             rf_tensor_mem(x), rf_tensor_mem(grid), rf_tensor_mem(y)};
    if (rf_tensor_numel(y) && !rf_op_ok(ctx, rf_kernel_grid_sample(ctx->device, &a))) return NULL;
    rf_tensor *inputs[2] = {x, grid};
    if (rf_needs_grad(ctx, inputs, 2) && !rf_ctx_record(ctx, "grid_sample", grid_sample_backward, y, inputs, 2))
        return NULL;
    return y;
}

/* ---- deformable attention ------------------------------------------------------------- */

/* Node inputs: value, locations, weights; saved: level shapes and starts
 * (int32, on the device). */
static rf_deform_attn_backward_args deform_backward_args(const rf_node *node) {
    rf_tensor *value = node->in[0], *loc = node->in[1];
    rf_deform_attn_backward_args a = {value->shape[0], value->shape[1], value->shape[2], value->shape[3],
                                      loc->shape[1], loc->shape[3], loc->shape[4]};
    a.value = rf_tensor_mem(value);
    a.level_shapes = rf_tensor_mem(node->saved[0]);
    a.level_start = rf_tensor_mem(node->saved[1]);
    a.sampling_locations = rf_tensor_mem(loc);
    a.attention_weights = rf_tensor_mem(node->in[2]);
    return a;
}

static void deform_attn_backward(rf_ctx *ctx, rf_node *node) {
    rf_deform_attn_backward_args a = deform_backward_args(node);
    rf_tensor *dvalue = grad_or_scratch(ctx, node->in[0]), *dloc = grad_or_scratch(ctx, node->in[1]);
    rf_tensor *dattn = grad_or_scratch(ctx, node->in[2]);
    if (!dvalue || !dloc || !dattn) return;
    a.doutput = rf_tensor_mem(node->out->grad);
    a.dvalue = rf_tensor_mem(dvalue);
    a.dsampling_locations = rf_tensor_mem(dloc);
    a.dattention_weights = rf_tensor_mem(dattn);
    rf_op_ok(ctx, rf_kernel_deform_attn_backward(ctx->device, &a));
}

rf_tensor *rf_deform_attn(rf_ctx *ctx, rf_tensor *value, const int64_t (*level_hw)[2], int levels,
                          rf_tensor *sampling_locations, rf_tensor *attention_weights) {
    rf_tensor *loc = sampling_locations, *attn = attention_weights;
    if (!rf_op_check_f32(ctx, "deform_attn", value) || !rf_op_check_f32(ctx, "deform_attn", loc) ||
        !rf_op_check_f32(ctx, "deform_attn", attn))
        return NULL;
    if (levels < 1 || !level_hw) return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "deform_attn: %d levels", levels);
    int32_t *shapes = rf_ctx_host_alloc(ctx, (size_t)levels * 3 * sizeof *shapes);
    if (!shapes) return NULL;
    int32_t *starts = shapes + 2 * levels;
    int64_t total = 0;
    for (int l = 0; l < levels; l++) {
        if (level_hw[l][0] < 1 || level_hw[l][1] < 1 || level_hw[l][0] * level_hw[l][1] > INT32_MAX - total)
            return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "deform_attn: level %d is %lldx%lld", l,
                               (long long)level_hw[l][0], (long long)level_hw[l][1]);
        shapes[2 * l] = (int32_t)level_hw[l][0];
        shapes[2 * l + 1] = (int32_t)level_hw[l][1];
        starts[l] = (int32_t)total;
        total += level_hw[l][0] * level_hw[l][1];
    }
    if (value->ndim != 4 || value->shape[1] != total)
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "deform_attn: value must be (B, %lld, H, D) for these levels",
                           (long long)total);
    int64_t b = value->shape[0], h = value->shape[2], d = value->shape[3];
    if (loc->ndim != 6 || loc->shape[0] != b || loc->shape[2] != h || loc->shape[3] != levels || loc->shape[5] != 2)
        return fail_shapes(ctx, "deform_attn", "value (B, S, H, D) and sampling_locations (B, Q, H, L, P, 2)", value, loc);
    int64_t q = loc->shape[1], p = loc->shape[4];
    if (attn->ndim != 5)
        return fail_shapes(ctx, "deform_attn", "attention_weights (B, Q, H, L, P)", attn, NULL);
    for (int i = 0; i < 5; i++)
        if (attn->shape[i] != loc->shape[i])
            return fail_shapes(ctx, "deform_attn", "attention_weights (B, Q, H, L, P) matching the locations", attn, loc);
    value = rf_contiguous(ctx, value);
    loc = rf_contiguous(ctx, loc);
    attn = rf_contiguous(ctx, attn);
    rf_tensor *shapes_t = rf_ctx_from_host(ctx, RF_I32, 2, (int64_t[]){levels, 2}, shapes);
    rf_tensor *starts_t = rf_ctx_from_host(ctx, RF_I32, 1, (int64_t[]){levels}, starts);
    rf_tensor *y = rf_ctx_tensor(ctx, RF_F32, 3, (int64_t[]){b, q, h * d});
    if (!value || !loc || !attn || !shapes_t || !starts_t || !y) return NULL;
    rf_deform_attn_args a = {b, total, h, d, q, levels, p, rf_tensor_mem(value), rf_tensor_mem(shapes_t),
                             rf_tensor_mem(starts_t), rf_tensor_mem(loc), rf_tensor_mem(attn), rf_tensor_mem(y)};
    if (rf_tensor_numel(y) && !rf_op_ok(ctx, rf_kernel_deform_attn(ctx->device, &a))) return NULL;
    rf_tensor *inputs[3] = {value, loc, attn};
    if (rf_needs_grad(ctx, inputs, 3)) {
        rf_node *node = rf_ctx_record(ctx, "deform_attn", deform_attn_backward, y, inputs, 3);
        if (!node) return NULL;
        node->saved[0] = shapes_t;
        node->saved[1] = starts_t;
    }
    return y;
}

/* ---- gather rows ------------------------------------------------------------------------ */

static void gather_rows_backward(rf_ctx *ctx, rf_node *node) {
    rf_tensor *src = node->in[0], *idx = node->saved[0], *dy = node->out->grad;
    if (!src->requires_grad) return;
    rf_tensor *dsrc = rf_grad_of(ctx, src);
    if (!dsrc) return;
    int64_t batch = src->ndim == 3 ? src->shape[0] : 1, cols = src->shape[src->ndim - 1];
    rf_gather_rows_backward_args a = {batch, src->shape[src->ndim - 2], cols, idx->shape[idx->ndim - 1],
                                      rf_tensor_mem(dy), rf_tensor_mem(idx), rf_tensor_mem(dsrc)};
    if (batch * cols > 0) rf_op_ok(ctx, rf_kernel_gather_rows_backward(ctx->device, &a));
}

rf_tensor *rf_gather_rows(rf_ctx *ctx, rf_tensor *src, rf_tensor *indices) {
    if (!rf_op_check_f32(ctx, "gather_rows", src) || !rf_op_check_device(ctx, "gather_rows", indices)) return NULL;
    bool batched = src->ndim == 3;
    if (indices->dtype != RF_I32 || (src->ndim != 2 && src->ndim != 3) || indices->ndim != src->ndim - 1 ||
        (batched && indices->shape[0] != src->shape[0]))
        return fail_shapes(ctx, "gather_rows", "src (B, N, C) f32 with indices (B, K) int32, or (N, C) with (K)", src, indices);
    int64_t batch = batched ? src->shape[0] : 1, rows = src->shape[src->ndim - 2], cols = src->shape[src->ndim - 1];
    int64_t count = indices->shape[indices->ndim - 1];
    src = rf_contiguous(ctx, src);
    indices = rf_contiguous(ctx, indices);
    int64_t shape[3] = {batch, count, cols};
    rf_tensor *y = rf_ctx_tensor(ctx, RF_F32, src->ndim, batched ? shape : shape + 1);
    if (!src || !indices || !y) return NULL;
    rf_gather_rows_args a = {batch, rows, cols, count, rf_tensor_mem(src), rf_tensor_mem(indices), rf_tensor_mem(y)};
    if (rf_tensor_numel(y) && !rf_op_ok(ctx, rf_kernel_gather_rows(ctx->device, &a))) return NULL;
    if (rf_needs_grad(ctx, (rf_tensor *const[]){src}, 1)) {
        rf_node *node = rf_ctx_record(ctx, "gather_rows", gather_rows_backward, y, (rf_tensor *const[]){src}, 1);
        if (!node) return NULL;
        node->saved[0] = indices;
    }
    return y;
}

/* ---- top-k ---------------------------------------------------------------------------- */

rf_tensor *rf_topk(rf_ctx *ctx, rf_tensor *x, int64_t k, rf_tensor **indices) {
    if (indices) *indices = NULL;
    if (!rf_op_check_f32(ctx, "topk", x)) return NULL;
    if (x->ndim < 1 || k < 0 || k > x->shape[x->ndim - 1])
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "topk: k = %lld of a last axis of %lld", (long long)k,
                           x->ndim ? (long long)x->shape[x->ndim - 1] : 0LL);
    x = rf_contiguous(ctx, x);
    if (!x) return NULL;
    int64_t shape[RF_MAX_DIMS], cols = x->shape[x->ndim - 1];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = k;
    rf_tensor *values = rf_ctx_tensor(ctx, RF_F32, x->ndim, shape), *idx = rf_ctx_tensor(ctx, RF_I32, x->ndim, shape);
    if (!values || !idx) return NULL;
    rf_topk_args a = {cols ? rf_tensor_numel(x) / cols : 0, cols, k, rf_tensor_mem(x), rf_tensor_mem(values),
                      rf_tensor_mem(idx)};
    if (rf_tensor_numel(values) && !rf_op_ok(ctx, rf_kernel_topk(ctx->device, &a))) return NULL;
    if (indices) *indices = idx;
    return values;
}
