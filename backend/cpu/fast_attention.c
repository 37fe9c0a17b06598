/* fast_attention.c — fused scaled dot-product attention in fast mode
 * (flash attention's method on the cpu).
 *
 * Forward: a task is one (batch, head) problem, or a run of its query tiles
 * when there are few problems. It turns the problem's keys once, a block of
 * TC keys at a time (head_dim x TC each, contiguous, so that a block's
 * scores are broadcast-multiply-adds along the keys) and pads its values;
 * then each tile of TR query rows walks the keys in blocks of TC: the tile's
 * TR x TC scores (in L1), then an online softmax (the running row maximum m
 * and sum l; the output so far is rescaled by e^(m_old - m_new) when the
 * maximum grows) and the product with the block's values. Only the row's log-sum-exp leaves the kernel; no
 * lq x lk matrix exists.
 *
 * Backward: a task is one (batch, head) problem, so that it alone sums dk and
 * dv over the query rows and dq over the key blocks, each in a fixed order:
 * the bits never depend on the thread count. Per key block (outer) and query
 * tile (inner) it recomputes the scores, rebuilds p = e^(s - lse), and forms
 * dv += p^T dout, dp = dout v^T, ds = p (dp - rowsum(dout * o)) scale,
 * dq += ds k, dk += ds^T q.
 *
 * The small products run on GCC's generic vectors of 16 floats (one AVX-512
 * register; two or four narrower ones elsewhere), under CPU_CLONES: the
 * same source is the AVX-512, AVX2 and baseline code. Operands whose rows
 * are not a multiple of 16 floats wide are copied into zero-padded tiles
 * first. head_dim and value_dim up to DMAX take this path; larger ones the
 * reference kernel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/amx_gemm.h"
#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/fast.h"
#include "backend/cpu/fast_math.h"

#define VL 16    /* floats per vector */
#define TR 32    /* query rows per tile */
#define TC 64    /* keys per block: 4 vectors of scores per row */
#define DMAX 256 /* widest head the fast kernel takes */

typedef float vf __attribute__((vector_size(VL * sizeof(float))));
/* The same vector at any float's address (unaligned, may alias floats);
 * macros rather than functions: a vector-valued function's ABI would
 * differ between the clones. */
typedef float vf_at __attribute__((vector_size(VL * sizeof(float)), aligned(4), may_alias));
#define vload(p) (*(const vf_at *)(p))
#define vstore(p, v) (*(vf_at *)(p) = (v))

static inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* s (TR x TC) = a (rows x depth; row r at a + r * lda, clamped to the last
 * valid row beyond `rows`) times bt (depth x TC; row p at bt + p * ldb), the
 * first nv vectors of each row of s only (a short last block of keys). */
static inline __attribute__((always_inline)) void scores_cols(int nv, const float *a, int64_t lda, int rows,
                                                              int64_t depth, const float *bt, int64_t ldb, float *s) {
    for (int r0 = 0; r0 < rows; r0 += 4) {
        const float *ar[4];
        for (int i = 0; i < 4; i++) ar[i] = a + (r0 + i < rows ? r0 + i : rows - 1) * lda;
        vf acc[4][4];
        for (int i = 0; i < 4; i++)
            for (int c = 0; c < nv; c++) acc[i][c] = (vf){0};
        for (int64_t p = 0; p < depth; p++) {
            const float *b = bt + p * ldb;
            vf bv[4];
            for (int c = 0; c < nv; c++) bv[c] = vload(b + c * VL);
            for (int i = 0; i < 4; i++) {
                float x = ar[i][p];
                for (int c = 0; c < nv; c++) acc[i][c] += x * bv[c];
            }
        }
        for (int i = 0; i < 4; i++)
            for (int c = 0; c < nv; c++) vstore(s + (r0 + i) * TC + c * VL, acc[i][c]);
    }
}

/* scores_cols for the n (<= TC) keys of a block. */
static inline __attribute__((always_inline)) void scores_tile(const float *a, int64_t lda, int rows, int64_t depth,
                                                              const float *bt, int64_t ldb, float *s, int64_t n) {
    switch ((n + VL - 1) / VL) {
    case 1: scores_cols(1, a, lda, rows, depth, bt, ldb, s); break;
    case 2: scores_cols(2, a, lda, rows, depth, bt, ldb, s); break;
    case 3: scores_cols(3, a, lda, rows, depth, bt, ldb, s); break;
    default: scores_cols(4, a, lda, rows, depth, bt, ldb, s); break;
    }
}

/* c (rows x width floats, row stride ldc; rows a multiple of 4, width a
 * multiple of VL) += X b, with X(i, t) = x[i * xi + t * xt] for t < n and
 * b's row t at b + t * ldb. Columns go 4 vectors at a time. */
