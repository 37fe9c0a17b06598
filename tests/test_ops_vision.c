/* test_ops_vision.c — the vision ops (core/ops_vision.h) through the tape:
 *   - every op on every device against the cpu device: the output and the
 *     autograd gradient of sum(r * output) for every input, by NMSE; devices
 *     of one kind must agree bit for bit;
 *   - finite differences through the composite ops on the cpu device
 *     (conv2d with bias, stride and padding; resize down and up; deformable
 *     attention for value, locations and weights);
 *   - top-k values and indices on every device, ties and NaN included;
 *   - shape and device errors;
 *   - with --torch: parity with PyTorch on fixed random inputs written by
 *     tests/vision_parity.py (outputs and gradients, max-abs <= 1e-5 on
 *     every device); exits 77 (skipped) where torch is not importable. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "core/ops_vision.h"
#include "test_util.h"

#define MAX_IN 4
#define MAX_DEVICES 16
#define ARENA_BYTES ((size_t)16 << 20)

typedef struct params {
    int stride, pad;
    int64_t out_h, out_w;
    double scale_h, scale_w;
    int levels;
    int64_t level_hw[4][2];
} params;

typedef rf_tensor *(*op_fn)(rf_ctx *ctx, rf_tensor *const *in, const params *p);

/* A host tensor, f32 (f) or int32 (i). */
typedef struct host {
    int ndim;
    int64_t shape[RF_MAX_DIMS];
    float *f;
    int32_t *i;
} host;

static int64_t host_numel(const host *h) {
    int64_t n = 1;
    for (int k = 0; k < h->ndim; k++) n *= h->shape[k];
    return n;
}

static host host_f32(int ndim, const int64_t *shape, float lo, float hi, unsigned long long seed) {
    host h = {.ndim = ndim};
    memcpy(h.shape, shape, (size_t)ndim * sizeof *shape);
    h.f = malloc((size_t)host_numel(&h) * sizeof *h.f);
    for (int64_t k = 0; k < host_numel(&h); k++) h.f[k] = test_uniform(&seed, lo, hi);
    return h;
}

static void host_free(host *h) {
    free(h->f);
    free(h->i);
    h->f = NULL;
    h->i = NULL;
}

typedef struct op_case {
    char name[96];
    op_fn fn;
    params p;
    int n_in;
    host in[MAX_IN];
    double tol;              /* NMSE against the cpu device */
    double fd_step[MAX_IN];  /* finite-difference step per input; 0: not checked */
} op_case;

/* One run of a case on a device. */
typedef struct outcome {
    rf_status status;
    host out;
    float *grad[MAX_IN];
} outcome;

static void outcome_free(outcome *o) {
    host_free(&o->out);
    for (int i = 0; i < MAX_IN; i++) free(o->grad[i]);
    memset(o, 0, sizeof *o);
}

/* The seed gradient r when none is given: fixed, so every device sees it. */
static float default_seed(int64_t k) { return sinf((float)k * 0.7311f + 0.3f); }

/* Runs c on dev; with `backward`, also the gradients of sum(r * output)
 * (r = seed, or default_seed when seed is NULL). `inputs` replaces c's
 * inputs when not NULL (finite differences perturb a copy). */
