/* fast_basic.c — the basic kernel family in fast mode (fast.h): float
 * elementwise math, strided copies and broadcasts walked row by row over
 * merged axes (transposes in tiles), reductions, softmax and layer norms. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/fast.h"
#include "backend/cpu/fast_math.h"
#include "backend/cpu/ref_basic.h"
#include "backend/kernels/basic.h"
#include "backend/nd.h"

/* ---- unary ------------------------------------------------------------------------------ */

#define MAP(EXPR)                                             \
    do {                                                      \
        for (int64_t i = 0; i < n; i++) y[i] = (EXPR);        \
    } while (0)

CPU_CLONES static void unary_loop(rf_unary_op op, int64_t n, const float *x, float *y, float alpha, float beta) {
    switch (op) {
    case RF_UNARY_IDENTITY: if (x != y) memmove(y, x, sizeof *y * (size_t)n); break;
    case RF_UNARY_AFFINE: MAP(alpha * x[i] + beta); break;
    case RF_UNARY_RELU: MAP(x[i] > 0.0f ? x[i] : 0.0f); break;
    case RF_UNARY_GELU: MAP(rf_geluf(x[i])); break;
    case RF_UNARY_SILU: MAP(x[i] * rf_sigmoidf(x[i])); break;
    case RF_UNARY_SIGMOID: MAP(rf_sigmoidf(x[i])); break;
    case RF_UNARY_EXP: MAP(rf_expf(x[i])); break;
    case RF_UNARY_LOG_SIGMOID: MAP(-rf_softplusf(-x[i])); break;
    case RF_UNARY_TANH: MAP(tanhf(x[i])); break;
    case RF_UNARY_SQRT: MAP(sqrtf(x[i])); break;
    case RF_UNARY_LOG: MAP(rf_logf(x[i])); break;
    case RF_UNARY_INVERSE_SIGMOID: {
        /* log(x1 / x2) with x clamped to [0, 1] and both sides at least eps */
        for (int64_t i = 0; i < n; i++) {
            float c = x[i] < 0.0f ? 0.0f : (x[i] > 1.0f ? 1.0f : x[i]);
            y[i] = rf_logf((c < alpha ? alpha : c) / ((1.0f - c) < alpha ? alpha : (1.0f - c)));
        }
        break;
    }
    case RF_UNARY_SIN: MAP(sinf(x[i])); break;
    case RF_UNARY_ROUND_BF16: rf_cpu_round_floats(RF_PRECISION_BF16, x, y, n); break;
    case RF_UNARY_ROUND_F16: rf_cpu_round_floats(RF_PRECISION_F16, x, y, n); break;
    /* A code without a vectorised form here: the shared device math. */
    default: MAP((float)rf_unary_value(op, x[i], alpha, beta));
    }
}

static void unary_range(void *p, int64_t b, int64_t e) {
    const rf_unary_args *a = p;
    unary_loop(a->op, e - b, CPU_CF(a->x) + b, CPU_F(a->y) + b, a->alpha, a->beta);
}

bool cpu_fast_unary(rf_device *dev, const rf_unary_args *a) {
    cpu_parallel_range(dev, a->n, CPU_GRAIN, unary_range, (void *)a);
    return true;
}

/* dx (+)= f'(x) dy; ACC is 0 or 1 (a constant, so each loop is its own). */
#define DERIV_LOOP(EXPR)                                                   \
    do {                                                                   \
        if (acc)                                                           \
            for (int64_t i = 0; i < n; i++) dx[i] = dx[i] + (EXPR) * dy[i]; \
        else                                                               \
            for (int64_t i = 0; i < n; i++) dx[i] = (EXPR) * dy[i];        \
    } while (0)

CPU_CLONES static void unary_backward_loop(rf_unary_op op, int64_t n, const float *x, const float *y, const float *dy,
                                           float *dx, float alpha, bool acc) {
    switch (op) {
    case RF_UNARY_IDENTITY: DERIV_LOOP(1.0f); break;
    case RF_UNARY_AFFINE: DERIV_LOOP(alpha); break;
    case RF_UNARY_RELU: DERIV_LOOP(x[i] > 0.0f ? 1.0f : 0.0f); break;
    case RF_UNARY_GELU: DERIV_LOOP(rf_gelu_gradf(x[i])); break;
    case RF_UNARY_SILU: DERIV_LOOP(rf_sigmoidf(x[i]) * (1.0f + x[i] * (1.0f - rf_sigmoidf(x[i])))); break;
    case RF_UNARY_SIGMOID: DERIV_LOOP(y[i] * (1.0f - y[i])); break;
    case RF_UNARY_EXP: DERIV_LOOP(y[i]); break;
    case RF_UNARY_LOG_SIGMOID: DERIV_LOOP(rf_sigmoidf(-x[i])); break;
    case RF_UNARY_TANH: DERIV_LOOP(1.0f - y[i] * y[i]); break;
    case RF_UNARY_SQRT: DERIV_LOOP(0.5f / y[i]); break;
    case RF_UNARY_LOG: DERIV_LOOP(1.0f / x[i]); break;
    case RF_UNARY_INVERSE_SIGMOID:
        /* torch.clamp passes the gradient where min <= x <= max. */
        DERIV_LOOP((x[i] < 0.0f || x[i] > 1.0f)
                       ? 0.0f
                       : (x[i] >= alpha ? 1.0f / x[i] : 0.0f) + (1.0f - x[i] >= alpha ? 1.0f / (1.0f - x[i]) : 0.0f));
        break;
    case RF_UNARY_SIN: DERIV_LOOP(cosf(x[i])); break;
    default: DERIV_LOOP((float)rf_unary_derivative(op, x[i], y[i], alpha));
    }
}

