/* test_ops.c — the basic ops through the tensor layer on every device:
 * outputs and autograd gradients against the cpu device, cpu gradients
 * against finite differences, composite ops (broadcasting, matmul, linear,
 * views, concat, pad, windows, attention), and device-mismatch errors. */
#include <math.h>

#include "core/ops.h"
#include "op_harness.h"
#include "test_util.h"

#define FD 2e-2  /* float finite differences: relative tolerance */
#define EXACT 1e-7
#define GEMM 5e-4

/* ---- builders ------------------------------------------------------------------ */
static rf_tensor *b_add(rf_ctx *c, rf_tensor **in, const op_test *t) { return rf_add(c, in[0], in[1]); }
static rf_tensor *b_sub(rf_ctx *c, rf_tensor **in, const op_test *t) { return rf_sub(c, in[0], in[1]); }
static rf_tensor *b_mul(rf_ctx *c, rf_tensor **in, const op_test *t) { return rf_mul(c, in[0], in[1]); }
static rf_tensor *b_div(rf_ctx *c, rf_tensor **in, const op_test *t) { return rf_div(c, in[0], in[1]); }
static rf_tensor *b_unary(rf_ctx *c, rf_tensor **in, const op_test *t) {
    return rf_unary(c, (rf_unary_op)t->iparam[0], in[0], t->fparam[0], t->fparam[1]);
}
static rf_tensor *b_sum(rf_ctx *c, rf_tensor **in, const op_test *t) {
    return rf_sum(c, in[0], (unsigned)t->iparam[0], t->iparam[1]);
}
static rf_tensor *b_mean(rf_ctx *c, rf_tensor **in, const op_test *t) {
    return rf_mean(c, in[0], (unsigned)t->iparam[0], t->iparam[1]);
}
static rf_tensor *b_sum_all(rf_ctx *c, rf_tensor **in, const op_test *t) { return rf_sum_all(c, in[0]); }
static rf_tensor *b_max(rf_ctx *c, rf_tensor **in, const op_test *t) { return rf_max_last(c, in[0], NULL); }
static rf_tensor *b_softmax(rf_ctx *c, rf_tensor **in, const op_test *t) {
    return rf_softmax(c, in[0], t->n_in > 1 ? in[1] : NULL);
}
static rf_tensor *b_layernorm(rf_ctx *c, rf_tensor **in, const op_test *t) {
    return rf_layernorm(c, in[0], in[1], in[2], 1e-6f);
}
static rf_tensor *b_channel_ln(rf_ctx *c, rf_tensor **in, const op_test *t) {
    return rf_channel_layernorm(c, in[0], in[1], in[2], 1e-6f);
}
static rf_tensor *b_matmul(rf_ctx *c, rf_tensor **in, const op_test *t) {
    return rf_matmul(c, in[0], in[1], t->iparam[0], t->iparam[1]);
}
static rf_tensor *b_linear(rf_ctx *c, rf_tensor **in, const op_test *t) {
    return rf_linear(c, in[0], in[1], t->n_in > 2 ? in[2] : NULL);
}
/* (2,3,4) -> permute (2,0,1) -> scaled so the gradient mapping is visible */
static rf_tensor *b_permute(rf_ctx *c, rf_tensor **in, const op_test *t) {
    rf_tensor *p = rf_permute(c, in[0], (int[]){2, 0, 1});
    return rf_mul(c, p, in[1]);
}
static rf_tensor *b_slice_reshape(rf_ctx *c, rf_tensor **in, const op_test *t) {
    rf_tensor *s = rf_slice(c, in[0], 1, 1, 4);              /* (3, 3, 5) */
    s = rf_transpose(c, s, 0, 2);                            /* (5, 3, 3) non-contiguous */
    rf_tensor *r = rf_reshape(c, s, 2, (int64_t[]){5, -1});  /* copies, then views */
    return rf_mul(c, r, r);
}
/* The head split of a fused q/k/v projection, as the ViT does it: the
 * reshapes of a slice of a permuted tensor are views; merging the permuted
 * axes back is not, and copies. */
static rf_tensor *b_head_split(rf_ctx *c, rf_tensor **in, const op_test *t) {
    rf_tensor *qkv = rf_reshape(c, in[0], 5, (int64_t[]){2, 3, 3, 2, 2});      /* (N, T, 3, H, D) */
    qkv = rf_permute(c, qkv, (int[]){2, 0, 3, 1, 4});                          /* (3, N, H, T, D) */
    rf_tensor *k = rf_reshape(c, rf_slice(c, qkv, 0, 1, 2), 4, (int64_t[]){2, 2, 3, 2});
    rf_tensor *merged = rf_reshape(c, rf_permute(c, k, (int[]){0, 2, 1, 3}), 2, (int64_t[]){6, 4});
    return rf_mul(c, rf_reshape(c, merged, 4, (int64_t[]){2, 2, 3, 2}), rf_mul(c, k, in[1]));
}
/* The decoder's split of one projection into q and k (slice, reshape,
 * permute), whose gradients go straight into the projection's, with the
 * slice also used directly: its own gradient takes the longer way. */
