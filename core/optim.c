/* optim.c — AdamW with parameter groups, gradient norm and clipping, and the
 * EMA of the weights, each a launch or two over the parameter slabs. */
#include "core/optim.h"

#include <math.h>
#include <stdlib.h>

#include "backend/status.h"

/* Elements per partial sum of squares: the partition fixes the summation
 * order, so it depends only on the slab size, never on the device. */
#define SUMSQ_GROUP 2048

struct rf_adamw {
    rf_params *params;
    rf_adamw_config config;
    float *lr, *wd;           /* per tensor, registration order */
    bool table_dirty;
    int64_t segments;
    rf_buffer *seg_start, *seg_lr, *seg_wd; /* (count + 1) int32, count f32, count f32 */
    int64_t groups;
    rf_buffer *partials;      /* groups f32 */
    float *host_partials;
    const rf_buffer *values;  /* params->values when created: differs while an EMA is swapped in */
    int64_t steps;
};

rf_adamw_config rf_adamw_default_config(void) {
    return (rf_adamw_config){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-2f};
}

static rf_status alloc_zeroed(rf_device *dev, size_t bytes, rf_buffer **out) {
    RF_TRY(rf_buffer_alloc(dev, bytes ? bytes : 4, out));
    return rf_buffer_fill_u32(*out, 0, (bytes ? bytes : 4) / 4, 0);
}

rf_status rf_adamw_create(rf_params *params, const rf_adamw_config *config, rf_adamw **out) {
    *out = NULL;
    if (!params || !params->finalized) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "adamw: parameters not finalized");
    if (params->total > INT32_MAX)
        return RF_ERROR(RF_ERR_UNSUPPORTED, "adamw: %lld parameters exceed the int32 segment table",
                        (long long)params->total);
    if (!(config->beta1 >= 0 && config->beta1 < 1 && config->beta2 >= 0 && config->beta2 < 1 && config->eps >= 0))
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "adamw: betas must be in [0, 1) and eps >= 0");
    rf_adamw *opt = calloc(1, sizeof *opt);
    size_t count = params->count ? params->count : 1;
    if (opt) {
        opt->lr = malloc(count * sizeof *opt->lr);
        opt->wd = malloc(count * sizeof *opt->wd);
        opt->groups = (params->total + SUMSQ_GROUP - 1) / SUMSQ_GROUP;
        opt->host_partials = malloc((size_t)(opt->groups ? opt->groups : 1) * sizeof *opt->host_partials);
    }
    if (!opt || !opt->lr || !opt->wd || !opt->host_partials) {
        rf_adamw_free(opt);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    opt->params = params;
    opt->config = *config;
    opt->values = params->values;
    opt->table_dirty = true;
    for (size_t i = 0; i < params->count; i++) {
        opt->lr[i] = config->lr;
        opt->wd[i] = config->weight_decay;
    }
    size_t slab = (size_t)params->total * sizeof(float);
    rf_device *dev = params->device;
    rf_status s = RF_OK;
    if (!params->adam_m) s = alloc_zeroed(dev, slab, &params->adam_m);
    if (s == RF_OK && !params->adam_v) s = alloc_zeroed(dev, slab, &params->adam_v);
    if (s == RF_OK) s = rf_buffer_alloc(dev, (count + 1) * sizeof(int32_t), &opt->seg_start);
    if (s == RF_OK) s = rf_buffer_alloc(dev, count * sizeof(float), &opt->seg_lr);
    if (s == RF_OK) s = rf_buffer_alloc(dev, count * sizeof(float), &opt->seg_wd);
    if (s == RF_OK) s = rf_buffer_alloc(dev, (size_t)(opt->groups ? opt->groups : 1) * sizeof(float), &opt->partials);
    if (s != RF_OK) {
        rf_adamw_free(opt);
        return rf_error_prefix(s, "adamw state on %s: ", dev->info.name);
    }
    *out = opt;
    return RF_OK;
}

void rf_adamw_free(rf_adamw *opt) {
    if (!opt) return;
    rf_buffer_free(opt->seg_start);
    rf_buffer_free(opt->seg_lr);
    rf_buffer_free(opt->seg_wd);
    rf_buffer_free(opt->partials);
    free(opt->lr);
    free(opt->wd);
    free(opt->host_partials);
    free(opt);
}

rf_status rf_adamw_set_group(rf_adamw *opt, const rf_tensor *param, float lr, float weight_decay) {
    const rf_params *p = opt->params;
    for (size_t i = 0; i < p->count; i++)
        if (p->tensors[i] == param) {
            opt->lr[i] = lr;
            opt->wd[i] = weight_decay;
            opt->table_dirty = true;
            return RF_OK;
        }
    return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "adamw: %s is not a parameter of this optimizer",
                    param && param->name ? param->name : "the tensor");
}

