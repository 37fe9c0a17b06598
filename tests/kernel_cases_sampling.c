/* kernel_cases_sampling.c — cases for the sampling kernel family: grid
 * sample (random grids reaching outside the image, and grids placed exactly
 * on pixel edges, pixel centres, +-1 and non-finite values), deformable
 * attention (one and several levels, locations at 0 and 1 and on pixel
 * boundaries), row gather (repeated and out-of-range indices) and top-k
 * (k = 1 .. cols, ties, NaN and infinities). */
#include <math.h>
#include <stdio.h>

#include "kernel_harness.h"

#define TOL 1e-7

/* ---- grid sample ------------------------------------------------------------------- */

typedef struct grid_params {
    int64_t n, c, h, w, ho, wo;
    bool has_dx, has_dgrid, accumulate;
} grid_params;

static rf_status launch_grid_sample(const kcase *c, rf_device *dev, const rf_mem *m) {
    const grid_params *p = KC_CPARAMS(c, grid_params);
    rf_grid_sample_args a = {p->n, p->c, p->h, p->w, p->ho, p->wo, m[0], m[1], m[2]};
    return rf_kernel_grid_sample(dev, &a);
}

static rf_status launch_grid_sample_backward(const kcase *c, rf_device *dev, const rf_mem *m) {
    const grid_params *p = KC_CPARAMS(c, grid_params);
    rf_grid_sample_backward_args a = {p->n, p->c, p->h, p->w, p->ho, p->wo, m[0], m[1], m[2],
                                      p->has_dx, p->has_dgrid, p->accumulate, m[3], m[4]};
    return rf_kernel_grid_sample_backward(dev, &a);
}

/* Grid coordinates on the special places of a 5-wide, 4-high image: the
 * outer edges (+-1), pixel edges and centres, just outside, and NaN / inf. */
static float edge_grid[3 * 16 * 2];

static void fill_edge_grid(void) {
    const float xs[16] = {-1.0f, 1.0f, -1.0f + 2.0f / 5, 1.0f / 5, -1.0f + 1.0f / 5, 0.0f, -1.0001f, 1.0001f,
                          -1.2f, 0.3f, 3.0f / 5, 1.0f - 1.0f / 5, NAN, 0.5f, INFINITY, -0.25f};
    const float ys[16] = {-1.0f, 1.0f, 0.5f, -1.0f + 2.0f / 4, 0.25f, -1.0f + 1.0f / 4, 0.0f, 1.25f,
                          -1.0f, 1.0f, NAN, 0.75f, 0.1f, -INFINITY, -0.5f, 1.0f - 1.0f / 4};
    for (int i = 0; i < 3 * 16; i++) {
        edge_grid[2 * i] = xs[i % 16];
        edge_grid[2 * i + 1] = ys[(i * 7 + i / 16) % 16];
    }
}