static rf_tensor *b_view_chains(rf_ctx *c, rf_tensor **in, const op_test *t) {
    int64_t split[4] = {2, 3, 2, 2};
    int perm[4] = {0, 2, 1, 3};
    rf_tensor *half = rf_slice(c, in[0], 2, 0, 4);                                           /* (2, 3, 4) */
    rf_tensor *q = rf_permute(c, rf_reshape(c, half, 4, split), perm);                      /* (2, 2, 3, 2) */
    rf_tensor *k = rf_permute(c, rf_reshape(c, rf_slice(c, in[0], 2, 4, 8), 4, split), perm);
    rf_tensor *direct = rf_permute(c, rf_reshape(c, rf_mul(c, half, half), 4, split), perm);
    return rf_add(c, rf_mul(c, q, k), rf_mul(c, direct, in[1]));
}
/* Residual adds, which hand their gradient to both inputs
 * (add_shares_gradient in core/ops.c), beside adds that must copy it: one
 * whose other input's producer reads this input, one whose input is read
 * again between the other's producer and the add. */
static rf_tensor *b_residuals(rf_ctx *c, rf_tensor **in, const op_test *t) {
    rf_tensor *h = rf_linear(c, in[0], in[1], NULL);
    rf_tensor *y = rf_add(c, h, rf_gelu(c, rf_linear(c, h, in[2], NULL)));
    y = rf_add(c, y, rf_gelu(c, rf_linear(c, y, in[2], NULL)));
    rf_tensor *z = rf_add(c, y, rf_gelu(c, y));
    rf_tensor *branch = rf_gelu(c, rf_linear(c, z, in[2], NULL));
    rf_tensor *square = rf_mul(c, z, z);
    return rf_add(c, rf_add(c, z, branch), square);
}
static rf_tensor *b_concat(rf_ctx *c, rf_tensor **in, const op_test *t) {
    rf_tensor *xs[3] = {in[0], in[1], in[2]};
    return rf_concat(c, xs, 3, t->iparam[0]);
}
static rf_tensor *b_pad(rf_ctx *c, rf_tensor **in, const op_test *t) {
    rf_tensor *p = rf_pad2d(c, in[0], 1, 2, 0, 3);
    return rf_mul(c, p, p);
}
static rf_tensor *b_windows(rf_ctx *c, rf_tensor **in, const op_test *t) {
    rf_tensor *w = rf_window_partition(c, in[0], 2, 3); /* (2, 4, 6, 5) -> (12, 4, 5) */
    w = rf_mul(c, w, in[1]);                           /* position-dependent weights */
    return rf_window_reverse(c, w, 2, 4, 6, 2, 3);
}
static rf_tensor *b_attention(rf_ctx *c, rf_tensor **in, const op_test *t) {
    return rf_attention(c, in[0], in[1], in[2], t->n_in > 3 ? in[3] : NULL, 0.35f);
}
static rf_tensor *b_mlp(rf_ctx *c, rf_tensor **in, const op_test *t) {
    rf_tensor *h = rf_linear(c, in[0], in[1], in[2]);
    h = rf_gelu(c, h);
    h = rf_layernorm(c, h, NULL, NULL, 1e-5f);
    return rf_linear(c, h, in[3], in[4]);
}

/* ---- cases ----------------------------------------------------------------------- */
#define IN(nd, ...) {.ndim = nd, .shape = {__VA_ARGS__}, .lo = -1, .hi = 1, .grad = true}

static float group_mask[6 * 6];

