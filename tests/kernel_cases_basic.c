/* kernel_cases_basic.c — cases for the basic kernel family: elementwise,
 * broadcasting, strided copies, reductions, max, softmax, layer norms. */
#include <math.h>
#include <stdio.h>

#include "kernel_harness.h"

#define TOL 1e-7

static const char *const unary_names[RF_UNARY_COUNT] = {
    "identity", "affine", "relu", "gelu", "silu", "sigmoid", "exp", "log_sigmoid", "tanh", "sqrt", "log", "inverse_sigmoid", "sin",
    "round_bf16", "round_f16",
};

/* Input range where each op is defined and well conditioned. */
static void unary_range(rf_unary_op op, float *lo, float *hi) {
    *lo = -6;
    *hi = 6;
    if (op == RF_UNARY_SQRT || op == RF_UNARY_LOG) *lo = 0.01f, *hi = 5;
    if (op == RF_UNARY_INVERSE_SIGMOID) *lo = -0.1f, *hi = 1.1f;
    if (op == RF_UNARY_EXP) *lo = -20, *hi = 20;
}

/* ---- unary --------------------------------------------------------------------- */

typedef struct unary_params {
    rf_unary_op op;
    int64_t n;
    float alpha, beta;
    bool accumulate;
} unary_params;

static rf_status launch_unary(const kcase *c, rf_device *dev, const rf_mem *m) {
    const unary_params *p = KC_CPARAMS(c, unary_params);
    rf_unary_args a = {.op = p->op, .n = p->n, .x = m[0], .y = m[1], .alpha = p->alpha, .beta = p->beta};
    return rf_kernel_unary(dev, &a);
}

static rf_status launch_unary_backward(const kcase *c, rf_device *dev, const rf_mem *m) {
    const unary_params *p = KC_CPARAMS(c, unary_params);
    rf_unary_backward_args a = {.op = p->op, .n = p->n, .x = m[0], .y = m[1], .dy = m[2], .dx = m[3],
                                .alpha = p->alpha, .beta = p->beta, .accumulate = p->accumulate};
    return rf_kernel_unary_backward(dev, &a);
}

static void unary_cases(kcase *cases, int *n, int max) {
    const int64_t sizes[] = {1, 7, 1000, 4097};
    for (int op = 0; op < RF_UNARY_COUNT; op++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            float lo, hi;
            unary_range((rf_unary_op)op, &lo, &hi);
            float alpha = op == RF_UNARY_INVERSE_SIGMOID ? 1e-5f : 1.5f, beta = -0.25f;
            kcase *c = kc_new(cases, n, max, "basic", "unary", launch_unary, TOL);
            if (!c) return;
            *KC_PARAMS(c, unary_params) = (unary_params){(rf_unary_op)op, sizes[s], alpha, beta, false};
            kc_add(c, "x", KC_IN, KC_F32, (size_t)sizes[s], lo, hi);
            kc_add(c, "y", KC_OUT, KC_F32, (size_t)sizes[s], 0, 0);
            snprintf(c->desc, sizeof c->desc, "UNARY(op=%s,n=%lld)", unary_names[op], (long long)sizes[s]);
            for (int acc = 0; acc < 2; acc++) {
                /* Backward takes y = f(x): the reference computes it on the host
                 * the same for every device, so y is given as a plain input. */
                c = kc_new(cases, n, max, "basic", "unary_backward", launch_unary_backward, TOL);
                if (!c) return;
                *KC_PARAMS(c, unary_params) = (unary_params){(rf_unary_op)op, sizes[s], alpha, beta, acc};
                kc_add(c, "x", KC_IN, KC_F32, (size_t)sizes[s], lo, hi);
                kc_add(c, "y", KC_IN, KC_F32, (size_t)sizes[s], 0.05f, 0.95f);
                kc_add(c, "dy", KC_IN, KC_F32, (size_t)sizes[s], -1, 1);
                kc_add(c, "dx", acc ? KC_INOUT : KC_OUT, KC_F32, (size_t)sizes[s], -1, 1);
                snprintf(c->desc, sizeof c->desc, "UNARY_BACKWARD(op=%s,n=%lld,acc=%d)", unary_names[op], (long long)sizes[s], acc);
            }
        }
}

/* ---- convert: floats to bf16/fp16 pairs and back ---------------------------------- */

typedef struct convert_params {
    int64_t n;
    rf_precision format;
    bool to_half;
} convert_params;