static void unary_backward_range(void *p, int64_t b, int64_t e) {
    const rf_unary_backward_args *a = p;
    unary_backward_loop(a->op, e - b, CPU_CF(a->x) + b, CPU_CF(a->y) + b, CPU_CF(a->dy) + b, CPU_F(a->dx) + b,
                        a->alpha, a->accumulate);
}

bool cpu_fast_unary_backward(rf_device *dev, const rf_unary_backward_args *a) {
    cpu_parallel_range(dev, a->n, CPU_GRAIN, unary_backward_range, (void *)a);
    return true;
}

/* ---- N-d walks ---------------------------------------------------------------------------- */

/* An index space with up to three strided operands, axes merged where every
 * operand allows (rf_nd_collapse); the last axis is the inner loop's. */
typedef struct walk {
    int ndim;
    int64_t shape[RF_MAX_DIMS];
    int64_t stride[3][RF_MAX_DIMS];
    int nops;
    int64_t inner, total;
} walk;

static void walk_init(walk *w, int ndim, const int64_t *shape, int nops, const int64_t *const *strides) {
    w->nops = nops;
    for (int i = 0; i < RF_MAX_DIMS; i++) {
        w->shape[i] = i < ndim ? shape[i] : 1;
        for (int k = 0; k < 3; k++) w->stride[k][i] = (k < nops && i < ndim) ? strides[k][i] : 0;
    }
    int64_t *sp[3] = {w->stride[0], w->stride[1], w->stride[2]};
    w->ndim = rf_nd_collapse(ndim, w->shape, nops, (int64_t *const *)sp);
    if (w->ndim == 0) { /* one element */
        w->ndim = 1;
        w->shape[0] = 1;
    }
    w->inner = w->shape[w->ndim - 1];
    w->total = rf_nd_count(w->ndim, w->shape);
}

/* Calls seg(ctx, off, len) for the row segments covering flat elements
 * [b, e): off[k] is operand k's offset of the segment's first element.
 * The outer index is divided out once per call and then stepped like an
 * odometer: head-sized rows (32 floats) made the per-row divisions cost
 * more than the copy itself. */
typedef void (*segment_fn)(const void *ctx, const walk *w, const int64_t *off, int64_t len);

static void walk_segments(const walk *w, int64_t b, int64_t e, segment_fn seg, const void *ctx) {
    if (b >= e) return;
    int last = w->ndim - 1;
    int64_t row = b / w->inner, i = b - row * w->inner;
    int64_t idx[RF_MAX_DIMS] = {0}, off[3] = {0, 0, 0};
    for (int d = last - 1; d >= 0; d--) {
        int64_t q = row / w->shape[d];
        idx[d] = row - q * w->shape[d];
        row = q;
        for (int k = 0; k < w->nops; k++) off[k] += idx[d] * w->stride[k][d];
    }
    int64_t pos = b;
    while (pos < e) {
        int64_t len = w->inner - i;
        if (len > e - pos) len = e - pos;
        int64_t start[3];
        for (int k = 0; k < w->nops; k++) start[k] = off[k] + i * w->stride[k][last];
        seg(ctx, w, start, len);
        pos += len;
        i = 0;
        for (int d = last - 1; d >= 0; d--) { /* next row */
            for (int k = 0; k < w->nops; k++) off[k] += w->stride[k][d];
            if (++idx[d] < w->shape[d]) break;
            for (int k = 0; k < w->nops; k++) off[k] -= w->shape[d] * w->stride[k][d];
            idx[d] = 0;
        }
    }
}

/* ---- binary ------------------------------------------------------------------------------- */

#define BINARY_INNER(EXPR)                                                                             \
    do {                                                                                               \
        if (sa == 1 && sb == 1 && sy == 1) {                                                           \
            if (acc)                                                                                   \
                for (int64_t i = 0; i < n; i++) { float x = pa[i], z = pb[i]; py[i] = py[i] + (EXPR); } \
            else                                                                                       \
                for (int64_t i = 0; i < n; i++) { float x = pa[i], z = pb[i]; py[i] = (EXPR); }        \
        } else if (sa == 1 && sb == 0 && sy == 1) {                                                    \
            float z = *pb;                                                                             \
            if (acc)                                                                                   \
                for (int64_t i = 0; i < n; i++) { float x = pa[i]; py[i] = py[i] + (EXPR); }           \
            else                                                                                       \
                for (int64_t i = 0; i < n; i++) { float x = pa[i]; py[i] = (EXPR); }                   \
        } else if (sa == 0 && sb == 1 && sy == 1) {                                                    \
            float x = *pa;                                                                             \
            if (acc)                                                                                   \
                for (int64_t i = 0; i < n; i++) { float z = pb[i]; py[i] = py[i] + (EXPR); }           \
            else                                                                                       \
                for (int64_t i = 0; i < n; i++) { float z = pb[i]; py[i] = (EXPR); }                   \
        } else {                                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                          \
                float x = pa[i * sa], z = pb[i * sb];                                                  \
                py[i * sy] = acc ? py[i * sy] + (EXPR) : (EXPR);                                       \
            }                                                                                          \
        }                                                                                              \
    } while (0)

CPU_CLONES static void binary_row(rf_binary_op op, bool acc, int64_t n, const float *pa, int64_t sa, const float *pb,
                                  int64_t sb, float *py, int64_t sy) {
    switch (op) {
    case RF_BINARY_ADD: BINARY_INNER(x + z); break;
    case RF_BINARY_SUB: BINARY_INNER(x - z); break;
    case RF_BINARY_MUL: BINARY_INNER(x * z); break;
    case RF_BINARY_DIV: BINARY_INNER(x / z); break;
    default: break; /* cpu_fast_binary checked the op */
    }
}

typedef struct binary_job {
    const rf_binary_args *a;
    walk w;
} binary_job;

