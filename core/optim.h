/* optim.h — AdamW with parameter groups, global-norm gradient clipping and
 * the EMA of the weights, over a parameter slab (core/tensor.h rf_params),
 * on the parameters' own device.
 *
 * One optimizer step is one kernel launch over the whole slab: per-tensor
 * learning rates and weight decays (RF-DETR's layer-wise lr decay, its
 * no-decay exemptions) are a segment table uploaded to the device once, and
 * a schedule multiplies every lr by lr_scale at each step. The gradient norm
 * is per-group partial sums of squares on the device finished on the host
 * in double, so it is the same number whatever the device's parallelism. */
#ifndef RFDETR_OPTIM_H
#define RFDETR_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tensor.h"

/* ---- AdamW -------------------------------------------------------------------------- */
typedef struct rf_adamw_config {
    float lr;           /* every tensor's lr until rf_adamw_set_group says otherwise */
    float beta1, beta2, eps;
    float weight_decay; /* likewise */
} rf_adamw_config;

/* torch.optim.AdamW's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8,
 * weight decay 1e-2. */
rf_adamw_config rf_adamw_default_config(void);

typedef struct rf_adamw rf_adamw;

/* An optimizer for every tensor of `params` (finalized), which must outlive
 * it. Allocates params->adam_m and adam_v (zeroed) unless present, so a
 * checkpoint may restore them before the first step. */
rf_status rf_adamw_create(rf_params *params, const rf_adamw_config *config, rf_adamw **out);
void rf_adamw_free(rf_adamw *opt);

/* The lr and weight decay of one parameter (a group is the set of tensors
 * given the same pair). Applies from the next step. */
rf_status rf_adamw_set_group(rf_adamw *opt, const rf_tensor *param, float lr, float weight_decay);

/* One AdamW step (torch.optim.AdamW's update, decoupled weight decay, bias
 * correction with the step count after incrementing it) with every lr
 * multiplied by lr_scale and every gradient by grad_scale (1: as is). The
 * gradients are left as they are (zero them with rf_params_zero_grad). */
rf_status rf_adamw_step(rf_adamw *opt, float lr_scale, float grad_scale);

/* The global L2 norm of all gradients (torch.nn.utils.clip_grad_norm_'s
 * total_norm for norm_type 2). Inf or NaN when a gradient is. */
rf_status rf_adamw_grad_norm(rf_adamw *opt, double *norm);

/* clip_grad_norm_'s factor: max_norm / (norm + 1e-6) when that is below 1,
 * else 1. A non-finite norm gives 0 (Inf) or NaN, as in torch: callers that
 * skip bad steps check the norm first. */
float rf_clip_grad_scale(double norm, double max_norm);

/* Norm, clipping factor and step in one call: max_norm <= 0 disables
 * clipping (the norm is still computed). The gradients hold loss_scale
 * times the true ones (1: unscaled; see rf_loss_scaler): the norm and the
 * step use them divided by it. *norm_out (may be NULL) gets the true norm
 * before clipping. A non-finite norm never reaches the weights: with a loss
 * scale other than 1 that is the scaler's overflow, and the step is skipped
 * (*skipped true; weights, moments and step count as they were); with 1 it
 * is RF_ERR_NUMERIC. skipped may be NULL only when loss_scale is 1. */
rf_status rf_adamw_step_clipped(rf_adamw *opt, float lr_scale, double max_norm, double loss_scale, double *norm_out,
                                bool *skipped);

/* ---- dynamic loss scaling (fp16) ------------------------------------------------------ */
/* fp16 holds magnitudes from 6e-8 to 65504: small gradients of the
 * products' operands flush to zero unless the loss is multiplied first,
 * and a scale too large overflows them. torch.amp.GradScaler's rule, with
 * its defaults: start at 2^16; a step whose gradients are not finite is
 * skipped and halves the scale; 2000 finite steps in a row double it. */
#define RF_LOSS_SCALE_INITIAL 65536.0
#define RF_LOSS_SCALE_GROWTH_INTERVAL 2000
/* Below this, even the gradients of a loss scaled down overflow: fp16 cannot
 * train the model (2^-24 is fp16's smallest subnormal). */
#define RF_LOSS_SCALE_MIN (1.0 / 16777216.0)

typedef struct rf_loss_scaler {
    double scale;       /* a power of two; 1 when not scaling */
    int64_t good_steps; /* finite steps since the scale last changed */
    int64_t skipped;    /* steps skipped in the whole run */
} rf_loss_scaler;

rf_loss_scaler rf_loss_scaler_start(void);
/* After a step: overflowed halves the scale (RF_ERR_NUMERIC once it would
 * fall below RF_LOSS_SCALE_MIN), else a run of good steps doubles it. */
rf_status rf_loss_scaler_update(rf_loss_scaler *s, bool overflowed);

/* Steps taken (torch's state['step']); set it when resuming. */
int64_t rf_adamw_step_count(const rf_adamw *opt);
void rf_adamw_set_step_count(rf_adamw *opt, int64_t steps);

/* ---- EMA of the weights -------------------------------------------------------------- */
/* RF-DETR's ModelEma: a copy of every value of the slab (parameters and any
 * buffers registered there) on the same device, updated after each
 * optimizer step with decay_t = decay * (1 - exp(-updates / tau)) (tau 0:
 * decay as is); updates starts at 1, so the first update keeps only
 * 1 - decay_1 of the old average: useful from the first epoch. */
typedef struct rf_ema rf_ema;

/* Copies the current values (they must be initialised). `params` must
 * outlive the EMA. */
rf_status rf_ema_create(rf_params *params, double decay, double tau, rf_ema **out);
/* Frees the copy (swapping back first if it is swapped in). */
void rf_ema_free(rf_ema *ema);
/* ema = d * ema + (1 - d) * values, d = the decay for the current count;
 * then the count advances. Refused while swapped in. */
rf_status rf_ema_update(rf_ema *ema);
/* The decay the next update will use. */
double rf_ema_next_decay(const rf_ema *ema);
/* Exchanges the EMA weights with the model's without copying (the slabs
 * trade places under the same tensors), so the model evaluates as its EMA;
 * call again to swap back. rf_adamw_step refuses to run while swapped. */
rf_status rf_ema_swap(rf_ema *ema);
bool rf_ema_is_swapped(const rf_ema *ema);
/* The slab holding the EMA weights (laid out as params->values), for
 * checkpoints; and the update count (ModelEma.updates) for resuming. */
rf_buffer *rf_ema_values(const rf_ema *ema);
int64_t rf_ema_updates(const rf_ema *ema);
void rf_ema_set_updates(rf_ema *ema, int64_t updates);

#endif /* RFDETR_OPTIM_H */