static void grid_cases(kcase *cases, int *n, int max) {
    fill_edge_grid();
    /* n, c, h, w, ho, wo, edge grid? */
    static const int64_t shapes[][7] = {
        {1, 1, 4, 5, 3, 3, 0},  {2, 3, 7, 9, 5, 6, 0},  {2, 17, 5, 3, 1, 7, 0},
        {1, 64, 12, 10, 8, 9, 0}, {1, 2, 1, 1, 2, 3, 0}, {1, 3, 4, 5, 3, 16, 1},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t *q = shapes[s];
        grid_params p = {q[0], q[1], q[2], q[3], q[4], q[5], true, true, false};
        bool edges = q[6];
        size_t xn = (size_t)(p.n * p.c * p.h * p.w), gn = (size_t)(p.n * p.ho * p.wo * 2), yn = (size_t)(p.n * p.c * p.ho * p.wo);
        char dims[96];
        snprintf(dims, sizeof dims, "n=%lld,c=%lld,h=%lld,w=%lld,out=%lldx%lld%s", (long long)p.n, (long long)p.c,
                 (long long)p.h, (long long)p.w, (long long)p.ho, (long long)p.wo, edges ? ",edges_nan_inf" : "");
        kcase *c = kc_new(cases, n, max, "sampling", "grid_sample", launch_grid_sample, TOL);
        if (!c) return;
        *KC_PARAMS(c, grid_params) = p;
        kc_add(c, "x", KC_IN, KC_F32, xn, -2, 2);
        kc_add(c, "grid", KC_IN, KC_F32, gn, -1.2f, 1.2f)->floats = edges ? edge_grid : NULL;
        kc_add(c, "y", KC_OUT, KC_F32, yn, 0, 0);
        snprintf(c->desc, sizeof c->desc, "GRID_SAMPLE(%s)", dims);
        /* (dx, dgrid) both, dx only, dgrid only; each plain and accumulating. */
        const bool which[3][2] = {{true, true}, {true, false}, {false, true}};
        for (int wsel = 0; wsel < 3; wsel++)
            for (int acc = 0; acc < 2; acc++) {
                c = kc_new(cases, n, max, "sampling", "grid_sample_backward", launch_grid_sample_backward, TOL);
                if (!c) return;
                p.has_dx = which[wsel][0];
                p.has_dgrid = which[wsel][1];
                p.accumulate = acc;
                *KC_PARAMS(c, grid_params) = p;
                kc_add(c, "x", KC_IN, KC_F32, xn, -2, 2);
                kc_add(c, "grid", KC_IN, KC_F32, gn, -1.2f, 1.2f)->floats = edges ? edge_grid : NULL;
                kc_add(c, "dy", KC_IN, KC_F32, yn, -1, 1);
                /* A gradient that is not asked for must come back untouched. */
                kc_add(c, "dx", acc || !p.has_dx ? KC_INOUT : KC_OUT, KC_F32, xn, -1, 1);
                kc_add(c, "dgrid", acc || !p.has_dgrid ? KC_INOUT : KC_OUT, KC_F32, gn, -1, 1);
                snprintf(c->desc, sizeof c->desc, "GRID_SAMPLE_BACKWARD(%s,dx=%d,dgrid=%d,acc=%d)", dims, p.has_dx,
                         p.has_dgrid, acc);
            }
    }
}

/* ---- deformable attention ------------------------------------------------------------ */

#define MAX_LEVELS 4

typedef struct deform_params {
    int64_t batch, value_len, heads, head_dim, queries, levels, points;
} deform_params;

static int32_t level_shapes[3][2 * MAX_LEVELS];
static int32_t level_starts[3][MAX_LEVELS];
/* Locations on the special places of the 3-level set: 0, 1, pixel edges and
 * centres, outside. */
static float edge_locations[2 * 5 * 2 * 3 * 2 * 2];

static rf_status launch_deform(const kcase *c, rf_device *dev, const rf_mem *m) {
    const deform_params *p = KC_CPARAMS(c, deform_params);
    rf_deform_attn_args a = {p->batch, p->value_len, p->heads, p->head_dim, p->queries, p->levels, p->points,
                             m[0], m[1], m[2], m[3], m[4], m[5]};
    return rf_kernel_deform_attn(dev, &a);
}

static rf_status launch_deform_backward(const kcase *c, rf_device *dev, const rf_mem *m) {
    const deform_params *p = KC_CPARAMS(c, deform_params);
    rf_deform_attn_backward_args a = {p->batch, p->value_len, p->heads, p->head_dim, p->queries, p->levels, p->points,
                                      m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]};
    return rf_kernel_deform_attn_backward(dev, &a);
}

