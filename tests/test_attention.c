/* test_attention.c — the fused attention op (rf_attention) on every device:
 *   - forward and the three input gradients against the composition of the
 *     existing ops (matmul + softmax + matmul) in reference mode, for the
 *     fused kernel in reference and in fast mode: with and without a mask
 *     (a fully masked row included), odd sizes, several heads, strided
 *     (permuted) inputs, sizes past the fast kernel's tile edges and one
 *     head too wide for it;
 *   - the reference kernel's gradients against central finite differences
 *     in double;
 *   - fast mode: the same bits for 1, 2 and 3 threads;
 *   - bf16 products (on AMX where the CPU has it): within bf16's precision
 *     of the f32 composition, the same bits for 1, 2 and 3 threads, and
 *     (with AMX) not the f32 kernel's result;
 *   - every other device (OpenCL, CUDA) against the same composition, and
 *     two devices of one kind bit for bit;
 *   - the op's errors (shapes, mask). */
#include <math.h>

#include "backend/cpu/amx_gemm.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/ref_attention.h"
#include "core/ops.h"
#include "gradcheck.h"
#include "test_util.h"

typedef struct attn_case {
    const char *name;
    int64_t b, h, lq, lk, d, dv;
    bool mask, permuted; /* permuted: q, k, v are (B, L, H, D) storage seen as (B, H, L, D) */
} attn_case;

static const attn_case cases[] = {
    {"tiny", 1, 1, 1, 1, 1, 1, false, false},
    {"odd sizes, 3 heads", 2, 3, 7, 5, 3, 6, false, false},
    {"mask, odd", 1, 2, 9, 11, 5, 4, true, false},
    {"permuted views", 2, 2, 13, 13, 8, 8, false, true},
    {"permuted + mask", 1, 3, 37, 37, 16, 16, true, true},
    {"tiles: lq 70, lk 130, d 64", 1, 2, 70, 130, 64, 64, false, true},
    {"tiles + mask, d 33, dv 47", 2, 1, 33, 67, 33, 47, true, false},
    {"decoder-like: 300 x 300, d 32", 1, 1, 300, 300, 32, 32, false, true},
    {"wider than the fast kernel: d 260", 1, 1, 5, 6, 260, 3, false, false},
};

static double frand(unsigned long long *s) { return test_uniform(s, -1, 1); }

/* Group-DETR-like mask: -inf off a block diagonal of width 3, and row 1
 * masked out entirely. */
static void fill_mask(float *m, int64_t lq, int64_t lk) {
    for (int64_t i = 0; i < lq; i++)
        for (int64_t j = 0; j < lk; j++) m[i * lk + j] = (i / 3 == j / 3 || (i + j) % 5 == 0) ? 0.25f * (float)((i + 2 * j) % 3) : -INFINITY;
    if (lq > 1)
        for (int64_t j = 0; j < lk; j++) m[lk + j] = -INFINITY;
}

typedef struct attn_data {
    float *q, *k, *v, *mask, *seed;
} attn_data;

static attn_data make_data(const attn_case *c, unsigned long long seed) {
    attn_data d;
    int64_t nq = c->b * c->h * c->lq * c->d, nk = c->b * c->h * c->lk * c->d, nv = c->b * c->h * c->lk * c->dv;
    int64_t no = c->b * c->h * c->lq * c->dv;
    d.q = malloc(sizeof(float) * (size_t)nq);
    d.k = malloc(sizeof(float) * (size_t)nk);
    d.v = malloc(sizeof(float) * (size_t)nv);
    d.seed = malloc(sizeof(float) * (size_t)no);
    d.mask = malloc(sizeof(float) * (size_t)(c->lq * c->lk));
    unsigned long long s = seed;
    for (int64_t i = 0; i < nq; i++) d.q[i] = (float)(2.0 * frand(&s));
    for (int64_t i = 0; i < nk; i++) d.k[i] = (float)(2.0 * frand(&s));
    for (int64_t i = 0; i < nv; i++) d.v[i] = (float)frand(&s);
    for (int64_t i = 0; i < no; i++) d.seed[i] = (float)frand(&s);
    fill_mask(d.mask, c->lq, c->lk);
    return d;
}

