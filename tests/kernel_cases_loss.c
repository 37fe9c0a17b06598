/* kernel_cases_loss.c — cases for the loss kernel family: weighted sigmoid
 * BCE (with and without weight gradients, logits large enough to need the
 * stable forms, +-Inf) and the L1 + GIoU box losses on boxes in general
 * position plus the degenerate pairs (identical, disjoint, nested, clamped
 * negative size, zero area, both empty). */
#include <math.h>
#include <stdio.h>

#include "kernel_harness.h"
#include "test_util.h"

#define TOL 1e-7

typedef struct loss_params {
    int64_t n;
    bool accumulate, dweights;
} loss_params;

static rf_status launch_bce(const kcase *c, rf_device *dev, const rf_mem *m) {
    rf_bce_args a = {.n = KC_CPARAMS(c, loss_params)->n, .x = m[0], .pos_w = m[1], .neg_w = m[2], .loss = m[3]};
    return rf_kernel_bce(dev, &a);
}

static rf_status launch_bce_backward(const kcase *c, rf_device *dev, const rf_mem *m) {
    const loss_params *p = KC_CPARAMS(c, loss_params);
    rf_bce_backward_args a = {.n = p->n, .x = m[0], .pos_w = m[1], .neg_w = m[2], .dloss = m[3], .dx = m[4],
                              .accumulate = p->accumulate, .has_dweights = p->dweights};
    if (p->dweights) {
        a.dpos_w = m[5];
        a.dneg_w = m[6];
    }
    return rf_kernel_bce_backward(dev, &a);
}

static rf_status launch_box_loss(const kcase *c, rf_device *dev, const rf_mem *m) {
    rf_box_loss_args a = {.n = KC_CPARAMS(c, loss_params)->n, .pred = m[0], .target = m[1], .l1 = m[2], .giou = m[3]};
    return rf_kernel_box_loss(dev, &a);
}

static rf_status launch_box_loss_backward(const kcase *c, rf_device *dev, const rf_mem *m) {
    const loss_params *p = KC_CPARAMS(c, loss_params);
    rf_box_loss_backward_args a = {.n = p->n, .pred = m[0], .target = m[1], .dl1 = m[2], .dgiou = m[3],
                                   .dpred = m[4], .accumulate = p->accumulate};
    return rf_kernel_box_loss_backward(dev, &a);
}

/* Logits across the range where softplus needs its stable form, and Inf. */
static float special_logits[12] = {-INFINITY, -200, -30, -5, -1e-3f, 0, 1e-3f, 5, 30, 200, INFINITY, 0.5f};

static void bce_cases(kcase *cases, int *n, int max) {
    const int64_t sizes[] = {1, 7, 1000, 4097, 12};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        bool special = sizes[s] == 12;
        kcase *c = kc_new(cases, n, max, "loss", "bce", launch_bce, TOL);
        if (!c) return;
        *KC_PARAMS(c, loss_params) = (loss_params){sizes[s], false, false};
        kc_buf *x = kc_add(c, "x", KC_IN, KC_F32, (size_t)sizes[s], -40, 40);
        if (special) x->floats = special_logits;
        kc_add(c, "pos_w", KC_IN, KC_F32, (size_t)sizes[s], 0, 1);
        kc_add(c, "neg_w", KC_IN, KC_F32, (size_t)sizes[s], 0, 1);
        kc_add(c, "loss", KC_OUT, KC_F32, (size_t)sizes[s], 0, 0);
        snprintf(c->desc, sizeof c->desc, "BCE(n=%lld%s)", (long long)sizes[s], special ? ",logits=special" : "");
        for (int acc = 0; acc < 2; acc++)
            for (int dw = 0; dw < 2; dw++) {
                c = kc_new(cases, n, max, "loss", "bce_backward", launch_bce_backward, TOL);
                if (!c) return;
                *KC_PARAMS(c, loss_params) = (loss_params){sizes[s], acc, dw};
                x = kc_add(c, "x", KC_IN, KC_F32, (size_t)sizes[s], -40, 40);
                if (special) x->floats = special_logits;
                kc_add(c, "pos_w", KC_IN, KC_F32, (size_t)sizes[s], 0, 1);
                kc_add(c, "neg_w", KC_IN, KC_F32, (size_t)sizes[s], 0, 1);
                kc_add(c, "dloss", KC_IN, KC_F32, (size_t)sizes[s], -1, 1);
                kc_add(c, "dx", acc ? KC_INOUT : KC_OUT, KC_F32, (size_t)sizes[s], -1, 1);
                if (dw) {
                    kc_add(c, "dpos_w", KC_INOUT, KC_F32, (size_t)sizes[s], -1, 1);
                    kc_add(c, "dneg_w", KC_INOUT, KC_F32, (size_t)sizes[s], -1, 1);
                }
                snprintf(c->desc, sizeof c->desc, "BCE_BACKWARD(n=%lld%s,acc=%d,dweights=%d)", (long long)sizes[s],
                         special ? ",logits=special" : "", acc, dw);
            }
    }
}

/* Box pairs (cx, cy, w, h): random ones in general position after a fixed
 * set of degenerate pairs. */
