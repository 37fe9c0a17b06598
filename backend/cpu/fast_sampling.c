/* fast_sampling.c — the sampling family in fast mode (fast.h).
 *
 * Deformable attention computes each sample's four bilinear taps once and
 * then works on whole head_dim rows of the value tensor (contiguous, so the
 * channel loops vectorize). Its value gradient is split by (image, head):
 * each task owns those value rows and adds the samples in the reference's
 * (query, level, point) order, so no two threads write one element and the
 * result does not depend on the split. Pixel coordinates are computed in
 * float without fused multiply-adds (this file is built with
 * -ffp-contract=off) so every sample picks the reference's corners.
 *
 * Grid sample (not on the model's path) runs the reference per image;
 * gathers copy rows; top-k selects and sorts each row's first k by the
 * reference's total order, which has exactly one answer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/fast.h"
#include "backend/cpu/fast_math.h"
#include "backend/cpu/ref_sampling.h"
#include "backend/kernels/device.h"
#undef RF_S
#undef RF_SN
#define RF_S float
#define RF_SN(name) name##_f32
#include "backend/kernels/sampling_taps.h"

/* ---- grid sample: the reference, one image per task ------------------------------------------ */

static void grid_sample_range(void *p, int64_t b, int64_t e) {
    const rf_grid_sample_args *a = p;
    for (int64_t i = b; i < e; i++)
        rf_ref_grid_sample_f32(1, a->c, a->h, a->w, a->ho, a->wo, CPU_CF(a->x) + i * a->c * a->h * a->w,
                               CPU_CF(a->grid) + i * a->ho * a->wo * 2, CPU_F(a->y) + i * a->c * a->ho * a->wo);
}

bool cpu_fast_grid_sample(rf_device *dev, const rf_grid_sample_args *a) {
    cpu_parallel_range(dev, a->n, 1, grid_sample_range, (void *)a);
    return true;
}

static void grid_sample_backward_range(void *p, int64_t b, int64_t e) {
    const rf_grid_sample_backward_args *a = p;
    for (int64_t i = b; i < e; i++)
        rf_ref_grid_sample_backward_f32(1, a->c, a->h, a->w, a->ho, a->wo, CPU_CF(a->x) + i * a->c * a->h * a->w,
                                        CPU_CF(a->grid) + i * a->ho * a->wo * 2,
                                        CPU_CF(a->dy) + i * a->c * a->ho * a->wo,
                                        a->has_dx ? CPU_F(a->dx) + i * a->c * a->h * a->w : NULL,
                                        a->has_dgrid ? CPU_F(a->dgrid) + i * a->ho * a->wo * 2 : NULL, a->accumulate);
}

bool cpu_fast_grid_sample_backward(rf_device *dev, const rf_grid_sample_backward_args *a) {
    cpu_parallel_range(dev, a->n, 1, grid_sample_backward_range, (void *)a);
    return true;
}

/* ---- deformable attention ------------------------------------------------------------------- */

/* The four taps of one sample (backend/kernels/sampling_taps.h, in float);
 * `row[k]` is tap k's value row (b, level_start + pixel, head), -1 when
 * outside the level (zero padding). */
typedef struct sample_taps {
    rf_taps_f32 taps;
    float wt[4];
    int64_t row[4];
} sample_taps;

static inline __attribute__((always_inline)) void sample_taps_at(int64_t value_len, int64_t heads, const int32_t *shapes, const int32_t *starts,
                           const float *loc, int64_t b, int64_t h, int64_t l, int64_t sample, sample_taps *t) {
    t->taps = rf_deform_taps_f32(loc[2 * sample], loc[2 * sample + 1], shapes[2 * l], shapes[2 * l + 1]);
    for (int k = 0; k < 4; k++) {
        t->wt[k] = t->taps.wt[k];
        t->row[k] = t->taps.inside[k] ? (b * value_len + starts[l] + t->taps.at[k]) * heads + h : -1;
    }
}

#define MAX_HEAD_DIM 1024