static void free_data(attn_data *d) {
    free(d->q);
    free(d->k);
    free(d->v);
    free(d->mask);
    free(d->seed);
}

/* A (B, H, L, D) leaf holding `data` in (B, H, L, D) order; permuted: the
 * storage is (B, L, H, D) and the leaf its permuted view. */
static rf_tensor *leaf(rf_ctx *ctx, const float *data, int64_t b, int64_t h, int64_t l, int64_t d, bool permuted) {
    if (!permuted) {
        rf_tensor *t = rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){b, h, l, d}, data);
        if (t) t->requires_grad = true;
        return t;
    }
    float *blhd = malloc(sizeof(float) * (size_t)(b * h * l * d));
    for (int64_t i = 0; i < b; i++)
        for (int64_t j = 0; j < h; j++)
            for (int64_t r = 0; r < l; r++)
                for (int64_t c = 0; c < d; c++) blhd[((i * l + r) * h + j) * d + c] = data[((i * h + j) * l + r) * d + c];
    rf_tensor *t = rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){b, l, h, d}, blhd);
    free(blhd);
    if (!t) return NULL;
    t->requires_grad = true;
    return rf_permute(ctx, t, (int[]){0, 2, 1, 3});
}

/* Downloads t (any layout) in its logical (B, H, L, D) order. */
static float *fetch(const rf_tensor *t) {
    int64_t n = rf_tensor_numel(t);
    int64_t storage = 0;
    for (int i = 0; i < t->ndim; i++) storage += (t->shape[i] - 1) * t->stride[i];
    float *raw = malloc(sizeof(float) * (size_t)(storage + 1)), *out = malloc(sizeof(float) * (size_t)n);
    rf_buffer_download(t->buffer, t->offset * sizeof(float), raw, sizeof(float) * (size_t)(storage + 1));
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off = 0;
        for (int a = t->ndim - 1; a >= 0; a--) {
            off += (rem % t->shape[a]) * t->stride[a];
            rem /= t->shape[a];
        }
        out[i] = raw[off];
    }
    free(raw);
    return out;
}

typedef struct attn_result {
    float *o, *dq, *dk, *dv;
    int64_t no, nq, nk, nv;
} attn_result;

static void free_result(attn_result *r) {
    free(r->o);
    free(r->dq);
    free(r->dk);
    free(r->dv);
}

/* A gradient in (B, H, L, D) order: the leaves of permuted cases are
 * (B, L, H, D). */
static rf_tensor *heads_first(rf_ctx *ctx, rf_tensor *g, bool permuted) {
    rf_tensor *t = rf_ctx_view_of(ctx, g);
    if (t && permuted) {
        int64_t stride = t->stride[1], size = t->shape[1];
        t->stride[1] = t->stride[2], t->shape[1] = t->shape[2];
        t->stride[2] = stride, t->shape[2] = size;
    }
    return t;
}

/* Forward and backward (seeded with d.seed) on dev; the composition of the
 * existing ops when `composed`. The leaves' gradients are those of the
 * (B, H, L, D) inputs whatever the storage. */
static rf_precision run_precision = RF_PRECISION_F32; /* of run()'s products */