static void binary_segment(const void *p, const walk *w, const int64_t *off, int64_t len) {
    const rf_binary_args *a = ((const binary_job *)p)->a;
    int last = w->ndim - 1;
    binary_row(a->op, a->accumulate, len, CPU_VCF(a->a) + off[0], w->stride[0][last], CPU_VCF(a->b) + off[1],
               w->stride[1][last], CPU_VF(a->y) + off[2], w->stride[2][last]);
}

static void binary_range(void *p, int64_t b, int64_t e) {
    binary_job *j = p;
    walk_segments(&j->w, b, e, binary_segment, j);
}

bool cpu_fast_binary(rf_device *dev, const rf_binary_args *a) {
    if ((unsigned)a->op >= RF_BINARY_COUNT) return false;
    binary_job j = {a};
    const int64_t *strides[3] = {a->a.stride, a->b.stride, a->y.stride};
    walk_init(&j.w, a->ndim, a->shape, 3, strides);
    cpu_parallel_range(dev, j.w.total, CPU_GRAIN, binary_range, &j);
    return true;
}

/* ---- copy --------------------------------------------------------------------------------- */

CPU_CLONES static void copy_row(bool acc, int64_t n, const float *s, int64_t ss, float *d, int64_t sd) {
    if (ss == 1 && sd == 1) {
        if (acc)
            for (int64_t i = 0; i < n; i++) d[i] = d[i] + s[i];
        else
            memcpy(d, s, sizeof *d * (size_t)n);
    } else if (ss == 0 && sd == 1) {
        float v = *s;
        if (acc)
            for (int64_t i = 0; i < n; i++) d[i] = d[i] + v;
        else
            for (int64_t i = 0; i < n; i++) d[i] = v;
    } else if (acc) {
        for (int64_t i = 0; i < n; i++) d[i * sd] = d[i * sd] + s[i * ss];
    } else {
        for (int64_t i = 0; i < n; i++) d[i * sd] = s[i * ss];
    }
}

/* A transpose: axis `p` is contiguous in one operand, the last axis in the
 * other. Both are walked in TILE x TILE blocks so that neither side streams
 * through memory with a large stride. */
#define TILE 32

typedef struct copy_job {
    const rf_copy_args *a;
    walk w;
    int p;                   /* the transposed axis (tiles only) */
    int64_t tiles_p, tiles_l; /* tiles along p and the last axis */
} copy_job;

static void copy_segment(const void *p, const walk *w, const int64_t *off, int64_t len) {
    const rf_copy_args *a = ((const copy_job *)p)->a;
    int last = w->ndim - 1;
    copy_row(a->accumulate, len, CPU_VCF(a->src) + off[0], w->stride[0][last], CPU_VF(a->dst) + off[1],
             w->stride[1][last]);
}

static void copy_rows_range(void *p, int64_t b, int64_t e) {
    copy_job *j = p;
    walk_segments(&j->w, b, e, copy_segment, j);
}

CPU_CLONES static void copy_tile(bool acc, int64_t np, int64_t nl, const float *s, int64_t ssp, int64_t ssl, float *d,
                                 int64_t sdp, int64_t sdl) {
    if (sdl == 1) { /* destination rows contiguous: write them in order */
        for (int64_t i = 0; i < np; i++) {
            const float *si = s + i * ssp;
            float *di = d + i * sdp;
            if (acc)
                for (int64_t l = 0; l < nl; l++) di[l] = di[l] + si[l * ssl];
            else
                for (int64_t l = 0; l < nl; l++) di[l] = si[l * ssl];
        }
    } else { /* source rows contiguous along p: read them in order */
        for (int64_t l = 0; l < nl; l++) {
            const float *sl = s + l * ssl;
            float *dl = d + l * sdl;
            if (acc)
                for (int64_t i = 0; i < np; i++) dl[i * sdp] = dl[i * sdp] + sl[i * ssp];
            else
                for (int64_t i = 0; i < np; i++) dl[i * sdp] = sl[i * ssp];
        }
    }
}

/* Tasks: (outer index over the axes other than p and last) x tile_p x tile_l. */
static void copy_tiles_range(void *ptr, int64_t b, int64_t e) {
    const copy_job *j = ptr;
    const walk *w = &j->w;
    const rf_copy_args *a = j->a;
    int last = w->ndim - 1, p = j->p;
    int64_t np = w->shape[p], nl = w->shape[last];
    for (int64_t t = b; t < e; t++) {
        int64_t tl = t % j->tiles_l, tp = (t / j->tiles_l) % j->tiles_p, o = t / j->tiles_l / j->tiles_p;
        /* Offsets of outer index o over the remaining axes (row-major). */
        int64_t off_s = 0, off_d = 0;
        for (int i = w->ndim - 1; i >= 0; i--) {
            if (i == p || i == last) continue;
            int64_t q = o / w->shape[i], r = o - q * w->shape[i];
            off_s += r * w->stride[0][i];
            off_d += r * w->stride[1][i];
            o = q;
        }
        int64_t p0 = tp * TILE, l0 = tl * TILE;
        int64_t cp = np - p0 < TILE ? np - p0 : TILE, cl = nl - l0 < TILE ? nl - l0 : TILE;
        off_s += p0 * w->stride[0][p] + l0 * w->stride[0][last];
        off_d += p0 * w->stride[1][p] + l0 * w->stride[1][last];
        copy_tile(a->accumulate, cp, cl, CPU_VCF(a->src) + off_s, w->stride[0][p], w->stride[0][last],
                  CPU_VF(a->dst) + off_d, w->stride[1][p], w->stride[1][last]);
    }
}