static rf_status launch_convert(const kcase *c, rf_device *dev, const rf_mem *m) {
    const convert_params *p = KC_CPARAMS(c, convert_params);
    rf_convert_args a = {.n = p->n, .format = p->format, .to_half = p->to_half, .src = m[0], .dst = m[1]};
    return rf_kernel_convert(dev, &a);
}

/* Values at the formats' edges: signed zeros, fp16's largest finite value
 * and the first that overflows it, fp16 subnormals and their underflow, bf16
 * ties (1 + 2^-8 rounds down to even, 1 + 3 * 2^-8 up), infinities, a NaN. */
static const float convert_edges[16] = {0.0f, -0.0f, 65504.0f, 65520.0f, -65536.0f, 5.9604645e-08f, 2.98e-08f,
                                        6.1e-05f, 1.00390625f, 1.01171875f, 3.4e38f, -1.0e-40f, 1.0f / 0.0f,
                                        -1.0f / 0.0f, 0.0f / 0.0f, 0.333333343f};
/* 16-bit patterns in pairs: zeros, the smallest and largest of each class,
 * infinities and NaNs of both formats. */
static const int32_t convert_words_edges[8] = {0x80000000, 0x00017bff, 0x7c00fc00, 0x7e017f80,
                                               (int32_t)0xff807f7f, 0x03ff0400, 0x3c00bc00, 0x00803f80};

/* Random 32-bit words for unpacking: the harness's random ints come from
 * floats, whose low bits would be mostly zero. */
static int32_t convert_random_words[70001];

static void convert_cases(kcase *cases, int *n, int max) {
    const int64_t sizes[] = {1, 2, 7, 16, 1000, 140001}; /* the last split across threads */
    uint32_t state = 12345u;
    for (size_t i = 0; i < sizeof convert_random_words / sizeof convert_random_words[0]; i++) {
        state = state * 1664525u + 1013904223u;
        uint32_t hi = state >> 16;
        state = state * 1664525u + 1013904223u;
        convert_random_words[i] = (int32_t)((hi << 16) | (state >> 16));
    }
    for (int f = 0; f < 2; f++) {
        rf_precision format = f ? RF_PRECISION_F16 : RF_PRECISION_BF16;
        const char *name = f ? "f16" : "bf16";
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int to_half = 0; to_half < 2; to_half++) {
                int64_t values = sizes[s], words = (values + 1) / 2;
                kcase *c = kc_new(cases, n, max, "basic", "convert", launch_convert, 0.0);
                if (!c) return;
                *KC_PARAMS(c, convert_params) = (convert_params){values, format, to_half};
                if (to_half) {
                    kc_buf *x = kc_add(c, "src", KC_IN, KC_F32, (size_t)values, -70000.0f, 70000.0f);
                    if (values == 16) x->floats = convert_edges;
                    kc_add(c, "dst", KC_OUT, KC_I32, (size_t)words, 0, 0);
                } else {
                    kc_buf *x = kc_add(c, "src", KC_IN, KC_I32, (size_t)words, 0, 0);
                    x->ints = words == 8 ? convert_words_edges : convert_random_words;
                    kc_buf *y = kc_add(c, "dst", KC_OUT, KC_F32, (size_t)values, 0, 0);
                    y->max_nmse = 1e-300; /* exact */
                }
                snprintf(c->desc, sizeof c->desc, "CONVERT(%s,%s,n=%lld)", to_half ? "to" : "from", name,
                         (long long)values);
            }
    }
}

/* ---- binary and copy over N-d strided views --------------------------------------- */

typedef struct nd_params {
    int op;
    int ndim;
    int64_t shape[RF_MAX_DIMS];
    int64_t sa[RF_MAX_DIMS], sb[RF_MAX_DIMS], sy[RF_MAX_DIMS];
    bool accumulate;
} nd_params;

static rf_view view_of(rf_mem m, const int64_t *stride) {
    rf_view v = {m.buf, m.off, {0}};
    for (int i = 0; i < RF_MAX_DIMS; i++) v.stride[i] = stride[i];
    return v;
}

static rf_status launch_binary(const kcase *c, rf_device *dev, const rf_mem *m) {
    const nd_params *p = KC_CPARAMS(c, nd_params);
    rf_binary_args a = {.op = (rf_binary_op)p->op, .ndim = p->ndim, .a = view_of(m[0], p->sa),
                        .b = view_of(m[1], p->sb), .y = view_of(m[2], p->sy), .accumulate = p->accumulate};
    memcpy(a.shape, p->shape, sizeof a.shape);
    return rf_kernel_binary(dev, &a);
}