static bool run(rf_device *dev, const attn_case *c, const attn_data *d, bool composed, attn_result *r) {
    rf_ctx *ctx = NULL;
    if (rf_ctx_create(dev, 64 << 20, &ctx) != RF_OK) return false;
    ctx->precision = run_precision;
    rf_tensor *q = leaf(ctx, d->q, c->b, c->h, c->lq, c->d, c->permuted);
    rf_tensor *k = leaf(ctx, d->k, c->b, c->h, c->lk, c->d, c->permuted);
    rf_tensor *v = leaf(ctx, d->v, c->b, c->h, c->lk, c->dv, c->permuted);
    rf_tensor *mask = c->mask ? rf_ctx_from_host(ctx, RF_F32, 2, (int64_t[]){c->lq, c->lk}, d->mask) : NULL;
    float scale = 0.37f;
    rf_tensor *o;
    if (composed) {
        rf_tensor *s = rf_scale(ctx, rf_matmul(ctx, q, k, false, true), scale);
        o = rf_matmul(ctx, rf_softmax(ctx, s, mask), v, false, false);
    } else {
        o = rf_attention(ctx, q, k, v, mask, scale);
    }
    rf_tensor *seed = rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){c->b, c->h, c->lq, c->dv}, d->seed);
    bool ok = o && seed && rf_backward(ctx, o, seed) == RF_OK && rf_ctx_status(ctx) == RF_OK;
    CHECK(ok, "%s: %s run failed: %s", c->name, composed ? "composed" : "fused", rf_last_error());
    if (ok) {
        /* the leaves behind the permuted views hold the gradients */
        rf_tensor *lq = c->permuted ? q->producer->in[0] : q, *lk = c->permuted ? k->producer->in[0] : k;
        rf_tensor *lv = c->permuted ? v->producer->in[0] : v;
        r->o = fetch(o);
        r->no = rf_tensor_numel(o);
        rf_tensor *gq = heads_first(ctx, lq->grad, c->permuted), *gk = heads_first(ctx, lk->grad, c->permuted);
        rf_tensor *gv = heads_first(ctx, lv->grad, c->permuted);
        r->dq = fetch(gq), r->nq = rf_tensor_numel(gq);
        r->dk = fetch(gk), r->nk = rf_tensor_numel(gk);
        r->dv = fetch(gv), r->nv = rf_tensor_numel(gv);
    }
    rf_ctx_free(ctx);
    return ok;
}

/* Largest |a - b| over max(1, max |b|): the composition's values set the scale. */
static double rel_diff(const float *a, const float *b, int64_t n) {
    double worst = 0, scale = 1;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)b[i]));
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= worst)) worst = e; /* NaN counts as worst */
    }
    return worst / scale;
}

static void compare(const char *what, const attn_case *c, const attn_result *got, const attn_result *want, double tol) {
    double e[4] = {rel_diff(got->o, want->o, want->no), rel_diff(got->dq, want->dq, want->nq),
                   rel_diff(got->dk, want->dk, want->nk), rel_diff(got->dv, want->dv, want->nv)};
    const char *names[4] = {"o", "dq", "dk", "dv"};
    for (int i = 0; i < 4; i++) CHECK(e[i] <= tol, "%s, %s: %s differs from the composition by %.3g", c->name, what, names[i], e[i]);
}

static bool same_bits(const float *a, const float *b, int64_t n) { return memcmp(a, b, sizeof(float) * (size_t)n) == 0; }

static rf_device *open_cpu(bool reference, int threads) {
    rf_device *dev = NULL;
    rf_device_options o = {.cpu_threads = threads, .cpu_reference = reference};
    CHECK_OK(rf_device_open_with("cpu", &o, &dev));
    return dev;
}

/* Every other listed device's attention kernels (OpenCL, CUDA) against the
 * composition on the reference; two devices of one kind give the same bits. */
static void test_devices_against_composition(rf_device *ref, const attn_case *c, const attn_data *d,
                                             const attn_result *want) {
    char names[16][32];
    int n = test_device_names(names, 16);
    attn_result prev = {0};
    char prev_backend[32] = "";
    for (int i = 0; i < n; i++) {
        if (!strncmp(names[i], "cpu", 3)) continue;
        rf_device *dev = NULL;
        CHECK_OK(rf_device_open(names[i], &dev));
        attn_result got = {0};
        if (dev && run(dev, c, d, false, &got)) {
            char what[64];
            snprintf(what, sizeof what, "%s", names[i]);
            compare(what, c, &got, want, 2e-5);
            if (!strcmp(prev_backend, dev->info.backend))
                CHECK(same_bits(got.o, prev.o, want->no) && same_bits(got.dq, prev.dq, want->nq) &&
                          same_bits(got.dk, prev.dk, want->nk) && same_bits(got.dv, prev.dv, want->nv),
                      "%s: %s differs from the previous %s device", c->name, names[i], prev_backend);
            free_result(&prev);
            prev = got;
            snprintf(prev_backend, sizeof prev_backend, "%s", dev->info.backend);
        } else {
            free_result(&got);
        }
        rf_device_close(dev);
    }
    free_result(&prev);
    (void)ref;
}