static outcome run_op(rf_device *dev, const op_case *c, const host *inputs, bool backward, const float *seed) {
    outcome o = {0};
    if (!inputs) inputs = c->in;
    rf_ctx *ctx = NULL;
    if ((o.status = rf_ctx_create(dev, ARENA_BYTES, &ctx)) != RF_OK) return o;
    rf_tensor *in[MAX_IN] = {0};
    for (int i = 0; i < c->n_in; i++) {
        const host *h = &inputs[i];
        if (!h->f && !h->i) continue; /* an optional input left out (conv without bias) */
        in[i] = rf_ctx_from_host(ctx, h->f ? RF_F32 : RF_I32, h->ndim, h->shape, h->f ? (const void *)h->f : h->i);
        if (in[i]) in[i]->requires_grad = backward && h->f;
    }
    rf_tensor *y = c->fn(ctx, in, &c->p);
    if (y && backward) {
        int64_t n = rf_tensor_numel(y);
        float *r = malloc((size_t)n * sizeof *r);
        for (int64_t k = 0; k < n; k++) r[k] = seed ? seed[k] : default_seed(k);
        rf_tensor *rt = rf_ctx_from_host(ctx, RF_F32, y->ndim, y->shape, r);
        free(r);
        if (rt) rf_backward(ctx, y, rt);
    }
    o.status = rf_ctx_status(ctx);
    if (o.status == RF_OK) {
        o.out.ndim = y->ndim;
        memcpy(o.out.shape, y->shape, sizeof y->shape);
        o.out.f = malloc((size_t)rf_tensor_numel(y) * sizeof *o.out.f);
        o.status = rf_tensor_download(y, o.out.f);
    }
    for (int i = 0; backward && o.status == RF_OK && i < c->n_in; i++) {
        if (!in[i] || !inputs[i].f) continue;
        int64_t n = host_numel(&inputs[i]);
        o.grad[i] = calloc((size_t)n, sizeof *o.grad[i]);
        if (in[i]->grad) o.status = rf_tensor_download(in[i]->grad, o.grad[i]);
    }
    if (o.status != RF_OK) fprintf(stderr, "%s on %s: %s\n", c->name, dev->info.name, rf_last_error());
    rf_ctx_free(ctx);
    return o;
}

/* NMSE of got against want; NaN/Inf must sit at the same places. */
static double nmse(const float *got, const float *want, int64_t n) {
    double err = 0, ref = 0;
    for (int64_t k = 0; k < n; k++) {
        if (!isfinite(got[k]) || !isfinite(want[k])) {
            if (!(isnan(got[k]) && isnan(want[k])) && got[k] != want[k]) return INFINITY;
            continue;
        }
        err += ((double)got[k] - want[k]) * ((double)got[k] - want[k]);
        ref += (double)want[k] * want[k];
    }
    return ref > 0 ? err / ref : err;
}

static double max_abs_diff(const float *got, const float *want, int64_t n) {
    double worst = 0;
    for (int64_t k = 0; k < n; k++) {
        double d = fabs((double)got[k] - want[k]);
        if (!(d <= worst)) worst = d; /* NaN propagates as worst */
    }
    return worst;
}

static bool same_outcome_bits(const op_case *c, const outcome *a, const outcome *b) {
    if (memcmp(a->out.f, b->out.f, (size_t)host_numel(&a->out) * 4) != 0) return false;
    for (int i = 0; i < c->n_in; i++)
        if (a->grad[i] && (!b->grad[i] || memcmp(a->grad[i], b->grad[i], (size_t)host_numel(&c->in[i]) * 4) != 0))
            return false;
    return true;
}

/* ---- the ops under test ------------------------------------------------------------ */

static rf_tensor *op_conv(rf_ctx *ctx, rf_tensor *const *in, const params *p) {
    return rf_conv2d(ctx, in[0], in[1], in[2], p->stride, p->pad);
}
static rf_tensor *op_resize(rf_ctx *ctx, rf_tensor *const *in, const params *p) {
    return rf_resize_bicubic_aa_scaled(ctx, in[0], p->out_h, p->out_w, p->scale_h, p->scale_w);
}
static rf_tensor *op_grid_sample(rf_ctx *ctx, rf_tensor *const *in, const params *p) {
    return rf_grid_sample(ctx, in[0], in[1]);
}
static rf_tensor *op_deform(rf_ctx *ctx, rf_tensor *const *in, const params *p) {
    return rf_deform_attn(ctx, in[0], (const int64_t(*)[2])p->level_hw, p->levels, in[1], in[2]);
}
static rf_tensor *op_gather(rf_ctx *ctx, rf_tensor *const *in, const params *p) { return rf_gather_rows(ctx, in[0], in[1]); }

/* ---- cases ---------------------------------------------------------------------------- */

#define MAX_CASES 32
static op_case cases[MAX_CASES];
static int ncases;

