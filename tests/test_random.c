/* test_random.c — random fills on every device against the host Philox of
 * backend/philox.h, bit for bit: the stream of offset 0 is exactly the host
 * stream (seed, 0, 0, RF_RNG_TAG_TENSOR) read with rf_philox_next_float /
 * rf_philox_next_normal, offsets past 2^32 blocks follow the block function,
 * successive fills continue the stream; the truncated normal follows the
 * inverse CDF of the same uniforms; the distributions have the right
 * moments and bounds on a large draw; the initialisers give the same bits on
 * every device and stay in their bounds; bad arguments are refused. */
#include <math.h>
#include <stdint.h>

#include "backend/philox.h"
#include "core/ops.h"
#include "core/random.h"
#include "test_util.h"

#define CHUNK ((size_t)32 << 20)

/* ---- the host's version of a fill --------------------------------------------------- */

/* Expected values of a fill of n elements at (seed, offset), from the host
 * generator alone. Offsets below 2^32 use the sequential host stream; larger
 * ones the block function on the documented counter. */
typedef struct host_stream {
    uint32_t key[2];
    uint64_t block;
    uint32_t words[4];
    int used;
    rf_philox_stream seq;
    bool sequential;
} host_stream;

static void host_init(host_stream *h, uint64_t seed, uint64_t offset) {
    h->key[0] = (uint32_t)seed;
    h->key[1] = (uint32_t)(seed >> 32);
    h->block = offset;
    h->used = 4;
    h->sequential = offset < 0xFFFF0000ull;
    rf_philox_stream_init(&h->seq, seed, 0, 0, RF_RNG_TAG_TENSOR);
    h->seq.counter[0] = (uint32_t)offset;
}

static uint32_t host_u32(host_stream *h) {
    if (h->sequential) return rf_philox_next_u32(&h->seq);
    if (h->used == 4) {
        uint32_t ctr[4] = {(uint32_t)h->block, (uint32_t)(h->block >> 32), 0, RF_RNG_TAG_TENSOR};
        rf_philox4x32_10(ctr, h->key, h->words);
        h->block++;
        h->used = 0;
    }
    return h->words[h->used++];
}

static float host_normal(host_stream *h) {
    if (h->sequential) return (float)rf_philox_next_normal(&h->seq);
    uint32_t sum = 0;
    for (int i = 0; i < 6; i++) {
        uint32_t w = host_u32(h);
        sum += (w & 0xFFFFu) + (w >> 16);
    }
    return (float)(((double)sum + 6.0 - 6.0 * 65536.0) / 65536.0);
}

/* erfinv in double by bisection on libm's erf (monotonic; |v| < 1 - 1e-16
 * keeps the root inside +-7): slow, plain and accurate, to check the
 * devices' float one. */