static int make_tests(op_test *t) {
    int n = 0;
    /* broadcasting binary ops */
    t[n++] = (op_test){"add (3,4,5)+(4,1)", 2, {IN(3, 3, 4, 5), IN(2, 4, 1)}, b_add, EXACT, FD};
    t[n++] = (op_test){"sub (2,1,5)-(1,3,1)", 2, {IN(3, 2, 1, 5), IN(3, 1, 3, 1)}, b_sub, EXACT, FD};
    t[n++] = (op_test){"mul (2,3,4)*(4)", 2, {IN(3, 2, 3, 4), IN(1, 4)}, b_mul, EXACT, FD};
    op_test d = {"div (3,4)/(3,1)", 2, {IN(2, 3, 4), IN(2, 3, 1)}, b_div, EXACT, FD};
    d.in[1].lo = 0.5f;
    d.in[1].hi = 2.0f;
    t[n++] = d;
    /* unary ops (smooth ones through finite differences) */
    const int smooth[] = {RF_UNARY_AFFINE, RF_UNARY_GELU, RF_UNARY_SILU, RF_UNARY_SIGMOID, RF_UNARY_EXP,
                          RF_UNARY_LOG_SIGMOID, RF_UNARY_TANH, RF_UNARY_SIN};
    for (size_t i = 0; i < sizeof smooth / sizeof smooth[0]; i++) {
        op_test u = {"unary", 1, {IN(2, 5, 7)}, b_unary, EXACT, FD, {smooth[i]}, {1.5f, -0.5f}};
        static char names[8][32];
        snprintf(names[i], sizeof names[i], "unary op %d", smooth[i]);
        u.name = names[i];
        t[n++] = u;
    }
    op_test sq = {"unary sqrt/log", 1, {IN(1, 33)}, b_unary, EXACT, FD, {RF_UNARY_SQRT}};
    sq.in[0].lo = 0.5f;
    sq.in[0].hi = 3;
    t[n++] = sq;
    op_test is = {"unary inverse_sigmoid", 1, {IN(1, 40)}, b_unary, EXACT, FD, {RF_UNARY_INVERSE_SIGMOID}, {1e-5f}};
    is.in[0].lo = 0.1f;
    is.in[0].hi = 0.9f;
    t[n++] = is;
    /* reductions */
    t[n++] = (op_test){"sum axes 0,2 keepdim", 1, {IN(3, 3, 4, 5)}, b_sum, EXACT, FD, {5, 1}};
    t[n++] = (op_test){"mean axis 1", 1, {IN(3, 3, 4, 5)}, b_mean, EXACT, FD, {2, 0}};
    t[n++] = (op_test){"sum_all", 1, {IN(2, 7, 9)}, b_sum_all, EXACT, FD};
    op_test mx = {"max_last", 1, {IN(2, 6, 9)}, b_max, EXACT, FD};
    t[n++] = mx;
    /* softmax, layer norms */
    t[n++] = (op_test){"softmax", 1, {IN(3, 2, 6, 9)}, b_softmax, EXACT, FD};
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) group_mask[i * 6 + j] = i / 3 == j / 3 ? 0.0f : -INFINITY;
    op_test sm = {"softmax group mask", 2, {IN(4, 2, 2, 6, 6), {.ndim = 2, .shape = {6, 6}, .values = group_mask}}, b_softmax,
                  EXACT, FD};
    t[n++] = sm;
    op_test ln = {"layernorm", 3, {IN(3, 2, 5, 16), IN(1, 16), IN(1, 16)}, b_layernorm, EXACT, FD};
    ln.in[0].hi = 3;
    t[n++] = ln;
    t[n++] = (op_test){"channel_layernorm", 3, {IN(4, 2, 8, 3, 5), IN(1, 8), IN(1, 8)}, b_channel_ln, EXACT, FD};
    /* matrix products */
    t[n++] = (op_test){"matmul (7,5)x(5,9)", 2, {IN(2, 7, 5), IN(2, 5, 9)}, b_matmul, GEMM, FD};
    t[n++] = (op_test){"matmul ta", 2, {IN(2, 5, 7), IN(2, 5, 9)}, b_matmul, GEMM, FD, {1, 0}};
    t[n++] = (op_test){"matmul tb", 2, {IN(2, 7, 5), IN(2, 9, 5)}, b_matmul, GEMM, FD, {0, 1}};
    t[n++] = (op_test){"matmul ta tb", 2, {IN(2, 5, 7), IN(2, 9, 5)}, b_matmul, GEMM, FD, {1, 1}};
    t[n++] = (op_test){"matmul batched", 2, {IN(4, 2, 3, 4, 5), IN(4, 2, 3, 5, 6)}, b_matmul, GEMM, FD, {0, 1 - 1}};
    t[n++] = (op_test){"matmul batched tb", 2, {IN(3, 4, 6, 5), IN(3, 4, 7, 5)}, b_matmul, GEMM, FD, {0, 1}};
    t[n++] = (op_test){"matmul broadcast b", 2, {IN(3, 3, 4, 5), IN(2, 5, 6)}, b_matmul, GEMM, FD};
    t[n++] = (op_test){"matmul broadcast a ta", 2, {IN(2, 5, 4), IN(3, 3, 5, 6)}, b_matmul, GEMM, FD, {1, 0}};
    t[n++] = (op_test){"linear 3d with bias", 3, {IN(3, 2, 3, 8), IN(2, 5, 8), IN(1, 5)}, b_linear, GEMM, FD};
    t[n++] = (op_test){"linear no bias", 2, {IN(2, 9, 4), IN(2, 6, 4)}, b_linear, GEMM, FD};
    /* views and copies */
    t[n++] = (op_test){"permute", 2, {IN(3, 2, 3, 4), IN(3, 4, 2, 3)}, b_permute, EXACT, FD};
    t[n++] = (op_test){"slice transpose reshape", 1, {IN(3, 3, 5, 5)}, b_slice_reshape, EXACT, FD};
    t[n++] = (op_test){"head split reshapes", 2, {IN(3, 2, 3, 12), IN(4, 2, 2, 3, 2)}, b_head_split, EXACT, FD};
    t[n++] = (op_test){"view chains", 2, {IN(3, 2, 3, 8), IN(4, 2, 2, 3, 2)}, b_view_chains, EXACT, FD};
    t[n++] = (op_test){"concat axis 1", 3, {IN(3, 2, 1, 3), IN(3, 2, 4, 3), IN(3, 2, 2, 3)}, b_concat, EXACT, FD, {1}};
    t[n++] = (op_test){"concat axis -1", 3, {IN(2, 3, 1), IN(2, 3, 2), IN(2, 3, 5)}, b_concat, EXACT, FD, {-1}};
    t[n++] = (op_test){"pad2d", 1, {IN(3, 2, 3, 4)}, b_pad, EXACT, FD};
    t[n++] = (op_test){"window partition/reverse", 2, {IN(4, 2, 4, 6, 5), IN(3, 12, 4, 5)}, b_windows, EXACT, FD};
    /* attention, plain and with Group DETR's mask, and a small MLP */
    t[n++] = (op_test){"attention", 3, {IN(4, 2, 2, 6, 4), IN(4, 2, 2, 5, 4), IN(4, 2, 2, 5, 3)}, b_attention, GEMM, FD};
    t[n++] = (op_test){"attention group mask", 4,
                       {IN(4, 1, 2, 6, 4), IN(4, 1, 2, 6, 4), IN(4, 1, 2, 6, 3), {.ndim = 2, .shape = {6, 6}, .values = group_mask}},
                       b_attention, GEMM, FD};
    op_test res = {"residual adds", 3, {IN(2, 6, 8), IN(2, 8, 8), IN(2, 8, 8)}, b_residuals, GEMM, FD};
    for (int i = 1; i < 3; i++) res.in[i].lo = -0.35f, res.in[i].hi = 0.35f; /* float differences stay honest */
    t[n++] = res;
    t[n++] = (op_test){"mlp", 5, {IN(2, 6, 8), IN(2, 16, 8), IN(1, 16), IN(2, 3, 16), IN(1, 3)}, b_mlp, GEMM, FD};
    return n;
}