bool cpu_fast_copy(rf_device *dev, const rf_copy_args *a) {
    copy_job j = {a};
    const int64_t *strides[2] = {a->src.stride, a->dst.stride};
    walk_init(&j.w, a->ndim, a->shape, 2, strides);
    const walk *w = &j.w;
    int last = w->ndim - 1;
    int64_t ss = w->stride[0][last], sd = w->stride[1][last];
    j.p = -1;
    if (w->ndim >= 2 && w->inner >= 8 && ((sd == 1 && ss != 1 && ss != 0) || (ss == 1 && sd != 1))) {
        int other = sd == 1 ? 0 : 1; /* the operand whose contiguous axis is not the last */
        for (int i = last - 1; i >= 0; i--)
            if (w->stride[other][i] == 1 && w->shape[i] >= 8) {
                j.p = i;
                break;
            }
    }
    if (j.p < 0) {
        cpu_parallel_range(dev, w->total, CPU_GRAIN, copy_rows_range, &j);
        return true;
    }
    j.tiles_p = (w->shape[j.p] + TILE - 1) / TILE;
    j.tiles_l = (w->inner + TILE - 1) / TILE;
    int64_t tasks = w->total / (w->shape[j.p] * w->inner) * j.tiles_p * j.tiles_l;
    cpu_parallel_range(dev, tasks, CPU_GRAIN / (TILE * TILE) + 1, copy_tiles_range, &j);
    return true;
}

/* ---- reductions --------------------------------------------------------------------------- */

/* The reduction after merging neighbouring axes of the same kind. */
typedef struct reduce_job {
    const rf_reduce_args *a;
    int ndim;
    int64_t shape[RF_MAX_DIMS], stride[RF_MAX_DIMS];
    bool red[RF_MAX_DIMS];
    int64_t n_out, n_red;
    /* kept axes (in order) and reduced axes (in order) */
    int nk, nr;
    int64_t kshape[RF_MAX_DIMS], kstride[RF_MAX_DIMS], rshape[RF_MAX_DIMS], rstride[RF_MAX_DIMS];
} reduce_job;

static void reduce_plan(reduce_job *j, const rf_reduce_args *a) {
    j->a = a;
    j->ndim = 0;
    for (int i = 0; i < a->ndim; i++) {
        bool r = (a->reduce_mask >> i) & 1u;
        if (a->shape[i] == 1) continue;
        if (j->ndim > 0 && j->red[j->ndim - 1] == r && j->stride[j->ndim - 1] == a->x.stride[i] * a->shape[i]) {
            j->shape[j->ndim - 1] *= a->shape[i];
            j->stride[j->ndim - 1] = a->x.stride[i];
            continue;
        }
        j->shape[j->ndim] = a->shape[i];
        j->stride[j->ndim] = a->x.stride[i];
        j->red[j->ndim] = r;
        j->ndim++;
    }
    j->nk = j->nr = 0;
    j->n_out = j->n_red = 1;
    for (int i = 0; i < j->ndim; i++) {
        if (j->red[i]) {
            j->rshape[j->nr] = j->shape[i];
            j->rstride[j->nr++] = j->stride[i];
            j->n_red *= j->shape[i];
        } else {
            j->kshape[j->nk] = j->shape[i];
            j->kstride[j->nk++] = j->stride[i];
            j->n_out *= j->shape[i];
        }
    }
    /* An empty input still has outputs when only reduced axes are empty. */
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] == 0) {
            if ((a->reduce_mask >> i) & 1u) j->n_red = 0;
            else j->n_out = 0;
        }
}

/* Offset of row-major index idx over n axes. */
static int64_t offset_of(int n, const int64_t *shape, const int64_t *stride, int64_t idx) {
    int64_t off = 0;
    for (int i = n; i-- > 0; idx /= shape[i]) off += idx % shape[i] * stride[i];
    return off;
}

static float reduce_finish(const rf_reduce_args *a, int64_t n_red, float acc) {
    return a->op == RF_REDUCE_MEAN ? (n_red ? acc / (float)n_red : NAN) : acc;
}

CPU_CLONES static float row_sum(const float *x, int64_t n, bool squares) {
    float acc[RF_LANES] = {0};
    int64_t i = 0;
    if (squares)
        for (; i + RF_LANES <= n; i += RF_LANES)
            for (int l = 0; l < RF_LANES; l++) acc[l] += x[i + l] * x[i + l];
    else
        for (; i + RF_LANES <= n; i += RF_LANES)
            for (int l = 0; l < RF_LANES; l++) acc[l] += x[i + l];
    float t[RF_LANES] = {0};
    for (int l = 0; i < n; i++, l++) t[l] = squares ? x[i] * x[i] : x[i];
    rf_lanes_add(acc, t);
    return rf_lanes_combine(acc);
}

/* Outputs [b, e) when the only reduced axis is the last and contiguous. */
static void reduce_rows_range(void *p, int64_t b, int64_t e) {
    const reduce_job *j = p;
    const rf_reduce_args *a = j->a;
    const float *x = CPU_VCF(a->x);
    float *y = CPU_F(a->y);
    for (int64_t o = b; o < e; o++) {
        float v = reduce_finish(a, j->n_red, row_sum(x + offset_of(j->nk, j->kshape, j->kstride, o), j->n_red,
                                                     a->op == RF_REDUCE_SUMSQ));
        y[o] = a->accumulate ? y[o] + v : v;
    }
}

CPU_CLONES static void column_add(float *acc, const float *x, int64_t n, bool squares) {
    if (squares)
        for (int64_t c = 0; c < n; c++) acc[c] += x[c] * x[c];
    else
        for (int64_t c = 0; c < n; c++) acc[c] += x[c];
}

/* Kept last axis contiguous: a task is (kept outer index, column chunk);
 * it sums the reduced rows in order into a column accumulator. */
#define COLUMN_CHUNK 256

typedef struct column_job {
    const reduce_job *r;
    int64_t cols, chunks;
} column_job;