static rf_status launch_copy(const kcase *c, rf_device *dev, const rf_mem *m) {
    const nd_params *p = KC_CPARAMS(c, nd_params);
    rf_copy_args a = {.ndim = p->ndim, .src = view_of(m[0], p->sa), .dst = view_of(m[1], p->sy), .accumulate = p->accumulate};
    memcpy(a.shape, p->shape, sizeof a.shape);
    return rf_kernel_copy(dev, &a);
}

/* Elements a view with these strides spans. */
static size_t extent(int ndim, const int64_t *shape, const int64_t *stride) {
    size_t e = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] > 0) e += (size_t)((shape[i] - 1) * stride[i]);
    return e;
}

static void contiguous(int ndim, const int64_t *shape, int64_t *stride, int64_t pad_last) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i] + (i == ndim - 1 ? pad_last : 0);
    }
}

static const char *const binary_names[RF_BINARY_COUNT] = {"add", "sub", "mul", "div"};

static void binary_case(kcase *cases, int *n, int max, int op, int ndim, const int64_t *shape, const int64_t *sa,
                        const int64_t *sb, const int64_t *sy, bool acc, const char *what) {
    kcase *c = kc_new(cases, n, max, "basic", "binary", launch_binary, TOL);
    if (!c) return;
    nd_params *p = KC_PARAMS(c, nd_params);
    p->op = op;
    p->ndim = ndim;
    p->accumulate = acc;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->sa[i] = sa[i];
        p->sb[i] = sb[i];
        p->sy[i] = sy[i];
    }
    kc_add(c, "a", KC_IN, KC_F32, extent(ndim, shape, sa), -2, 2);
    /* Division stays away from zero. */
    kc_add(c, "b", KC_IN, KC_F32, extent(ndim, shape, sb), op == RF_BINARY_DIV ? 0.5f : -2, 2);
    kc_add(c, "y", KC_INOUT, KC_F32, extent(ndim, shape, sy), -1, 1);
    snprintf(c->desc, sizeof c->desc, "BINARY(op=%s,ndim=%d,%s,acc=%d)", binary_names[op], ndim, what, acc);
}