static op_case *new_case(const char *name, op_fn fn, double tol) {
    op_case *c = &cases[ncases++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->fn = fn;
    c->tol = tol;
    return c;
}

static void conv_case(const char *name, const int64_t *x_shape, const int64_t *w_shape, bool bias, int stride, int pad) {
    op_case *c = new_case(name, op_conv, 1e-6);
    c->p.stride = stride;
    c->p.pad = pad;
    c->n_in = 3;
    c->in[0] = host_f32(4, x_shape, -1, 1, 100 + (unsigned)ncases);
    c->in[1] = host_f32(4, w_shape, -0.5f, 0.5f, 200 + (unsigned)ncases);
    if (bias) c->in[2] = host_f32(1, w_shape, -1, 1, 300 + (unsigned)ncases);
    /* linear in each input: a large step is exact up to rounding */
    c->fd_step[0] = c->fd_step[1] = c->fd_step[2] = 0.5;
}

static void resize_case(const char *name, const int64_t *shape, int ndim, int64_t out_h, int64_t out_w, double sh,
                        double sw) {
    op_case *c = new_case(name, op_resize, 1e-6);
    c->p.out_h = out_h;
    c->p.out_w = out_w;
    c->p.scale_h = sh;
    c->p.scale_w = sw;
    c->n_in = 1;
    c->in[0] = host_f32(ndim, shape, -1, 1, 400 + (unsigned)ncases);
    c->fd_step[0] = 0.5;
}

/* Deformable-attention inputs whose sampling points sit in the middle
 * quarter-to-three-quarters of a pixel cell (some outside the image), so a
 * finite-difference step of 0.01 never crosses a cell edge: the output is
 * then linear in each coordinate and the difference quotient exact. */
static void deform_case(const char *name, int64_t b, int64_t q, int64_t heads, int64_t d, int points, int levels,
                        const int64_t (*hw)[2]) {
    op_case *c = new_case(name, op_deform, 1e-7);
    c->p.levels = levels;
    int64_t s = 0;
    for (int l = 0; l < levels; l++) {
        c->p.level_hw[l][0] = hw[l][0];
        c->p.level_hw[l][1] = hw[l][1];
        s += hw[l][0] * hw[l][1];
    }
    c->n_in = 3;
    unsigned long long seed = 500 + (unsigned)ncases;
    c->in[0] = host_f32(4, (int64_t[]){b, s, heads, d}, -1, 1, seed);
    c->in[1] = host_f32(6, (int64_t[]){b, q, heads, levels, points, 2}, 0, 1, seed + 1);
    c->in[2] = host_f32(5, (int64_t[]){b, q, heads, levels, points}, 0, 1, seed + 2);
    for (int64_t k = 0; k < host_numel(&c->in[1]); k++) {
        int l = (int)((k / 2 / points) % levels);
        int64_t size = k % 2 ? hw[l][0] : hw[l][1];
        /* a cell from -1 to size, then a point 0.25..0.75 into it */
        double cell = floor(test_uniform(&seed, -1.0f, (float)size + 0.999f));
        double px = cell + 0.25 + 0.5 * test_uniform(&seed, 0, 1);
        c->in[1].f[k] = (float)((px + 0.5) / (double)size);
    }
    c->fd_step[0] = c->fd_step[2] = 0.5;
    c->fd_step[1] = 1.0 / 800; /* 1/80 of a pixel at the largest level side (10): inside the margin */
}

static void build_cases(void) {
    conv_case("conv2d 3x3 pad 1 + bias", (int64_t[]){2, 3, 7, 9}, (int64_t[]){4, 3, 3, 3}, true, 1, 1);
    conv_case("conv2d 3x3 stride 2 pad 1", (int64_t[]){2, 5, 9, 8}, (int64_t[]){3, 5, 3, 3}, false, 2, 1);
    conv_case("conv2d 1x1 + bias", (int64_t[]){2, 6, 5, 4}, (int64_t[]){5, 6, 1, 1}, true, 1, 0);
    conv_case("conv2d 1x1 stride 2", (int64_t[]){1, 3, 6, 7}, (int64_t[]){2, 3, 1, 1}, true, 2, 0);
    conv_case("conv2d 16x16 patch embedding", (int64_t[]){1, 3, 32, 48}, (int64_t[]){8, 3, 16, 16}, true, 16, 0);
    conv_case("conv2d 14x14 patch embedding", (int64_t[]){2, 3, 28, 42}, (int64_t[]){6, 3, 14, 14}, true, 14, 0);
    conv_case("conv2d 5x5 stride 3 pad 2", (int64_t[]){1, 2, 11, 10}, (int64_t[]){3, 2, 5, 5}, true, 3, 2);
    resize_case("resize down (C, H, W)", (int64_t[]){4, 16, 23}, 3, 7, 9, 0, 0);
    resize_case("resize up (N, C, H, W)", (int64_t[]){2, 3, 5, 6}, 4, 11, 13, 0, 0);
    resize_case("resize mixed", (int64_t[]){1, 2, 10, 17}, 4, 24, 5, 0, 0);
    resize_case("resize DINOv2 scale_factor", (int64_t[]){1, 3, 37, 37}, 4, 40, 30, 40.1 / 37, 30.1 / 37);

    op_case *c = new_case("grid_sample", op_grid_sample, 1e-7);
    c->n_in = 2;
    c->in[0] = host_f32(4, (int64_t[]){2, 3, 6, 7}, -1, 1, 600);
    c->in[1] = host_f32(4, (int64_t[]){2, 4, 5, 2}, -1.1f, 1.1f, 601);

    static const int64_t one[1][2] = {{8, 10}}, multi[4][2] = {{8, 8}, {4, 5}, {2, 2}, {1, 1}};
    deform_case("deform_attn 1 level", 2, 7, 2, 8, 4, 1, one);
    deform_case("deform_attn 4 levels", 2, 5, 3, 4, 2, 4, multi);

    c = new_case("gather_rows (B, N, C) with repeats", op_gather, 1e-7);
    c->n_in = 2;
    c->in[0] = host_f32(3, (int64_t[]){2, 6, 5}, -1, 1, 700);
    c->in[1] = (host){.ndim = 2, .shape = {2, 8}, .i = malloc(16 * sizeof(int32_t))};
    const int32_t idx[16] = {5, 5, 0, 3, 5, 1, 0, 2, 4, 4, 4, 4, 0, 1, 2, 3};
    memcpy(c->in[1].i, idx, sizeof idx);
    c = new_case("gather_rows (N, C)", op_gather, 1e-7);
    c->n_in = 2;
    c->in[0] = host_f32(2, (int64_t[]){9, 4}, -1, 1, 701);
    c->in[1] = (host){.ndim = 1, .shape = {5}, .i = malloc(5 * sizeof(int32_t))};
    const int32_t idx2[5] = {8, 0, 8, 3, 3};
    memcpy(c->in[1].i, idx2, sizeof idx2);
}

/* ---- checks ------------------------------------------------------------------------------ */

/* Every case on every device against the cpu device. */
static void check_devices(rf_device *cpu, rf_device **devs, int ndev) {
    for (int k = 0; k < ncases; k++) {
        const op_case *c = &cases[k];
        outcome want = run_op(cpu, c, NULL, true, NULL);
        CHECK(want.status == RF_OK, "%s on cpu failed", c->name);
        if (want.status != RF_OK) continue;
        outcome got[MAX_DEVICES] = {{0}};
        for (int d = 0; d < ndev; d++) {
            got[d] = run_op(devs[d], c, NULL, true, NULL);
            CHECK(got[d].status == RF_OK, "%s on %s failed", c->name, devs[d]->info.name);
            if (got[d].status != RF_OK) continue;
            double e = nmse(got[d].out.f, want.out.f, host_numel(&want.out));
            CHECK(e <= c->tol, "%s on %s: output nmse %.3g (max %.1g)", c->name, devs[d]->info.name, e, c->tol);
            for (int i = 0; i < c->n_in; i++) {
                if (!want.grad[i]) continue;
                e = nmse(got[d].grad[i], want.grad[i], host_numel(&c->in[i]));
                CHECK(e <= c->tol, "%s on %s: gradient of input %d nmse %.3g (max %.1g)", c->name, devs[d]->info.name,
                      i, e, c->tol);
            }
            for (int e2 = 0; e2 < d; e2++)
                if (got[e2].status == RF_OK && !strcmp(devs[e2]->info.backend, devs[d]->info.backend) &&
                    !strcmp(devs[e2]->info.description, devs[d]->info.description))
                    CHECK(same_outcome_bits(c, &got[e2], &got[d]), "%s: %s and %s differ bitwise", c->name,
                          devs[e2]->info.name, devs[d]->info.name);
        }
        for (int d = 0; d < ndev; d++) outcome_free(&got[d]);
        outcome_free(&want);
    }
}

/* L(inputs) = sum(r * output) in double, forward only. */
static double loss_of(rf_device *cpu, const op_case *c, const host *inputs) {
    outcome o = run_op(cpu, c, inputs, false, NULL);
    double l = 0;
    for (int64_t k = 0; o.status == RF_OK && k < host_numel(&o.out); k++) l += (double)default_seed(k) * o.out.f[k];
    outcome_free(&o);
    return l;
}

/* Central differences through the op on the cpu device, at up to 16
 * coordinates of every input with a step. */
static void check_finite_differences(rf_device *cpu) {
    for (int k = 0; k < ncases; k++) {
        const op_case *c = &cases[k];
        bool any = false;
        for (int i = 0; i < c->n_in; i++) any |= c->fd_step[i] > 0 && c->in[i].f;
        if (!any) continue;
        outcome analytic = run_op(cpu, c, NULL, true, NULL);
        if (analytic.status != RF_OK) continue; /* reported by check_devices */
        host inputs[MAX_IN];
        memcpy(inputs, c->in, sizeof inputs);
        for (int i = 0; i < c->n_in; i++) {
            if (!(c->fd_step[i] > 0) || !c->in[i].f) continue;
            int64_t n = host_numel(&c->in[i]);
            float *x = malloc((size_t)n * sizeof *x);
            memcpy(x, c->in[i].f, (size_t)n * sizeof *x);
            inputs[i].f = x;
            double worst = 0;
            int64_t stride = n > 16 ? n / 16 : 1;
            for (int64_t j = 0; j < n; j += stride) {
                float x0 = x[j], xp = (float)(x0 + c->fd_step[i]), xm = (float)(x0 - c->fd_step[i]);
                x[j] = xp;
                double lp = loss_of(cpu, c, inputs);
                x[j] = xm;
                double lm = loss_of(cpu, c, inputs);
                x[j] = x0;
                double numeric = (lp - lm) / ((double)xp - xm), exact = analytic.grad[i][j];
                double err = fabs(numeric - exact) / (fabs(numeric) + fabs(exact) + 1e-2);
                if (err > worst) worst = err;
            }
            CHECK(worst <= 1e-3, "%s: finite differences of input %d disagree (worst relative error %.3g)", c->name, i,
                  worst);
            free(x);
            inputs[i].f = c->in[i].f;
        }
        outcome_free(&analytic);
    }
}

/* Top-k on every device: values and indices equal the cpu's exactly, and on
 * a small row with ties and NaN equal the expected order. */
static void check_topk(rf_device *cpu, rf_device **devs, int ndev) {
    const float row[8] = {1.0f, 3.0f, NAN, 3.0f, -0.0f, 0.0f, INFINITY, 3.0f};
    const int32_t expect[8] = {2, 6, 1, 3, 7, 0, 4, 5};
    enum { ROWS = 6, COLS = 500, K = 37 };
    float *big = malloc(ROWS * COLS * sizeof *big);
    unsigned long long s = 77;
    for (int k = 0; k < ROWS * COLS; k++) big[k] = floorf(test_uniform(&s, -50, 50)); /* many ties */
    float want_v[ROWS * K];
    int32_t want_i[ROWS * K];
    for (int d = -1; d < ndev; d++) {
        rf_device *dev = d < 0 ? cpu : devs[d];
        rf_ctx *ctx = NULL;
        CHECK_OK(rf_ctx_create(dev, ARENA_BYTES, &ctx));
        if (!ctx) continue;
        rf_tensor *idx = NULL, *idx2 = NULL;
        rf_tensor *x = rf_ctx_from_host(ctx, RF_F32, 1, (int64_t[]){8}, row);
        rf_tensor *v = rf_topk(ctx, x, 8, &idx);
        rf_tensor *xb = rf_ctx_from_host(ctx, RF_F32, 3, (int64_t[]){2, 3, COLS}, big);
        rf_tensor *vb = rf_topk(ctx, xb, K, &idx2);
        CHECK_OK(rf_ctx_status(ctx));
        if (rf_ctx_status(ctx) == RF_OK) {
            float got_v[8], gv[ROWS * K];
            int32_t got_i[8], gi[ROWS * K];
            CHECK_OK(rf_tensor_download(v, got_v));
            CHECK_OK(rf_tensor_download(idx, got_i));
            CHECK(!memcmp(got_i, expect, sizeof expect), "topk on %s: ties/NaN order %d %d %d %d %d %d %d %d",
                  dev->info.name, got_i[0], got_i[1], got_i[2], got_i[3], got_i[4], got_i[5], got_i[6], got_i[7]);
            CHECK(isnan(got_v[0]) && got_v[1] == INFINITY && got_v[7] == 0.0f, "topk values on %s", dev->info.name);
            CHECK(vb->ndim == 3 && vb->shape[2] == K, "topk keeps the leading axes");
            CHECK_OK(rf_tensor_download(vb, gv));
            CHECK_OK(rf_tensor_download(idx2, gi));
            if (d < 0) {
                memcpy(want_v, gv, sizeof gv);
                memcpy(want_i, gi, sizeof gi);
            } else {
                CHECK(!memcmp(gv, want_v, sizeof gv) && !memcmp(gi, want_i, sizeof gi), "topk on %s differs from cpu",
                      dev->info.name);
            }
        }
        rf_ctx_free(ctx);
    }
    free(big);
}

/* Bad shapes and mixed devices are errors, not crashes. */
static void check_errors(rf_device *cpu, rf_device *other) {
    rf_ctx *ctx = NULL;
    CHECK_OK(rf_ctx_create(cpu, ARENA_BYTES, &ctx));
    if (!ctx) return;
    float z[64] = {0};
    rf_tensor *x = rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){1, 2, 4, 4}, z);
    rf_tensor *w = rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){1, 3, 3, 3}, z);
    CHECK(rf_conv2d(ctx, x, w, NULL, 1, 1) == NULL && rf_ctx_status(ctx) == RF_ERR_INVALID_ARGUMENT,
          "conv2d with mismatched channels must fail");
    rf_ctx_reset(ctx);
    x = rf_ctx_from_host(ctx, RF_F32, 2, (int64_t[]){4, 4}, z);
    CHECK(rf_topk(ctx, x, 5, NULL) == NULL && rf_ctx_status(ctx) == RF_ERR_INVALID_ARGUMENT, "topk with k > cols must fail");
    rf_ctx_reset(ctx);
    rf_tensor *v = rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){1, 5, 1, 2}, z);
    rf_tensor *loc = rf_ctx_from_host(ctx, RF_F32, 6, (int64_t[]){1, 1, 1, 1, 1, 2}, z);
    rf_tensor *att = rf_ctx_from_host(ctx, RF_F32, 5, (int64_t[]){1, 1, 1, 1, 1}, z);
    const int64_t hw[1][2] = {{2, 3}};
    CHECK(rf_deform_attn(ctx, v, hw, 1, loc, att) == NULL && rf_ctx_status(ctx) == RF_ERR_INVALID_ARGUMENT,
          "deform_attn with S != sum of level sizes must fail");
    rf_ctx_reset(ctx);
    if (other) {
        rf_ctx *octx = NULL;
        CHECK_OK(rf_ctx_create(other, ARENA_BYTES, &octx));
        if (octx) {
            x = rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){1, 3, 4, 4}, z);
            rf_tensor *wo = rf_ctx_from_host(octx, RF_F32, 4, (int64_t[]){1, 3, 3, 3}, z);
            CHECK(rf_conv2d(ctx, x, wo, NULL, 1, 1) == NULL && rf_ctx_status(ctx) == RF_ERR_DEVICE_MISMATCH,
                  "conv2d with a weight on %s must be a device mismatch", other->info.name);
            rf_ctx_free(octx);
        }
    }
    rf_ctx_free(ctx);
}