/* Tensors of one device given to an op on another: refused, named. */
static void test_device_mismatch(void) {
    char names[16][32];
    int n = test_device_names(names, 16);
    if (n < 2) return;
    rf_device *a = NULL, *b = NULL;
    CHECK_OK(rf_device_open(names[0], &a));
    CHECK_OK(rf_device_open(names[n - 1], &b));
    rf_ctx *ca = NULL, *cb = NULL;
    CHECK_OK(rf_ctx_create(a, 1 << 20, &ca));
    CHECK_OK(rf_ctx_create(b, 1 << 20, &cb));
    if (ca && cb) {
        int64_t shape[1] = {4};
        rf_tensor *x = rf_ctx_zeros(ca, RF_F32, 1, shape), *y = rf_ctx_zeros(cb, RF_F32, 1, shape);
        CHECK(rf_add(cb, x, y) == NULL, "an op accepted a tensor from another device");
        CHECK_STATUS(rf_ctx_status(cb), RF_ERR_DEVICE_MISMATCH);
        CHECK(strstr(rf_last_error(), names[0]) && strstr(rf_last_error(), names[n - 1]), "message: %s", rf_last_error());
        /* The context stays failed (first error kept) until reset. */
        CHECK(rf_add(cb, y, y) == NULL, "op ran after a failure");
        rf_ctx_reset(cb);
        CHECK(rf_add(cb, rf_ctx_zeros(cb, RF_F32, 1, shape), rf_ctx_zeros(cb, RF_F32, 1, shape)) != NULL, "after reset");
    }
    rf_ctx_free(ca);
    rf_ctx_free(cb);
    rf_device_close(a);
    rf_device_close(b);
}

/* Shape errors are reported, not crashed on. */
static void test_shape_errors(void) {
    rf_device *dev = NULL;
    CHECK_OK(rf_device_open("cpu", &dev));
    rf_ctx *ctx = NULL;
    CHECK_OK(rf_ctx_create(dev, 1 << 20, &ctx));
    if (!ctx) return;
    rf_tensor *a = rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){3, 4}), *b = rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){5, 6});
    CHECK(rf_matmul(ctx, a, b, false, false) == NULL, "matmul accepted mismatched inner dimensions");
    CHECK_STATUS(rf_ctx_status(ctx), RF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(rf_last_error(), "(3, 4)") && strstr(rf_last_error(), "(5, 6)"), "message: %s", rf_last_error());
    rf_ctx_reset(ctx);
    a = rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){3, 4});
    CHECK(rf_add(ctx, a, rf_ctx_zeros(ctx, RF_F32, 1, (int64_t[]){3})) == NULL, "add accepted (3,4)+(3)");
    rf_ctx_reset(ctx);
    a = rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){3, 4});
    CHECK(rf_reshape(ctx, a, 2, (int64_t[]){5, -1}) == NULL, "reshape 12 elements into 5 x ?");
    rf_ctx_free(ctx);
    rf_device_close(dev);
}

/* Where element `flat` (in logical order) of t lies in its storage. */
static int64_t storage_index(const rf_tensor *t, int64_t flat) {
    int64_t at = (int64_t)t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        at += flat % t->shape[d] * t->stride[d];
        flat /= t->shape[d];
    }
    return at;
}