/* Inlined into loops that are cloned per ISA themselves: a head's row is
 * 16-32 floats, and a call per tap through the clones' resolver cost more
 * than the row (deformable attention's backward: 65 ms of a nano step). */
static inline __attribute__((always_inline)) void axpy(int64_t n, float w, const float *x, float *y) {
    for (int64_t c = 0; c < n; c++) y[c] += w * x[c];
}

static inline __attribute__((always_inline)) float dot(int64_t n, const float *x, const float *y) {
    float acc[RF_LANES] = {0};
    int64_t c = 0;
    for (; c + RF_LANES <= n; c += RF_LANES)
        for (int l = 0; l < RF_LANES; l++) acc[l] += x[c + l] * y[c + l];
    float t[RF_LANES] = {0};
    for (int l = 0; c < n; c++, l++) t[l] = x[c] * y[c];
    rf_lanes_add(acc, t);
    return rf_lanes_combine(acc);
}

/* Tasks: (b, q) pairs. */
CPU_CLONES static void deform_forward_range(void *p, int64_t b0, int64_t e0) {
    const rf_deform_attn_args *a = p;
    const int32_t *shapes = CPU_CI(a->level_shapes), *starts = CPU_CI(a->level_start);
    const float *value = CPU_CF(a->value), *loc = CPU_CF(a->sampling_locations), *attn = CPU_CF(a->attention_weights);
    int64_t D = a->head_dim;
    float acc[MAX_HEAD_DIM];
    for (int64_t t = b0; t < e0; t++) {
        int64_t b = t / a->queries;
        for (int64_t h = 0; h < a->heads; h++) {
            for (int64_t c = 0; c < D; c++) acc[c] = 0.0f;
            for (int64_t l = 0; l < a->levels; l++)
                for (int64_t pt = 0; pt < a->points; pt++) {
                    int64_t sample = ((t * a->heads + h) * a->levels + l) * a->points + pt;
                    sample_taps tp;
                    sample_taps_at(a->value_len, a->heads, shapes, starts, loc, b, h, l, sample, &tp);
                    for (int k = 0; k < 4; k++)
                        if (tp.row[k] >= 0) axpy(D, tp.wt[k] * attn[sample], value + tp.row[k] * D, acc);
                }
            memcpy(CPU_F(a->output) + (t * a->heads + h) * D, acc, sizeof *acc * (size_t)D);
        }
    }
}

bool cpu_fast_deform_attn(rf_device *dev, const rf_deform_attn_args *a) {
    if (a->head_dim > MAX_HEAD_DIM) return false;
    int64_t per = a->heads * a->levels * a->points * 4 * a->head_dim;
    cpu_parallel_range(dev, a->batch * a->queries, CPU_GRAIN / (per + 1) + 1, deform_forward_range, (void *)a);
    return true;
}

/* dvalue, tasks (b, h): every sample of that image and head, in (q, l, p) order. */
CPU_CLONES static void deform_dvalue_range(void *p, int64_t b0, int64_t e0) {
    const rf_deform_attn_backward_args *a = p;
    const int32_t *shapes = CPU_CI(a->level_shapes), *starts = CPU_CI(a->level_start);
    const float *loc = CPU_CF(a->sampling_locations), *attn = CPU_CF(a->attention_weights), *dout = CPU_CF(a->doutput);
    float *dvalue = CPU_F(a->dvalue);
    int64_t D = a->head_dim;
    for (int64_t t = b0; t < e0; t++) {
        int64_t b = t / a->heads, h = t % a->heads;
        for (int64_t q = 0; q < a->queries; q++) {
            const float *g = dout + ((b * a->queries + q) * a->heads + h) * D;
            for (int64_t l = 0; l < a->levels; l++)
                for (int64_t pt = 0; pt < a->points; pt++) {
                    int64_t sample = (((b * a->queries + q) * a->heads + h) * a->levels + l) * a->points + pt;
                    sample_taps tp;
                    sample_taps_at(a->value_len, a->heads, shapes, starts, loc, b, h, l, sample, &tp);
                    for (int k = 0; k < 4; k++)
                        if (tp.row[k] >= 0) axpy(D, tp.wt[k] * attn[sample], g, dvalue + tp.row[k] * D);
                }
        }
    }
}