/* ---- parity with PyTorch --------------------------------------------------------------- */

typedef struct named {
    char name[64];
    host t;
} named;

static named *parity;
static int nparity;

static bool load_parity(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[4];
    uint32_t count = 0;
    bool ok = fread(magic, 1, 4, f) == 4 && !memcmp(magic, "RFVT", 4) && fread(&count, 4, 1, f) == 1;
    parity = calloc(count ? count : 1, sizeof *parity);
    for (uint32_t k = 0; ok && k < count; k++) {
        named *e = &parity[nparity++];
        uint32_t len = 0, ndim = 0;
        ok = fread(&len, 4, 1, f) == 1 && len < sizeof e->name && fread(e->name, 1, len, f) == len &&
             fread(&ndim, 4, 1, f) == 1 && ndim <= RF_MAX_DIMS &&
             fread(e->t.shape, 8, ndim, f) == ndim;
        e->t.ndim = (int)ndim;
        if (!ok) break;
        int64_t n = host_numel(&e->t);
        e->t.f = malloc((size_t)(n ? n : 1) * sizeof *e->t.f);
        ok = fread(e->t.f, 4, (size_t)n, f) == (size_t)n;
    }
    fclose(f);
    return ok;
}

static const host *find(const char *prefix, const char *what) {
    char name[64];
    snprintf(name, sizeof name, "%s.%s", prefix, what);
    for (int k = 0; k < nparity; k++)
        if (!strcmp(parity[k].name, name)) return &parity[k].t;
    CHECK(0, "parity file has no %s", name);
    return NULL;
}