static void test_reshape_views(void) {
    rf_device *dev = NULL;
    CHECK_OK(rf_device_open("cpu", &dev));
    rf_ctx *ctx = NULL;
    CHECK_OK(rf_ctx_create(dev, 1 << 20, &ctx));
    if (!ctx) return;
    float host[2 * 3 * 12];
    for (int i = 0; i < 72; i++) host[i] = (float)i;
    rf_tensor *x = rf_ctx_from_host(ctx, RF_F32, 3, (int64_t[]){2, 3, 12}, host);
    rf_tensor *p = rf_permute(ctx, rf_reshape(ctx, x, 5, (int64_t[]){2, 3, 3, 2, 2}), (int[]){2, 0, 3, 1, 4});
    rf_tensor *slice = rf_slice(ctx, p, 0, 2, 3);
    struct {
        const char *what;
        rf_tensor *from;
        int ndim;
        int64_t shape[RF_MAX_DIMS];
        bool view;
    } cases[] = {
        {"the v heads of a permuted q/k/v", slice, 4, {2, 2, 3, 2}, true},
        {"size-1 axes inserted", slice, 6, {1, 2, 1, 2, 3, 2}, true},
        {"the heads merged with the batch", slice, 3, {4, 3, 2}, false},
        {"the heads' rows merged", slice, 3, {2, 2, 6}, false},
        {"the permuted axes merged", rf_permute(ctx, x, (int[]){0, 2, 1}), 2, {24, 3}, false},
        {"the leading axes of a column slice merged", rf_slice(ctx, x, 2, 0, 6), 2, {6, 6}, true},
        {"a column slice's rows flattened", rf_slice(ctx, x, 2, 0, 6), 2, {2, 18}, false},
        {"a column slice split", rf_slice(ctx, x, 2, 0, 6), 4, {2, 3, 2, 3}, true},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        rf_device_counters before, after;
        rf_device_get_counters(dev, &before);
        rf_tensor *y = rf_reshape(ctx, cases[c].from, cases[c].ndim, cases[c].shape);
        rf_device_get_counters(dev, &after);
        CHECK(y != NULL, "%s: %s", cases[c].what, rf_last_error());
        if (!y) continue;
        bool copied = after.kernel_launches != before.kernel_launches;
        CHECK(copied != cases[c].view, "%s: %s", cases[c].what, copied ? "copied, expected a view" : "a view, expected a copy");
        /* x holds 0, 1, 2, ...: element i of y must be element i of `from`,
         * read through y's strides from the storage both live in. */
        int64_t n = rf_tensor_numel(y), end = storage_index(y, n - 1) + 1;
        float *storage = malloc(sizeof *storage * (size_t)end);
        if (!storage) continue;
        CHECK_OK(rf_buffer_download(y->buffer, 0, storage, sizeof *storage * (size_t)end));
        int bad = 0;
        for (int64_t i = 0; i < n; i++)
            bad += storage[storage_index(y, i)] != (float)(storage_index(cases[c].from, i) - (int64_t)x->offset);
        free(storage);
        CHECK(bad == 0, "%s: %d of %lld elements out of order", cases[c].what, bad, (long long)n);
    }
    rf_ctx_free(ctx);
    rf_device_close(dev);
}

/* Opens device `name` and a context on it; false (both NULL) after a failure. */
static bool open_with_ctx(const char *name, size_t chunk_bytes, rf_device **dev, rf_ctx **ctx) {
    *dev = NULL;
    *ctx = NULL;
    CHECK_OK(rf_device_open(name, dev));
    if (*dev) CHECK_OK(rf_ctx_create(*dev, chunk_bytes, ctx));
    if (*ctx) return true;
    rf_device_close(*dev);
    *dev = NULL;
    return false;
}

/* Backward releases each non-leaf gradient once its producer has used it,
 * and each backward function's scratch, so a chain's backward needs a few
 * tensors beside the forward's, not a second copy of them; the leaves' and
 * retained gradients stay right while that memory is reused (on the GPU
 * backends, while earlier kernels that read it may still be queued). */
static void test_backward_releases(void) {
    char names[16][32];
    int n_dev = test_device_names(names, 16);
    enum { LINKS = 16, N = 1 << 18 }; /* 1 MiB per tensor */
    for (int d = 0; d < n_dev; d++) {
        rf_device *dev;
        rf_ctx *ctx;
        if (!open_with_ctx(names[d], 64 << 20, &dev, &ctx)) continue;
        for (int step = 0; step < 2; step++) { /* the second reuses the first's chunks */
            rf_ctx_reset(ctx);
            rf_tensor *x = rf_ctx_zeros(ctx, RF_F32, 1, (int64_t[]){N});
            if (!x) break;
            x->requires_grad = true;
            rf_tensor *y = x, *middle = NULL;
            for (int i = 0; i < LINKS; i++) {
                y = rf_scale(ctx, y, 2.0f);
                if (i == LINKS / 2 - 1) middle = y;
            }
            rf_retain_grad(middle);
            /* loss = sum(2^16 x + 2^8 x): d/dx = 65792, d/dmiddle = 2^8 + 1. */
            rf_tensor *loss = rf_sum_all(ctx, rf_add(ctx, y, middle));
            size_t forward = rf_ctx_arena_peak_bytes(ctx);
            CHECK_OK(rf_backward(ctx, loss, NULL));
            size_t added = rf_ctx_arena_peak_bytes(ctx) - forward;
            CHECK(added <= 4 * sizeof(float) * N, "%s: backward of a %d-link chain added %.1f MiB to the forward's %.1f MiB",
                  names[d], LINKS, added / 1048576.0, forward / 1048576.0);
            CHECK(y->grad == NULL && loss->grad == NULL, "%s: a non-leaf gradient outlived backward", names[d]);
            float *host = malloc(sizeof(float) * N);
            if (!host || !x->grad || !middle->grad) {
                CHECK(x->grad && middle->grad, "%s: the leaf's or the retained gradient is gone", names[d]);
                free(host);
                break;
            }
            int bad = 0;
            CHECK_OK(rf_tensor_download(x->grad, host));
            for (int i = 0; i < N; i++) bad += host[i] != 65792.0f;
            CHECK_OK(rf_tensor_download(middle->grad, host));
            for (int i = 0; i < N; i++) bad += host[i] != 257.0f;
            free(host);
            CHECK(bad == 0, "%s: %d gradient elements wrong after their memory was reused", names[d], bad);
        }
        /* A tensor two nodes claim to produce would lose its gradient at
         * the later one's release: refused. */
        rf_ctx_reset(ctx);
        rf_tensor *a = rf_ctx_zeros(ctx, RF_F32, 1, (int64_t[]){4});
        a->requires_grad = true;
        rf_tensor *b = rf_scale(ctx, a, 2.0f);
        CHECK(b && !rf_ctx_record(ctx, "again", b->producer->backward, b, (rf_tensor *const[]){a}, 1) &&
                  rf_ctx_status(ctx) == RF_ERR_INTERNAL && strstr(rf_last_error(), "already recorded"),
              "%s: a second producer of one tensor was recorded (%s)", names[d], rf_last_error());
        rf_ctx_free(ctx);
        rf_device_close(dev);
    }
}