static void reduce_columns_range(void *p, int64_t b, int64_t e) {
    const column_job *cj = p;
    const reduce_job *j = cj->r;
    const rf_reduce_args *a = j->a;
    const float *x = CPU_VCF(a->x);
    float *y = CPU_F(a->y);
    float acc[COLUMN_CHUNK];
    for (int64_t t = b; t < e; t++) {
        int64_t outer = t / cj->chunks, c0 = (t % cj->chunks) * COLUMN_CHUNK;
        int64_t n = cj->cols - c0 < COLUMN_CHUNK ? cj->cols - c0 : COLUMN_CHUNK;
        int64_t base = offset_of(j->nk - 1, j->kshape, j->kstride, outer) + c0;
        for (int64_t c = 0; c < n; c++) acc[c] = 0.0f;
        for (int64_t r = 0; r < j->n_red; r++)
            column_add(acc, x + base + offset_of(j->nr, j->rshape, j->rstride, r), n, a->op == RF_REDUCE_SUMSQ);
        float *out = y + outer * cj->cols + c0;
        for (int64_t c = 0; c < n; c++) {
            float v = reduce_finish(a, j->n_red, acc[c]);
            out[c] = a->accumulate ? out[c] + v : v;
        }
    }
}

/* Anything else: one output at a time, the reduced elements in order. */
static void reduce_generic_range(void *p, int64_t b, int64_t e) {
    const reduce_job *j = p;
    const rf_reduce_args *a = j->a;
    const float *x = CPU_VCF(a->x);
    float *y = CPU_F(a->y);
    for (int64_t o = b; o < e; o++) {
        int64_t base = offset_of(j->nk, j->kshape, j->kstride, o);
        float acc = 0.0f;
        for (int64_t r = 0; r < j->n_red; r++) {
            float v = x[base + offset_of(j->nr, j->rshape, j->rstride, r)];
            acc += a->op == RF_REDUCE_SUMSQ ? v * v : v;
        }
        float v = reduce_finish(a, j->n_red, acc);
        y[o] = a->accumulate ? y[o] + v : v;
    }
}

bool cpu_fast_reduce(rf_device *dev, const rf_reduce_args *a) {
    reduce_job j;
    reduce_plan(&j, a);
    if (j.n_out == 0) return true;
    if (j.n_red == 0 || j.nr == 0) {
        /* Nothing (or only size-1 axes) to reduce: sum of no elements is 0, mean NaN. */
        cpu_parallel_range(dev, j.n_out, CPU_GRAIN, reduce_generic_range, &j);
        return true;
    }
    bool last_reduced = j.ndim > 0 && j.red[j.ndim - 1];
    if (last_reduced && j.nr == 1 && j.rstride[0] == 1) {
        cpu_parallel_range(dev, j.n_out, CPU_GRAIN / j.n_red + 1, reduce_rows_range, &j);
    } else if (!last_reduced && j.kstride[j.nk - 1] == 1) {
        column_job cj = {&j, j.kshape[j.nk - 1], 0};
        cj.chunks = (cj.cols + COLUMN_CHUNK - 1) / COLUMN_CHUNK;
        int64_t tasks = j.n_out / cj.cols * cj.chunks;
        int64_t per_task = j.n_red * (cj.cols < COLUMN_CHUNK ? cj.cols : COLUMN_CHUNK);
        cpu_parallel_range(dev, tasks, CPU_GRAIN / per_task + 1, reduce_columns_range, &cj);
    } else {
        cpu_parallel_range(dev, j.n_out, CPU_GRAIN / j.n_red + 1, reduce_generic_range, &j);
    }
    return true;
}

/* ---- max over the last axis --------------------------------------------------------------- */

static void max_last_range(void *p, int64_t b, int64_t e) {
    const rf_max_last_args *a = p;
    rf_ref_max_last_f32(e - b, a->cols, CPU_CF(a->x) + b * a->cols, CPU_F(a->values) + b, CPU_I(a->indices) + b);
}

bool cpu_fast_max_last(rf_device *dev, const rf_max_last_args *a) {
    cpu_parallel_range(dev, a->rows, CPU_GRAIN / (a->cols + 1) + 1, max_last_range, (void *)a);
    return true;
}

static void max_last_backward_range(void *p, int64_t b, int64_t e) {
    const rf_max_last_backward_args *a = p;
    const float *dy = CPU_CF(a->dy);
    const int32_t *idx = CPU_CI(a->indices);
    float *dx = CPU_F(a->dx);
    for (int64_t r = b; r < e; r++) {
        float *row = dx + r * a->cols;
        if (!a->accumulate) memset(row, 0, sizeof *row * (size_t)a->cols);
        row[idx[r]] += dy[r];
    }
}

bool cpu_fast_max_last_backward(rf_device *dev, const rf_max_last_backward_args *a) {
    cpu_parallel_range(dev, a->rows, CPU_GRAIN / (a->cols + 1) + 1, max_last_backward_range, (void *)a);
    return true;
}

/* ---- softmax ------------------------------------------------------------------------------- */

/* The row maximum in interleaved lanes (a running maximum is a recurrence
 * the compiler will not vectorize otherwise); NaN never wins, as in the
 * reference's `if (v > mx)`. */
static inline float row_max(int64_t n, const float *x, const float *mask) {
    float m[RF_LANES];
    for (int l = 0; l < RF_LANES; l++) m[l] = -INFINITY;
    int64_t c = 0;
    for (; c + RF_LANES <= n; c += RF_LANES)
        for (int l = 0; l < RF_LANES; l++) {
            float v = x[c + l] + (mask ? mask[c + l] : 0.0f);
            m[l] = v > m[l] ? v : m[l];
        }
    float t[RF_LANES];
    for (int l = 0; l < RF_LANES; l++) t[l] = -INFINITY;
    for (int l = 0; c < n; c++, l++) t[l] = x[c] + (mask ? mask[c] : 0.0f);
    for (int l = 0; l < RF_LANES; l++) t[l] = t[l] > m[l] ? t[l] : m[l];
    for (int w = RF_LANES / 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++) t[l] = t[l + w] > t[l] ? t[l + w] : t[l];
    return t[0];
}