static void test_against_composition(void) {
    rf_device *ref = open_cpu(true, 1), *fast = open_cpu(false, 2), *fast1 = open_cpu(false, 1), *fast3 = open_cpu(false, 3);
    if (!ref || !fast || !fast1 || !fast3) return;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const attn_case *c = &cases[i];
        attn_data d = make_data(c, 1000 + i);
        attn_result want = {0}, got_ref = {0}, got_fast = {0}, got1 = {0}, got3 = {0};
        if (run(ref, c, &d, true, &want) && run(ref, c, &d, false, &got_ref) && run(fast, c, &d, false, &got_fast) &&
            run(fast1, c, &d, false, &got1) && run(fast3, c, &d, false, &got3)) {
            compare("reference mode", c, &got_ref, &want, 1e-6);
            compare("fast mode", c, &got_fast, &want, 2e-5);
            CHECK(same_bits(got1.o, got_fast.o, want.no) && same_bits(got3.o, got_fast.o, want.no), "%s: fast o differs between 1, 2 and 3 threads", c->name);
            CHECK(same_bits(got1.dq, got_fast.dq, want.nq) && same_bits(got3.dq, got_fast.dq, want.nq) &&
                      same_bits(got1.dk, got_fast.dk, want.nk) && same_bits(got3.dk, got_fast.dk, want.nk) &&
                      same_bits(got1.dv, got_fast.dv, want.nv) && same_bits(got3.dv, got_fast.dv, want.nv),
                  "%s: fast gradients differ between 1, 2 and 3 threads", c->name);
            if (c->mask && c->lq > 1) { /* row 1 is masked out entirely: zeros, no NaN */
                bool zero = true;
                for (int64_t b = 0; b < c->b * c->h; b++)
                    for (int64_t x = 0; x < c->dv; x++) zero &= got_fast.o[(b * c->lq + 1) * c->dv + x] == 0.0f && got_ref.o[(b * c->lq + 1) * c->dv + x] == 0.0f;
                CHECK(zero, "%s: a fully masked row must give zeros", c->name);
            }
            test_devices_against_composition(ref, c, &d, &want);
        }
        free_result(&want);
        free_result(&got_ref);
        free_result(&got_fast);
        free_result(&got1);
        free_result(&got3);
        free_data(&d);
    }
    rf_device_close(ref);
    rf_device_close(fast);
    rf_device_close(fast1);
    rf_device_close(fast3);
}

/* The fast kernel with bf16 products: q, k, v and the probabilities
 * rounded (8-bit mantissas) make errors of a few 2^-9 relative. */
static void test_bf16_products(void) {
    rf_device *ref = open_cpu(true, 1), *fast = open_cpu(false, 2), *fast1 = open_cpu(false, 1), *fast3 = open_cpu(false, 3);
    if (!ref || !fast || !fast1 || !fast3) return;
    bool amx = rf_cpu_amx_bf16_available();
    if (!amx) test_skip_part("test_attention", "bf16 products on AMX", "this CPU has no AMX-BF16", "AMX-BF16 (Intel Sapphire Rapids or later)");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const attn_case *c = &cases[i];
        attn_data d = make_data(c, 2000 + i);
        attn_result want = {0}, f32 = {0}, got = {0}, got1 = {0}, got3 = {0};
        run_precision = RF_PRECISION_F32;
        bool ok = run(ref, c, &d, true, &want) && run(fast, c, &d, false, &f32);
        run_precision = RF_PRECISION_BF16;
        ok = ok && run(fast, c, &d, false, &got) && run(fast1, c, &d, false, &got1) && run(fast3, c, &d, false, &got3);
        run_precision = RF_PRECISION_F32;
        if (ok) {
            compare("bf16 products", c, &got, &want, 2e-2);
            CHECK(same_bits(got1.o, got.o, want.no) && same_bits(got3.o, got.o, want.no) &&
                      same_bits(got1.dq, got.dq, want.nq) && same_bits(got3.dq, got.dq, want.nq) &&
                      same_bits(got1.dk, got.dk, want.nk) && same_bits(got3.dk, got.dk, want.nk) &&
                      same_bits(got1.dv, got.dv, want.nv) && same_bits(got3.dv, got.dv, want.nv),
                  "%s: bf16 products differ between 1, 2 and 3 threads", c->name);
            /* the widest head runs the reference kernel, in f32 */
            if (amx && c->d <= 256 && c->lk > 1)
                CHECK(!same_bits(got.o, f32.o, want.no) && !same_bits(got.dq, f32.dq, want.nq),
                      "%s: bf16 products on AMX gave the f32 kernel's bits", c->name);
        }
        free_result(&want);
        free_result(&f32);
        free_result(&got);
        free_result(&got1);
        free_result(&got3);
        free_data(&d);
    }
    rf_device_close(ref);
    rf_device_close(fast);
    rf_device_close(fast1);
    rf_device_close(fast3);
}

