/* kernel_cases_optim.c — cases for the optimizer family: AdamW over slabs
 * with one or several (lr, weight decay) segments, an empty segment, early
 * and late steps, both branches of torch's lerp, clipping and schedule
 * scales; partial sums of squares for several group sizes; the EMA update
 * across the decays its warm-up produces. */
#include <stdio.h>

#include "kernel_harness.h"

#define TOL 1e-7

typedef struct optim_params {
    int64_t n, segments, step, group_size;
    float beta1, beta2, eps, lr_scale, grad_scale, decay;
} optim_params;

static rf_status launch_adamw(const kcase *c, rf_device *dev, const rf_mem *m) {
    const optim_params *p = KC_CPARAMS(c, optim_params);
    rf_adamw_args a = {.n = p->n, .segments = p->segments, .step = p->step, .beta1 = p->beta1, .beta2 = p->beta2,
                       .eps = p->eps, .lr_scale = p->lr_scale, .grad_scale = p->grad_scale, .param = m[0],
                       .grad = m[1], .m = m[2], .v = m[3], .seg_start = m[4], .seg_lr = m[5], .seg_wd = m[6]};
    return rf_kernel_adamw(dev, &a);
}

static rf_status launch_sumsq(const kcase *c, rf_device *dev, const rf_mem *m) {
    const optim_params *p = KC_CPARAMS(c, optim_params);
    rf_sumsq_args a = {.n = p->n, .group_size = p->group_size, .x = m[0], .out = m[1]};
    return rf_kernel_sumsq(dev, &a);
}

static rf_status launch_ema(const kcase *c, rf_device *dev, const rf_mem *m) {
    const optim_params *p = KC_CPARAMS(c, optim_params);
    rf_ema_args a = {.n = p->n, .decay = p->decay, .x = m[0], .ema = m[1]};
    return rf_kernel_ema(dev, &a);
}

/* Segment tables: one segment, and four with an empty one (RF-DETR's groups
 * differ in lr by layer and exempt norms and biases from weight decay). */
static int32_t seg_one[4][2];
static int32_t seg_four[4][5];
static const float lr_one[1] = {1e-3f}, wd_one[1] = {1e-2f};
static const float lr_four[4] = {1e-4f, 1.5e-4f, 7e-5f, 4e-4f}, wd_four[4] = {1e-4f, 0.0f, 1e-4f, 0.0f};

static void adamw_cases(kcase *cases, int *n, int max) {
    const int64_t sizes[] = {1, 33, 1000, 40001};
    struct {
        int64_t step;
        float beta1, lr_scale, grad_scale;
    } runs[] = {{1, 0.9f, 1.0f, 1.0f}, {10, 0.9f, 0.5f, 0.25f}, {1000, 0.9f, 1.0f, 1.0f}, {3, 0.3f, 2.0f, 1.0f}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int32_t sz = (int32_t)sizes[s];
        seg_one[s][0] = 0;
        seg_one[s][1] = sz;
        int32_t *f = seg_four[s];
        f[0] = 0;
        f[1] = sz / 3;
        f[2] = sz / 3; /* segment 1 is empty */
        f[3] = sz / 2 + (sz > 1);
        f[4] = sz;
        for (int segs = 1; segs <= 4; segs += 3)
            for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
                kcase *c = kc_new(cases, n, max, "optim", "adamw", launch_adamw, TOL);
                if (!c) return;
                *KC_PARAMS(c, optim_params) = (optim_params){.n = sizes[s], .segments = segs, .step = runs[r].step,
                                                             .beta1 = runs[r].beta1, .beta2 = 0.999f, .eps = 1e-8f,
                                                             .lr_scale = runs[r].lr_scale,
                                                             .grad_scale = runs[r].grad_scale};
                size_t nn = (size_t)sizes[s];
                kc_add(c, "param", KC_INOUT, KC_F32, nn, -1, 1);
                kc_add(c, "grad", KC_IN, KC_F32, nn, -0.05f, 0.05f);
                kc_add(c, "m", KC_INOUT, KC_F32, nn, -0.01f, 0.01f);
                kc_add(c, "v", KC_INOUT, KC_F32, nn, 0, 1e-4f);
                kc_add(c, "seg_start", KC_IN, KC_I32, (size_t)segs + 1, 0, 0)->ints = segs == 1 ? seg_one[s] : seg_four[s];
                kc_add(c, "seg_lr", KC_IN, KC_F32, (size_t)segs, 0, 0)->floats = segs == 1 ? lr_one : lr_four;
                kc_add(c, "seg_wd", KC_IN, KC_F32, (size_t)segs, 0, 0)->floats = segs == 1 ? wd_one : wd_four;
                snprintf(c->desc, sizeof c->desc, "ADAMW(n=%lld,segments=%d,step=%lld,beta1=%g,lr_scale=%g,grad_scale=%g)",
                         (long long)sizes[s], segs, (long long)runs[r].step, runs[r].beta1, runs[r].lr_scale,
                         runs[r].grad_scale);
            }
    }
}

static void sumsq_cases(kcase *cases, int *n, int max) {
    const int64_t sizes[] = {1, 1000, 4099, 100003};
    const int64_t groups[] = {1, 7, 256, 4096};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
            if (sizes[s] / groups[g] > 20000) continue; /* keep the case list short */
            kcase *c = kc_new(cases, n, max, "optim", "sumsq", launch_sumsq, TOL);
            if (!c) return;
            *KC_PARAMS(c, optim_params) = (optim_params){.n = sizes[s], .group_size = groups[g]};
            kc_add(c, "x", KC_IN, KC_F32, (size_t)sizes[s], -3, 3);
            kc_add(c, "out", KC_OUT, KC_F32, (size_t)((sizes[s] + groups[g] - 1) / groups[g]), 0, 0);
            snprintf(c->desc, sizeof c->desc, "SUMSQ(n=%lld,group=%lld)", (long long)sizes[s], (long long)groups[g]);
        }
}

static void ema_cases(kcase *cases, int *n, int max) {
    const int64_t sizes[] = {1, 1000, 40001};
    /* 0.993 * (1 - exp(-1/100)): RF-DETR's first decay; then mid-run and late. */
    const float decays[] = {0.00988046f, 0.5f, 0.993f, 0.9997f};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t d = 0; d < sizeof decays / sizeof decays[0]; d++) {
            kcase *c = kc_new(cases, n, max, "optim", "ema", launch_ema, TOL);
            if (!c) return;
            *KC_PARAMS(c, optim_params) = (optim_params){.n = sizes[s], .decay = decays[d]};
            kc_add(c, "x", KC_IN, KC_F32, (size_t)sizes[s], -1, 1);
            kc_add(c, "ema", KC_INOUT, KC_F32, (size_t)sizes[s], -1, 1);
            snprintf(c->desc, sizeof c->desc, "EMA(n=%lld,decay=%g)", (long long)sizes[s], decays[d]);
        }
}

int kc_cases_optim(kcase *cases, int max) {
    int n = 0;
    adamw_cases(cases, &n, max);
    sumsq_cases(cases, &n, max);
    ema_cases(cases, &n, max);
    return n;
}