CPU_CLONES static void softmax_row(int64_t n, const float *x, const float *mask, float *y) {
    float mx = mask ? row_max(n, x, mask) : row_max(n, x, NULL);
    if (mx == -INFINITY) { /* fully masked row: zeros, not NaN */
        memset(y, 0, sizeof *y * (size_t)n);
        return;
    }
    /* Exponentials first, their sum in a second pass over the row (in L1
     * by then): fused, the compiler kept the running sums in memory. */
    if (mask)
        for (int64_t c = 0; c < n; c++) y[c] = rf_expf_nonpos(x[c] + mask[c] - mx);
    else
        for (int64_t c = 0; c < n; c++) y[c] = rf_expf_nonpos(x[c] - mx);
    float inv = 1.0f / row_sum(y, n, false);
    for (int64_t c = 0; c < n; c++) y[c] *= inv;
}

/* rf_lanes_combine's pairwise sum of n <= RF_LANES values: the lanes past
 * n hold zeros, which add nothing, so the tree over the next power of two
 * gives row_sum's bits. */
static inline float short_row_sum(const float *t_in, int64_t n) {
    float t[RF_LANES];
    int w = 1;
    while (w < n) w *= 2;
    for (int l = 0; l < w; l++) t[l] = l < n ? t_in[l] : 0.0f;
    for (w /= 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++) t[l] += t[l + w];
    return t[0];
}

/* Rows shorter than the lanes, a loop of its own: the deformable
 * attention's weights are 250k rows of 2 in a nano training step, where
 * the lane-blocked row functions cost 60 ns a row. Same bits as
 * softmax_row. */
CPU_CLONES static void softmax_short_rows(int64_t b, int64_t e, int64_t n, const float *x, const float *mask,
                                          int64_t mask_rows, float *y) {
    for (int64_t r = b; r < e; r++) {
        const float *xr = x + r * n, *mr = mask ? mask + (r % mask_rows) * n : NULL;
        float *yr = y + r * n, v[RF_LANES];
        float mx = -INFINITY;
        for (int64_t c = 0; c < n; c++) {
            v[c] = mr ? xr[c] + mr[c] : xr[c];
            mx = v[c] > mx ? v[c] : mx;
        }
        if (mx == -INFINITY) {
            for (int64_t c = 0; c < n; c++) yr[c] = 0.0f;
            continue;
        }
        for (int64_t c = 0; c < n; c++) v[c] = rf_expf_nonpos(v[c] - mx);
        float inv = 1.0f / short_row_sum(v, n);
        for (int64_t c = 0; c < n; c++) yr[c] = v[c] * inv;
    }
}

static void softmax_range(void *p, int64_t b, int64_t e) {
    const rf_softmax_args *a = p;
    const float *x = CPU_CF(a->x), *mask = a->has_mask ? CPU_CF(a->mask) : NULL;
    float *y = CPU_F(a->y);
    if (a->cols < RF_LANES) {
        softmax_short_rows(b, e, a->cols, x, mask, a->mask_rows, y);
        return;
    }
    for (int64_t r = b; r < e; r++)
        softmax_row(a->cols, x + r * a->cols, mask ? mask + (r % a->mask_rows) * a->cols : NULL, y + r * a->cols);
}

bool cpu_fast_softmax(rf_device *dev, const rf_softmax_args *a) {
    cpu_parallel_range(dev, a->rows, CPU_GRAIN / (4 * a->cols + 1) + 1, softmax_range, (void *)a);
    return true;
}

CPU_CLONES static void softmax_backward_row(int64_t n, const float *y, const float *dy, float *dx, bool acc) {
    float lanes[RF_LANES] = {0};
    int64_t c = 0;
    for (; c + RF_LANES <= n; c += RF_LANES)
        for (int l = 0; l < RF_LANES; l++) lanes[l] += y[c + l] * dy[c + l];
    float t[RF_LANES] = {0};
    for (int l = 0; c < n; c++, l++) t[l] = y[c] * dy[c];
    rf_lanes_add(lanes, t);
    float dot = rf_lanes_combine(lanes);
    if (acc)
        for (c = 0; c < n; c++) dx[c] = dx[c] + y[c] * (dy[c] - dot);
    else
        for (c = 0; c < n; c++) dx[c] = y[c] * (dy[c] - dot);
}

CPU_CLONES static void softmax_backward_short_rows(int64_t b, int64_t e, int64_t n, const float *y, const float *dy,
                                                   float *dx, bool acc) {
    for (int64_t r = b; r < e; r++) {
        const float *yr = y + r * n, *dyr = dy + r * n;
        float *dxr = dx + r * n, t[RF_LANES];
        for (int64_t c = 0; c < n; c++) t[c] = yr[c] * dyr[c];
        float dot = short_row_sum(t, n);
        if (acc)
            for (int64_t c = 0; c < n; c++) dxr[c] = dxr[c] + yr[c] * (dyr[c] - dot);
        else
            for (int64_t c = 0; c < n; c++) dxr[c] = yr[c] * (dyr[c] - dot);
    }
}

static void softmax_backward_range(void *p, int64_t b, int64_t e) {
    const rf_softmax_backward_args *a = p;
    if (a->cols < RF_LANES) {
        softmax_backward_short_rows(b, e, a->cols, CPU_CF(a->y), CPU_CF(a->dy), CPU_F(a->dx), a->accumulate);
        return;
    }
    for (int64_t r = b; r < e; r++)
        softmax_backward_row(a->cols, CPU_CF(a->y) + r * a->cols, CPU_CF(a->dy) + r * a->cols,
                             CPU_F(a->dx) + r * a->cols, a->accumulate);
}

bool cpu_fast_softmax_backward(rf_device *dev, const rf_softmax_backward_args *a) {
    cpu_parallel_range(dev, a->rows, CPU_GRAIN / (a->cols + 1) + 1, softmax_backward_range, (void *)a);
    return true;
}