/* Segments: runs of consecutive tensors sharing (lr, wd); a tensor's segment
 * starts at its slab offset (the first at 0) and runs to the next tensor's,
 * so alignment padding (zero, and kept zero by AdamW) belongs to it. */
static rf_status upload_table(rf_adamw *opt) {
    const rf_params *p = opt->params;
    size_t count = p->count;
    int32_t *start = malloc((count + 1) * sizeof *start);
    float *lr = malloc((count ? count : 1) * sizeof *lr), *wd = malloc((count ? count : 1) * sizeof *wd);
    if (!start || !lr || !wd) {
        free(start);
        free(lr);
        free(wd);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    int64_t segs = 0;
    for (size_t i = 0; i < count; i++) {
        if (segs > 0 && lr[segs - 1] == opt->lr[i] && wd[segs - 1] == opt->wd[i]) continue;
        start[segs] = segs == 0 ? 0 : (int32_t)rf_params_offset(p->tensors[i]);
        lr[segs] = opt->lr[i];
        wd[segs] = opt->wd[i];
        segs++;
    }
    start[segs] = (int32_t)p->total;
    rf_status s = rf_buffer_upload(opt->seg_start, 0, start, (size_t)(segs + 1) * sizeof *start);
    if (s == RF_OK && segs) s = rf_buffer_upload(opt->seg_lr, 0, lr, (size_t)segs * sizeof *lr);
    if (s == RF_OK && segs) s = rf_buffer_upload(opt->seg_wd, 0, wd, (size_t)segs * sizeof *wd);
    free(start);
    free(lr);
    free(wd);
    if (s == RF_OK) {
        opt->segments = segs;
        opt->table_dirty = false;
    }
    return s;
}

rf_status rf_adamw_step(rf_adamw *opt, float lr_scale, float grad_scale) {
    rf_params *p = opt->params;
    if (p->values != opt->values)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "adamw: EMA weights are swapped in; swap them back before a step");
    if (opt->table_dirty) RF_TRY(upload_table(opt));
    int64_t t = opt->steps + 1;
    if (p->total > 0) {
        rf_adamw_args a = {.n = p->total, .segments = opt->segments, .step = t, .beta1 = opt->config.beta1,
                           .beta2 = opt->config.beta2, .eps = opt->config.eps, .lr_scale = lr_scale,
                           .grad_scale = grad_scale, .param = {p->values, 0}, .grad = {p->grads, 0},
                           .m = {p->adam_m, 0}, .v = {p->adam_v, 0}, .seg_start = {opt->seg_start, 0},
                           .seg_lr = {opt->seg_lr, 0}, .seg_wd = {opt->seg_wd, 0}};
        rf_buffer_written(p->values);
        RF_TRY(rf_kernel_adamw(p->device, &a));
    }
    opt->steps = t;
    return RF_OK;
}

rf_status rf_adamw_grad_norm(rf_adamw *opt, double *norm) {
    rf_params *p = opt->params;
    *norm = 0;
    if (p->total == 0) return RF_OK;
    rf_sumsq_args a = {.n = p->total, .group_size = SUMSQ_GROUP, .x = {p->grads, 0}, .out = {opt->partials, 0}};
    RF_TRY(rf_kernel_sumsq(p->device, &a));
    RF_TRY(rf_buffer_download(opt->partials, 0, opt->host_partials, (size_t)opt->groups * sizeof(float)));
    double sum = 0;
    for (int64_t g = 0; g < opt->groups; g++) sum += (double)opt->host_partials[g];
    *norm = sqrt(sum);
    return RF_OK;
}

float rf_clip_grad_scale(double norm, double max_norm) {
    double coef = max_norm / (norm + 1e-6);
    return coef < 1.0 || isnan(coef) ? (float)coef : 1.0f;
}

rf_status rf_adamw_step_clipped(rf_adamw *opt, float lr_scale, double max_norm, double loss_scale, double *norm_out,
                                bool *skipped) {
    if (skipped) *skipped = false;
    if (!(loss_scale > 0) || (loss_scale != 1.0 && !skipped))
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "adamw: loss scale %g (needs > 0, and a skip flag when not 1)",
                        loss_scale);
    double scaled = 0;
    RF_TRY(rf_adamw_grad_norm(opt, &scaled));
    double norm = scaled / loss_scale;
    if (norm_out) *norm_out = norm;
    if (!isfinite(scaled)) {
        if (loss_scale == 1.0)
            return RF_ERROR(RF_ERR_NUMERIC, "the gradient norm is %s: the step would make the weights NaN",
                            isnan(scaled) ? "NaN" : "infinite");
        *skipped = true;
        return RF_OK;
    }
    /* loss_scale is a power of two: dividing by it is exact, so clipping
     * and unscaling are one factor, as GradScaler's unscale then clip. */
    double clip = max_norm > 0 ? rf_clip_grad_scale(norm, max_norm) : 1.0;
    return rf_adamw_step(opt, lr_scale, (float)(clip / loss_scale));
}