static void nd_cases(kcase *cases, int *n, int max) {
    for (int op = 0; op < RF_BINARY_COUNT; op++)
        for (int acc = 0; acc < 2; acc++) {
            int64_t s1[1] = {4099}, c1[1] = {1};
            binary_case(cases, n, max, op, 1, s1, c1, c1, c1, acc, "contiguous");
            /* (4, 5, 6) with b broadcast as (1, 5, 1) and a as (6) */
            int64_t s3[3] = {4, 5, 6}, full[3], bb[3] = {0, 1, 0}, ab[3] = {0, 0, 1}, padded[3];
            contiguous(3, s3, full, 0);
            contiguous(3, s3, padded, 3);
            binary_case(cases, n, max, op, 3, s3, full, bb, full, acc, "b=(1,5,1)");
            binary_case(cases, n, max, op, 3, s3, ab, full, padded, acc, "a=(6),y_padded");
            /* transposed a, strided y */
            int64_t ta[3] = {1, 4, 20};
            binary_case(cases, n, max, op, 3, s3, ta, full, padded, acc, "a_transposed");
        }
    /* Six dimensions with a broadcast in the middle. */
    int64_t s6[6] = {2, 3, 1, 4, 2, 5}, f6[6], b6[6];
    contiguous(6, s6, f6, 0);
    memcpy(b6, f6, sizeof b6);
    b6[1] = 0;
    b6[3] = 0;
    binary_case(cases, n, max, RF_BINARY_MUL, 6, s6, f6, b6, f6, false, "6d_broadcast");

    /* Copies: permutations (window partition's 6-d one), broadcast sources,
     * strided destinations, accumulation. */
    for (int acc = 0; acc < 2; acc++) {
        int64_t shape[6] = {2, 2, 3, 2, 5, 7}, src[6], dst[6];
        contiguous(6, shape, dst, 0);
        int64_t base[6], bshape[6] = {2, 2, 2, 3, 5, 7};
        contiguous(6, bshape, base, 0);
        /* dst index (b, wh, ww, h, w, c) reads src (b, wh, h, ww, w, c) */
        src[0] = base[0];
        src[1] = base[1];
        src[2] = base[3];
        src[3] = base[2];
        src[4] = base[4];
        src[5] = base[5];
        kcase *c = kc_new(cases, n, max, "basic", "copy", launch_copy, TOL);
        if (!c) return;
        nd_params *p = KC_PARAMS(c, nd_params);
        p->ndim = 6;
        p->accumulate = acc;
        memcpy(p->shape, shape, sizeof shape);
        memcpy(p->sa, src, sizeof src);
        memcpy(p->sy, dst, sizeof dst);
        kc_add(c, "src", KC_IN, KC_F32, extent(6, shape, src), -1, 1);
        kc_add(c, "dst", KC_INOUT, KC_F32, extent(6, shape, dst), -1, 1);
        snprintf(c->desc, sizeof c->desc, "COPY(window_permute_6d,acc=%d)", acc);

        int64_t s2[2] = {33, 65}, bias[2] = {0, 1}, rows[2] = {70, 1};
        c = kc_new(cases, n, max, "basic", "copy", launch_copy, TOL);
        if (!c) return;
        p = KC_PARAMS(c, nd_params);
        p->ndim = 2;
        p->accumulate = acc;
        memcpy(p->shape, s2, sizeof s2);
        memcpy(p->sa, bias, sizeof bias);
        memcpy(p->sy, rows, sizeof rows);
        kc_add(c, "src", KC_IN, KC_F32, 65, -1, 1);
        kc_add(c, "dst", KC_INOUT, KC_F32, extent(2, s2, rows), -1, 1);
        snprintf(c->desc, sizeof c->desc, "COPY(bias_broadcast_padded_rows,acc=%d)", acc);

        /* Transposes (what permute + contiguous and their backward passes
         * do): the source or the destination walks the last axis with a
         * stride, and another axis contiguously; and four or five axes
         * that do not collapse (the copy5 kernel: head splits, windows). */
        struct {
            const char *what;
            int ndim;
            int64_t shape[5], src[5], dst[5];
        } transposes[] = {
            {"permute_0213", 4, {2, 3, 4, 5}, {60, 5, 15, 1}, {60, 20, 5, 1}},
            {"permute_10324", 5, {3, 2, 4, 5, 6}, {120, 360, 6, 24, 1}, {240, 120, 30, 6, 1}},
            {"transpose_src", 2, {37, 45}, {1, 37}, {45, 1}},
            {"transpose_dst", 2, {45, 37}, {37, 1}, {1, 45}},
            {"permute_201", 3, {6, 20, 33}, {1, 198, 6}, {660, 33, 1}},
            {"permute_201_padded_dst", 3, {6, 20, 33}, {1, 198, 6}, {700, 35, 1}},
            /* dq, dk, dv (3, N, H, T, D) back into a fused projection's
             * (N, T, 3, H, D): rows of one head, the row walk's worst case */
            {"heads_to_tokens", 5, {3, 2, 4, 7, 33}, {1848, 924, 231, 33, 1}, {132, 2772, 33, 396, 1}},
            /* more leading rows than CUDA's 65535 blocks along z: its items
             * stride over the rest */
            {"permute_70001_rows", 3, {70001, 2, 3}, {1, 70001, 140002}, {6, 3, 1}},
        };
        for (size_t t = 0; t < sizeof transposes / sizeof transposes[0]; t++) {
            c = kc_new(cases, n, max, "basic", "copy", launch_copy, TOL);
            if (!c) return;
            p = KC_PARAMS(c, nd_params);
            p->ndim = transposes[t].ndim;
            p->accumulate = acc;
            memcpy(p->shape, transposes[t].shape, sizeof transposes[t].shape);
            memcpy(p->sa, transposes[t].src, sizeof transposes[t].src);
            memcpy(p->sy, transposes[t].dst, sizeof transposes[t].dst);
            kc_add(c, "src", KC_IN, KC_F32, extent(p->ndim, p->shape, p->sa), -1, 1);
            kc_add(c, "dst", KC_INOUT, KC_F32, extent(p->ndim, p->shape, p->sy), -1, 1);
            snprintf(c->desc, sizeof c->desc, "COPY(%s,acc=%d)", transposes[t].what, acc);
        }
    }
}

/* ---- reductions ---------------------------------------------------------------------- */