/* ---- finite differences on the double reference ---------------------------------------- */
typedef struct gc_attn {
    int64_t b, h, lq, lk, d, dv;
    int which; /* 0: q, 1: k, 2: v */
    double *q, *k, *v, *mask;
    int64_t qs[3], ks[3], vs[3], os[3];
} gc_attn;

static rf_ref_attention_shape gc_shape(gc_attn *g) {
    return (rf_ref_attention_shape){g->b, g->h, g->lq, g->lk, g->d, g->dv, 0.61, g->qs, g->ks, g->vs, g->os,
                                    g->qs, g->ks, g->vs, g->os};
}

static double *gc_input(gc_attn *g, const double *x) {
    double *in[3] = {g->q, g->k, g->v};
    int64_t n[3] = {g->b * g->h * g->lq * g->d, g->b * g->h * g->lk * g->d, g->b * g->h * g->lk * g->dv};
    memcpy(in[g->which], x, sizeof *x * (size_t)n[g->which]);
    return in[g->which];
}

static void gc_fwd(void *u, const double *x, double *y) {
    gc_attn *g = u;
    gc_input(g, x);
    rf_ref_attention_shape s = gc_shape(g);
    rf_ref_attention_f64(&s, g->q, g->k, g->v, g->mask, y, NULL);
}

static void gc_bwd(void *u, const double *x, const double *dy, double *dx) {
    gc_attn *g = u;
    gc_input(g, x);
    rf_ref_attention_shape s = gc_shape(g);
    int64_t nq = g->b * g->h * g->lq * g->d, nk = g->b * g->h * g->lk * g->d, nv = g->b * g->h * g->lk * g->dv;
    double *dq = malloc(sizeof *dq * (size_t)nq), *dk = malloc(sizeof *dk * (size_t)nk), *dv = malloc(sizeof *dv * (size_t)nv);
    rf_ref_attention_backward_f64(&s, g->q, g->k, g->v, g->mask, dy, dq, dk, dv);
    double *pick[3] = {dq, dk, dv};
    int64_t n[3] = {nq, nk, nv};
    memcpy(dx, pick[g->which], sizeof *dx * (size_t)n[g->which]);
    free(dq);
    free(dk);
    free(dv);
}