static double erfinv_double(double v) {
    if (v <= -1) return -INFINITY;
    if (v >= 1) return INFINITY;
    double lo = -7, hi = 7;
    for (int i = 0; i < 80; i++) {
        double mid = 0.5 * (lo + hi);
        if (erf(mid) < v) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* What a fill should give, from the host generator alone. The truncated
 * normal's float erfinv is approximated (rel. 1e-7): its expected value
 * comes from erfinv in double and is compared with a tolerance; uniform
 * and normal must match bit for bit. */
static void host_fill(rf_rng_dist dist, int64_t n, uint64_t seed, uint64_t offset, float a, float b, float lo,
                      float hi, float *out) {
    host_stream h;
    host_init(&h, seed, offset);
    float base = 0, span = 0, scale = 0;
    rf_rng_trunc_normal_map(a, b, lo, hi, &base, &span, &scale);
    for (int64_t i = 0; i < n; i++) {
        if (dist == RF_RNG_UNIFORM) {
            out[i] = fmaf(b - a, rf_philox_to_float(host_u32(&h)), a);
        } else if (dist == RF_RNG_NORMAL) {
            out[i] = fmaf(b, host_normal(&h), a);
        } else {
            double x = a + (double)scale * erfinv_double(fmaf(span, rf_philox_to_float(host_u32(&h)), base));
            out[i] = (float)fmin(fmax(x, lo), hi);
        }
    }
}

/* ---- on the devices ------------------------------------------------------------------ */

typedef struct fill_case {
    rf_rng_dist dist;
    int64_t n;
    uint64_t seed, offset;
    float a, b, lo, hi;
} fill_case;

static const char *const dist_names[] = {"uniform", "normal", "trunc_normal"};

/* One fill through the op layer (context seeded, offset set), downloaded. */
static bool device_fill(rf_ctx *ctx, const fill_case *fc, float *out) {
    rf_ctx_reset(ctx);
    rf_ctx_set_seed(ctx, fc->seed);
    ctx->rng_offset = fc->offset;
    rf_tensor *t = rf_ctx_tensor(ctx, RF_F32, 1, &fc->n);
    if (fc->dist == RF_RNG_UNIFORM) t = rf_rand_uniform(ctx, t, fc->a, fc->b);
    else if (fc->dist == RF_RNG_NORMAL) t = rf_rand_normal(ctx, t, fc->a, fc->b);
    else t = rf_rand_trunc_normal(ctx, t, fc->a, fc->b, fc->lo, fc->hi);
    CHECK_OK(rf_ctx_status(ctx));
    if (!t) return false;
    CHECK(ctx->rng_offset == fc->offset + rf_rng_blocks(fc->dist, fc->n), "offset advanced to %llu",
          (unsigned long long)ctx->rng_offset);
    CHECK_OK(rf_tensor_download(t, out));
    return true;
}

static void test_streams_match_host(rf_ctx *ctx) {
    const fill_case cases[] = {
        {RF_RNG_UNIFORM, 10007, 42, 0, 0.0f, 1.0f, 0, 0},
        {RF_RNG_UNIFORM, 1001, 0xDEADBEEFCAFEF00Dull, 5, -3.0f, 0.5f, 0, 0},
        {RF_RNG_UNIFORM, 999, 7, 0xFFFFFFFEull, -1.0f, 1.0f, 0, 0}, /* the block counter carries into word 1 */
        {RF_RNG_NORMAL, 10007, 42, 0, 0.0f, 1.0f, 0, 0},
        {RF_RNG_NORMAL, 777, 0x0123456789ABCDEFull, 123, 0.5f, 0.02f, 0, 0},
        {RF_RNG_NORMAL, 333, 9, 0x1FFFFFFFFull, -2.0f, 3.0f, 0, 0},
        {RF_RNG_TRUNC_NORMAL, 5001, 42, 0, 0.0f, 1.0f, -2.0f, 2.0f},
        {RF_RNG_TRUNC_NORMAL, 2000, 3, 11, 0.0f, 1.0f, -0.05f, 0.05f},
        {RF_RNG_TRUNC_NORMAL, 2000, 5, 0x100000000ull, 1.0f, 0.5f, 1.5f, 3.0f},
        {RF_RNG_TRUNC_NORMAL, 20000, 6, 3, 0.0f, 0.02f, -2.0f, 2.0f}, /* the initialisers' case: erfinv's tails */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const fill_case *fc = &cases[i];
        float *got = malloc((size_t)fc->n * 4), *want = malloc((size_t)fc->n * 4);
        host_fill(fc->dist, fc->n, fc->seed, fc->offset, fc->a, fc->b, fc->lo, fc->hi, want);
        if (device_fill(ctx, fc, got)) {
            int64_t bad = 0, first = -1;
            for (int64_t k = 0; k < fc->n; k++) {
                bool same = fc->dist == RF_RNG_TRUNC_NORMAL ? fabsf(got[k] - want[k]) <= 2e-6f * fc->b * (1 + fabsf(want[k] - fc->a) / fc->b)
                                                            : memcmp(&got[k], &want[k], 4) == 0;
                if (!same && bad++ == 0) first = k;
            }
            CHECK(bad == 0, "%s: %s n=%lld seed=%llx offset=%llx: %lld of %lld differ from the host's (first %lld: %.9g vs %.9g)",
                  ctx->device->info.name, dist_names[fc->dist], (long long)fc->n, (unsigned long long)fc->seed,
                  (unsigned long long)fc->offset, (long long)bad, (long long)fc->n, (long long)first,
                  first >= 0 ? got[first] : 0, first >= 0 ? want[first] : 0);
        }
        free(got);
        free(want);
    }
}

/* Two fills in a row continue the stream: the second starts at the block
 * after the first's last. */
static void test_successive_fills(rf_ctx *ctx) {
    rf_ctx_reset(ctx);
    rf_ctx_set_seed(ctx, 2024);
    int64_t n1 = 6, n2 = 9;
    rf_tensor *a = rf_rand_uniform(ctx, rf_ctx_tensor(ctx, RF_F32, 1, &n1), 0, 1);
    rf_tensor *b = rf_rand_uniform(ctx, rf_ctx_tensor(ctx, RF_F32, 1, &n2), 0, 1);
    CHECK_OK(rf_ctx_status(ctx));
    if (!a || !b) return;
    float got[15], want[16];
    CHECK_OK(rf_tensor_download(a, got));
    CHECK_OK(rf_tensor_download(b, got + 6));
    host_fill(RF_RNG_UNIFORM, 16, 2024, 0, 0, 1, 0, 0, want); /* 6 values use 2 blocks: b starts at word 8 */
    CHECK(memcmp(got, want, 6 * 4) == 0 && memcmp(got + 6, want + 8, 8 * 4) == 0, "%s: successive fills do not continue the stream",
          ctx->device->info.name);
    CHECK(ctx->rng_offset == 2 + 3, "offset after two fills: %llu", (unsigned long long)ctx->rng_offset);
    rf_ctx_set_seed(ctx, 2024);
    CHECK(ctx->rng_offset == 0, "set_seed restarts the stream");
}

static void moments(const float *x, int64_t n, double *mean, double *var, float *lo, float *hi) {
    double s = 0, s2 = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
        if (x[i] < *lo) *lo = x[i];
        if (x[i] > *hi) *hi = x[i];
    }
    *mean = s / n;
    *var = s2 / n - *mean * *mean;
}

/* Moments of large draws on a device (every device gives these very bits). */
static void test_distributions(rf_ctx *ctx) {
    const int64_t n = 1 << 20;
    float *x = malloc((size_t)n * 4);
    double mean, var;
    float lo, hi;
    fill_case fc = {RF_RNG_UNIFORM, n, 1, 0, -1.0f, 3.0f, 0, 0};
    if (!x || !device_fill(ctx, &fc, x)) return;
    moments(x, n, &mean, &var, &lo, &hi);
    CHECK(fabs(mean - 1.0) < 0.005 && fabs(var - 16.0 / 12.0) < 0.005 && lo >= -1.0f && hi < 3.0f,
          "uniform [-1, 3): mean %g var %g range [%g, %g]", mean, var, lo, hi);
    fc = (fill_case){RF_RNG_NORMAL, n, 2, 0, 0.5f, 2.0f, 0, 0};
    if (!device_fill(ctx, &fc, x)) return;
    moments(x, n, &mean, &var, &lo, &hi);
    CHECK(fabs(mean - 0.5) < 0.01 && fabs(var - 4.0) < 0.02 && lo >= 0.5f - 12.0f && hi <= 0.5f + 12.0f,
          "normal(0.5, 2): mean %g var %g range [%g, %g]", mean, var, lo, hi);
    /* Truncated standard normal on [-2, 2]: variance 1 - 4 phi(2) / (Phi(2) - Phi(-2)) = 0.7737. */
    fc = (fill_case){RF_RNG_TRUNC_NORMAL, n, 3, 0, 0.0f, 1.0f, -2.0f, 2.0f};
    if (!device_fill(ctx, &fc, x)) return;
    moments(x, n, &mean, &var, &lo, &hi);
    CHECK(fabs(mean) < 0.005 && fabs(var - 0.7737) < 0.005 && lo >= -2.0f && hi <= 2.0f,
          "trunc normal [-2, 2]: mean %g var %g range [%g, %g]", mean, var, lo, hi);
    /* mean 1, std 0.5 on [1.5, 3] is the standard normal on [1, 4]: mean
     * 1 + 0.5 (phi(1) - phi(4)) / (Phi(4) - Phi(1)) = 1.7623. */
    fc = (fill_case){RF_RNG_TRUNC_NORMAL, n, 4, 0, 1.0f, 0.5f, 1.5f, 3.0f};
    if (!device_fill(ctx, &fc, x)) return;
    moments(x, n, &mean, &var, &lo, &hi);
    CHECK(fabs(mean - 1.7623) < 0.003 && lo >= 1.5f && hi <= 3.0f, "trunc normal [1.5, 3]: mean %g range [%g, %g]",
          mean, lo, hi);
    /* A narrow window: nearly uniform inside it (variance 0.1^2 / 12). */
    fc = (fill_case){RF_RNG_TRUNC_NORMAL, n, 5, 0, 0.0f, 1.0f, -0.05f, 0.05f};
    if (!device_fill(ctx, &fc, x)) return;
    moments(x, n, &mean, &var, &lo, &hi);
    CHECK(fabs(mean) < 0.001 && fabs(var - 0.01 / 12.0) < 1e-5 && lo >= -0.05f && hi <= 0.05f,
          "trunc normal [-0.05, 0.05]: mean %g var %g range [%g, %g]", mean, var, lo, hi);
    free(x);
}

/* Parameter initialisation on a small slab: bounds, and the bits of every
 * device (returned for the cross-device comparison). */
static float *init_params(rf_device *dev) {
    rf_params *p = NULL;
    rf_ctx *ctx = NULL;
    CHECK_OK(rf_params_create(dev, &p));
    rf_tensor *w1 = rf_params_add(p, "w1", 2, (int64_t[]){33, 17});
    rf_tensor *b1 = rf_params_add(p, "b1", 1, (int64_t[]){33});
    rf_tensor *conv = rf_params_add(p, "conv", 4, (int64_t[]){8, 3, 3, 3});
    rf_tensor *vit = rf_params_add(p, "vit", 2, (int64_t[]){64, 64});
    rf_tensor *ln = rf_params_add(p, "ln", 1, (int64_t[]){64});
    CHECK_OK(rf_params_finalize(p));
    CHECK_OK(rf_ctx_create(dev, CHUNK, &ctx));
    float *host = malloc((size_t)p->total * 4);
    rf_ctx_set_seed(ctx, 77);
    rf_init_linear(ctx, w1, b1);
    rf_init_xavier_uniform(ctx, conv, 1.0f);
    rf_init_trunc_normal(ctx, vit, 0.02f);
    rf_init_constant(ctx, ln, 1.0f);
    CHECK_OK(rf_ctx_status(ctx));
    CHECK_OK(rf_buffer_download(p->values, 0, host, (size_t)p->total * 4));
    float bound = 1.0f / sqrtf(17.0f), xb = sqrtf(6.0f / (27.0f + 72.0f));
    bool ok = true;
    for (int64_t i = 0; i < 33 * 17; i++) ok &= fabsf(host[w1->offset + i]) <= bound;
    for (int64_t i = 0; i < 33; i++) ok &= fabsf(host[b1->offset + i]) <= bound;
    for (int64_t i = 0; i < 8 * 27; i++) ok &= fabsf(host[conv->offset + i]) <= xb;
    double s2 = 0;
    for (int64_t i = 0; i < 64 * 64; i++) s2 += (double)host[vit->offset + i] * host[vit->offset + i];
    for (int64_t i = 0; i < 64; i++) ok &= host[ln->offset + i] == 1.0f;
    CHECK(ok, "%s: an initialiser left its bounds", dev->info.name);
    CHECK(fabs(sqrt(s2 / 4096) - 0.02) < 0.002, "%s: trunc_normal(std 0.02) has std %g", dev->info.name, sqrt(s2 / 4096));

    /* Refusals: bad arguments, a tensor of another device, rank-1 fans. */
    rf_ctx_reset(ctx);
    CHECK(rf_rand_trunc_normal(ctx, vit, 0, 1, 2, -2) == NULL && rf_ctx_status(ctx) == RF_ERR_INVALID_ARGUMENT,
          "trunc normal with lo > hi accepted");
    rf_ctx_reset(ctx);
    CHECK(rf_rand_uniform(ctx, vit, 0, INFINITY) == NULL && rf_ctx_status(ctx) == RF_ERR_INVALID_ARGUMENT,
          "uniform with an infinite bound accepted");
    rf_ctx_reset(ctx);
    CHECK(rf_init_xavier_uniform(ctx, b1, 1) == NULL && rf_ctx_status(ctx) == RF_ERR_INVALID_ARGUMENT,
          "xavier on a vector accepted");
    rf_ctx_reset(ctx);
    rf_tensor *strided = rf_transpose(ctx, rf_ctx_tensor(ctx, RF_F32, 2, (int64_t[]){3, 5}), 0, 1);
    CHECK(rf_rand_normal(ctx, strided, 0, 1) == NULL && rf_ctx_status(ctx) == RF_ERR_INVALID_ARGUMENT,
          "fill of a non-contiguous view accepted");
    rf_ctx_free(ctx);
    rf_params_free(p);
    return host;
}

static void test_device_mismatch(rf_device *a, rf_device *b) {
    rf_ctx *ca = NULL, *cb = NULL;
    CHECK_OK(rf_ctx_create(a, CHUNK, &ca));
    CHECK_OK(rf_ctx_create(b, CHUNK, &cb));
    if (ca && cb) {
        rf_tensor *t = rf_ctx_tensor(cb, RF_F32, 1, (int64_t[]){8});
        CHECK(rf_rand_uniform(ca, t, 0, 1) == NULL && rf_ctx_status(ca) == RF_ERR_DEVICE_MISMATCH,
              "a fill of a tensor on %s through a context on %s was not refused", b->info.name, a->info.name);
    }
    rf_ctx_free(ca);
    rf_ctx_free(cb);
}

int main(void) {
    char names[16][32];
    int ndev = test_device_names(names, 16);
    rf_device *devs[16] = {0};
    float *inits[16] = {0};
    for (int d = 0; d < ndev; d++) {
        CHECK_OK(rf_device_open(names[d], &devs[d]));
        if (!devs[d]) continue;
        rf_ctx *ctx = NULL;
        CHECK_OK(rf_ctx_create(devs[d], CHUNK, &ctx));
        if (!ctx) continue;
        test_streams_match_host(ctx);
        test_successive_fills(ctx);
        if (d == 0) test_distributions(ctx);
        rf_ctx_free(ctx);
        inits[d] = init_params(devs[d]);
        if (d > 0 && inits[0] && inits[d])
            CHECK(memcmp(inits[0], inits[d], 4 * (33 * 17 + 15 + 48 + 8 * 27 + 8 + 4096 + 64)) == 0,
                  "initialised parameters differ between %s and %s", names[0], names[d]);
        printf("%s: fills follow the host Philox stream (uniform and normal bit for bit)\n", names[d]);
    }
    if (ndev > 1 && devs[0] && devs[ndev - 1]) test_device_mismatch(devs[0], devs[ndev - 1]);
    for (int d = 0; d < ndev; d++) {
        free(inits[d]);
        rf_device_close(devs[d]);
    }
    return test_finish("test_random");
}