typedef struct reduce_params {
    rf_reduce_op op;
    int ndim;
    int64_t shape[RF_MAX_DIMS], stride[RF_MAX_DIMS];
    unsigned mask;
    bool accumulate;
} reduce_params;

static rf_status launch_reduce(const kcase *c, rf_device *dev, const rf_mem *m) {
    const reduce_params *p = KC_CPARAMS(c, reduce_params);
    rf_reduce_args a = {.op = p->op, .ndim = p->ndim, .reduce_mask = p->mask, .x = view_of(m[0], p->stride), .y = m[1],
                        .accumulate = p->accumulate};
    memcpy(a.shape, p->shape, sizeof a.shape);
    return rf_kernel_reduce(dev, &a);
}

static void reduce_cases(kcase *cases, int *n, int max) {
    const char *names[] = {"sum", "mean", "sumsq"};
    struct {
        int ndim;
        int64_t shape[4];
        unsigned mask;
        bool transposed;
    } shapes[] = {
        {1, {5000}, 1, false},         {2, {300, 7}, 1, false},    {2, {7, 300}, 2, false},
        {3, {4, 33, 5}, 5, false},     {3, {4, 33, 5}, 2, true},   {4, {2, 3, 17, 9}, 0xF, false},
        {4, {2, 3, 17, 9}, 0x6, true}, {2, {1, 1}, 3, false},
        /* a bias gradient: sums down 35 columns (two 16-wide blocks and a tail) */
        {2, {37, 35}, 1, false},
    };
    for (int op = 0; op < RF_REDUCE_COUNT; op++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int acc = 0; acc < 2; acc++) {
                kcase *c = kc_new(cases, n, max, "basic", "reduce", launch_reduce, TOL);
                if (!c) return;
                reduce_params *p = KC_PARAMS(c, reduce_params);
                p->op = (rf_reduce_op)op;
                p->ndim = shapes[s].ndim;
                p->mask = shapes[s].mask;
                p->accumulate = acc;
                size_t out = 1;
                for (int i = 0; i < p->ndim; i++) {
                    p->shape[i] = shapes[s].shape[i];
                    if (!(p->mask & (1u << i))) out *= (size_t)p->shape[i];
                }
                contiguous(p->ndim, p->shape, p->stride, 0);
                if (shapes[s].transposed) { /* axis 0 fastest: a strided read */
                    int64_t st = 1;
                    for (int i = 0; i < p->ndim; i++) {
                        p->stride[i] = st;
                        st *= p->shape[i];
                    }
                }
                kc_add(c, "x", KC_IN, KC_F32, extent(p->ndim, p->shape, p->stride), -1, 1);
                kc_add(c, "y", acc ? KC_INOUT : KC_OUT, KC_F32, out, -1, 1);
                snprintf(c->desc, sizeof c->desc, "REDUCE(op=%s,ndim=%d,mask=0x%x,layout=%s,acc=%d)", names[op], p->ndim,
                         p->mask, shapes[s].transposed ? "axis0_fastest" : "contiguous", acc);
            }
}

/* ---- max over the last axis ------------------------------------------------------------- */

typedef struct rows_params {
    int64_t rows, cols, mask_rows;
    bool accumulate, has_mask;
} rows_params;

static rf_status launch_max_last(const kcase *c, rf_device *dev, const rf_mem *m) {
    const rows_params *p = KC_CPARAMS(c, rows_params);
    rf_max_last_args a = {.rows = p->rows, .cols = p->cols, .x = m[0], .values = m[1], .indices = m[2]};
    return rf_kernel_max_last(dev, &a);
}

static rf_status launch_max_last_backward(const kcase *c, rf_device *dev, const rf_mem *m) {
    const rows_params *p = KC_CPARAMS(c, rows_params);
    rf_max_last_backward_args a = {.rows = p->rows, .cols = p->cols, .dy = m[0], .indices = m[1], .dx = m[2],
                                   .accumulate = p->accumulate};
    return rf_kernel_max_last_backward(dev, &a);
}

static float ties_and_nans[6 * 5] = {
    1, 3, 3, 2, 0,             /* tie: first index wins */
    -1, -1, -1, -1, -1,        /* all equal */
    NAN, 5, 1, 2, 3,           /* NaN first */
    0, 1, NAN, 7, NAN,         /* NaN in the middle */
    -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY,
    INFINITY, 1, INFINITY, 0, 0,
};

