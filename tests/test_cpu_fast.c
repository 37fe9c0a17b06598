/* test_cpu_fast.c — the cpu device's fast kernels (backend/cpu/kernels_fast.h)
 * give exactly the reference kernels' bits: copies (permuted, broadcast,
 * offset views), the four binary ops under broadcasting, softmax with and
 * without masks (fully masked rows included), and top-k with ties, NaN and
 * signed zeros. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/kernels_fast.h"
#include "backend/cpu/ref_basic.h"
#include "backend/cpu/ref_sampling.h"
#include "test_util.h"

enum { CAP = 1 << 16 };

static float src_data[CAP], a_data[CAP], fast_out[CAP], ref_out[CAP];
static rf_buffer src_buf = {NULL, sizeof src_data, src_data}, a_buf = {NULL, sizeof a_data, a_data};
static rf_buffer fast_buf = {NULL, sizeof fast_out, fast_out};

static unsigned long long seed = 12345;

static int64_t pick(int64_t lo, int64_t hi) { return lo + (int64_t)(test_uniform(&seed, 0, 1) * (float)(hi - lo + 1)) % (hi - lo + 1); }

static void fill(float *v, int n) {
    for (int i = 0; i < n; i++) v[i] = test_uniform(&seed, -3, 3);
}

/* A random view: shape, a permutation of contiguous strides (or zeros for
 * broadcast axes), a small offset. Returns the element span needed. */