/* x (leaf) -> layer norm -> linear -> GELU -> linear -> sum of squares,
 * with the norm's and GELU's outputs dropped after the linear that reads
 * them when `drop`. Leaves' gradients go to host arrays. */
static bool block_grads(rf_ctx *ctx, bool drop, const float *host_in, float *grads[5]) {
    enum { R = 64, C = 32, H = 128 };
    const int64_t shapes[5][2] = {{R, C}, {H, C}, {H, 0}, {C, H}, {C, 0}};
    rf_ctx_reset(ctx);
    rf_tensor *leaf[5];
    size_t at = 0;
    for (int i = 0; i < 5; i++) {
        leaf[i] = rf_ctx_from_host(ctx, RF_F32, shapes[i][1] ? 2 : 1, shapes[i], host_in + at);
        if (!leaf[i]) return false;
        leaf[i]->requires_grad = true;
        at += (size_t)rf_tensor_numel(leaf[i]);
    }
    rf_tensor *normed = rf_layernorm(ctx, leaf[0], NULL, NULL, 1e-6f);
    rf_tensor *h = rf_linear(ctx, normed, leaf[1], leaf[2]);
    if (drop) rf_drop_recompute(ctx, normed);
    rf_tensor *act = rf_gelu(ctx, h);
    rf_tensor *y = rf_linear(ctx, act, leaf[3], leaf[4]);
    if (drop) {
        rf_drop_recompute(ctx, act);
        /* Zeros over the memory given back, so that a backward reading
         * what was there instead of recomputing it cannot pass. */
        rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){R, H});
        rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){R, C});
    }
    rf_tensor *loss = rf_sum_all(ctx, rf_mul(ctx, y, y));
    if (!loss || rf_backward(ctx, loss, NULL) != RF_OK) return false;
    for (int i = 0; i < 5; i++)
        if (rf_tensor_download(leaf[i]->grad, grads[i]) != RF_OK) return false;
    return true;
}

/* Activations dropped after their last forward reader and recomputed in
 * backward give the same gradient bits as kept ones, on every device; an
 * op or a backward that reads a dropped tensor fails and says so. */
static void test_drop_recompute(void) {
    char names[16][32];
    int n_dev = test_device_names(names, 16);
    enum { TOTAL = 64 * 32 + 128 * 32 + 128 + 32 * 128 + 32 };
    static float in[TOTAL], kept[5][64 * 128], dropped[5][64 * 128];
    unsigned long long state = 7;
    for (int i = 0; i < TOTAL; i++) in[i] = test_uniform(&state, -1.0f, 1.0f);
    const int64_t sizes[5] = {64 * 32, 128 * 32, 128, 32 * 128, 32};
    for (int d = 0; d < n_dev; d++) {
        rf_device *dev;
        rf_ctx *ctx;
        if (!open_with_ctx(names[d], 16 << 20, &dev, &ctx)) continue;
        float *gk[5], *gd[5];
        for (int i = 0; i < 5; i++) gk[i] = kept[i], gd[i] = dropped[i];
        bool ok = block_grads(ctx, false, in, gk) && block_grads(ctx, true, in, gd);
        CHECK(ok, "%s: %s", names[d], rf_last_error());
        for (int i = 0; ok && i < 5; i++)
            CHECK(memcmp(kept[i], dropped[i], sizeof(float) * (size_t)sizes[i]) == 0,
                  "%s: leaf %d's gradient differs when activations are recomputed", names[d], i);

        /* A later op reading a dropped tensor, directly or through a view. */
        rf_ctx_reset(ctx);
        rf_tensor *x = rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){8, 16});
        x->requires_grad = true;
        rf_tensor *g = rf_gelu(ctx, x);
        rf_tensor *view = rf_reshape(ctx, g, 1, (int64_t[]){128});
        rf_drop_recompute(ctx, g);
        CHECK(rf_ctx_status(ctx) == RF_OK, "%s: dropping a GELU output: %s", names[d], rf_last_error());
        CHECK(rf_add(ctx, view, view) == NULL, "%s: an op read a dropped tensor through a view", names[d]);
        CHECK(rf_ctx_status(ctx) != RF_OK && strstr(rf_last_error(), "rf_drop_recompute"), "%s: message: %s", names[d],
              rf_last_error());
        /* A backward that reads it through a view (the product's gradient
         * with respect to w is dy times g's reshape). */
        rf_ctx_reset(ctx);
        x = rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){8, 16});
        x->requires_grad = true;
        g = rf_gelu(ctx, x);
        rf_tensor *w = rf_ctx_zeros(ctx, RF_F32, 1, (int64_t[]){128});
        w->requires_grad = true;
        rf_tensor *loss = rf_sum_all(ctx, rf_mul(ctx, rf_reshape(ctx, g, 1, (int64_t[]){128}), w));
        rf_drop_recompute(ctx, g);
        CHECK(loss && rf_backward(ctx, loss, NULL) != RF_OK && strstr(rf_last_error(), "view"),
              "%s: backward read a dropped tensor through a view without failing (%s)", names[d], rf_last_error());
        /* An output whose backward reads it cannot be dropped. */
        rf_ctx_reset(ctx);
        x = rf_ctx_zeros(ctx, RF_F32, 1, (int64_t[]){8});
        x->requires_grad = true;
        rf_drop_recompute(ctx, rf_sigmoid(ctx, x));
        CHECK(rf_ctx_status(ctx) != RF_OK && strstr(rf_last_error(), "cannot be computed again"),
              "%s: a sigmoid output was dropped (%s)", names[d], rf_last_error());
        rf_ctx_free(ctx);
        rf_device_close(dev);
    }
}