static void max_cases(kcase *cases, int *n, int max) {
    const int64_t shapes[][2] = {{1, 1}, {7, 33}, {300, 91}, {64, 1}, {6, 5}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        kcase *c = kc_new(cases, n, max, "basic", "max_last", launch_max_last, TOL);
        if (!c) return;
        rows_params *p = KC_PARAMS(c, rows_params);
        p->rows = shapes[s][0];
        p->cols = shapes[s][1];
        kc_buf *x = kc_add(c, "x", KC_IN, KC_F32, (size_t)(p->rows * p->cols), -3, 3);
        if (p->rows == 6 && p->cols == 5) x->floats = ties_and_nans;
        kc_add(c, "values", KC_OUT, KC_F32, (size_t)p->rows, 0, 0);
        kc_add(c, "indices", KC_OUT, KC_I32, (size_t)p->rows, 0, 0);
        snprintf(c->desc, sizeof c->desc, "MAX_LAST(rows=%lld,cols=%lld%s)", (long long)p->rows, (long long)p->cols,
                 x->floats ? ",ties_nan_inf" : "");
        for (int acc = 0; acc < 2; acc++) {
            c = kc_new(cases, n, max, "basic", "max_last_backward", launch_max_last_backward, TOL);
            if (!c) return;
            p = KC_PARAMS(c, rows_params);
            p->rows = shapes[s][0];
            p->cols = shapes[s][1];
            p->accumulate = acc;
            kc_add(c, "dy", KC_IN, KC_F32, (size_t)p->rows, -1, 1);
            kc_add(c, "indices", KC_IN, KC_I32, (size_t)p->rows, 0, (float)(p->cols - 1));
            kc_add(c, "dx", acc ? KC_INOUT : KC_OUT, KC_F32, (size_t)(p->rows * p->cols), -1, 1);
            snprintf(c->desc, sizeof c->desc, "MAX_LAST_BACKWARD(rows=%lld,cols=%lld,acc=%d)", (long long)p->rows,
                     (long long)p->cols, acc);
        }
    }
}

/* ---- softmax ---------------------------------------------------------------------------- */

static rf_status launch_softmax(const kcase *c, rf_device *dev, const rf_mem *m) {
    const rows_params *p = KC_CPARAMS(c, rows_params);
    rf_softmax_args a = {.rows = p->rows, .cols = p->cols, .x = m[0], .y = m[1], .has_mask = p->has_mask,
                         .mask_rows = p->mask_rows};
    if (p->has_mask) a.mask = m[2];
    return rf_kernel_softmax(dev, &a);
}

static rf_status launch_softmax_backward(const kcase *c, rf_device *dev, const rf_mem *m) {
    const rows_params *p = KC_CPARAMS(c, rows_params);
    rf_softmax_backward_args a = {.rows = p->rows, .cols = p->cols, .y = m[0], .dy = m[1], .dx = m[2],
                                  .accumulate = p->accumulate};
    return rf_kernel_softmax_backward(dev, &a);
}

/* Group DETR's mask: 3 groups of 4 queries, -inf across groups; a fully
 * masked row appears too. */
static float group_mask[12 * 12];
static float group_mask_wide[40 * 40];