static int64_t random_view(int ndim, const int64_t *shape, int64_t *stride, bool allow_broadcast) {
    int perm[RF_MAX_DIMS];
    for (int i = 0; i < ndim; i++) perm[i] = i;
    for (int i = ndim - 1; i > 0; i--) {
        int j = (int)pick(0, i);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int64_t s = 1;
    for (int k = ndim - 1; k >= 0; k--) {
        int i = perm[k];
        stride[i] = allow_broadcast && pick(0, 4) == 0 ? 0 : s;
        s *= shape[i];
    }
    return s;
}

static bool same_bits(const float *a, const float *b, int64_t n) { return memcmp(a, b, sizeof *a * (size_t)n) == 0; }

static void test_copy_and_binary(void) {
    for (int t = 0; t < 300; t++) {
        int ndim = (int)pick(1, RF_MAX_DIMS);
        int64_t shape[RF_MAX_DIMS], n = 1;
        for (int i = 0; i < ndim; i++) n *= shape[i] = pick(1, 6);
        rf_copy_args c = {.ndim = ndim};
        memcpy(c.shape, shape, sizeof shape);
        c.src = (rf_view){&src_buf, (size_t)pick(0, 7), {0}};
        c.dst = (rf_view){&fast_buf, (size_t)pick(0, 7), {0}};
        random_view(ndim, shape, c.src.stride, true);
        random_view(ndim, shape, c.dst.stride, false);
        fill(src_data, CAP);
        fill(fast_out, CAP);
        memcpy(ref_out, fast_out, sizeof fast_out);
        CHECK(rf_cpu_fast_copy(&c), "copy case %d not covered", t);
        rf_ref_copy_f32(ndim, shape, src_data + c.src.off, c.src.stride, ref_out + c.dst.off, c.dst.stride, false);
        CHECK(same_bits(fast_out, ref_out, CAP), "copy case %d (rank %d, %lld elements)", t, ndim, (long long)n);
        for (int op = 0; op < RF_BINARY_COUNT; op++) {
            rf_binary_args b = {.op = (rf_binary_op)op, .ndim = ndim};
            memcpy(b.shape, shape, sizeof shape);
            b.a = (rf_view){&src_buf, (size_t)pick(0, 7), {0}};
            b.b = (rf_view){&a_buf, (size_t)pick(0, 7), {0}};
            b.y = (rf_view){&fast_buf, (size_t)pick(0, 7), {0}};
            random_view(ndim, shape, b.a.stride, true);
            random_view(ndim, shape, b.b.stride, true);
            random_view(ndim, shape, b.y.stride, false);
            fill(a_data, CAP);
            if (op == RF_BINARY_DIV) a_data[3] = 0.0f, a_data[5] = -0.0f; /* infinities and NaN too */
            memcpy(ref_out, fast_out, sizeof fast_out);
            CHECK(rf_cpu_fast_binary(&b), "binary case not covered");
            rf_ref_binary_f32(b.op, ndim, shape, src_data + b.a.off, b.a.stride, a_data + b.b.off, b.b.stride,
                              ref_out + b.y.off, b.y.stride, false);
            CHECK(same_bits(fast_out, ref_out, CAP), "binary op %d case %d", op, t);
        }
    }
}

static void test_softmax(void) {
    for (int t = 0; t < 40; t++) {
        int64_t rows = pick(1, 20), cols = pick(1, 300), mask_rows = pick(1, 4);
        bool masked = t % 2;
        fill(src_data, (int)(rows * cols));
        for (int64_t i = 0; i < mask_rows * cols; i++) a_data[i] = pick(0, 3) == 0 ? -INFINITY : 0.0f;
        if (masked) for (int64_t c = 0; c < cols; c++) a_data[c] = -INFINITY; /* a fully masked row */
        rf_softmax_args s = {rows, cols, {&src_buf, 0}, {&fast_buf, 0}, masked, {&a_buf, 0}, mask_rows};
        CHECK(rf_cpu_fast_softmax(&s), "softmax not covered");
        rf_ref_softmax_f32(rows, cols, src_data, masked ? a_data : NULL, mask_rows, ref_out);
        CHECK(same_bits(fast_out, ref_out, rows * cols), "softmax %lld x %lld masked %d", (long long)rows,
              (long long)cols, masked);
    }
    /* Rows wider than the fast path's scratch are left to the reference. */
    rf_softmax_args s = {1, 6000, {&src_buf, 0}, {&fast_buf, 0}, false, {&a_buf, 0}, 1};
    CHECK(!rf_cpu_fast_softmax(&s), "wide softmax is the reference's");
}

static void test_topk(void) {
    static int32_t fast_idx[CAP], ref_idx[CAP];
    rf_buffer fi = {NULL, sizeof fast_idx, fast_idx};
    for (int t = 0; t < 60; t++) {
        int64_t rows = pick(1, 4), cols = pick(1, 400), k = pick(1, cols);
        for (int64_t i = 0; i < rows * cols; i++) {
            int kind = (int)pick(0, 9);
            src_data[i] = kind == 0 ? NAN : kind == 1 ? 0.0f : kind == 2 ? -0.0f : (float)pick(-5, 5) * 0.5f;
        }
        rf_topk_args a = {rows, cols, k, {&src_buf, 0}, {&fast_buf, 0}, {&fi, 0}};
        CHECK(rf_cpu_fast_topk(&a), "topk not covered");
        rf_ref_topk_f32(rows, cols, k, src_data, ref_out, ref_idx);
        CHECK(same_bits(fast_out, ref_out, rows * k) && memcmp(fast_idx, ref_idx, sizeof *ref_idx * (size_t)(rows * k)) == 0,
              "topk %lld x %lld k %lld", (long long)rows, (long long)cols, (long long)k);
    }
}

/* Large enough to be split across threads. */
static void test_split(void) {
    static float x[1 << 18], fast[1 << 18], ref[1 << 18], mean_f[4096], rstd_f[4096], mean_r[4096], rstd_r[4096];
    static float gamma[64], beta[64];
    rf_buffer bx = {NULL, sizeof x, x}, bf = {NULL, sizeof fast, fast}, bm = {NULL, sizeof mean_f, mean_f},
              bs = {NULL, sizeof rstd_f, rstd_f}, bg = {NULL, sizeof gamma, gamma}, bb = {NULL, sizeof beta, beta};
    int64_t n = 1 << 18;
    fill(x, (int)n);
    for (int op = 0; op < RF_UNARY_COUNT; op++) {
        rf_unary_args a = {.op = (rf_unary_op)op, .n = n - 3, .x = {&bx, 3}, .y = {&bf, 1}, .alpha = 1e-5f, .beta = -0.25f};
        CHECK(rf_cpu_fast_unary(&a), "unary");
        rf_ref_unary_f32(a.op, a.n, x + 3, ref + 1, a.alpha, a.beta);
        CHECK(same_bits(fast + 1, ref + 1, n - 3), "unary op %d split", op);
    }
    fill(gamma, 64);
    fill(beta, 64);
    for (int affine = 0; affine < 2; affine++) {
        rf_layernorm_args l = {.rows = 4096, .cols = 64, .inner = 1, .outer_stride = 64, .col_stride = 1, .eps = 1e-6,
                               .x = {&bx, 0}, .has_affine = affine, .gamma = {&bg, 0}, .beta = {&bb, 0},
                               .y = {&bf, 0}, .mean = {&bm, 0}, .rstd = {&bs, 0}};
        CHECK(rf_cpu_fast_layernorm(&l), "layernorm");
        rf_ref_layernorm_f32(4096, 64, 1, 64, 1, 1e-6, x, affine ? gamma : NULL, affine ? beta : NULL, ref, mean_r, rstd_r);
        CHECK(same_bits(fast, ref, 4096 * 64) && same_bits(mean_f, mean_r, 4096) && same_bits(rstd_f, rstd_r, 4096),
              "layernorm split, affine %d", affine);
    }
    rf_softmax_args s = {2048, 128, {&bx, 0}, {&bf, 0}, false, {&bx, 0}, 1};
    CHECK(rf_cpu_fast_softmax(&s), "softmax");
    rf_ref_softmax_f32(2048, 128, x, NULL, 1, ref);
    CHECK(same_bits(fast, ref, 2048 * 128), "softmax split");
}

int main(void) {
    test_split();
    test_copy_and_binary();
    test_softmax();
    test_topk();
    return test_finish("test_cpu_fast");
}
