/* kernels_fast.c — see kernels_fast.h: the same bits as the reference kernels, without
 * their per-element multi-index arithmetic. */
#include "backend/cpu/kernels_fast.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/ref_basic.h"
#include "backend/nd.h"

/* ---- splitting independent work across the host's cores ------------------------------- */

typedef void (*range_fn)(const void *ctx, int64_t begin, int64_t end);

typedef struct range_job {
    range_fn fn;
    const void *ctx;
    int64_t begin, end;
} range_job;

static void *range_thread(void *p) {
    const range_job *j = p;
    j->fn(j->ctx, j->begin, j->end);
    return NULL;
}

#define MAX_THREADS 8

/* fn over [0, n) in up to one part per core, each at least `grain` long;
 * the calling thread takes the last part. A thread that cannot be started
 * leaves its part to the caller. The parts touch disjoint outputs, so the
 * result does not depend on the split. */
static _Atomic int thread_limit;

void rf_cpu_set_threads(int threads) { thread_limit = threads < 0 ? 0 : threads; }

static void parallel_for(int64_t n, int64_t grain, range_fn fn, const void *ctx) {
    long cores = thread_limit;
    if (cores <= 0) cores = sysconf(_SC_NPROCESSORS_ONLN);
    cores = cores < 1 ? 1 : (cores > MAX_THREADS ? MAX_THREADS : cores);
    int64_t parts = grain > 0 ? n / grain : 1;
    if (parts > cores) parts = cores;
    if (parts <= 1) {
        fn(ctx, 0, n);
        return;
    }
    pthread_t threads[MAX_THREADS];
    range_job jobs[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    for (int64_t p = 0; p < parts; p++) jobs[p] = (range_job){fn, ctx, n * p / parts, n * (p + 1) / parts};
    for (int64_t p = 0; p < parts - 1; p++) started[p] = pthread_create(&threads[p], NULL, range_thread, &jobs[p]) == 0;
    fn(ctx, jobs[parts - 1].begin, jobs[parts - 1].end);
    for (int64_t p = 0; p < parts - 1; p++) {
        if (started[p])
            pthread_join(threads[p], NULL);
        else
            fn(ctx, jobs[p].begin, jobs[p].end);
    }
}

/* Work below this many elements per part is not worth a thread. */
#define GRAIN (1 << 16)

static void unary_range(const void *p, int64_t b, int64_t e) {
    const rf_unary_args *a = p;
    rf_ref_unary_f32(a->op, e - b, CPU_CF(a->x) + b, CPU_F(a->y) + b, a->alpha, a->beta);
}

bool rf_cpu_fast_unary(const rf_unary_args *a) {
    parallel_for(a->n, GRAIN, unary_range, a);
    return true;
}

static void layernorm_range(const void *p, int64_t b, int64_t e) {
    const rf_layernorm_args *a = p;
    int64_t off = b * a->outer_stride;
    rf_ref_layernorm_f32(e - b, a->cols, 1, a->outer_stride, a->col_stride, a->eps, CPU_CF(a->x) + off,
                         a->has_affine ? CPU_CF(a->gamma) : NULL, a->has_affine ? CPU_CF(a->beta) : NULL,
                         CPU_F(a->y) + off, CPU_F(a->mean) + b, CPU_F(a->rstd) + b);
}

bool rf_cpu_fast_layernorm(const rf_layernorm_args *a) {
    if (a->inner != 1) return false; /* channel layer norms: rows interleave */
    parallel_for(a->rows, a->cols > 0 ? (GRAIN + a->cols - 1) / a->cols : a->rows, layernorm_range, a);
    return true;
}

/* Walks every index of the outer ndim - 1 axes, calling `inner` with the
 * operands' element offsets; the last axis is the inner loop's. */
typedef struct walk {
    int ndim;
    int64_t shape[RF_MAX_DIMS];
    int64_t stride[3][RF_MAX_DIMS];
    int nops;
} walk;

static void walk_init(walk *w, int ndim, const int64_t *shape, int nops, const int64_t *const *strides) {
    w->nops = nops;
    for (int i = 0; i < RF_MAX_DIMS; i++) {
        w->shape[i] = i < ndim ? shape[i] : 1;
        for (int k = 0; k < nops; k++) w->stride[k][i] = i < ndim ? strides[k][i] : 0;
    }
    int64_t *sp[3] = {w->stride[0], w->stride[1], w->stride[2]};
    w->ndim = rf_nd_collapse(ndim, w->shape, nops, (int64_t *const *)sp);
    if (w->ndim == 0) { /* one element */
        w->ndim = 1;
        w->shape[0] = 1;
    }
}

/* Offsets of outer index `o` (row-major over the first ndim - 1 axes). */
static void walk_offsets(const walk *w, int64_t o, int64_t *off) {
    for (int k = 0; k < w->nops; k++) off[k] = 0;
    for (int i = w->ndim - 2; i >= 0; i--) {
        int64_t q = o / w->shape[i], r = o - q * w->shape[i];
        for (int k = 0; k < w->nops; k++) off[k] += r * w->stride[k][i];
        o = q;
    }
}

static int64_t walk_outer(const walk *w) {
    int64_t n = 1;
    for (int i = 0; i < w->ndim - 1; i++) n *= w->shape[i];
    return n;
}

bool rf_cpu_fast_copy(const rf_copy_args *a) {
    if (a->accumulate) return false;
    const int64_t *strides[2] = {a->src.stride, a->dst.stride};
    walk w;
    walk_init(&w, a->ndim, a->shape, 2, strides);
    const float *src = CPU_VCF(a->src);
    float *dst = CPU_VF(a->dst);
    int64_t n = w.shape[w.ndim - 1], ss = w.stride[0][w.ndim - 1], sd = w.stride[1][w.ndim - 1];
    int64_t outer = walk_outer(&w), off[2];
    for (int64_t o = 0; o < outer; o++) {
        walk_offsets(&w, o, off);
        const float *s = src + off[0];
        float *d = dst + off[1];
        if (ss == 1 && sd == 1) {
            memcpy(d, s, sizeof *d * (size_t)n);
        } else if (ss == 0) {
            float v = *s;
            for (int64_t i = 0; i < n; i++) d[i * sd] = v;
        } else {
            for (int64_t i = 0; i < n; i++) d[i * sd] = s[i * ss];
        }
    }
    return true;
}

#define BINARY_LOOP(EXPR)                                                          \
    do {                                                                           \
        if (sa == 1 && sb == 1 && sy == 1)                                         \
            for (int64_t i = 0; i < n; i++) {                                      \
                float x = pa[i], z = pb[i];                                        \
                py[i] = EXPR;                                                      \
            }                                                                      \
        else if (sa == 1 && sb == 0 && sy == 1)                                    \
            for (int64_t i = 0; i < n; i++) {                                      \
                float x = pa[i], z = *pb;                                          \
                py[i] = EXPR;                                                      \
            }                                                                      \
        else                                                                       \
            for (int64_t i = 0; i < n; i++) {                                      \
                float x = pa[i * sa], z = pb[i * sb];                              \
                py[i * sy] = EXPR;                                                 \
            }                                                                      \
    } while (0)

bool rf_cpu_fast_binary(const rf_binary_args *a) {
    if (a->accumulate) return false;
    const int64_t *strides[3] = {a->a.stride, a->b.stride, a->y.stride};
    walk w;
    walk_init(&w, a->ndim, a->shape, 3, strides);
    const float *A = CPU_VCF(a->a), *B = CPU_VCF(a->b);
    float *Y = CPU_VF(a->y);
    int64_t n = w.shape[w.ndim - 1], outer = walk_outer(&w), off[3];
    int64_t sa = w.stride[0][w.ndim - 1], sb = w.stride[1][w.ndim - 1], sy = w.stride[2][w.ndim - 1];
    for (int64_t o = 0; o < outer; o++) {
        walk_offsets(&w, o, off);
        const float *pa = A + off[0], *pb = B + off[1];
        float *py = Y + off[2];
        switch (a->op) {
        case RF_BINARY_ADD: BINARY_LOOP(x + z); break;
        case RF_BINARY_SUB: BINARY_LOOP(x - z); break;
        case RF_BINARY_MUL: BINARY_LOOP(x * z); break;
        case RF_BINARY_DIV: BINARY_LOOP(x / z); break;
        default: return false;
        }
    }
    return true;
}

static void softmax_range(const void *p, int64_t begin, int64_t end) {
    const rf_softmax_args *a = p;
    const float *x = CPU_CF(a->x), *mask = a->has_mask ? CPU_CF(a->mask) : NULL;
    float *y = CPU_F(a->y);
    double stack[4096], *e = stack; /* rf_cpu_fast_softmax keeps rows within the stack scratch */
    for (int64_t r = begin; r < end; r++) {
        const float *row = x + r * a->cols;
        const float *mrow = mask ? mask + (r % a->mask_rows) * a->cols : NULL;
        float *out = y + r * a->cols;
        double mx = -INFINITY;
        for (int64_t c = 0; c < a->cols; c++) {
            double v = (double)row[c] + (mrow ? (double)mrow[c] : 0.0);
            if (v > mx) mx = v;
        }
        if (mx == -INFINITY) {
            for (int64_t c = 0; c < a->cols; c++) out[c] = 0;
            continue;
        }
        double sum = 0;
        for (int64_t c = 0; c < a->cols; c++) sum += e[c] = exp((double)row[c] + (mrow ? (double)mrow[c] : 0.0) - mx);
        for (int64_t c = 0; c < a->cols; c++) out[c] = (float)(e[c] / sum);
    }
}

bool rf_cpu_fast_softmax(const rf_softmax_args *a) {
    if (a->cols > 4096) return false;
    parallel_for(a->rows, a->cols > 0 ? (GRAIN + a->cols - 1) / a->cols : a->rows, softmax_range, a);
    return true;
}

typedef struct ranked {
    float v;
    int32_t i;
} ranked;

/* The reference's order: NaN first, then larger values, ties by index. */
static int rank_cmp(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    bool na = isnan(a->v), nb = isnan(b->v);
    if (na != nb) return na ? -1 : 1;
    if (!na && a->v != b->v) return a->v > b->v ? -1 : 1;
    return a->i < b->i ? -1 : (a->i > b->i);
}

bool rf_cpu_fast_topk(const rf_topk_args *a) {
    if (a->cols > INT32_MAX) return false;
    ranked *buf = malloc(sizeof *buf * (size_t)(a->cols > 0 ? a->cols : 1));
    if (!buf) return false;
    const float *x = CPU_CF(a->x);
    float *values = CPU_F(a->values);
    int32_t *indices = CPU_I(a->indices);
    for (int64_t r = 0; r < a->rows; r++) {
        const float *row = x + r * a->cols;
        for (int64_t c = 0; c < a->cols; c++) buf[c] = (ranked){row[c], (int32_t)c};
        qsort(buf, (size_t)a->cols, sizeof *buf, rank_cmp);
        for (int64_t t = 0; t < a->k; t++) {
            values[r * a->k + t] = buf[t].v;
            indices[r * a->k + t] = buf[t].i;
        }
    }
    free(buf);
    return true;
}
