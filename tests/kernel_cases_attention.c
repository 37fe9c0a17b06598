/* kernel_cases_attention.c — cases for the fused attention kernels: rows
 * shorter and longer than a work-group, keys in several chunks, head and
 * value widths apart, an additive mask with a fully masked row. The
 * backward pass is given o and lse consistent with q, k, v (computed here
 * in double), as the op hands them over. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernel_harness.h"
#include "test_util.h"

#define TOL 1e-7
/* compute = bf16: q, k, v and the probabilities rounded to bf16 (8 bits of
 * mantissa, relative error up to 2^-9 each) against the f32 reference.
 * Measured on AMX: NMSE up to ~2e-5; a kernel that ignored compute would
 * pass too (that it does not is test_attention's check). */
#define TOL_BF16 2e-4

typedef struct attn_params {
    int64_t b, h, lq, lk, d, dv;
    float scale;
    bool mask;
    rf_precision compute;
} attn_params;

static rf_view view(rf_mem m, int64_t h, int64_t rows, int64_t width) {
    return (rf_view){m.buf, m.off, {h * rows * width, rows * width, width}};
}

static rf_status launch_attention(const kcase *c, rf_device *dev, const rf_mem *m) {
    const attn_params *p = KC_CPARAMS(c, attn_params);
    rf_attention_args a = {.batch = p->b, .heads = p->h, .lq = p->lq, .lk = p->lk, .head_dim = p->d,
                           .value_dim = p->dv, .scale = p->scale, .q = view(m[0], p->h, p->lq, p->d),
                           .k = view(m[1], p->h, p->lk, p->d), .v = view(m[2], p->h, p->lk, p->dv),
                           .o = view(m[4], p->h, p->lq, p->dv), .has_mask = p->mask, .lse = m[5],
                           .compute = p->compute};
    if (p->mask) a.mask = m[3];
    return rf_kernel_attention(dev, &a);
}

static rf_status launch_attention_backward(const kcase *c, rf_device *dev, const rf_mem *m) {
    const attn_params *p = KC_CPARAMS(c, attn_params);
    rf_attention_backward_args a = {
        .batch = p->b, .heads = p->h, .lq = p->lq, .lk = p->lk, .head_dim = p->d, .value_dim = p->dv,
        .scale = p->scale, .q = view(m[0], p->h, p->lq, p->d), .k = view(m[1], p->h, p->lk, p->d),
        .v = view(m[2], p->h, p->lk, p->dv), .o = view(m[4], p->h, p->lq, p->dv), .lse = m[5],
        .dout = view(m[6], p->h, p->lq, p->dv), .dq = view(m[7], p->h, p->lq, p->d),
        .dk = view(m[8], p->h, p->lk, p->d), .dv = view(m[9], p->h, p->lk, p->dv), .has_mask = p->mask,
        .compute = p->compute};
    if (p->mask) a.mask = m[3];
    return rf_kernel_attention_backward(dev, &a);
}

/* o and lse of q, k, v in double (the inputs the backward pass needs). */
static void forward_double(const attn_params *p, const float *q, const float *k, const float *v, const float *mask,
                           float *o, float *lse) {
    double *s = malloc(sizeof(double) * (size_t)p->lk);
    for (int64_t bh = 0; bh < p->b * p->h; bh++)
        for (int64_t i = 0; i < p->lq; i++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < p->lk; j++) {
                double dot = 0;
                for (int64_t d = 0; d < p->d; d++) dot += (double)q[(bh * p->lq + i) * p->d + d] * k[(bh * p->lk + j) * p->d + d];
                s[j] = dot * p->scale + (p->mask ? mask[i * p->lk + j] : 0.0);
                if (s[j] > mx) mx = s[j];
            }
            for (int64_t j = 0; j < p->lk && mx != -INFINITY; j++) sum += exp(s[j] - mx);
            lse[bh * p->lq + i] = mx == -INFINITY ? -INFINITY : (float)(mx + log(sum));
            for (int64_t e = 0; e < p->dv; e++) {
                double acc = 0;
                for (int64_t j = 0; j < p->lk && mx != -INFINITY; j++) acc += exp(s[j] - mx) / sum * v[(bh * p->lk + j) * p->dv + e];
                o[(bh * p->lq + i) * p->dv + e] = (float)acc;
            }
        }
    free(s);
}

static float *values(size_t n, unsigned long long *seed, float lo, float hi) {
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = test_uniform(seed, lo, hi);
    return x;
}

