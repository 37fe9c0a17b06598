/* gradcheck_sampling.c — finite-difference checks of the sampling family's
 * backward kernels: grid sample (input and grid), deformable attention
 * (value, sampling locations, attention weights; one and several levels)
 * and the row gather (repeated indices add up). Random sampling points
 * reach outside the image, so the zero padding is differentiated too. */
#include "backend/cpu/ref_sampling.h"
#include "gradcheck.h"

#define RTOL 1e-6

static double *random_array(int n, double lo, double hi, unsigned long long seed) {
    double *a = malloc((size_t)n * sizeof *a);
    for (int i = 0; i < n; i++) a[i] = test_uniform(&seed, (float)lo, (float)hi);
    return a;
}

/* ---- grid sample ---------------------------------------------------------------------- */
typedef struct {
    int64_t n, c, h, w, ho, wo;
    int wrt; /* 0: x, 1: grid */
    const double *x, *grid;
} grid_ctx;

static int grid_numel(const grid_ctx *g, int which) {
    if (which == 0) return (int)(g->n * g->c * g->h * g->w);
    if (which == 1) return (int)(g->n * g->ho * g->wo * 2);
    return (int)(g->n * g->c * g->ho * g->wo);
}

static void grid_fwd(void *u, const double *v, double *y) {
    grid_ctx *g = u;
    rf_ref_grid_sample_f64(g->n, g->c, g->h, g->w, g->ho, g->wo, g->wrt == 0 ? v : g->x, g->wrt == 1 ? v : g->grid, y);
}

static void grid_bwd(void *u, const double *v, const double *dy, double *out) {
    grid_ctx *g = u;
    double *other = malloc((size_t)grid_numel(g, 1 - g->wrt) * sizeof *other);
    const double *x = g->wrt == 0 ? v : g->x, *grid = g->wrt == 1 ? v : g->grid;
    rf_ref_grid_sample_backward_f64(g->n, g->c, g->h, g->w, g->ho, g->wo, x, grid, dy, g->wrt == 0 ? out : other,
                                    g->wrt == 1 ? out : other, false);
    free(other);
}

static void check_grid_sample(void) {
    grid_ctx g = {2, 3, 5, 6, 4, 3, 0, NULL, NULL};
    double *x = random_array(grid_numel(&g, 0), -2, 2, 1), *grid = random_array(grid_numel(&g, 1), -1.3, 1.3, 2);
    g.x = x;
    g.grid = grid;
    g.wrt = 0;
    gradcheck("grid_sample d/dx", grid_numel(&g, 0), grid_numel(&g, 2), grid_fwd, grid_bwd, &g, x, RTOL, 400);
    g.wrt = 1;
    gradcheck("grid_sample d/dgrid", grid_numel(&g, 1), grid_numel(&g, 2), grid_fwd, grid_bwd, &g, grid, RTOL, 400);
    free(x);
    free(grid);
}

/* ---- deformable attention ----------------------------------------------------------------- */
typedef struct {
    rf_deform_dims d;
    const int32_t *shapes, *starts;
    int wrt; /* 0: value, 1: locations, 2: weights */
    const double *value, *loc, *attn;
} deform_ctx;

static int deform_numel(const deform_ctx *c, int which) {
    const rf_deform_dims *d = &c->d;
    int64_t samples = d->batch * d->queries * d->heads * d->levels * d->points;
    if (which == 0) return (int)(d->batch * d->value_len * d->heads * d->head_dim);
    if (which == 1) return (int)(2 * samples);
    if (which == 2) return (int)samples;
    return (int)(d->batch * d->queries * d->heads * d->head_dim);
}

static void deform_fwd(void *u, const double *v, double *y) {
    deform_ctx *c = u;
    rf_ref_deform_attn_f64(&c->d, c->wrt == 0 ? v : c->value, c->shapes, c->starts, c->wrt == 1 ? v : c->loc,
                           c->wrt == 2 ? v : c->attn, y);
}

