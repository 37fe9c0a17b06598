/* test_packed_weights.c — the fast cpu GEMM keeps a linear's weight matrix
 * packed across calls (backend/cpu/cpu_gemm.c) and must never serve stale
 * panels. A linear whose weight lives in a parameter slab is checked, bit
 * for bit, against the same product with a copy of the weight in an
 * ordinary tensor (packed per call): on repeated calls, after an AdamW step,
 * after loading new values, after random initialisation, with the EMA
 * weights swapped in and out and updated, and after the slab is freed and a
 * new one allocated; in f32, in bf16 (on AMX the weights are kept rounded
 * and packed for the tile product) and in fp16 (kept rounded to fp16 in an
 * f32 panel, as bf16 is without AMX). On CPUs without AVX-512 the cache is
 * not used and the checks hold trivially. */
#include "backend/cpu/cpu_backend.h"
#include "core/ops.h"
#include "core/optim.h"
#include "core/random.h"
#include "test_util.h"

enum { M = 300, K = 130, N = 70 }; /* rows past one thread's part, a ragged column panel */

static float xs[M * K];

/* x W^T + b with W as given (a parameter) and with a plain copy of W: the same bits? */
static void check_linear_in(rf_ctx *ctx, rf_tensor *w, rf_tensor *b, const char *when, rf_precision precision) {
    rf_ctx_reset(ctx);
    ctx->precision = precision;
    rf_tensor *x = rf_ctx_from_host(ctx, RF_F32, 2, (int64_t[]){M, K}, xs);
    float *host_w = malloc(sizeof(float) * N * K), *got = malloc(sizeof(float) * M * N), *want = malloc(sizeof(float) * M * N);
    CHECK_OK(rf_tensor_download(w, host_w));
    rf_tensor *plain = rf_ctx_from_host(ctx, RF_F32, 2, (int64_t[]){N, K}, host_w);
    for (int pass = 0; pass < 2; pass++) { /* the second call reuses the panels */
        rf_tensor *y = rf_linear(ctx, x, w, b), *ref = rf_linear(ctx, x, plain, b);
        CHECK(y && ref, "%s: linear failed: %s", when, rf_last_error());
        if (!y || !ref) break;
        CHECK_OK(rf_tensor_download(y, got));
        CHECK_OK(rf_tensor_download(ref, want));
        CHECK(memcmp(got, want, sizeof(float) * M * N) == 0, "%s (%s, call %d): the product used stale packed weights",
              when, rf_precision_name(precision), pass + 1);
    }
    free(host_w);
    free(got);
    free(want);
    ctx->precision = RF_PRECISION_F32;
}

static void check_linear(rf_ctx *ctx, rf_tensor *w, rf_tensor *b, const char *when) {
    check_linear_in(ctx, w, b, when, RF_PRECISION_F32);
    check_linear_in(ctx, w, b, when, RF_PRECISION_BF16);
    check_linear_in(ctx, w, b, when, RF_PRECISION_F16);
}

int main(void) {
    rf_device *dev = NULL;
    rf_device_options o = {.cpu_threads = 2};
    CHECK_OK(rf_device_open_with("cpu", &o, &dev));
    if (!dev) return test_finish("test_packed_weights");
    printf("GEMM: %s\n", rf_cpu_gemm_name(dev));
    unsigned long long s = 3;
    for (int i = 0; i < M * K; i++) xs[i] = (float)test_uniform(&s, -1, 1);
    rf_ctx *ctx = NULL;
    CHECK_OK(rf_ctx_create(dev, 16 << 20, &ctx));
    for (int round = 0; round < 2 && ctx; round++) { /* round 2: a new slab, maybe at the old address */
        rf_params *p = NULL;
        CHECK_OK(rf_params_create(dev, &p));
        rf_tensor *w = rf_params_add(p, "w", 2, (int64_t[]){N, K}), *b = rf_params_add(p, "b", 1, (int64_t[]){N});
        CHECK_OK(rf_params_finalize(p));
        CHECK(rf_init_linear(ctx, w, b) != NULL, "init: %s", rf_last_error());
        check_linear(ctx, w, b, "after initialisation");

        float *values = malloc(sizeof(float) * N * K);
        for (int i = 0; i < N * K; i++) values[i] = (float)test_uniform(&s, -2, 2);
        CHECK_OK(rf_tensor_upload(w, values));
        check_linear(ctx, w, b, "after loading values");

        rf_ctx_reset(ctx);
        CHECK(rf_init_xavier_uniform(ctx, w, 1.0f) != NULL, "xavier: %s", rf_last_error());
        check_linear(ctx, w, b, "after random re-initialisation");

        rf_ema *ema = NULL;
        CHECK_OK(rf_ema_create(p, 0.5, 0, &ema));
        rf_adamw *opt = NULL;
        rf_adamw_config cfg = {.lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
        CHECK_OK(rf_adamw_create(p, &cfg, &opt));
        if (opt && ema) {
            for (int i = 0; i < N * K; i++) values[i] = (float)test_uniform(&s, -1, 1);
            CHECK_OK(rf_tensor_upload(w->grad, values));
            CHECK_OK(rf_adamw_step(opt, 1.0f, 1.0f));
            check_linear(ctx, w, b, "after an AdamW step");
            CHECK_OK(rf_ema_update(ema));
            CHECK_OK(rf_ema_swap(ema));
            check_linear(ctx, w, b, "with the EMA swapped in");
            CHECK_OK(rf_ema_swap(ema));
            check_linear(ctx, w, b, "with the EMA swapped out");
            CHECK_OK(rf_adamw_step(opt, 1.0f, 1.0f));
            CHECK_OK(rf_ema_update(ema));
            CHECK_OK(rf_ema_swap(ema));
            check_linear(ctx, w, b, "with the updated EMA swapped in");
            CHECK_OK(rf_ema_swap(ema));
        }
        rf_adamw_free(opt);
        rf_ema_free(ema);
        free(values);
        rf_params_free(p);
    }
    rf_ctx_free(ctx);
    rf_device_close(dev);
    return test_finish("test_packed_weights");
}