static void softmax_cases(kcase *cases, int *n, int max) {
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < 12; j++) group_mask[i * 12 + j] = (i / 4 == j / 4 && i != 11) ? 0.0f : -INFINITY;
    /* rows of 2 (the deformable attention's weights, split across
     * threads) and 5: the cpu's short-row loop */
    const int64_t shapes[][2] = {{1, 1}, {7, 33}, {96, 300}, {5, 4097}, {40000, 2}, {9, 5}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int large = 0; large < 2; large++) {
            kcase *c = kc_new(cases, n, max, "basic", "softmax", launch_softmax, TOL);
            if (!c) return;
            rows_params *p = KC_PARAMS(c, rows_params);
            p->rows = shapes[s][0];
            p->cols = shapes[s][1];
            /* large logits exercise the max subtraction */
            kc_add(c, "x", KC_IN, KC_F32, (size_t)(p->rows * p->cols), large ? 50 : -4, large ? 90 : 4);
            kc_add(c, "y", KC_OUT, KC_F32, (size_t)(p->rows * p->cols), 0, 0);
            snprintf(c->desc, sizeof c->desc, "SOFTMAX(rows=%lld,cols=%lld,logits=%s)", (long long)p->rows,
                     (long long)p->cols, large ? "large" : "small");
        }
    kcase *c = kc_new(cases, n, max, "basic", "softmax", launch_softmax, TOL);
    if (!c) return;
    rows_params *p = KC_PARAMS(c, rows_params);
    *p = (rows_params){.rows = 2 * 3 * 12, .cols = 12, .mask_rows = 12, .has_mask = true};
    kc_add(c, "x", KC_IN, KC_F32, 2 * 3 * 12 * 12, -4, 4);
    kc_add(c, "y", KC_OUT, KC_F32, 2 * 3 * 12 * 12, 0, 0);
    kc_add(c, "mask", KC_IN, KC_F32, 12 * 12, 0, 0)->floats = group_mask;
    snprintf(c->desc, sizeof c->desc, "SOFTMAX(rows=72,cols=12,mask=group_detr_3x4,masked_row)");
    /* Rows long enough for the vectorised kernel of CPU-backed OpenCL (two
     * 16-wide blocks and a tail), four groups of 10, row 39 fully masked. */
    for (int i = 0; i < 40; i++)
        for (int j = 0; j < 40; j++) group_mask_wide[i * 40 + j] = (i / 10 == j / 10 && i != 39) ? 0.0f : -INFINITY;
    c = kc_new(cases, n, max, "basic", "softmax", launch_softmax, TOL);
    if (!c) return;
    p = KC_PARAMS(c, rows_params);
    *p = (rows_params){.rows = 2 * 40, .cols = 40, .mask_rows = 40, .has_mask = true};
    kc_add(c, "x", KC_IN, KC_F32, 2 * 40 * 40, -4, 4);
    kc_add(c, "y", KC_OUT, KC_F32, 2 * 40 * 40, 0, 0);
    kc_add(c, "mask", KC_IN, KC_F32, 40 * 40, 0, 0)->floats = group_mask_wide;
    snprintf(c->desc, sizeof c->desc, "SOFTMAX(rows=80,cols=40,mask=group_detr_4x10,masked_row)");
    /* Rows shorter and longer than a work-group, and one of 1. */
    const int64_t back[][2] = {{1, 1}, {3, 300}, {37, 300}, {40000, 2}, {9, 5}};
    for (size_t s = 0; s < sizeof back / sizeof back[0]; s++)
        for (int acc = 0; acc < 2; acc++) {
            c = kc_new(cases, n, max, "basic", "softmax_backward", launch_softmax_backward, TOL);
            if (!c) return;
            p = KC_PARAMS(c, rows_params);
            *p = (rows_params){.rows = back[s][0], .cols = back[s][1], .accumulate = acc};
            size_t count = (size_t)(p->rows * p->cols);
            kc_add(c, "y", KC_IN, KC_F32, count, 0, 0.01f);
            kc_add(c, "dy", KC_IN, KC_F32, count, -1, 1);
            kc_add(c, "dx", acc ? KC_INOUT : KC_OUT, KC_F32, count, -1, 1);
            snprintf(c->desc, sizeof c->desc, "SOFTMAX_BACKWARD(rows=%lld,cols=%lld,acc=%d)", (long long)p->rows,
                     (long long)p->cols, acc);
        }
}

/* ---- layer norms --------------------------------------------------------------------------- */

typedef struct ln_params {
    int64_t rows, cols, inner, outer_stride, col_stride;
    float eps;
    bool affine, accumulate;
} ln_params;

static rf_status launch_layernorm(const kcase *c, rf_device *dev, const rf_mem *m) {
    const ln_params *p = KC_CPARAMS(c, ln_params);
    rf_layernorm_args a = {.rows = p->rows, .cols = p->cols, .inner = p->inner, .outer_stride = p->outer_stride,
                           .col_stride = p->col_stride, .eps = p->eps, .x = m[0], .y = m[1], .mean = m[2],
                           .rstd = m[3], .has_affine = p->affine};
    if (p->affine) {
        a.gamma = m[4];
        a.beta = m[5];
    }
    return rf_kernel_layernorm(dev, &a);
}