/* Runs a parity case on every device: output and the gradient of every
 * input against PyTorch, max-abs <= 1e-5. */
static void parity_case(rf_device **devs, int ndev, const char *prefix, op_fn fn, params p, const char *const *inputs,
                        int n_in) {
    op_case c = {.fn = fn, .p = p, .n_in = n_in};
    snprintf(c.name, sizeof c.name, "torch parity %s", prefix);
    const host *r = find(prefix, "r"), *out = find(prefix, "out");
    const host *grads[MAX_IN] = {0};
    for (int i = 0; i < n_in; i++) {
        const host *h = find(prefix, inputs[i]);
        char dname[32];
        snprintf(dname, sizeof dname, "d%s", inputs[i]);
        grads[i] = find(prefix, dname);
        if (!h || !grads[i]) return;
        c.in[i] = *h;
    }
    if (!r || !out) return;
    for (int d = 0; d < ndev; d++) {
        outcome o = run_op(devs[d], &c, NULL, true, r->f);
        CHECK(o.status == RF_OK, "%s on %s failed", c.name, devs[d]->info.name);
        if (o.status != RF_OK) continue;
        CHECK(host_numel(&o.out) == host_numel(out), "%s: output has %lld elements, torch %lld", c.name,
              (long long)host_numel(&o.out), (long long)host_numel(out));
        if (host_numel(&o.out) != host_numel(out)) {
            outcome_free(&o);
            continue;
        }
        double worst = max_abs_diff(o.out.f, out->f, host_numel(out));
        for (int i = 0; i < n_in; i++) {
            double e = max_abs_diff(o.grad[i], grads[i]->f, host_numel(grads[i]));
            if (!(e <= worst)) worst = e;
        }
        printf("%-10s %-36s max-abs %.3g\n", devs[d]->info.name, c.name, worst);
        CHECK(worst <= 1e-5, "%s on %s: max-abs %.3g vs torch", c.name, devs[d]->info.name, worst);
        outcome_free(&o);
    }
}