int kc_cases_attention(kcase *cases, int max) {
    int n = 0;
    /* b, h, lq, lk, d, dv, mask: one row, rows shorter and longer than a
     * work-group, keys in several chunks, head and value widths apart. */
    const attn_params shapes[] = {
        {1, 1, 1, 1, 1, 1, 0.5f, false},   {1, 2, 5, 7, 3, 4, 0.57f, true},  {2, 3, 9, 6, 8, 5, 0.35f, false},
        {1, 2, 40, 300, 16, 16, 0.25f, true}, {1, 1, 300, 30, 32, 24, 0.18f, false},
        {2, 2, 70, 130, 64, 48, 0.125f, true},
        /* two query tiles and two key tiles of the GPU kernels (64 rows, 32
         * keys) within the 3,000 elements a simulator run takes (CI's
         * Oclgrind): the tile loops' barriers and reloads */
        {1, 1, 65, 33, 2, 2, 0.45f, true},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const attn_params *p = &shapes[s];
        unsigned long long seed = 4242 + s;
        size_t nq = (size_t)(p->b * p->h * p->lq * p->d), nk = (size_t)(p->b * p->h * p->lk * p->d);
        size_t nv = (size_t)(p->b * p->h * p->lk * p->dv), no = (size_t)(p->b * p->h * p->lq * p->dv);
        size_t nl = (size_t)(p->b * p->h * p->lq), nm = (size_t)(p->lq * p->lk);
        /* the inputs live as long as the cases (the process) */
        float *q = values(nq, &seed, -2, 2), *k = values(nk, &seed, -2, 2), *v = values(nv, &seed, -1, 1);
        float *mask = values(nm, &seed, -1, 1), *o = malloc(sizeof(float) * no), *lse = malloc(sizeof(float) * nl);
        for (int64_t i = 0; i < p->lq; i++)
            for (int64_t j = 0; j < p->lk; j++)
                if ((i + 2 * j) % 3 == 0 || i == 1) mask[i * p->lk + j] = -INFINITY; /* row 1 fully masked */
        forward_double(p, q, k, v, mask, o, lse);
        char shape[160];
        snprintf(shape, sizeof shape, "b=%lld,h=%lld,lq=%lld,lk=%lld,d=%lld,dv=%lld%s", (long long)p->b, (long long)p->h,
                 (long long)p->lq, (long long)p->lk, (long long)p->d, (long long)p->dv, p->mask ? ",mask" : "");
        for (int variant = 0; variant < 4; variant++) {
            bool backward = variant & 1;
            rf_precision compute = variant < 2 ? RF_PRECISION_F32 : RF_PRECISION_BF16;
            kcase *c = kc_new(cases, &n, max, "attention", backward ? "attention_backward" : "attention",
                              backward ? launch_attention_backward : launch_attention,
                              compute == RF_PRECISION_BF16 ? TOL_BF16 : TOL);
            if (!c) return n;
            *KC_PARAMS(c, attn_params) = *p;
            KC_PARAMS(c, attn_params)->compute = compute;
            kc_add(c, "q", KC_IN, KC_F32, nq, 0, 0)->floats = q;
            kc_add(c, "k", KC_IN, KC_F32, nk, 0, 0)->floats = k;
            kc_add(c, "v", KC_IN, KC_F32, nv, 0, 0)->floats = v;
            kc_add(c, "mask", KC_IN, KC_F32, nm, 0, 0)->floats = mask;
            if (!backward) {
                kc_add(c, "o", KC_OUT, KC_F32, no, 0, 0);
                kc_add(c, "lse", KC_OUT, KC_F32, nl, 0, 0);
            } else {
                kc_add(c, "o", KC_IN, KC_F32, no, 0, 0)->floats = o;
                kc_add(c, "lse", KC_IN, KC_F32, nl, 0, 0)->floats = lse;
                kc_add(c, "dout", KC_IN, KC_F32, no, -1, 1);
                kc_add(c, "dq", KC_OUT, KC_F32, nq, 0, 0);
                kc_add(c, "dk", KC_OUT, KC_F32, nk, 0, 0);
                kc_add(c, "dv", KC_OUT, KC_F32, nv, 0, 0);
            }
            snprintf(c->desc, sizeof c->desc, "%s(%s%s)", backward ? "ATTENTION_BACKWARD" : "ATTENTION", shape,
                     compute == RF_PRECISION_BF16 ? ",bf16" : "");
        }
    }
    return n;
}