static void deform_bwd(void *u, const double *v, const double *dy, double *out) {
    deform_ctx *c = u;
    double *g[3];
    for (int k = 0; k < 3; k++) g[k] = c->wrt == k ? out : calloc((size_t)deform_numel(c, k), sizeof(double));
    for (int i = 0; i < deform_numel(c, c->wrt); i++) out[i] = 0; /* the kernel accumulates */
    rf_ref_deform_attn_backward_f64(&c->d, c->wrt == 0 ? v : c->value, c->shapes, c->starts, c->wrt == 1 ? v : c->loc,
                                    c->wrt == 2 ? v : c->attn, dy, g[0], g[1], g[2]);
    for (int k = 0; k < 3; k++)
        if (k != c->wrt) free(g[k]);
}

static void check_deform_attn(void) {
    /* one level, and three levels of different sizes incl. a 1x1 one */
    static const int32_t shapes1[2] = {4, 5}, starts1[1] = {0};
    static const int32_t shapes3[6] = {4, 5, 2, 3, 1, 1}, starts3[3] = {0, 20, 26};
    struct {
        rf_deform_dims d;
        const int32_t *shapes, *starts;
        const char *name;
    } forms[] = {{{2, 20, 2, 3, 3, 1, 4}, shapes1, starts1, "deform_attn 1 level"},
                 {{1, 27, 2, 2, 3, 3, 2}, shapes3, starts3, "deform_attn 3 levels"}};
    const char *wrt_names[3] = {"value", "locations", "weights"};
    for (int f = 0; f < 2; f++) {
        deform_ctx c = {forms[f].d, forms[f].shapes, forms[f].starts, 0, NULL, NULL, NULL};
        double *value = random_array(deform_numel(&c, 0), -2, 2, 10 + f);
        double *loc = random_array(deform_numel(&c, 1), -0.15, 1.15, 20 + f);
        double *attn = random_array(deform_numel(&c, 2), 0, 1, 30 + f);
        c.value = value;
        c.loc = loc;
        c.attn = attn;
        const double *x0[3] = {value, loc, attn};
        for (int wrt = 0; wrt < 3; wrt++) {
            c.wrt = wrt;
            char name[96];
            snprintf(name, sizeof name, "%s d/d%s", forms[f].name, wrt_names[wrt]);
            gradcheck(name, deform_numel(&c, wrt), deform_numel(&c, 3), deform_fwd, deform_bwd, &c, x0[wrt], RTOL, 400);
        }
        free(value);
        free(loc);
        free(attn);
    }
}

/* ---- gather rows ---------------------------------------------------------------------------- */
typedef struct {
    int64_t batch, rows, cols, count;
    const int32_t *idx;
} gather_ctx;

static void gather_fwd(void *u, const double *src, double *out) {
    gather_ctx *g = u;
    rf_ref_gather_rows_f64(g->batch, g->rows, g->cols, g->count, src, g->idx, out);
}

static void gather_bwd(void *u, const double *src, const double *dout, double *dsrc) {
    gather_ctx *g = u;
    for (int64_t i = 0; i < g->batch * g->rows * g->cols; i++) dsrc[i] = 0; /* the kernel accumulates */
    rf_ref_gather_rows_backward_f64(g->batch, g->rows, g->cols, g->count, dout, g->idx, dsrc);
}

static void check_gather(void) {
    static const int32_t idx[2 * 6] = {2, 2, 0, 4, -1, 2, 1, 1, 1, 3, 5, 0};
    gather_ctx g = {2, 5, 3, 6, idx};
    double *src = random_array(2 * 5 * 3, -2, 2, 40);
    gradcheck("gather_rows d/dsrc", 2 * 5 * 3, 2 * 6 * 3, gather_fwd, gather_bwd, &g, src, RTOL, 100);
    free(src);
}

void gradcheck_sampling(void) {
    check_grid_sample();
    check_deform_attn();
    check_gather();
}