static int check_torch(rf_device **devs, int ndev) {
    const char *src = getenv("RFDETR_SOURCE_DIR"), *bin = getenv("RFDETR_BUILD_DIR");
    char path[1024], cmd[2600];
    snprintf(path, sizeof path, "%s/vision_parity.bin", bin ? bin : ".");
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/vision_parity.py' '%s'", src ? src : ".", path);
    int rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        char why[96];
        snprintf(why, sizeof why, "tests/vision_parity.py could not run (status %d): python3 cannot import torch", rc);
        return test_skip("test_ops_vision --torch", why, TEST_ENABLE_TORCH);
    }
    CHECK(load_parity(path), "cannot read %s", path);
    const char *conv_in[] = {"x", "w", "b"}, *x_in[] = {"x"}, *grid_in[] = {"x", "grid"};
    const char *deform_in[] = {"value", "loc", "attn"};
    parity_case(devs, ndev, "conv_3x3_s2", op_conv, (params){.stride = 2, .pad = 1}, conv_in, 3);
    parity_case(devs, ndev, "conv_patch14", op_conv, (params){.stride = 14}, conv_in, 3);
    parity_case(devs, ndev, "conv_1x1", op_conv, (params){.stride = 1}, conv_in, 3);
    parity_case(devs, ndev, "grid_sample", op_grid_sample, (params){0}, grid_in, 2);
    parity_case(devs, ndev, "resize_down", op_resize, (params){.out_h = 7, .out_w = 9}, x_in, 1);
    parity_case(devs, ndev, "resize_up", op_resize, (params){.out_h = 11, .out_w = 13}, x_in, 1);
    parity_case(devs, ndev, "resize_mixed", op_resize, (params){.out_h = 24, .out_w = 5}, x_in, 1);
    /* vision_parity.py: scale_factor ((40 + 0.1) / 37, (30 + 0.1) / 37) */
    parity_case(devs, ndev, "resize_dinov2", op_resize,
                (params){.out_h = 40, .out_w = 30, .scale_h = (40 + 0.1) / 37, .scale_w = (30 + 0.1) / 37}, x_in, 1);
    parity_case(devs, ndev, "deform_attn", op_deform,
                (params){.levels = 4, .level_hw = {{6, 8}, {3, 4}, {2, 2}, {1, 1}}}, deform_in, 3);
    for (int k = 0; k < nparity; k++) host_free(&parity[k].t);
    free(parity);
    return test_finish("test_ops_vision --torch");
}