static inline __attribute__((always_inline)) void accumulate_cols(int nv, int rows, int64_t n, const float *x,
                                                                  int64_t xi, int64_t xt, const float *b, int64_t ldb,
                                                                  float *c, int64_t ldc, int64_t col) {
    for (int r0 = 0; r0 < rows; r0 += 4) {
        vf acc[4][4];
        for (int i = 0; i < 4; i++)
            for (int v = 0; v < nv; v++) acc[i][v] = vload(c + (r0 + i) * ldc + col + v * VL);
        for (int64_t t = 0; t < n; t++) {
            const float *bt = b + t * ldb + col;
            vf bv[4];
            for (int v = 0; v < nv; v++) bv[v] = vload(bt + v * VL);
            for (int i = 0; i < 4; i++) {
                float xv = x[(r0 + i) * xi + t * xt];
                for (int v = 0; v < nv; v++) acc[i][v] += xv * bv[v];
            }
        }
        for (int i = 0; i < 4; i++)
            for (int v = 0; v < nv; v++) vstore(c + (r0 + i) * ldc + col + v * VL, acc[i][v]);
    }
}

static inline __attribute__((always_inline)) void accumulate(int rows, int64_t width, int64_t n, const float *x,
                                                             int64_t xi, int64_t xt, const float *b, int64_t ldb,
                                                             float *c, int64_t ldc) {
    int64_t col = 0;
    for (; col + 4 * VL <= width; col += 4 * VL) accumulate_cols(4, rows, n, x, xi, xt, b, ldb, c, ldc, col);
    switch ((width - col) / VL) {
    case 3: accumulate_cols(3, rows, n, x, xi, xt, b, ldb, c, ldc, col); break;
    case 2: accumulate_cols(2, rows, n, x, xi, xt, b, ldb, c, ldc, col); break;
    case 1: accumulate_cols(1, rows, n, x, xi, xt, b, ldb, c, ldc, col); break;
    default: break;
    }
}

/* dst (TC rows of width floats) = rows j < n of src (row stride ld, `cols`
 * valid floats each), zero elsewhere. */
static void pack_rows(const float *src, int64_t ld, int64_t n, int64_t cols, float *dst, int64_t width, int64_t dst_rows) {
    for (int64_t j = 0; j < dst_rows; j++) {
        float *d = dst + j * width;
        if (j < n) {
            memcpy(d, src + j * ld, sizeof *d * (size_t)cols);
            memset(d + cols, 0, sizeof *d * (size_t)(width - cols));
        } else {
            memset(d, 0, sizeof *d * (size_t)width);
        }
    }
}

typedef int vi __attribute__((vector_size(VL * sizeof(int))));

/* r = the lanes of (a, b) that idx picks (0 .. 2 VL - 1): GCC's two-vector
 * shuffle; clang has none with run-time indices, so it takes them one by
 * one. (A macro: vector arguments by value change the ABI.) */
#if defined(__clang__)
#define SHUFFLE2(r, a, b, idx)                                                                 \
    for (int k_ = 0; k_ < VL; k_++) (r)[k_] = (idx)[k_] < VL ? (a)[(idx)[k_]] : (b)[(idx)[k_] - VL]
#else
#define SHUFFLE2(r, a, b, idx) (r) = __builtin_shuffle((a), (b), (idx))
#endif

/* A 16 x 16 transpose in registers, in four stages: at stage S, rows i and
 * i + S (bit S of i clear) exchange their off-diagonal S-lane blocks
 * (lane indices past 15 pick from the second row). */
static inline __attribute__((always_inline)) void turn16(vf r[VL]) {
    static const vi lo[4] = {{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23},
                             {0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27},
                             {0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29},
                             {0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30}};
    static const vi hi[4] = {{8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31},
                             {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31},
                             {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31},
                             {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}};
    for (int stage = 0, step = 8; stage < 4; stage++, step /= 2)
        for (int i = 0; i < VL; i++)
            if (!(i & step)) {
                vf a = r[i], b = r[i + step];
                SHUFFLE2(r[i], a, b, lo[stage]);
                SHUFFLE2(r[i + step], a, b, hi[stage]);
            }
}

/* dst (depth x width, width a multiple of TC >= n) = rows j < n of src (row
 * stride ld) turned: dst[p][j] = src[j][p]; columns past n are zeros.
 * Whole 16 x 16 blocks turn in registers, the edges element by element. */
CPU_CLONES static void pack_turned(const float *src, int64_t ld, int64_t n, int64_t depth, float *dst, int64_t width) {
    int64_t j = 0, p16 = depth / VL * VL;
    for (; j + VL <= n; j += VL) {
        /* The next block's rows, a row of the (strided) source apart, are
         * beyond what the hardware prefetcher follows. */
        for (int64_t i = j + VL; i < j + 2 * VL && i < n; i++)
            for (int64_t p = 0; p < depth; p += 16) __builtin_prefetch(src + i * ld + p, 0, 3);
        for (int64_t p = 0; p < p16; p += VL) {
            vf r[VL];
            for (int i = 0; i < VL; i++) r[i] = vload(src + (j + i) * ld + p);
            turn16(r);
            for (int i = 0; i < VL; i++) vstore(dst + (p + i) * width + j, r[i]);
        }
        for (int64_t p = p16; p < depth; p++)
            for (int i = 0; i < VL; i++) dst[p * width + j + i] = src[(j + i) * ld + p];
    }
    for (; j < n; j++)
        for (int64_t p = 0; p < depth; p++) dst[p * width + j] = src[j * ld + p];
    for (int64_t p = 0; p < depth; p++)
        for (int64_t c = n; c < width; c++) dst[p * width + c] = 0.0f;
}