/* ---- layer norms ----------------------------------------------------------------------------
 * Two forms (backend/kernels.h): rows of contiguous columns (inner == 1),
 * and the channel norm of NCHW, where the columns of one row are inner
 * apart and neighbouring rows are neighbouring pixels: there the loops run
 * over a block of pixels at once, one channel after another, so every
 * access is contiguous. Row statistics are two-pass (mean, then squared
 * deviations) like the reference. */

CPU_CLONES static void layernorm_row(int64_t n, float eps, const float *x, const float *gamma, const float *beta,
                                     float *y, float *mean, float *rstd) {
    float mu = row_sum(x, n, false) / (float)n;
    float acc[RF_LANES] = {0};
    int64_t c = 0;
    for (; c + RF_LANES <= n; c += RF_LANES)
        for (int l = 0; l < RF_LANES; l++) acc[l] += (x[c + l] - mu) * (x[c + l] - mu);
    float t[RF_LANES] = {0};
    for (int l = 0; c < n; c++, l++) t[l] = (x[c] - mu) * (x[c] - mu);
    rf_lanes_add(acc, t);
    float rs = 1.0f / sqrtf(rf_lanes_combine(acc) / (float)n + eps);
    *mean = mu;
    *rstd = rs;
    if (gamma)
        for (c = 0; c < n; c++) y[c] = (x[c] - mu) * rs * gamma[c] + beta[c];
    else
        for (c = 0; c < n; c++) y[c] = (x[c] - mu) * rs;
}

/* Pixels per block of the channel form. */
#define PIX_BLOCK 64

/* Channel form: block t of PIX_BLOCK pixels, (image, block) in row-major
 * order: its element offset, first row (pixel) index and pixel count. */
static int64_t pixel_block(int64_t inner, int64_t outer_stride, int64_t t, int64_t *row, int64_t *np) {
    int64_t blocks = (inner + PIX_BLOCK - 1) / PIX_BLOCK, img = t / blocks, p0 = (t % blocks) * PIX_BLOCK;
    *np = inner - p0 < PIX_BLOCK ? inner - p0 : PIX_BLOCK;
    *row = img * inner + p0;
    return img * outer_stride + p0;
}

CPU_CLONES static void layernorm_pixels(int64_t cols, int64_t stride, int64_t np, float eps, const float *x,
                                        const float *gamma, const float *beta, float *y, float *mean, float *rstd) {
    float mu[PIX_BLOCK], rs[PIX_BLOCK];
    for (int64_t p = 0; p < np; p++) mu[p] = 0.0f;
    for (int64_t c = 0; c < cols; c++)
        for (int64_t p = 0; p < np; p++) mu[p] += x[c * stride + p];
    for (int64_t p = 0; p < np; p++) {
        mu[p] /= (float)cols;
        rs[p] = 0.0f;
    }
    for (int64_t c = 0; c < cols; c++)
        for (int64_t p = 0; p < np; p++) rs[p] += (x[c * stride + p] - mu[p]) * (x[c * stride + p] - mu[p]);
    for (int64_t p = 0; p < np; p++) {
        rs[p] = 1.0f / sqrtf(rs[p] / (float)cols + eps);
        mean[p] = mu[p];
        rstd[p] = rs[p];
    }
    for (int64_t c = 0; c < cols; c++) {
        float g = gamma ? gamma[c] : 1.0f, b = gamma ? beta[c] : 0.0f;
        for (int64_t p = 0; p < np; p++) y[c * stride + p] = (x[c * stride + p] - mu[p]) * rs[p] * g + b;
    }
}

static void layernorm_range(void *p, int64_t b, int64_t e) {
    const rf_layernorm_args *a = p;
    const float *x = CPU_CF(a->x), *gamma = a->has_affine ? CPU_CF(a->gamma) : NULL;
    const float *beta = a->has_affine ? CPU_CF(a->beta) : NULL;
    float *y = CPU_F(a->y), *mean = CPU_F(a->mean), *rstd = CPU_F(a->rstd);
    if (a->inner == 1) {
        for (int64_t r = b; r < e; r++)
            layernorm_row(a->cols, a->eps, x + r * a->outer_stride, gamma, beta, y + r * a->outer_stride, mean + r,
                          rstd + r);
        return;
    }
    for (int64_t t = b; t < e; t++) { /* tasks are pixel blocks */
        int64_t row, np, base = pixel_block(a->inner, a->outer_stride, t, &row, &np);
        layernorm_pixels(a->cols, a->col_stride, np, a->eps, x + base, gamma, beta, y + base, mean + row, rstd + row);
    }
}

bool cpu_fast_layernorm(rf_device *dev, const rf_layernorm_args *a) {
    if (a->inner != 1 && a->col_stride != a->inner) return false; /* a layout the two forms do not cover */
    if (a->inner == 1) {
        cpu_parallel_range(dev, a->rows, CPU_GRAIN / (4 * a->cols + 1) + 1, layernorm_range, (void *)a);
    } else {
        int64_t tasks = a->rows / a->inner * ((a->inner + PIX_BLOCK - 1) / PIX_BLOCK);
        cpu_parallel_range(dev, tasks, CPU_GRAIN / (4 * PIX_BLOCK * a->cols) + 1, layernorm_range, (void *)a);
    }
    return true;
}

/* Backward. dx per row; dgamma / dbeta are sums over rows, so every part
 * sums its own rows into a private row of `partial` and the parts are added
 * in order at the end. */
typedef struct ln_back_job {
    const rf_layernorm_backward_args *a;
    int64_t parts, units; /* units: rows (inner == 1) or pixel blocks */
    float *partial;        /* parts x 2 x cols: dgamma then dbeta */
} ln_back_job;