static void test_finite_differences(void) {
    for (int masked = 0; masked < 2; masked++) {
        gc_attn g = {.b = 2, .h = 2, .lq = 5, .lk = 7, .d = 3, .dv = 4};
        int64_t nq = g.b * g.h * g.lq * g.d, nk = g.b * g.h * g.lk * g.d, nv = g.b * g.h * g.lk * g.dv;
        g.q = malloc(sizeof(double) * (size_t)nq);
        g.k = malloc(sizeof(double) * (size_t)nk);
        g.v = malloc(sizeof(double) * (size_t)nv);
        unsigned long long s = 77 + (unsigned long long)masked;
        for (int64_t i = 0; i < nq; i++) g.q[i] = test_uniform(&s, -1.5, 1.5);
        for (int64_t i = 0; i < nk; i++) g.k[i] = test_uniform(&s, -1.5, 1.5);
        for (int64_t i = 0; i < nv; i++) g.v[i] = test_uniform(&s, -1, 1);
        float mf[5 * 7];
        double md[5 * 7];
        fill_mask(mf, g.lq, g.lk);
        for (int i = 0; i < 5 * 7; i++) md[i] = mf[i];
        g.mask = masked ? md : NULL;
        int64_t qs[3] = {g.h * g.lq * g.d, g.lq * g.d, g.d}, ks[3] = {g.h * g.lk * g.d, g.lk * g.d, g.d};
        int64_t vs[3] = {g.h * g.lk * g.dv, g.lk * g.dv, g.dv}, os[3] = {g.h * g.lq * g.dv, g.lq * g.dv, g.dv};
        memcpy(g.qs, qs, sizeof qs), memcpy(g.ks, ks, sizeof ks), memcpy(g.vs, vs, sizeof vs), memcpy(g.os, os, sizeof os);
        double *x0[3] = {g.q, g.k, g.v};
        int64_t n[3] = {nq, nk, nv};
        const char *names[2][3] = {{"attention dq", "attention dk", "attention dv"},
                                   {"attention dq (mask)", "attention dk (mask)", "attention dv (mask)"}};
        for (int w = 0; w < 3; w++) {
            g.which = w;
            double *copy = malloc(sizeof(double) * (size_t)n[w]);
            memcpy(copy, x0[w], sizeof(double) * (size_t)n[w]);
            gradcheck(names[masked][w], (int)n[w], (int)(g.b * g.h * g.lq * g.dv), gc_fwd, gc_bwd, &g, copy, 1e-6, 200);
            memcpy(x0[w], copy, sizeof(double) * (size_t)n[w]);
            free(copy);
        }
        free(g.q);
        free(g.k);
        free(g.v);
    }
}

/* ---- errors ------------------------------------------------------------------------------ */
static void test_errors(void) {
    rf_device *dev = open_cpu(false, 1);
    rf_ctx *ctx = NULL;
    if (!dev || rf_ctx_create(dev, 1 << 20, &ctx) != RF_OK) return;
    rf_tensor *q = rf_ctx_zeros(ctx, RF_F32, 4, (int64_t[]){1, 2, 3, 4}), *k = rf_ctx_zeros(ctx, RF_F32, 4, (int64_t[]){1, 2, 5, 4});
    rf_tensor *v = rf_ctx_zeros(ctx, RF_F32, 4, (int64_t[]){1, 2, 5, 6});
    rf_tensor *bad_mask = rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){3, 4});
    CHECK(rf_attention(ctx, q, k, v, bad_mask, 1.0f) == NULL, "a (3, 4) mask for 5 keys was accepted");
    CHECK_STATUS(rf_ctx_status(ctx), RF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(rf_last_error(), "mask") != NULL, "message: %s", rf_last_error());
    rf_ctx_reset(ctx);
    q = rf_ctx_zeros(ctx, RF_F32, 4, (int64_t[]){1, 2, 3, 4});
    rf_tensor *k0 = rf_ctx_zeros(ctx, RF_F32, 4, (int64_t[]){1, 2, 0, 4}), *v0 = rf_ctx_zeros(ctx, RF_F32, 4, (int64_t[]){1, 2, 0, 6});
    CHECK(rf_attention(ctx, q, k0, v0, NULL, 1.0f) == NULL, "attention over zero keys was accepted");
    CHECK_STATUS(rf_ctx_status(ctx), RF_ERR_INVALID_ARGUMENT);
    rf_ctx_reset(ctx);
    q = rf_ctx_zeros(ctx, RF_F32, 4, (int64_t[]){1, 2, 3, 4});
    k = rf_ctx_zeros(ctx, RF_F32, 4, (int64_t[]){1, 2, 5, 3});
    v = rf_ctx_zeros(ctx, RF_F32, 4, (int64_t[]){1, 2, 5, 6});
    CHECK(rf_attention(ctx, q, k, v, NULL, 1.0f) == NULL, "q and k of different widths were accepted");
    CHECK_STATUS(rf_ctx_status(ctx), RF_ERR_INVALID_ARGUMENT);
    rf_ctx_free(ctx);
    rf_device_close(dev);
}

int main(void) {
    test_against_composition();
    test_bf16_products();
    test_finite_differences();
    test_errors();
    return test_finish("test_attention");
}