/* x (leaf) -> linear -> h, read by two products: directly and through a
 * reshape; with `stash`, h is stashed after its last forward reader and the
 * memory it gave back is overwritten. In bf16 products, h reaches backward
 * only as a product's operand, which is rounded to bf16 either way: the
 * gradients must be the same bits. */
static bool product_grads(rf_ctx *ctx, bool stash, const float *host_in, float *grads[4]) {
    enum { R = 64, C = 32, H = 128 };
    const int64_t shapes[4][2] = {{R, C}, {H, C}, {H / 2, 16}, {H, 8}};
    rf_ctx_reset(ctx);
    ctx->precision = RF_PRECISION_BF16;
    rf_tensor *leaf[4];
    size_t at = 0;
    for (int i = 0; i < 4; i++) {
        leaf[i] = rf_ctx_from_host(ctx, RF_F32, 2, shapes[i], host_in + at);
        if (!leaf[i]) return false;
        leaf[i]->requires_grad = true;
        at += (size_t)rf_tensor_numel(leaf[i]);
    }
    rf_tensor *h = rf_linear(ctx, leaf[0], leaf[1], NULL);
    rf_tensor *a = rf_matmul(ctx, rf_reshape(ctx, h, 2, (int64_t[]){2 * R, H / 2}), leaf[2], false, false);
    rf_tensor *b = rf_matmul(ctx, h, leaf[3], false, false);
    if (stash) {
        rf_stash(ctx, h);
        rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){R, H / 2}); /* over the memory h gave back */
    }
    rf_tensor *loss = rf_add(ctx, rf_sum_all(ctx, rf_mul(ctx, a, a)), rf_sum_all(ctx, rf_mul(ctx, b, b)));
    if (!loss || rf_backward(ctx, loss, NULL) != RF_OK) return false;
    for (int i = 0; i < 4; i++)
        if (rf_tensor_download(leaf[i]->grad, grads[i]) != RF_OK) return false;
    return true;
}

/* A chain y_i = y_(i-1) * c (c a leaf: its gradient reads every y), peak
 * memory of the forward and the leaves' gradients, stashing all but the
 * newest link as it goes when `stash`. x's values and c = 2 keep every y
 * exact in bf16, so the stash loses nothing. */
static bool chain_run(rf_ctx *ctx, bool stash, const float *x_host, int64_t n, float *dx, float *dc, size_t peak[2]) {
    ctx->precision = RF_PRECISION_BF16;
    rf_tensor *x = rf_ctx_from_host(ctx, RF_F32, 1, (int64_t[]){n}, x_host);
    rf_tensor *c = rf_ctx_from_host(ctx, RF_F32, 1, (int64_t[]){1}, (const float[]){2.0f});
    if (!x || !c) return false;
    x->requires_grad = c->requires_grad = true;
    size_t mark = ctx->tape_len;
    rf_tensor *y = x;
    for (int i = 0; i < 12; i++) {
        y = rf_mul(ctx, y, c);
        if (stash) rf_release_since(ctx, mark, &y, 1, 0);
    }
    peak[0] = rf_ctx_arena_peak_bytes(ctx);
    rf_tensor *loss = rf_sum_all(ctx, y);
    bool ok = loss && rf_backward(ctx, loss, NULL) == RF_OK && rf_tensor_download(x->grad, dx) == RF_OK &&
              rf_tensor_download(c->grad, dc) == RF_OK;
    peak[1] = rf_ctx_saved_bytes(ctx);
    return ok;
}

/* peak: the forward's, and what it kept for backward. */
static bool chain_grads(rf_device *dev, bool stash, const float *x_host, int64_t n, float *dx, float *dc, size_t peak[2]) {
    rf_ctx *ctx; /* its own, for its own peak */
    if (rf_ctx_create(dev, 16 << 20, &ctx) != RF_OK) return false;
    bool ok = chain_run(ctx, stash, x_host, n, dx, dc, peak);
    rf_ctx_free(ctx);
    return ok;
}