enum { SPECIAL_PAIRS = 9, MAX_PAIRS = 3000 };
static const float special_boxes[SPECIAL_PAIRS][2][4] = {
    {{0.5f, 0.5f, 0.2f, 0.3f}, {0.5f, 0.5f, 0.2f, 0.3f}},    /* identical: every max/min ties */
    {{0.2f, 0.2f, 0.1f, 0.1f}, {0.8f, 0.7f, 0.2f, 0.1f}},    /* disjoint: zero overlap */
    {{0.5f, 0.5f, 0.1f, 0.1f}, {0.52f, 0.47f, 0.6f, 0.5f}},  /* pred inside target */
    {{0.4f, 0.6f, 0.7f, 0.8f}, {0.45f, 0.55f, 0.1f, 0.2f}},  /* target inside pred */
    {{0.3f, 0.3f, -0.2f, 0.2f}, {0.3f, 0.35f, 0.2f, 0.2f}},  /* negative width: clamped to 0 */
    {{0.6f, 0.4f, 0.0f, 0.0f}, {0.55f, 0.45f, 0.3f, 0.3f}},  /* zero-area pred */
    {{0.1f, 0.9f, 0.3f, 0.05f}, {0.1f, 0.6f, 0.3f, 0.05f}},  /* same x extent, apart in y */
    {{0.5f, 0.5f, 0.0f, 0.0f}, {0.5f, 0.5f, 0.0f, 0.0f}},    /* both empty at one point: NaN as torch */
    {{0.5f, 0.5f, NAN, 0.2f}, {0.5f, 0.5f, 0.2f, 0.2f}},     /* NaN size propagates */
};
static float box_pred[MAX_PAIRS * 4], box_target[MAX_PAIRS * 4];

static void make_boxes(void) {
    unsigned long long s = 2024;
    for (int i = 0; i < MAX_PAIRS; i++) {
        float *p = box_pred + 4 * i, *t = box_target + 4 * i;
        if (i < SPECIAL_PAIRS) {
            for (int k = 0; k < 4; k++) p[k] = special_boxes[i][0][k], t[k] = special_boxes[i][1][k];
            continue;
        }
        for (int k = 0; k < 2; k++) t[k] = test_uniform(&s, 0.1f, 0.9f);
        for (int k = 2; k < 4; k++) t[k] = test_uniform(&s, 0.02f, 0.6f);
        /* predictions near their targets, as after matching, some far off */
        float spread = (i % 5 == 0) ? 0.5f : 0.08f;
        for (int k = 0; k < 4; k++) p[k] = t[k] + test_uniform(&s, -spread, spread);
        for (int k = 2; k < 4; k++) p[k] = fabsf(p[k]) + 0.005f;
    }
}

static void box_cases(kcase *cases, int *n, int max) {
    make_boxes();
    const int64_t pairs[] = {SPECIAL_PAIRS, 1, 37, MAX_PAIRS};
    for (size_t s = 0; s < sizeof pairs / sizeof pairs[0]; s++) {
        size_t np = (size_t)pairs[s];
        kcase *c = kc_new(cases, n, max, "loss", "box_loss", launch_box_loss, TOL);
        if (!c) return;
        *KC_PARAMS(c, loss_params) = (loss_params){pairs[s], false, false};
        kc_add(c, "pred", KC_IN, KC_F32, 4 * np, 0, 0)->floats = box_pred;
        kc_add(c, "target", KC_IN, KC_F32, 4 * np, 0, 0)->floats = box_target;
        kc_add(c, "l1", KC_OUT, KC_F32, np, 0, 0);
        kc_add(c, "giou", KC_OUT, KC_F32, np, 0, 0);
        snprintf(c->desc, sizeof c->desc, "BOX_LOSS(pairs=%zu%s)", np, np == SPECIAL_PAIRS ? ",degenerate" : "");
        for (int acc = 0; acc < 2; acc++) {
            c = kc_new(cases, n, max, "loss", "box_loss_backward", launch_box_loss_backward, TOL);
            if (!c) return;
            *KC_PARAMS(c, loss_params) = (loss_params){pairs[s], acc, false};
            kc_add(c, "pred", KC_IN, KC_F32, 4 * np, 0, 0)->floats = box_pred;
            kc_add(c, "target", KC_IN, KC_F32, 4 * np, 0, 0)->floats = box_target;
            kc_add(c, "dl1", KC_IN, KC_F32, np, -1, 1);
            kc_add(c, "dgiou", KC_IN, KC_F32, np, -1, 1);
            kc_add(c, "dpred", acc ? KC_INOUT : KC_OUT, KC_F32, 4 * np, -1, 1);
            snprintf(c->desc, sizeof c->desc, "BOX_LOSS_BACKWARD(pairs=%zu%s,acc=%d)", np,
                     np == SPECIAL_PAIRS ? ",degenerate" : "", acc);
        }
    }
}

int kc_cases_loss(kcase *cases, int max) {
    int n = 0;
    bce_cases(cases, &n, max);
    box_cases(cases, &n, max);
    return n;
}