static void deform_cases(kcase *cases, int *n, int max) {
    /* Level sets: one level (RF-DETR's decoder at a single scale), three
     * levels incl. a 1x1 one, and four projector-like levels. */
    static const int32_t sets[3][MAX_LEVELS][2] = {{{8, 10}}, {{4, 5}, {2, 3}, {1, 1}}, {{16, 16}, {8, 8}, {4, 4}, {2, 2}}};
    static const int levels_in_set[3] = {1, 3, 4};
    int64_t value_len[3];
    for (int s = 0; s < 3; s++) {
        int32_t start = 0;
        for (int l = 0; l < levels_in_set[s]; l++) {
            level_shapes[s][2 * l] = sets[s][l][0];
            level_shapes[s][2 * l + 1] = sets[s][l][1];
            level_starts[s][l] = start;
            start += sets[s][l][0] * sets[s][l][1];
        }
        value_len[s] = start;
    }
    const float special[] = {0.0f, 1.0f, 0.5f, 0.2f, 0.1f, 1.0f / 3, 0.25f, 0.75f, -0.05f, 1.05f, 0.6f, 2.0f / 3};
    for (size_t i = 0; i < sizeof edge_locations / sizeof edge_locations[0]; i++)
        edge_locations[i] = special[(i * 5 + i / 7) % (sizeof special / sizeof special[0])];

    /* set, batch, heads, head_dim, queries, points, edge locations? */
    static const int cfg[][7] = {
        {0, 1, 1, 1, 1, 1, 0},  {0, 2, 2, 8, 7, 4, 0},  {1, 2, 3, 5, 6, 2, 0},
        {2, 1, 8, 32, 30, 4, 0}, {1, 2, 2, 3, 5, 2, 1}, {0, 2, 4, 16, 40, 2, 0},
    };
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        int s = cfg[k][0];
        deform_params p = {cfg[k][1], value_len[s], cfg[k][2], cfg[k][3], cfg[k][4], levels_in_set[s], cfg[k][5]};
        bool edges = cfg[k][6];
        size_t vn = (size_t)(p.batch * p.value_len * p.heads * p.head_dim);
        size_t samples = (size_t)(p.batch * p.queries * p.heads * p.levels * p.points);
        size_t on = (size_t)(p.batch * p.queries * p.heads * p.head_dim);
        if (edges && 2 * samples != sizeof edge_locations / sizeof edge_locations[0]) continue;
        char dims[128];
        snprintf(dims, sizeof dims, "b=%lld,s=%lld,heads=%lld,d=%lld,q=%lld,levels=%lld,points=%lld%s",
                 (long long)p.batch, (long long)p.value_len, (long long)p.heads, (long long)p.head_dim,
                 (long long)p.queries, (long long)p.levels, (long long)p.points, edges ? ",edges" : "");
        for (int bwd = 0; bwd < 2; bwd++) {
            kcase *c = bwd ? kc_new(cases, n, max, "sampling", "deform_attn_backward", launch_deform_backward, TOL)
                           : kc_new(cases, n, max, "sampling", "deform_attn", launch_deform, TOL);
            if (!c) return;
            *KC_PARAMS(c, deform_params) = p;
            kc_add(c, "value", KC_IN, KC_F32, vn, -2, 2);
            kc_add(c, "level_shapes", KC_IN, KC_I32, (size_t)(2 * p.levels), 0, 0)->ints = level_shapes[s];
            kc_add(c, "level_start", KC_IN, KC_I32, (size_t)p.levels, 0, 0)->ints = level_starts[s];
            kc_add(c, "locations", KC_IN, KC_F32, 2 * samples, -0.1f, 1.1f)->floats = edges ? edge_locations : NULL;
            kc_add(c, "weights", KC_IN, KC_F32, samples, 0, 1);
            if (!bwd) {
                kc_add(c, "output", KC_OUT, KC_F32, on, 0, 0);
                snprintf(c->desc, sizeof c->desc, "DEFORM_ATTN(%s)", dims);
                continue;
            }
            kc_add(c, "doutput", KC_IN, KC_F32, on, -1, 1);
            kc_add(c, "dvalue", KC_INOUT, KC_F32, vn, -1, 1);
            kc_add(c, "dlocations", KC_INOUT, KC_F32, 2 * samples, -1, 1);
            kc_add(c, "dweights", KC_INOUT, KC_F32, samples, -1, 1);
            snprintf(c->desc, sizeof c->desc, "DEFORM_ATTN_BACKWARD(%s)", dims);
        }
    }
}

/* ---- gather rows ------------------------------------------------------------------------ */

typedef struct gather_params {
    int64_t batch, src_rows, cols, count;
} gather_params;

static rf_status launch_gather(const kcase *c, rf_device *dev, const rf_mem *m) {
    const gather_params *p = KC_CPARAMS(c, gather_params);
    rf_gather_rows_args a = {p->batch, p->src_rows, p->cols, p->count, m[0], m[1], m[2]};
    return rf_kernel_gather_rows(dev, &a);
}

static rf_status launch_gather_backward(const kcase *c, rf_device *dev, const rf_mem *m) {
    const gather_params *p = KC_CPARAMS(c, gather_params);
    rf_gather_rows_backward_args a = {p->batch, p->src_rows, p->cols, p->count, m[0], m[1], m[2]};
    return rf_kernel_gather_rows_backward(dev, &a);
}

/* Repeats, the first and last rows, and two indices out of range (-1, 7):
 * those gather zeros and receive nothing. */
static const int32_t odd_indices[2 * 9] = {3, 3, 0, 6, -1, 3, 7, 6, 0, 6, 6, 6, 1, 2, 0, 5, 4, 6};