rf_loss_scaler rf_loss_scaler_start(void) { return (rf_loss_scaler){.scale = RF_LOSS_SCALE_INITIAL}; }

rf_status rf_loss_scaler_update(rf_loss_scaler *s, bool overflowed) {
    if (overflowed) {
        s->skipped++;
        s->good_steps = 0;
        if (s->scale / 2 < RF_LOSS_SCALE_MIN)
            return RF_ERROR(RF_ERR_NUMERIC,
                            "fp16 gradients overflow even with the loss scaled down to %g: the model does not fit "
                            "fp16's range; train with --precision bf16 or f32",
                            s->scale);
        s->scale /= 2;
        return RF_OK;
    }
    if (++s->good_steps >= RF_LOSS_SCALE_GROWTH_INTERVAL) {
        s->scale *= 2;
        s->good_steps = 0;
    }
    return RF_OK;
}

int64_t rf_adamw_step_count(const rf_adamw *opt) { return opt->steps; }
void rf_adamw_set_step_count(rf_adamw *opt, int64_t steps) { opt->steps = steps; }

/* ---- EMA ------------------------------------------------------------------------------- */

struct rf_ema {
    rf_params *params;
    rf_buffer *values;
    double decay, tau;
    int64_t updates;
    bool swapped;
};

rf_status rf_ema_create(rf_params *params, double decay, double tau, rf_ema **out) {
    *out = NULL;
    if (!params || !params->finalized) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "ema: parameters not finalized");
    if (!(decay >= 0 && decay <= 1 && tau >= 0))
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "ema: needs decay in [0, 1] and tau >= 0, got %g, %g", decay, tau);
    rf_ema *ema = calloc(1, sizeof *ema);
    if (!ema) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    *ema = (rf_ema){.params = params, .decay = decay, .tau = tau, .updates = 1};
    rf_status s = rf_buffer_alloc(params->device, params->values->bytes, &ema->values);
    if (s == RF_OK) ema->values->holds_weights = true; /* swapped in for evaluation */
    if (s == RF_OK) s = rf_buffer_copy(ema->values, 0, params->values, 0, params->values->bytes);
    if (s != RF_OK) {
        rf_ema_free(ema);
        return rf_error_prefix(s, "ema weights on %s: ", params->device->info.name);
    }
    *out = ema;
    return RF_OK;
}

void rf_ema_free(rf_ema *ema) {
    if (!ema) return;
    if (ema->swapped) rf_ema_swap(ema);
    rf_buffer_free(ema->values);
    free(ema);
}

double rf_ema_next_decay(const rf_ema *ema) {
    return ema->tau == 0 ? ema->decay : ema->decay * (1.0 - exp(-(double)ema->updates / ema->tau));
}

rf_status rf_ema_update(rf_ema *ema) {
    if (ema->swapped) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "ema: swapped in; swap back before updating");
    rf_params *p = ema->params;
    if (p->total > 0) {
        rf_ema_args a = {.n = p->total, .decay = (float)rf_ema_next_decay(ema), .x = {p->values, 0},
                         .ema = {ema->values, 0}};
        rf_buffer_written(ema->values);
        RF_TRY(rf_kernel_ema(p->device, &a));
    }
    ema->updates++;
    return RF_OK;
}

rf_status rf_ema_swap(rf_ema *ema) {
    rf_params *p = ema->params;
    rf_buffer *model = p->values;
    p->values = ema->values;
    ema->values = model;
    for (size_t i = 0; i < p->count; i++) p->tensors[i]->buffer = p->values;
    ema->swapped = !ema->swapped;
    return RF_OK;
}

bool rf_ema_is_swapped(const rf_ema *ema) { return ema->swapped; }
rf_buffer *rf_ema_values(const rf_ema *ema) { return ema->swapped ? ema->params->values : ema->values; }
int64_t rf_ema_updates(const rf_ema *ema) { return ema->updates; }
void rf_ema_set_updates(rf_ema *ema, int64_t updates) { ema->updates = updates; }
