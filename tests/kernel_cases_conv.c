/* kernel_cases_conv.c — cases for the conv kernel family: im2col and col2im
 * over the convolutions RF-DETR uses (1x1, 3x3 pad 1 at stride 1 and 2, the
 * 16x16 / 14x14 patch embeddings) and odd geometries (rectangular kernels,
 * unequal strides and pads, stride above the kernel size, padding wider
 * than half the kernel). */
#include <stdio.h>

#include "kernel_harness.h"

#define TOL 1e-7

typedef struct conv_params {
    int64_t n, c, h, w, kh, kw, sh, sw, ph, pw, ho, wo;
    bool accumulate;
} conv_params;

static rf_status launch_im2col(const kcase *c, rf_device *dev, const rf_mem *m) {
    const conv_params *p = KC_CPARAMS(c, conv_params);
    rf_im2col_args a = {p->n, p->c, p->h, p->w, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw, p->ho, p->wo, m[0], m[1]};
    return rf_kernel_im2col(dev, &a);
}

static rf_status launch_col2im(const kcase *c, rf_device *dev, const rf_mem *m) {
    const conv_params *p = KC_CPARAMS(c, conv_params);
    rf_col2im_args a = {p->n, p->c, p->h, p->w, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw, p->ho, p->wo,
                        m[0], m[1], p->accumulate};
    return rf_kernel_col2im(dev, &a);
}

int kc_cases_conv(kcase *cases, int max) {
    /* n, c, h, w, kh, kw, sh, sw, ph, pw */
    static const int64_t geoms[][10] = {
        {2, 3, 7, 9, 3, 3, 1, 1, 1, 1},     /* 3x3 pad 1 */
        {2, 5, 9, 8, 3, 3, 2, 2, 1, 1},     /* 3x3 pad 1 stride 2, odd and even sides */
        {1, 4, 5, 6, 1, 1, 1, 1, 0, 0},     /* 1x1 */
        {1, 3, 32, 48, 16, 16, 16, 16, 0, 0}, /* 16x16 patch embedding */
        {2, 3, 28, 42, 14, 14, 14, 14, 0, 0}, /* 14x14 patch embedding */
        {1, 2, 30, 31, 14, 14, 14, 14, 0, 0}, /* patches that do not tile: the border is dropped */
        {2, 3, 6, 7, 2, 3, 2, 1, 0, 2},     /* rectangular kernel, unequal strides and pads */
        {1, 3, 8, 9, 1, 1, 2, 3, 0, 0},     /* stride above the kernel: pixels nobody reads */
        {1, 2, 11, 10, 5, 5, 3, 3, 4, 3},   /* padding wider than half the kernel */
        {3, 1, 1, 1, 3, 3, 1, 1, 1, 1},     /* a single pixel */
    };
    int n = 0;
    for (size_t g = 0; g < sizeof geoms / sizeof geoms[0]; g++) {
        const int64_t *q = geoms[g];
        conv_params p = {q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], 0, 0, false};
        p.ho = (p.h + 2 * p.ph - p.kh) / p.sh + 1;
        p.wo = (p.w + 2 * p.pw - p.kw) / p.sw + 1;
        size_t xn = (size_t)(p.n * p.c * p.h * p.w), coln = (size_t)(p.n * p.c * p.kh * p.kw * p.ho * p.wo);
        char geom[160];
        snprintf(geom, sizeof geom, "n=%lld,c=%lld,h=%lld,w=%lld,k=%lldx%lld,stride=%lldx%lld,pad=%lldx%lld",
                 (long long)p.n, (long long)p.c, (long long)p.h, (long long)p.w, (long long)p.kh, (long long)p.kw,
                 (long long)p.sh, (long long)p.sw, (long long)p.ph, (long long)p.pw);
        kcase *c = kc_new(cases, &n, max, "conv", "im2col", launch_im2col, TOL);
        if (!c) return n;
        *KC_PARAMS(c, conv_params) = p;
        kc_add(c, "x", KC_IN, KC_F32, xn, -2, 2);
        kc_add(c, "col", KC_OUT, KC_F32, coln, 0, 0);
        snprintf(c->desc, sizeof c->desc, "IM2COL(%s)", geom);
        for (int acc = 0; acc < 2; acc++) {
            c = kc_new(cases, &n, max, "conv", "col2im", launch_col2im, TOL);
            if (!c) return n;
            p.accumulate = acc;
            *KC_PARAMS(c, conv_params) = p;
            kc_add(c, "col", KC_IN, KC_F32, coln, -2, 2);
            kc_add(c, "x", acc ? KC_INOUT : KC_OUT, KC_F32, xn, -1, 1);
            snprintf(c->desc, sizeof c->desc, "COL2IM(%s,acc=%d)", geom, acc);
        }
    }
    return n;
}