/* Activations stashed in bf16 come back where backward reads them, through
 * views too, in half the memory until then; an op that reads a stashed
 * tensor fails and says so; f32 and fp16 products stash nothing. */
static void test_stash(void) {
    char names[16][32];
    int n_dev = test_device_names(names, 16);
    enum { TOTAL = 64 * 32 + 128 * 32 + 64 * 16 + 128 * 8, N = 1 << 16 };
    static float in[TOTAL], kept[4][128 * 32], stashed[4][128 * 32], x[N], dx[2][N];
    const int64_t sizes[4] = {64 * 32, 128 * 32, 64 * 16, 128 * 8};
    unsigned long long state = 11;
    for (int i = 0; i < TOTAL; i++) in[i] = test_uniform(&state, -1.0f, 1.0f);
    for (int i = 0; i < N; i++) x[i] = (float)((i % 251) - 125) / 64.0f; /* exact in bf16 */
    for (int d = 0; d < n_dev; d++) {
        rf_device *dev;
        rf_ctx *ctx;
        if (!open_with_ctx(names[d], 16 << 20, &dev, &ctx)) continue;
        float *gk[4], *gs[4];
        for (int i = 0; i < 4; i++) gk[i] = kept[i], gs[i] = stashed[i];
        bool ok = product_grads(ctx, false, in, gk) && product_grads(ctx, true, in, gs);
        CHECK(ok, "%s: %s", names[d], rf_last_error());
        for (int i = 0; ok && i < 4; i++)
            CHECK(memcmp(kept[i], stashed[i], sizeof(float) * (size_t)sizes[i]) == 0,
                  "%s: leaf %d's gradient differs when a product's operand was stashed", names[d], i);

        float dc[2] = {0, 0};
        size_t plain[2] = {0, 0}, packed[2] = {0, 0}; /* forward peak, kept for backward */
        ok = chain_grads(dev, false, x, N, dx[0], &dc[0], plain) && chain_grads(dev, true, x, N, dx[1], &dc[1], packed);
        CHECK(ok, "%s: %s", names[d], rf_last_error());
        CHECK(ok && memcmp(dx[0], dx[1], sizeof dx[0]) == 0 && dc[0] == dc[1],
              "%s: a stashed chain's gradients differ (dc %g against %g)", names[d], dc[1], dc[0]);
        /* Kept: x and 12 links of 256 KiB (3.25 MiB). Stashed: x, the two
         * newest links and the stash being written, ten halves (2.125). */
        CHECK(ok && packed[0] * 100 <= plain[0] * 66, "%s: the stashed chain's forward peaked at %.2f MiB, kept %.2f MiB",
              names[d], packed[0] / 1048576.0, plain[0] / 1048576.0);
        /* Kept for backward: 3.25 MiB against x, the last link and eleven
         * halves (1.875). */
        CHECK(ok && packed[1] * 100 <= plain[1] * 60, "%s: backward began with %.2f MiB stashed, %.2f MiB kept", names[d],
              packed[1] / 1048576.0, plain[1] / 1048576.0);

        /* A later op reading a stashed tensor; a download of one. */
        rf_ctx_reset(ctx);
        ctx->precision = RF_PRECISION_BF16;
        rf_tensor *leaf = rf_ctx_zeros(ctx, RF_F32, 1, (int64_t[]){N});
        leaf->requires_grad = true;
        rf_tensor *t = rf_scale(ctx, leaf, 3.0f);
        rf_stash(ctx, t);
        float host[4];
        CHECK(rf_ctx_status(ctx) == RF_OK && rf_tensor_download(t, host) != RF_OK &&
                  strstr(rf_last_error(), "rf_stash"),
              "%s: a stashed tensor was downloaded (%s)", names[d], rf_last_error());
        CHECK(rf_add(ctx, t, t) == NULL && strstr(rf_last_error(), "rf_stash"),
              "%s: an op read a stashed tensor (%s)", names[d], rf_last_error());
        /* f32 and fp16 products keep activations as they are. */
        for (int p = 0; p < 2; p++) {
            rf_ctx_reset(ctx);
            ctx->precision = p ? RF_PRECISION_F16 : RF_PRECISION_F32;
            leaf = rf_ctx_zeros(ctx, RF_F32, 1, (int64_t[]){N});
            leaf->requires_grad = true;
            t = rf_scale(ctx, leaf, 3.0f);
            rf_stash(ctx, t);
            CHECK(rf_add(ctx, t, t) != NULL, "%s: %s products stashed an activation (%s)", names[d],
                  rf_precision_name(ctx->precision), rf_last_error());
        }
        rf_ctx_free(ctx);
        rf_device_close(dev);
    }
}

int main(int argc, char **argv) {
    static op_test tests[128];
    int n = make_tests(tests);
    op_harness_run(tests, n, argc > 1 ? argv[1] : NULL);
    test_device_mismatch();
    test_shape_errors();
    test_reshape_views();
    test_backward_releases();
    test_drop_recompute();
    test_stash();
    return test_finish("test_ops");
}
