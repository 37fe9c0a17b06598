/* random.h — random tensors and parameter initialisation from the context's
 * counter-based stream.
 *
 * A context carries (seed, offset): every fill draws the Philox blocks
 * [offset, offset + used) of the tensor stream of backend/kernels.h (rng
 * family) and advances offset past them, so successive fills give fresh
 * numbers and a run repeats exactly for a seed — with the same bits on cpu,
 * OpenCL and CUDA, since the stream is integer arithmetic plus one correctly
 * rounded fma per element. The pair is plain data (rf_ctx.rng_seed,
 * rng_offset): a checkpoint saves it, a resume restores it.
 *
 * Fills write into an existing contiguous f32 tensor on the context's device
 * (an arena tensor, or a parameter in its slab) and return it, or NULL after
 * a failure (sticky, as ops). They record nothing on the tape. */
#ifndef RFDETR_RANDOM_H
#define RFDETR_RANDOM_H

#include <stdint.h>

#include "core/tensor.h"

/* Restarts the context's stream at block 0 of `seed`. */
void rf_ctx_set_seed(rf_ctx *ctx, uint64_t seed);

/* Uniform in [lo, hi). */
rf_tensor *rf_rand_uniform(rf_ctx *ctx, rf_tensor *t, float lo, float hi);
/* Normal(mean, std) (the Irwin-Hall approximation: tails end at 6 std). */
rf_tensor *rf_rand_normal(rf_ctx *ctx, rf_tensor *t, float mean, float std);
/* Normal(mean, std) kept within [lo, hi] (absolute bounds, finite, lo < hi),
 * as torch.nn.init.trunc_normal_; the method is in backend/kernels.h. */
rf_tensor *rf_rand_trunc_normal(rf_ctx *ctx, rf_tensor *t, float mean, float std, float lo, float hi);

/* ---- parameter initialisation (torch.nn.init equivalents) ------------------- */
rf_tensor *rf_init_constant(rf_ctx *ctx, rf_tensor *param, float value);
/* trunc_normal_(std=std) with torch's default bounds [-2, 2] (absolute),
 * what the ViT backbone and RF-DETR use for their weights. */
rf_tensor *rf_init_trunc_normal(rf_ctx *ctx, rf_tensor *param, float std);
/* xavier_uniform_: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)), fans
 * as torch computes them: (out, in, k...) has fan_in = in * prod(k). */
rf_tensor *rf_init_xavier_uniform(rf_ctx *ctx, rf_tensor *param, float gain);
/* nn.Linear / nn.Conv2d's default reset_parameters: weight and bias (may be
 * NULL) both U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with
 * a = sqrt(5) gives exactly that bound for the weight). */
rf_tensor *rf_init_linear(rf_ctx *ctx, rf_tensor *weight, rf_tensor *bias);

#endif /* RFDETR_RANDOM_H */