CPU_CLONES static void ln_back_row(int64_t n, const float *x, float mu, float rs, const float *dy, const float *gamma,
                                   float *dx, bool acc, float *pg, float *pb) {
    float sg[RF_LANES] = {0}, sgx[RF_LANES] = {0};
    int64_t c = 0;
    for (; c + RF_LANES <= n; c += RF_LANES)
        for (int l = 0; l < RF_LANES; l++) {
            float g = dy[c + l] * (gamma ? gamma[c + l] : 1.0f);
            sg[l] += g;
            sgx[l] += g * ((x[c + l] - mu) * rs);
        }
    float tg[RF_LANES] = {0}, tgx[RF_LANES] = {0};
    for (int l = 0; c < n; c++, l++) {
        tg[l] = dy[c] * (gamma ? gamma[c] : 1.0f);
        tgx[l] = tg[l] * ((x[c] - mu) * rs);
    }
    rf_lanes_add(sg, tg);
    rf_lanes_add(sgx, tgx);
    float mg = rf_lanes_combine(sg) / (float)n, mgx = rf_lanes_combine(sgx) / (float)n;
    for (c = 0; c < n; c++) {
        float xhat = (x[c] - mu) * rs;
        float v = rs * (dy[c] * (gamma ? gamma[c] : 1.0f) - mg - xhat * mgx);
        dx[c] = acc ? dx[c] + v : v;
    }
    if (pg)
        for (c = 0; c < n; c++) {
            pg[c] += dy[c] * ((x[c] - mu) * rs);
            pb[c] += dy[c];
        }
}

CPU_CLONES static void ln_back_pixels(int64_t cols, int64_t stride, int64_t np, const float *x, const float *mean,
                                      const float *rstd, const float *dy, const float *gamma, float *dx, bool acc,
                                      float *pg, float *pb) {
    float mg[PIX_BLOCK], mgx[PIX_BLOCK];
    for (int64_t p = 0; p < np; p++) mg[p] = mgx[p] = 0.0f;
    for (int64_t c = 0; c < cols; c++) {
        float gm = gamma ? gamma[c] : 1.0f;
        for (int64_t p = 0; p < np; p++) {
            float g = dy[c * stride + p] * gm;
            mg[p] += g;
            mgx[p] += g * ((x[c * stride + p] - mean[p]) * rstd[p]);
        }
    }
    for (int64_t p = 0; p < np; p++) {
        mg[p] /= (float)cols;
        mgx[p] /= (float)cols;
    }
    for (int64_t c = 0; c < cols; c++) {
        float gm = gamma ? gamma[c] : 1.0f, sg = 0.0f, sb = 0.0f;
        for (int64_t p = 0; p < np; p++) {
            float xhat = (x[c * stride + p] - mean[p]) * rstd[p], d = dy[c * stride + p];
            float v = rstd[p] * (d * gm - mg[p] - xhat * mgx[p]);
            dx[c * stride + p] = acc ? dx[c * stride + p] + v : v;
            sg += d * xhat;
            sb += d;
        }
        if (pg) {
            pg[c] += sg;
            pb[c] += sb;
        }
    }
}

static void ln_back_part(void *p, int64_t part, int thread) {
    (void)thread;
    const ln_back_job *j = p;
    const rf_layernorm_backward_args *a = j->a;
    int64_t b = cpu_part_begin(j->units, j->parts, part), e = cpu_part_begin(j->units, j->parts, part + 1);
    const float *x = CPU_CF(a->x), *mean = CPU_CF(a->mean), *rstd = CPU_CF(a->rstd), *dy = CPU_CF(a->dy);
    const float *gamma = a->has_affine ? CPU_CF(a->gamma) : NULL;
    float *dx = CPU_F(a->dx);
    float *pg = j->partial ? j->partial + part * 2 * a->cols : NULL, *pb = pg ? pg + a->cols : NULL;
    if (pg) memset(pg, 0, sizeof *pg * 2 * (size_t)a->cols);
    if (a->inner == 1) {
        for (int64_t r = b; r < e; r++) {
            int64_t o = r * a->outer_stride;
            ln_back_row(a->cols, x + o, mean[r], rstd[r], dy + o, gamma, dx + o, a->accumulate, pg, pb);
        }
        return;
    }
    for (int64_t t = b; t < e; t++) {
        int64_t row, np, base = pixel_block(a->inner, a->outer_stride, t, &row, &np);
        ln_back_pixels(a->cols, a->col_stride, np, x + base, mean + row, rstd + row, dy + base, gamma, dx + base,
                       a->accumulate, pg, pb);
    }
}

bool cpu_fast_layernorm_backward(rf_device *dev, const rf_layernorm_backward_args *a) {
    if (a->inner != 1 && a->col_stride != a->inner) return false;
    ln_back_job j = {a};
    int64_t unit_work;
    if (a->inner == 1) {
        j.units = a->rows;
        unit_work = 4 * a->cols;
    } else {
        j.units = a->rows / a->inner * ((a->inner + PIX_BLOCK - 1) / PIX_BLOCK);
        unit_work = 4 * PIX_BLOCK * a->cols;
    }
    j.parts = cpu_parts(dev, j.units, CPU_GRAIN / (unit_work + 1) + 1);
    if (a->has_affine) {
        j.partial = malloc(sizeof *j.partial * 2 * (size_t)(a->cols * j.parts));
        if (!j.partial) return false; /* the reference needs no scratch */
    }
    cpu_parallel_tasks(dev, j.parts, ln_back_part, &j);
    if (a->has_affine) {
        float *dgamma = CPU_F(a->dgamma), *dbeta = CPU_F(a->dbeta);
        for (int64_t c = 0; c < a->cols; c++) {
            float sg = 0.0f, sb = 0.0f;
            for (int64_t p = 0; p < j.parts; p++) {
                sg += j.partial[p * 2 * a->cols + c];
                sb += j.partial[p * 2 * a->cols + a->cols + c];
            }
            dgamma[c] += sg;
            dbeta[c] += sb;
        }
        free(j.partial);
    }
    return true;
}
