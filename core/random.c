/* random.c — fills from the context's Philox stream and the initialisers
 * built on them. */
#include "core/random.h"

#include <math.h>

#include "core/ops.h"

void rf_ctx_set_seed(rf_ctx *ctx, uint64_t seed) {
    ctx->rng_seed = seed;
    ctx->rng_offset = 0;
}

static rf_tensor *fill(rf_ctx *ctx, const char *name, rf_tensor *t, rf_rng_dist dist, float a, float b, float lo,
                       float hi) {
    if (!rf_op_check_f32(ctx, name, t)) return NULL;
    if (!rf_tensor_is_contiguous(t)) return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "%s: the tensor must be contiguous", name);
    int64_t n = rf_tensor_numel(t);
    rf_rng_args args = {.dist = dist, .n = n, .seed = ctx->rng_seed, .offset = ctx->rng_offset, .a = a, .b = b,
                        .lo = lo, .hi = hi, .out = rf_tensor_mem(t)};
    rf_buffer_written(t->buffer);
    if (n > 0 && !rf_op_ok(ctx, rf_kernel_fill(ctx->device, &args))) return NULL;
    ctx->rng_offset += rf_rng_blocks(dist, n);
    return t;
}

rf_tensor *rf_rand_uniform(rf_ctx *ctx, rf_tensor *t, float lo, float hi) {
    if (ctx->status == RF_OK && !(lo <= hi && isfinite(lo) && isfinite(hi)))
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "rand_uniform: needs finite lo <= hi, got [%g, %g)", lo, hi);
    return fill(ctx, "rand_uniform", t, RF_RNG_UNIFORM, lo, hi, 0, 0);
}

rf_tensor *rf_rand_normal(rf_ctx *ctx, rf_tensor *t, float mean, float std) {
    if (ctx->status == RF_OK && !(std >= 0 && isfinite(std) && isfinite(mean)))
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "rand_normal: needs finite mean and std >= 0, got %g, %g", mean, std);
    return fill(ctx, "rand_normal", t, RF_RNG_NORMAL, mean, std, 0, 0);
}

rf_tensor *rf_rand_trunc_normal(rf_ctx *ctx, rf_tensor *t, float mean, float std, float lo, float hi) {
    if (ctx->status == RF_OK &&
        !(std >= 0 && isfinite(std) && isfinite(mean) && isfinite(lo) && isfinite(hi) && lo < hi))
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT,
                           "rand_trunc_normal: needs finite mean, std >= 0 and finite lo < hi, got %g, %g, [%g, %g]",
                           mean, std, lo, hi);
    return fill(ctx, "rand_trunc_normal", t, RF_RNG_TRUNC_NORMAL, mean, std, lo, hi);
}

rf_tensor *rf_init_constant(rf_ctx *ctx, rf_tensor *param, float value) {
    if (!rf_op_check_f32(ctx, "init_constant", param)) return NULL;
    if (!rf_tensor_is_contiguous(param))
        return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "init_constant: the tensor must be contiguous");
    int64_t n = rf_tensor_numel(param);
    if (n > 0 && !rf_op_ok(ctx, rf_buffer_fill_f32(param->buffer, param->offset * 4, (size_t)n, value))) return NULL;
    return param;
}

rf_tensor *rf_init_trunc_normal(rf_ctx *ctx, rf_tensor *param, float std) {
    return rf_rand_trunc_normal(ctx, param, 0.0f, std, -2.0f, 2.0f);
}

/* torch.nn.init._calculate_fan_in_and_fan_out. */
static bool fans(rf_ctx *ctx, const char *name, const rf_tensor *w, double *fan_in, double *fan_out) {
    if (!rf_op_check_f32(ctx, name, w)) return false;
    if (w->ndim < 2) {
        rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "%s: fans need a weight of rank >= 2, got rank %d", name, w->ndim);
        return false;
    }
    double receptive = 1;
    for (int i = 2; i < w->ndim; i++) receptive *= (double)w->shape[i];
    *fan_in = (double)w->shape[1] * receptive;
    *fan_out = (double)w->shape[0] * receptive;
    return true;
}

rf_tensor *rf_init_xavier_uniform(rf_ctx *ctx, rf_tensor *param, float gain) {
    double fan_in, fan_out;
    if (!fans(ctx, "init_xavier_uniform", param, &fan_in, &fan_out)) return NULL;
    float a = (float)(gain * sqrt(6.0 / (fan_in + fan_out)));
    return rf_rand_uniform(ctx, param, -a, a);
}

rf_tensor *rf_init_linear(rf_ctx *ctx, rf_tensor *weight, rf_tensor *bias) {
    double fan_in, fan_out;
    if (!fans(ctx, "init_linear", weight, &fan_in, &fan_out)) return NULL;
    float bound = fan_in > 0 ? (float)(1.0 / sqrt(fan_in)) : 0.0f;
    if (!rf_rand_uniform(ctx, weight, -bound, bound)) return NULL;
    if (bias && !rf_rand_uniform(ctx, bias, -bound, bound)) return NULL;
    return weight;
}