/* Lanes of a where gt is set, of b elsewhere (C has no ?: on vectors; a
 * macro for the reason vload is one). */
#define vf_select(gt, a, b) ((vf)(((vi)(a) & (gt)) | ((vi)(b) & ~(gt))))

/* The maximum of one row of TC scores, in registers (a tree of shuffles,
 * not lane by lane through memory). NaN never wins, as in the reference's
 * `if (v > mx)`. */
static inline __attribute__((always_inline)) float tile_row_max(const float *s) {
    vf m = vload(s);
    for (int c = VL; c < TC; c += VL) {
        vf x = vload(s + c);
        m = vf_select(x > m, x, m);
    }
    vf t = __builtin_shufflevector(m, m, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
    m = vf_select(t > m, t, m);
    t = __builtin_shufflevector(m, m, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7);
    m = vf_select(t > m, t, m);
    t = __builtin_shufflevector(m, m, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    m = vf_select(t > m, t, m);
    t = __builtin_shufflevector(m, m, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    m = vf_select(t > m, t, m);
    return m[0];
}

/* The sum of one row of TC scores: 16 interleaved partial sums combined
 * pairwise (rf_lanes_combine's order, so the same bits), in registers. */
static inline __attribute__((always_inline)) float tile_row_sum(const float *s) {
    vf t = vload(s);
    for (int c = VL; c < TC; c += VL) t += vload(s + c);
    t += __builtin_shufflevector(t, t, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
    t += __builtin_shufflevector(t, t, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7);
    t += __builtin_shufflevector(t, t, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    t += __builtin_shufflevector(t, t, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    return t[0];
}

/* Row r's scores of a block: scale, mask (columns < n), -inf past n. */
static inline void finish_scores(float *s, float scale, const float *mask_row, int64_t n) {
    if (mask_row)
        for (int64_t j = 0; j < n; j++) s[j] = s[j] * scale + mask_row[j];
    else
        for (int64_t j = 0; j < n; j++) s[j] *= scale;
    for (int64_t j = n; j < TC; j++) s[j] = -INFINITY;
}

/* Problem (b, h)'s first element of a view. */
static inline const float *problem(rf_view v, int64_t b, int64_t h) {
    return CPU_VCF(v) + b * v.stride[0] + h * v.stride[1];
}

/* ---- forward ------------------------------------------------------------------------------ */

typedef struct fwd_job {
    const rf_device *dev;
    const rf_attention_args *a;
    int64_t chunks; /* tasks per problem, each a run of query tiles */
    bool amx;       /* bf16 products on AMX */
    int failed;
} fwd_job;

/* Per task: the problem's keys turned (kt, blocks of head_dim x TC)
 * and values padded (vb, lk rows of value_dim rounded up to VL), packed
 * once for all its query tiles, and one tile's working set. */
typedef struct fwd_scratch {
    float *kt, *vb;
    float s[TR * TC], o[TR * DMAX], m[TR], l[TR];
} fwd_scratch;

CPU_CLONES static void forward_tile(const rf_attention_args *a, int64_t bh, int64_t tile, fwd_scratch *w) {
    int64_t b = bh / a->heads, h = bh % a->heads, d = a->head_dim, dv = a->value_dim, dvp = round_up(dv, VL);
    int64_t r0 = tile * TR;
    int rows = (int)(a->lq - r0 < TR ? a->lq - r0 : TR), rows4 = (int)round_up(rows, 4);
    const float *q = problem(a->q, b, h) + r0 * a->q.stride[2];
    const float *mask = a->has_mask ? CPU_CF(a->mask) + r0 * a->lk : NULL;
    float *o = (float *)problem(a->o, b, h) + r0 * a->o.stride[2];
    /* The tile's output rows are rarely in cache: ask for them now, for
     * writing, so that the stores at the end do not wait on memory. */
    for (int r = 0; r < rows; r++)
        for (int64_t c = 0; c < dv; c += 16) __builtin_prefetch(o + r * a->o.stride[2] + c, 1, 3);
    for (int r = 0; r < TR; r++) w->m[r] = -INFINITY, w->l[r] = 0.0f;
    memset(w->o, 0, sizeof(float) * (size_t)(rows4 * dvp));
    for (int64_t k0 = 0; k0 < a->lk; k0 += TC) {
        int64_t n = a->lk - k0 < TC ? a->lk - k0 : TC;
        scores_tile(q, a->q.stride[2], rows, d, w->kt + k0 * d, TC, w->s, n);
        for (int r = 0; r < rows; r++) {
            float *s = w->s + r * TC;
            finish_scores(s, a->scale, mask ? mask + r * a->lk + k0 : NULL, n);
            float m_new = tile_row_max(s);
            m_new = m_new > w->m[r] ? m_new : w->m[r];
            if (m_new == -INFINITY) { /* nothing unmasked yet: nothing to add */
                memset(s, 0, sizeof *s * TC);
                continue;
            }
            for (int j = 0; j < TC; j++) s[j] = rf_expf_nonpos(s[j] - m_new);
            float correction = rf_expf_nonpos(w->m[r] - m_new);
            w->l[r] = w->l[r] * correction + tile_row_sum(s);
            if (correction != 1.0f)
                for (int64_t c = 0; c < dvp; c++) w->o[r * dvp + c] *= correction;
            w->m[r] = m_new;
        }
        memset(w->s + rows * TC, 0, sizeof(float) * (size_t)((rows4 - rows) * TC));
        accumulate(rows4, dvp, n, w->s, TC, 1, w->vb + k0 * dvp, dvp, w->o, dvp);
    }
    float *lse = CPU_F(a->lse) + bh * a->lq + r0;
    for (int r = 0; r < rows; r++) {
        float l = w->l[r], inv = l > 0.0f ? 1.0f / l : 0.0f;
        for (int64_t c = 0; c < dv; c++) o[r * a->o.stride[2] + c] = w->o[r * dvp + c] * inv;
        lse[r] = l > 0.0f ? w->m[r] + rf_logf(l) : -INFINITY;
    }
}

static bool amx_forward_tiles(const rf_device *dev, int thread, const rf_attention_args *a, int64_t bh,
                              int64_t tile_begin, int64_t tile_end);

/* Whether the products of this call run in bf16 on AMX: as the device's
 * bf16 GEMMs do (cpu_gemm.c). */
static bool amx_products(const rf_device *dev, rf_precision compute) {
    return compute == RF_PRECISION_BF16 && ((const cpu_state *)dev->native)->bf16_products == RF_CPU_BF16_AMX &&
           rf_cpu_amx_bf16_available();
}

static void forward_task(void *p, int64_t t, int thread) {
    fwd_job *j = p;
    const rf_attention_args *a = j->a;
    int64_t bh = t / j->chunks, chunk = t % j->chunks, tiles = (a->lq + TR - 1) / TR;
    if (j->amx) {
        if (!amx_forward_tiles(j->dev, thread, a, bh, cpu_part_begin(tiles, j->chunks, chunk),
                               cpu_part_begin(tiles, j->chunks, chunk + 1)))
            __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    int64_t lkp = round_up(a->lk, TC), dvp = round_up(a->value_dim, VL);
    size_t kt_bytes = sizeof(float) * (size_t)(a->head_dim * lkp), vb_bytes = sizeof(float) * (size_t)(lkp * dvp);
    char *at = cpu_task_memory(j->dev, thread, cpu_lines(sizeof(fwd_scratch)) + cpu_lines(kt_bytes) + cpu_lines(vb_bytes));
    if (at) {
        int64_t b = bh / a->heads, h = bh % a->heads;
        fwd_scratch *w = cpu_carve(&at, sizeof *w);
        w->kt = cpu_carve(&at, kt_bytes);
        w->vb = cpu_carve(&at, vb_bytes);
        for (int64_t k0 = 0; k0 < a->lk; k0 += TC)
            pack_turned(problem(a->k, b, h) + k0 * a->k.stride[2], a->k.stride[2], a->lk - k0 < TC ? a->lk - k0 : TC,
                        a->head_dim, w->kt + k0 * a->head_dim, TC);
        pack_rows(problem(a->v, b, h), a->v.stride[2], a->lk, a->value_dim, w->vb, dvp, a->lk);
        for (int64_t tile = cpu_part_begin(tiles, j->chunks, chunk); tile < cpu_part_begin(tiles, j->chunks, chunk + 1); tile++)
            forward_tile(a, bh, tile, w);
    } else {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
    }
}

/* Tasks: whole problems when there are enough of them to share out;
 * otherwise each problem's query tiles in a few runs (each run packs the
 * problem's keys again). Rows are independent, so the split never changes
 * a result. */
#define ATTN_MIN_TASKS 8

bool cpu_fast_attention(rf_device *dev, const rf_attention_args *a) {
    if (a->head_dim > DMAX || a->value_dim > DMAX || a->lk < 1) return false;
    int64_t problems = a->batch * a->heads, tiles = (a->lq + TR - 1) / TR;
    int64_t chunks = (ATTN_MIN_TASKS + problems - 1) / problems;
    fwd_job j = {dev, a, chunks < tiles ? chunks : (tiles > 0 ? tiles : 1), amx_products(dev, a->compute), 0};
    cpu_parallel_tasks(dev, problems * j.chunks, forward_task, &j);
    return !j.failed;
}

/* ---- backward ----------------------------------------------------------------------------- */

typedef struct bwd_job {
    const rf_device *dev;
    const rf_attention_backward_args *a;
    bool amx; /* bf16 products on AMX */
    int failed;
} bwd_job;

typedef struct bwd_scratch {
    float kt[DMAX * TC], kb[TC * DMAX], vt[DMAX * TC], dk[TC * DMAX], dv[TC * DMAX];
    float p[TR * TC], dp[TR * TC], qb[TR * DMAX], gb[TR * DMAX], dq[TR * DMAX];
} bwd_scratch;

static inline float dot(const float *x, const float *y, int64_t n) {
    float t[VL] = {0};
    int64_t c = 0;
    for (; c + VL <= n; c += VL)
        for (int l = 0; l < VL; l++) t[l] += x[c + l] * y[c + l];
    float u[VL] = {0};
    for (int l = 0; c < n; c++, l++) u[l] = x[c] * y[c];
    rf_lanes_add(t, u);
    return rf_lanes_combine(t);
}

/* A tile's p = e^(s - lse) and ds = p (dp - rowdot) scale, row by row, in
 * w->p and w->dp (s and dp as the products left them); zeros past n keys
 * and in fully masked rows. Shared by the f32 and the AMX backward passes. */
static inline __attribute__((always_inline)) void backward_rows(const rf_attention_backward_args *a, bwd_scratch *w,
                                                                const float *lse, const float *rowdot, int64_t r0,
                                                                int rows, int64_t k0, int64_t n) {
    const float scale = a->scale; /* in a local: a store to dp could otherwise alias *a, and the loop stays scalar */
    const float *mask = a->has_mask ? CPU_CF(a->mask) : NULL;
    for (int r = 0; r < rows; r++) {
        float *p = w->p + r * TC, *dp = w->dp + r * TC, m = lse[r], rd = rowdot[r];
        finish_scores(p, a->scale, mask ? mask + (r0 + r) * a->lk + k0 : NULL, n);
        if (m == -INFINITY) {
            memset(p, 0, sizeof *p * TC);
            memset(dp, 0, sizeof *dp * TC);
            continue;
        }
        /* s - lse is at most a rounding error above 0: the full exp. */
        for (int j = 0; j < TC; j++) p[j] = rf_expf(p[j] - m);
        for (int64_t j = 0; j < n; j++) dp[j] = p[j] * (dp[j] - rd) * scale;
        for (int64_t j = n; j < TC; j++) dp[j] = 0.0f; /* past n: unset */
    }
}

/* dq's rows of a tile = (first key block) or += the block's sums. */
static inline void add_dq_tile(const rf_attention_backward_args *a, float *dq, const float *src, int64_t ld, int rows,
                               bool first) {
    for (int r = 0; r < rows; r++) {
        float *dst = dq + r * a->dq.stride[2];
        if (first)
            memcpy(dst, src + r * ld, sizeof *dst * (size_t)a->head_dim);
        else
            for (int64_t c = 0; c < a->head_dim; c++) dst[c] += src[r * ld + c];
    }
}

/* A key block's dk and dv rows from the scratch sums. */
static inline void store_dk_dv(const rf_attention_backward_args *a, float *dk, float *dv, const bwd_scratch *w,
                               int64_t dk_ld, int64_t dv_ld, int64_t n) {
    for (int64_t j = 0; j < n; j++) {
        memcpy(dk + j * a->dk.stride[2], w->dk + j * dk_ld, sizeof(float) * (size_t)a->head_dim);
        memcpy(dv + j * a->dv.stride[2], w->dv + j * dv_ld, sizeof(float) * (size_t)a->value_dim);
    }
}

CPU_CLONES static void backward_problem(const rf_attention_backward_args *a, int64_t bh, bwd_scratch *w, float *rowdot) {
    int64_t b = bh / a->heads, h = bh % a->heads, d = a->head_dim, dv = a->value_dim;
    int64_t dp_w = round_up(d, VL), dvp = round_up(dv, VL);
    int64_t qs = a->q.stride[2], ks = a->k.stride[2], vs = a->v.stride[2], os = a->o.stride[2], gs = a->dout.stride[2];
    const float *q = problem(a->q, b, h), *k = problem(a->k, b, h), *v = problem(a->v, b, h);
    const float *o = problem(a->o, b, h), *g = problem(a->dout, b, h);
    const float *lse = CPU_CF(a->lse) + bh * a->lq;
    float *dq = (float *)problem(a->dq, b, h), *dk = (float *)problem(a->dk, b, h), *dvo = (float *)problem(a->dv, b, h);
    for (int64_t i = 0; i < a->lq; i++) rowdot[i] = dot(g + i * gs, o + i * os, dv);
    for (int64_t k0 = 0; k0 < a->lk; k0 += TC) {
        int64_t n = a->lk - k0 < TC ? a->lk - k0 : TC;
        pack_turned(k + k0 * ks, ks, n, d, w->kt, TC);
        pack_rows(k + k0 * ks, ks, n, d, w->kb, dp_w, n);
        pack_turned(v + k0 * vs, vs, n, dv, w->vt, TC);
        memset(w->dk, 0, sizeof(float) * (size_t)(TC * dp_w));
        memset(w->dv, 0, sizeof(float) * (size_t)(TC * dvp));
        for (int64_t r0 = 0; r0 < a->lq; r0 += TR) {
            int rows = (int)(a->lq - r0 < TR ? a->lq - r0 : TR), rows4 = (int)round_up(rows, 4);
            scores_tile(q + r0 * qs, qs, rows, d, w->kt, TC, w->p, n);
            scores_tile(g + r0 * gs, gs, rows, dv, w->vt, TC, w->dp, n);
            backward_rows(a, w, lse + r0, rowdot + r0, r0, rows, k0, n);
            memset(w->p + rows * TC, 0, sizeof(float) * (size_t)((rows4 - rows) * TC));
            memset(w->dp + rows * TC, 0, sizeof(float) * (size_t)((rows4 - rows) * TC));
            pack_rows(q + r0 * qs, qs, rows, d, w->qb, dp_w, rows);
            pack_rows(g + r0 * gs, gs, rows, dv, w->gb, dvp, rows);
            int keys4 = (int)round_up(n, 4);
            accumulate(keys4, dvp, rows, w->p, 1, TC, w->gb, dvp, w->dv, dvp);  /* dv += p^T dout */
            accumulate(keys4, dp_w, rows, w->dp, 1, TC, w->qb, dp_w, w->dk, dp_w); /* dk += ds^T q */
            memset(w->dq, 0, sizeof(float) * (size_t)(rows4 * dp_w));
            accumulate(rows4, dp_w, n, w->dp, TC, 1, w->kb, dp_w, w->dq, dp_w); /* dq (+)= ds k */
            add_dq_tile(a, dq + r0 * a->dq.stride[2], w->dq, dp_w, rows, k0 == 0);
        }
        store_dk_dv(a, dk + k0 * a->dk.stride[2], dvo + k0 * a->dv.stride[2], w, dp_w, dvp, n);
    }
}

/* ---- bf16 products on AMX ------------------------------------------------------------------
 * With compute = bf16 and AMX (the device's bf16 products, cpu_backend.h),
 * every product of the two passes runs on the tile unit from operands packed
 * by amx_gemm.c (rounded to bf16 as they are packed: q, k, v, dout, and the
 * probabilities and ds of each tile), with f32 sums; the softmax, its
 * statistics and the accumulators stay f32, in the same tiles and order as
 * above. Each problem's operands are packed once in every layout its
 * products read (a packed B of all keys or all query rows serves each
 * block as an offset); the per-tile probabilities are packed per product.
 * The tiles are configured once per task. */

/* The f32 work around the products, compiled for the AVX-512 that every
 * CPU with AMX has. */
#if defined(__GNUC__) && defined(__x86_64__)
#define AMX_HOST __attribute__((target("arch=x86-64-v4")))
#else
#define AMX_HOST
#endif

/* One problem's operands for the tile unit, and their strides. */
typedef struct amx_problem {
    uint16_t *q_a, *g_a;     /* q, dout as A: rows of round_up(d / dv, 32) */
    uint16_t *kt_b, *vt_b;   /* k^T, v^T as B: panels of keys */
    uint16_t *k_b, *v_b;     /* k, v as B: panels of d / dv columns, pairs of keys */
    uint16_t *q_b, *g_b;     /* q, dout as B: pairs of query rows */
    uint16_t *pa;            /* one tile's probabilities / ds as A */
    uint16_t *q_tile;        /* forward: one query tile as A */
    int64_t dk32, dv32, lq32, lk32;
} amx_problem;

/* The packed operands' sizes in bf16 elements: forward's (kt_b, pa, v_b,
 * q_tile), then backward's (kt_b, pa, q_a, g_a, vt_b, k_b, q_b, g_b). */
static int amx_problem_sizes(int64_t lq, int64_t lk, int64_t d, int64_t dv, bool backward, size_t sizes[8]) {
    sizes[0] = rf_cpu_amx_packed_b_elements(d, lk);
    sizes[1] = rf_cpu_amx_packed_a_elements(TC, TC);
    if (!backward) {
        sizes[2] = rf_cpu_amx_packed_b_elements(lk, dv);
        sizes[3] = rf_cpu_amx_packed_a_elements(TR, d);
        return 4;
    }
    sizes[2] = rf_cpu_amx_packed_a_elements(lq, d);
    sizes[3] = rf_cpu_amx_packed_a_elements(lq, dv);
    sizes[4] = rf_cpu_amx_packed_b_elements(dv, lk);
    sizes[5] = rf_cpu_amx_packed_b_elements(lk, d);
    sizes[6] = rf_cpu_amx_packed_b_elements(lq, d);
    sizes[7] = rf_cpu_amx_packed_b_elements(lq, dv);
    return 8;
}

/* Bytes of working memory amx_problem_pack carves, 64-byte blocks each. */
static size_t amx_problem_bytes(int64_t lq, int64_t lk, int64_t d, int64_t dv, bool backward) {
    size_t sizes[8], bytes = 0;
    for (int i = 0, n = amx_problem_sizes(lq, lk, d, dv, backward, sizes); i < n; i++) bytes += cpu_lines(2 * sizes[i]);
    return bytes;
}

/* Packs what the forward pass (backward false) or the backward pass reads,
 * in working memory from *at (amx_problem_bytes of it). */
static void amx_problem_pack(amx_problem *p, char **at, int64_t lq, int64_t lk, int64_t d, int64_t dv, const float *q,
                             int64_t qs, const float *k, int64_t ks, const float *v, int64_t vs, const float *g,
                             int64_t gs, bool backward) {
    memset(p, 0, sizeof *p);
    p->dk32 = round_up(d, 32), p->dv32 = round_up(dv, 32), p->lq32 = round_up(lq, 32), p->lk32 = round_up(lk, 32);
    size_t sizes[8];
    amx_problem_sizes(lq, lk, d, dv, backward, sizes);
    p->kt_b = cpu_carve(at, 2 * sizes[0]);
    p->pa = cpu_carve(at, 2 * sizes[1]);
    rf_cpu_amx_pack_b(true, d, lk, k, ks, p->kt_b);
    if (!backward) {
        p->v_b = cpu_carve(at, 2 * sizes[2]);
        p->q_tile = cpu_carve(at, 2 * sizes[3]);
        rf_cpu_amx_pack_b(false, lk, dv, v, vs, p->v_b);
        return;
    }
    p->q_a = cpu_carve(at, 2 * sizes[2]);
    p->g_a = cpu_carve(at, 2 * sizes[3]);
    p->vt_b = cpu_carve(at, 2 * sizes[4]);
    p->k_b = cpu_carve(at, 2 * sizes[5]);
    p->q_b = cpu_carve(at, 2 * sizes[6]);
    p->g_b = cpu_carve(at, 2 * sizes[7]);
    rf_cpu_amx_pack_a(false, lq, d, q, qs, p->q_a);
    rf_cpu_amx_pack_a(false, lq, dv, g, gs, p->g_a);
    rf_cpu_amx_pack_b(true, dv, lk, v, vs, p->vt_b);
    rf_cpu_amx_pack_b(false, lk, d, k, ks, p->k_b);
    rf_cpu_amx_pack_b(false, lq, d, q, qs, p->q_b);
    rf_cpu_amx_pack_b(false, lq, dv, g, gs, p->g_b);
}

/* The forward pass of query tile `tile` of problem bh (forward_tile's
 * steps, with the products on tiles). */
AMX_HOST static void amx_forward_tile(const rf_attention_args *a, int64_t bh, int64_t tile, fwd_scratch *w, amx_problem *p) {
    int64_t b = bh / a->heads, h = bh % a->heads, d = a->head_dim, dv = a->value_dim, dvp = round_up(dv, VL);
    int64_t r0 = tile * TR;
    int rows = (int)(a->lq - r0 < TR ? a->lq - r0 : TR);
    const float *mask = a->has_mask ? CPU_CF(a->mask) + r0 * a->lk : NULL;
    uint16_t *q_a = p->q_tile;
    rf_cpu_amx_pack_a(false, rows, d, problem(a->q, b, h) + r0 * a->q.stride[2], a->q.stride[2], q_a);
    for (int r = 0; r < TR; r++) w->m[r] = -INFINITY, w->l[r] = 0.0f;
    memset(w->o, 0, sizeof(float) * (size_t)(TR * dvp));
    for (int64_t k0 = 0; k0 < a->lk; k0 += TC) {
        int64_t n = a->lk - k0 < TC ? a->lk - k0 : TC;
        rf_cpu_amx_tiles(rows, n, d, q_a, p->dk32, p->kt_b + k0 / 16 * (p->dk32 * 16), p->dk32 * 16, w->s, TC, false);
        for (int r = 0; r < rows; r++) {
            float *s = w->s + r * TC;
            finish_scores(s, a->scale, mask ? mask + r * a->lk + k0 : NULL, n);
            float m_new = tile_row_max(s);
            m_new = m_new > w->m[r] ? m_new : w->m[r];
            if (m_new == -INFINITY) {
                memset(s, 0, sizeof *s * TC);
                continue;
            }
            for (int j = 0; j < TC; j++) s[j] = rf_expf_nonpos(s[j] - m_new);
            float correction = rf_expf_nonpos(w->m[r] - m_new);
            w->l[r] = w->l[r] * correction + tile_row_sum(s);
            if (correction != 1.0f)
                for (int64_t c = 0; c < dvp; c++) w->o[r * dvp + c] *= correction;
            w->m[r] = m_new;
        }
        rf_cpu_amx_pack_a(false, rows, n, w->s, TC, p->pa);
        rf_cpu_amx_tiles(rows, dv, n, p->pa, round_up(n, 32), p->v_b + k0 * 16, p->lk32 * 16, w->o, dvp, true);
    }
    float *o = (float *)problem(a->o, b, h) + r0 * a->o.stride[2];
    float *lse = CPU_F(a->lse) + bh * a->lq + r0;
    for (int r = 0; r < rows; r++) {
        float l = w->l[r], inv = l > 0.0f ? 1.0f / l : 0.0f;
        for (int64_t c = 0; c < dv; c++) o[r * a->o.stride[2] + c] = w->o[r * dvp + c] * inv;
        lse[r] = l > 0.0f ? w->m[r] + rf_logf(l) : -INFINITY;
    }
}

/* backward_problem's steps with the products on tiles. */
AMX_HOST static void amx_backward_problem(const rf_attention_backward_args *a, int64_t bh, bwd_scratch *w, float *rowdot,
                                 const amx_problem *p) {
    int64_t b = bh / a->heads, h = bh % a->heads, d = a->head_dim, dv = a->value_dim;
    int64_t dp_w = round_up(d, VL), dvp = round_up(dv, VL);
    int64_t os = a->o.stride[2], gs = a->dout.stride[2];
    const float *o = problem(a->o, b, h), *g = problem(a->dout, b, h);
    const float *lse = CPU_CF(a->lse) + bh * a->lq;
    float *dq = (float *)problem(a->dq, b, h), *dk = (float *)problem(a->dk, b, h), *dvo = (float *)problem(a->dv, b, h);
    int64_t keys_panel = p->lk32 * 16, rows_panel = p->lq32 * 16;
    for (int64_t i = 0; i < a->lq; i++) rowdot[i] = dot(g + i * gs, o + i * os, dv);
    for (int64_t k0 = 0; k0 < a->lk; k0 += TC) {
        int64_t n = a->lk - k0 < TC ? a->lk - k0 : TC, n32 = round_up(n, 32);
        memset(w->dk, 0, sizeof(float) * (size_t)(TC * dp_w));
        memset(w->dv, 0, sizeof(float) * (size_t)(TC * dvp));
        for (int64_t r0 = 0; r0 < a->lq; r0 += TR) {
            int rows = (int)(a->lq - r0 < TR ? a->lq - r0 : TR);
            rf_cpu_amx_tiles(rows, n, d, p->q_a + r0 * p->dk32, p->dk32, p->kt_b + k0 / 16 * (p->dk32 * 16),
                             p->dk32 * 16, w->p, TC, false);
            rf_cpu_amx_tiles(rows, n, dv, p->g_a + r0 * p->dv32, p->dv32, p->vt_b + k0 / 16 * (p->dv32 * 16),
                             p->dv32 * 16, w->dp, TC, false);
            backward_rows(a, w, lse + r0, rowdot + r0, r0, rows, k0, n);
            /* dv += p^T dout, dk += ds^T q: the tile's rows are the sum's k */
            rf_cpu_amx_pack_a(true, n, rows, w->p, TC, p->pa);
            rf_cpu_amx_tiles(n, dv, rows, p->pa, 32, p->g_b + r0 * 16, rows_panel, w->dv, dvp, true);
            rf_cpu_amx_pack_a(true, n, rows, w->dp, TC, p->pa);
            rf_cpu_amx_tiles(n, d, rows, p->pa, 32, p->q_b + r0 * 16, rows_panel, w->dk, dp_w, true);
            /* dq (+)= ds k */
            rf_cpu_amx_pack_a(false, rows, n, w->dp, TC, p->pa);
            rf_cpu_amx_tiles(rows, d, n, p->pa, n32, p->k_b + k0 * 16, keys_panel, w->dq, dp_w, false);
            add_dq_tile(a, dq + r0 * a->dq.stride[2], w->dq, dp_w, rows, k0 == 0);
        }
        store_dk_dv(a, dk + k0 * a->dk.stride[2], dvo + k0 * a->dv.stride[2], w, dp_w, dvp, n);
    }
}

static bool amx_forward_tiles(const rf_device *dev, int thread, const rf_attention_args *a, int64_t bh,
                              int64_t tile_begin, int64_t tile_end) {
    int64_t b = bh / a->heads, h = bh % a->heads;
    char *at = cpu_task_memory(dev, thread, cpu_lines(sizeof(fwd_scratch)) +
                                                amx_problem_bytes(a->lq, a->lk, a->head_dim, a->value_dim, false));
    if (!at) return false;
    fwd_scratch *w = cpu_carve(&at, sizeof *w);
    amx_problem p;
    amx_problem_pack(&p, &at, a->lq, a->lk, a->head_dim, a->value_dim, NULL, 0, problem(a->k, b, h), a->k.stride[2],
                     problem(a->v, b, h), a->v.stride[2], NULL, 0, false);
    rf_cpu_amx_configure_tiles();
    for (int64_t tile = tile_begin; tile < tile_end; tile++) amx_forward_tile(a, bh, tile, w, &p);
    rf_cpu_amx_release_tiles();
    return true;
}

static void backward_task(void *p, int64_t t, int thread) {
    bwd_job *j = p;
    const rf_attention_backward_args *a = j->a;
    size_t rowdot_bytes = sizeof(float) * (size_t)(a->lq > 0 ? a->lq : 1);
    size_t packed = j->amx ? amx_problem_bytes(a->lq, a->lk, a->head_dim, a->value_dim, true) : 0;
    char *at = cpu_task_memory(j->dev, thread, cpu_lines(sizeof(bwd_scratch)) + cpu_lines(rowdot_bytes) + packed);
    if (!at) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    bwd_scratch *w = cpu_carve(&at, sizeof *w);
    float *rowdot = cpu_carve(&at, rowdot_bytes);
    if (!j->amx) {
        backward_problem(a, t, w, rowdot);
        return;
    }
    int64_t b = t / a->heads, h = t % a->heads;
    amx_problem pk;
    amx_problem_pack(&pk, &at, a->lq, a->lk, a->head_dim, a->value_dim, problem(a->q, b, h), a->q.stride[2],
                     problem(a->k, b, h), a->k.stride[2], problem(a->v, b, h), a->v.stride[2], problem(a->dout, b, h),
                     a->dout.stride[2], true);
    rf_cpu_amx_configure_tiles();
    amx_backward_problem(a, t, w, rowdot, &pk);
    rf_cpu_amx_release_tiles();
}

bool cpu_fast_attention_backward(rf_device *dev, const rf_attention_backward_args *a) {
    if (a->head_dim > DMAX || a->value_dim > DMAX || a->lk < 1) return false;
    bwd_job j = {dev, a, amx_products(dev, a->compute), 0};
    cpu_parallel_tasks(dev, a->batch * a->heads, backward_task, &j);
    return !j.failed;
}