/* dsampling_locations and dattention_weights, tasks (b, q). */
CPU_CLONES static void deform_dsample_range(void *p, int64_t b0, int64_t e0) {
    const rf_deform_attn_backward_args *a = p;
    const int32_t *shapes = CPU_CI(a->level_shapes), *starts = CPU_CI(a->level_start);
    const float *value = CPU_CF(a->value), *loc = CPU_CF(a->sampling_locations);
    const float *attn = CPU_CF(a->attention_weights), *dout = CPU_CF(a->doutput);
    float *dloc = CPU_F(a->dsampling_locations), *dattn = CPU_F(a->dattention_weights);
    int64_t D = a->head_dim;
    for (int64_t t = b0; t < e0; t++) {
        int64_t b = t / a->queries;
        for (int64_t h = 0; h < a->heads; h++) {
            const float *go = dout + (t * a->heads + h) * D;
            for (int64_t l = 0; l < a->levels; l++) {
                float lh = (float)shapes[2 * l], lw = (float)shapes[2 * l + 1];
                for (int64_t pt = 0; pt < a->points; pt++) {
                    int64_t sample = ((t * a->heads + h) * a->levels + l) * a->points + pt;
                    sample_taps tp;
                    sample_taps_at(a->value_len, a->heads, shapes, starts, loc, b, h, l, sample, &tp);
                    float ga = 0.0f, gx = 0.0f, gy = 0.0f;
                    for (int k = 0; k < 4; k++) {
                        if (tp.row[k] < 0) continue;
                        float v = dot(D, value + tp.row[k] * D, go);
                        ga += tp.wt[k] * v;
                        gx += rf_tap_dx_f32(&tp.taps, k) * v;
                        gy += rf_tap_dy_f32(&tp.taps, k) * v;
                    }
                    dattn[sample] += ga;
                    dloc[2 * sample] += attn[sample] * gx * lw;
                    dloc[2 * sample + 1] += attn[sample] * gy * lh;
                }
            }
        }
    }
}

bool cpu_fast_deform_attn_backward(rf_device *dev, const rf_deform_attn_backward_args *a) {
    int64_t per_sample = 4 * a->head_dim;
    int64_t per = a->queries * a->levels * a->points * per_sample;
    cpu_parallel_range(dev, a->batch * a->heads, CPU_GRAIN / (per + 1) + 1, deform_dvalue_range, (void *)a);
    per = a->heads * a->levels * a->points * per_sample;
    cpu_parallel_range(dev, a->batch * a->queries, CPU_GRAIN / (per + 1) + 1, deform_dsample_range, (void *)a);
    return true;
}

/* ---- row gathers --------------------------------------------------------------------------- */

static void gather_range(void *p, int64_t b0, int64_t e0) {
    const rf_gather_rows_args *a = p;
    const int32_t *idx = CPU_CI(a->indices);
    for (int64_t t = b0; t < e0; t++) {
        int64_t b = t / a->count, r = idx[t];
        float *out = CPU_F(a->out) + t * a->cols;
        if (r >= 0 && r < a->src_rows)
            memcpy(out, CPU_CF(a->src) + (b * a->src_rows + r) * a->cols, sizeof *out * (size_t)a->cols);
        else
            memset(out, 0, sizeof *out * (size_t)a->cols);
    }
}

bool cpu_fast_gather_rows(rf_device *dev, const rf_gather_rows_args *a) {
    cpu_parallel_range(dev, a->batch * a->count, CPU_GRAIN / (a->cols + 1) + 1, gather_range, (void *)a);
    return true;
}

/* Tasks: (b, column chunk); rows are added in index order, as the reference. */
#define GATHER_CHUNK 512