int main(int argc, char **argv) {
    bool torch = argc > 1 && !strcmp(argv[1], "--torch");
    rf_device *cpu = NULL, *devs[MAX_DEVICES] = {0};
    /* The oracle: the cpu device's reference mode (every listed device, the
     * fast cpu included, is compared with it). */
    CHECK_OK(rf_device_open_with("cpu", &(rf_device_options){.cpu_reference = 1}, &cpu));
    if (!cpu) return test_finish("test_ops_vision");
    char names[MAX_DEVICES][32];
    int ndev = test_device_names(names, MAX_DEVICES), open = 0;
    for (int d = 0; d < ndev; d++) {
        rf_device *dev = NULL;
        CHECK_OK(rf_device_open(names[d], &dev));
        if (dev) devs[open++] = dev;
    }
    int rc;
    if (torch) {
        rc = check_torch(devs, open);
    } else {
        build_cases();
        check_devices(cpu, devs, open);
        check_finite_differences(cpu);
        check_topk(cpu, devs, open);
        check_errors(cpu, open > 1 ? devs[open - 1] : NULL);
        for (int k = 0; k < ncases; k++)
            for (int i = 0; i < cases[k].n_in; i++) host_free(&cases[k].in[i]);
        printf("%d op cases on %d devices\n", ncases, open);
        rc = test_finish("test_ops_vision");
    }
    for (int d = 0; d < open; d++) rf_device_close(devs[d]);
    rf_device_close(cpu);
    return rc;
}