static rf_status launch_layernorm_backward(const kcase *c, rf_device *dev, const rf_mem *m) {
    const ln_params *p = KC_CPARAMS(c, ln_params);
    rf_layernorm_backward_args a = {.rows = p->rows, .cols = p->cols, .inner = p->inner, .outer_stride = p->outer_stride,
                                    .col_stride = p->col_stride, .x = m[0], .mean = m[1], .rstd = m[2], .dy = m[3],
                                    .dx = m[4], .has_affine = p->affine, .accumulate = p->accumulate};
    if (p->affine) {
        a.gamma = m[5];
        a.dgamma = m[6];
        a.dbeta = m[7];
    }
    return rf_kernel_layernorm_backward(dev, &a);
}

static void layernorm_cases(kcase *cases, int *n, int max) {
    /* (rows, cols) last-dim forms, then NCHW channel forms (N, C, HW). */
    struct {
        int64_t rows, cols, inner, outer, col;
        const char *what;
    } forms[] = {
        {1, 7, 1, 7, 1, "last_dim"},
        {300, 256, 1, 256, 1, "last_dim"},
        {65, 384, 1, 384, 1, "last_dim"},
        {2 * 49, 33, 49, 33 * 49, 49, "channel_nchw"},
        {3 * 144, 128, 144, 128 * 144, 144, "channel_nchw"},
    };
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++)
        for (int affine = 0; affine < 2; affine++) {
            size_t total = (size_t)(forms[f].rows * forms[f].cols);
            kcase *c = kc_new(cases, n, max, "basic", "layernorm", launch_layernorm, TOL);
            if (!c) return;
            ln_params *p = KC_PARAMS(c, ln_params);
            *p = (ln_params){forms[f].rows, forms[f].cols, forms[f].inner, forms[f].outer, forms[f].col, 1e-6f, affine, false};
            kc_add(c, "x", KC_IN, KC_F32, total, -3, 5);
            kc_add(c, "y", KC_OUT, KC_F32, total, 0, 0);
            kc_add(c, "mean", KC_OUT, KC_F32, (size_t)p->rows, 0, 0);
            kc_add(c, "rstd", KC_OUT, KC_F32, (size_t)p->rows, 0, 0);
            if (affine) {
                kc_add(c, "gamma", KC_IN, KC_F32, (size_t)p->cols, 0.5f, 1.5f);
                kc_add(c, "beta", KC_IN, KC_F32, (size_t)p->cols, -0.5f, 0.5f);
            }
            snprintf(c->desc, sizeof c->desc, "LAYERNORM(%s,rows=%lld,cols=%lld,affine=%d)", forms[f].what,
                     (long long)p->rows, (long long)p->cols, affine);
            for (int acc = 0; acc < 2; acc++) {
                c = kc_new(cases, n, max, "basic", "layernorm_backward", launch_layernorm_backward, TOL);
                if (!c) return;
                p = KC_PARAMS(c, ln_params);
                *p = (ln_params){forms[f].rows, forms[f].cols, forms[f].inner, forms[f].outer, forms[f].col, 1e-6f, affine, acc};
                kc_add(c, "x", KC_IN, KC_F32, total, -3, 5);
                kc_add(c, "mean", KC_IN, KC_F32, (size_t)p->rows, 0.5f, 1.5f);
                kc_add(c, "rstd", KC_IN, KC_F32, (size_t)p->rows, 0.2f, 1.0f);
                kc_add(c, "dy", KC_IN, KC_F32, total, -1, 1);
                kc_add(c, "dx", acc ? KC_INOUT : KC_OUT, KC_F32, total, -1, 1);
                if (affine) {
                    kc_add(c, "gamma", KC_IN, KC_F32, (size_t)p->cols, 0.5f, 1.5f);
                    kc_add(c, "dgamma", KC_INOUT, KC_F32, (size_t)p->cols, -1, 1);
                    kc_add(c, "dbeta", KC_INOUT, KC_F32, (size_t)p->cols, -1, 1);
                }
                snprintf(c->desc, sizeof c->desc, "LAYERNORM_BACKWARD(%s,rows=%lld,cols=%lld,affine=%d,acc=%d)",
                         forms[f].what, (long long)p->rows, (long long)p->cols, affine, acc);
            }
        }
}

int kc_cases_basic(kcase *cases, int max) {
    int n = 0;
    unary_cases(cases, &n, max);
    convert_cases(cases, &n, max);
    nd_cases(cases, &n, max);
    reduce_cases(cases, &n, max);
    max_cases(cases, &n, max);
    softmax_cases(cases, &n, max);
    layernorm_cases(cases, &n, max);
    return n;
}