CPU_CLONES static void gather_backward_range(void *p, int64_t b0, int64_t e0) {
    const rf_gather_rows_backward_args *a = p;
    const int32_t *idx = CPU_CI(a->indices);
    int64_t chunks = (a->cols + GATHER_CHUNK - 1) / GATHER_CHUNK;
    for (int64_t t = b0; t < e0; t++) {
        int64_t b = t / chunks, c0 = (t % chunks) * GATHER_CHUNK;
        int64_t n = a->cols - c0 < GATHER_CHUNK ? a->cols - c0 : GATHER_CHUNK;
        for (int64_t i = 0; i < a->count; i++) {
            int64_t r = idx[b * a->count + i];
            if (r < 0 || r >= a->src_rows) continue;
            axpy(n, 1.0f, CPU_CF(a->dout) + (b * a->count + i) * a->cols + c0,
                 CPU_F(a->dsrc) + (b * a->src_rows + r) * a->cols + c0);
        }
    }
}

bool cpu_fast_gather_rows_backward(rf_device *dev, const rf_gather_rows_backward_args *a) {
    int64_t chunks = (a->cols + GATHER_CHUNK - 1) / GATHER_CHUNK;
    int64_t per = a->count * (a->cols < GATHER_CHUNK ? a->cols : GATHER_CHUNK);
    cpu_parallel_range(dev, a->batch * chunks, CPU_GRAIN / (per + 1) + 1, gather_backward_range, (void *)a);
    return true;
}

/* ---- top-k --------------------------------------------------------------------------------- */

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

/* Rearranges v so that its first k entries are the k first in rank order
 * (in any order): quickselect with a median-of-three pivot. The rank order
 * is total (ties broken by index), so the set is unique. */
static void select_first(ranked *v, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1;
    while (hi > lo && k > lo && k <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (rank_cmp(&v[mid], &v[lo]) < 0) { ranked t = v[mid]; v[mid] = v[lo]; v[lo] = t; }
        if (rank_cmp(&v[hi], &v[lo]) < 0) { ranked t = v[hi]; v[hi] = v[lo]; v[lo] = t; }
        if (rank_cmp(&v[hi], &v[mid]) < 0) { ranked t = v[hi]; v[hi] = v[mid]; v[mid] = t; }
        ranked pivot = v[mid];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (rank_cmp(&v[i], &pivot) < 0) i++;
            while (rank_cmp(&pivot, &v[j]) < 0) j--;
            if (i <= j) {
                ranked t = v[i];
                v[i++] = v[j];
                v[j--] = t;
            }
        }
        /* [lo, j] rank before [i, hi]; the k-th boundary lies in one side. */
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return;
    }
}

typedef struct topk_job {
    const rf_topk_args *a;
    _Atomic int failed;
} topk_job;

static void topk_range(void *p, int64_t b, int64_t e) {
    topk_job *j = p;
    const rf_topk_args *a = j->a;
    ranked *buf = malloc(sizeof *buf * (size_t)(a->cols > 0 ? a->cols : 1));
    if (!buf) {
        j->failed = 1;
        return;
    }
    for (int64_t r = b; r < e; r++) {
        const float *row = CPU_CF(a->x) + r * a->cols;
        for (int64_t c = 0; c < a->cols; c++) buf[c] = (ranked){row[c], (int32_t)c};
        /* Only the first k need sorting (post-processing keeps 300 of 27,300). */
        select_first(buf, a->cols, a->k);
        qsort(buf, (size_t)a->k, sizeof *buf, rank_cmp);
        for (int64_t t = 0; t < a->k; t++) {
            CPU_F(a->values)[r * a->k + t] = buf[t].v;
            CPU_I(a->indices)[r * a->k + t] = buf[t].i;
        }
    }
    free(buf);
}

bool cpu_fast_topk(rf_device *dev, const rf_topk_args *a) {
    topk_job j = {a, 0};
    cpu_parallel_range(dev, a->rows, 1, topk_range, &j);
    return !j.failed; /* without scratch memory, the reference (which needs none) */
}