static void gather_cases(kcase *cases, int *n, int max) {
    /* batch, src_rows, cols, count; explicit odd indices when src_rows == 7 */
    static const int64_t shapes[][4] = {{2, 7, 5, 9}, {2, 7, 33, 9}, {1, 1, 1, 1}, {3, 50, 17, 20}, {2, 300, 64, 100}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        gather_params p = {shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]};
        bool odd = p.src_rows == 7;
        size_t sn = (size_t)(p.batch * p.src_rows * p.cols), on = (size_t)(p.batch * p.count * p.cols);
        char dims[96];
        snprintf(dims, sizeof dims, "b=%lld,rows=%lld,cols=%lld,count=%lld%s", (long long)p.batch,
                 (long long)p.src_rows, (long long)p.cols, (long long)p.count, odd ? ",repeats_out_of_range" : "");
        for (int bwd = 0; bwd < 2; bwd++) {
            kcase *c = bwd ? kc_new(cases, n, max, "sampling", "gather_rows_backward", launch_gather_backward, TOL)
                           : kc_new(cases, n, max, "sampling", "gather_rows", launch_gather, TOL);
            if (!c) return;
            *KC_PARAMS(c, gather_params) = p;
            if (bwd) kc_add(c, "dout", KC_IN, KC_F32, on, -1, 1);
            else kc_add(c, "src", KC_IN, KC_F32, sn, -2, 2);
            kc_add(c, "indices", KC_IN, KC_I32, (size_t)(p.batch * p.count), 0, (float)(p.src_rows - 1))->ints =
                odd ? odd_indices : NULL;
            if (bwd) kc_add(c, "dsrc", KC_INOUT, KC_F32, sn, -1, 1);
            else kc_add(c, "out", KC_OUT, KC_F32, on, 0, 0);
            snprintf(c->desc, sizeof c->desc, "%s(%s)", bwd ? "GATHER_ROWS_BACKWARD" : "GATHER_ROWS", dims);
        }
    }
}

/* ---- top-k -------------------------------------------------------------------------------- */

typedef struct topk_params {
    int64_t rows, cols, k;
} topk_params;

static rf_status launch_topk(const kcase *c, rf_device *dev, const rf_mem *m) {
    const topk_params *p = KC_CPARAMS(c, topk_params);
    rf_topk_args a = {p->rows, p->cols, p->k, m[0], m[1], m[2]};
    return rf_kernel_topk(dev, &a);
}

/* 3 rows of 40: few distinct values (many ties, +0 and -0 equal), NaNs and
 * infinities. */
static float tie_values[3 * 40];

static void topk_cases(kcase *cases, int *n, int max) {
    for (int i = 0; i < 3 * 40; i++) {
        float v = (float)((i * 7 + 3) % 5) - 2.0f; /* -2 .. 2 */
        if (v == 0.0f && i % 2) v = -0.0f;
        if (i % 40 == 13 || i % 40 == 2 || i == 77) v = NAN;
        if (i % 40 == 21) v = INFINITY;
        if (i % 40 == 22 || i % 40 == 30) v = -INFINITY;
        tie_values[i] = v;
    }
    /* rows, cols, k; the 40-column cases use tie_values */
    static const int64_t shapes[][3] = {{3, 40, 1},  {3, 40, 7},   {3, 40, 40},    {1, 1, 1},      {4, 17, 5},
                                        {2, 300, 300}, {2, 1000, 100}, {1, 27300, 300}, {5, 1600, 300}, {2, 9, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        topk_params p = {shapes[s][0], shapes[s][1], shapes[s][2]};
        bool ties = p.cols == 40;
        kcase *c = kc_new(cases, n, max, "sampling", "topk", launch_topk, TOL);
        if (!c) return;
        *KC_PARAMS(c, topk_params) = p;
        kc_add(c, "x", KC_IN, KC_F32, (size_t)(p.rows * p.cols), -3, 3)->floats = ties ? tie_values : NULL;
        kc_add(c, "values", KC_OUT, KC_F32, (size_t)(p.rows * p.k), 0, 0);
        kc_add(c, "indices", KC_OUT, KC_I32, (size_t)(p.rows * p.k), 0, 0);
        snprintf(c->desc, sizeof c->desc, "TOPK(rows=%lld,cols=%lld,k=%lld%s)", (long long)p.rows, (long long)p.cols,
                 (long long)p.k, ties ? ",ties_nan_inf" : "");
    }
}

int kc_cases_sampling(kcase *cases, int max) {
    int n = 0;
    grid_cases(cases, &n, max);
    deform_cases(cases, &n, max);
    gather_cases(cases, &n, max);
    topk_cases(cases, &n, max);
    return n;
}
