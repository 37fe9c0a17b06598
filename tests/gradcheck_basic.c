/* gradcheck_basic.c — finite-difference checks of the basic family's
 * backward kernels: unary ops, softmax (with a mask), layer norm (input,
 * gamma and beta, both layouts) and max over the last axis. */
#include "backend/cpu/ref_basic.h"
#include "gradcheck.h"

#define RTOL 1e-6

/* ---- unary ---------------------------------------------------------------------- */
typedef struct {
    rf_unary_op op;
    int n;
    double alpha, beta;
} unary_ctx;

static void unary_fwd(void *u, const double *x, double *y) {
    unary_ctx *c = u;
    rf_ref_unary_f64(c->op, c->n, x, y, c->alpha, c->beta);
}

static void unary_bwd(void *u, const double *x, const double *dy, double *dx) {
    unary_ctx *c = u;
    double *y = malloc((size_t)c->n * sizeof *y);
    rf_ref_unary_f64(c->op, c->n, x, y, c->alpha, c->beta);
    rf_ref_unary_backward_f64(c->op, c->n, x, y, dy, dx, c->alpha, c->beta, false);
    free(y);
}

static void check_unary(void) {
    const char *names[RF_UNARY_COUNT] = {"identity", "affine", "relu", "gelu", "silu", "sigmoid", "exp", "log_sigmoid",
                                         "tanh", "sqrt", "log", "inverse_sigmoid", "sin", "round_bf16", "round_f16"};
    enum { N = 64 };
    for (int op = 0; op < RF_UNARY_COUNT; op++) {
        /* Rounding is a step function: its backward passes gradients
         * straight through (autocast's convention), which no difference
         * quotient shows; core never records it on the tape. */
        if (op == RF_UNARY_ROUND_BF16 || op == RF_UNARY_ROUND_F16) continue;
        double x[N];
        unsigned long long s = 99 + (unsigned long long)op;
        for (int i = 0; i < N; i++) {
            double v = test_uniform(&s, -4, 4);
            /* keep away from kinks and domain edges: relu at 0, clamps of
             * inverse_sigmoid, the domains of sqrt and log */
            if (op == RF_UNARY_RELU && fabs(v) < 0.01) v += 0.1;
            if (op == RF_UNARY_SQRT || op == RF_UNARY_LOG) v = fabs(v) + 0.1;
            if (op == RF_UNARY_INVERSE_SIGMOID) {
                v = test_uniform(&s, 0.02f, 0.98f);
                if (i % 8 == 0) v = -0.5 + i * 0.001; /* outside [0, 1]: gradient 0 */
                if (i % 8 == 1) v = 1.5;
            }
            x[i] = v;
        }
        unary_ctx c = {(rf_unary_op)op, N, op == RF_UNARY_INVERSE_SIGMOID ? 1e-5 : 1.5, -0.25};
        char name[64];
        snprintf(name, sizeof name, "unary %s", names[op]);
        gradcheck(name, N, N, unary_fwd, unary_bwd, &c, x, RTOL, N);
    }
}

/* ---- softmax ---------------------------------------------------------------------- */
typedef struct {
    int rows, cols, mask_rows;
    const double *mask;
} softmax_ctx;

static void softmax_fwd(void *u, const double *x, double *y) {
    softmax_ctx *c = u;
    rf_ref_softmax_f64(c->rows, c->cols, x, c->mask, c->mask_rows, y);
}

static void softmax_bwd(void *u, const double *x, const double *dy, double *dx) {
    softmax_ctx *c = u;
    double *y = malloc((size_t)(c->rows * c->cols) * sizeof *y);
    softmax_fwd(u, x, y);
    rf_ref_softmax_backward_f64(c->rows, c->cols, y, dy, dx, false);
    free(y);
}

static void check_softmax(void) {
    enum { R = 6, C = 9 };
    double x[R * C], mask[3 * C];
    unsigned long long s = 7;
    for (int i = 0; i < R * C; i++) x[i] = test_uniform(&s, -3, 3);
    for (int i = 0; i < 3 * C; i++) mask[i] = (i % 4 == 0) ? -INFINITY : test_uniform(&s, -1, 1);
    softmax_ctx plain = {R, C, 1, NULL}, masked = {R, C, 3, mask};
    gradcheck("softmax", R * C, R * C, softmax_fwd, softmax_bwd, &plain, x, RTOL, R * C);
    gradcheck("softmax masked", R * C, R * C, softmax_fwd, softmax_bwd, &masked, x, RTOL, R * C);
}

/* ---- layer norm ------------------------------------------------------------------------ */
typedef struct {
    int rows, cols, inner, outer, col;
    int wrt; /* 0: x, 1: gamma, 2: beta */
    const double *x, *gamma, *beta;
} ln_ctx;

static int ln_total(const ln_ctx *c) { return c->rows * c->cols; }

static void ln_fwd(void *u, const double *v, double *y) {
    ln_ctx *c = u;
    double *mean = malloc((size_t)c->rows * sizeof *mean), *rstd = malloc((size_t)c->rows * sizeof *rstd);
    rf_ref_layernorm_f64(c->rows, c->cols, c->inner, c->outer, c->col, 1e-5, c->wrt == 0 ? v : c->x,
                         c->wrt == 1 ? v : c->gamma, c->wrt == 2 ? v : c->beta, y, mean, rstd);
    free(mean);
    free(rstd);
}

static void ln_bwd(void *u, const double *v, const double *dy, double *out) {
    ln_ctx *c = u;
    int total = ln_total(c);
    const double *x = c->wrt == 0 ? v : c->x, *gamma = c->wrt == 1 ? v : c->gamma, *beta = c->wrt == 2 ? v : c->beta;
    double *y = malloc((size_t)total * sizeof *y), *mean = malloc((size_t)c->rows * sizeof *mean);
    double *rstd = malloc((size_t)c->rows * sizeof *rstd), *dx = malloc((size_t)total * sizeof *dx);
    double *dg = calloc((size_t)c->cols, sizeof *dg), *db = calloc((size_t)c->cols, sizeof *db);
    rf_ref_layernorm_f64(c->rows, c->cols, c->inner, c->outer, c->col, 1e-5, x, gamma, beta, y, mean, rstd);
    rf_ref_layernorm_backward_f64(c->rows, c->cols, c->inner, c->outer, c->col, x, mean, rstd, dy, gamma, dx, dg, db, false);
    const double *src = c->wrt == 0 ? dx : (c->wrt == 1 ? dg : db);
    int n = c->wrt == 0 ? total : c->cols;
    for (int i = 0; i < n; i++) out[i] = src[i];
    free(y);
    free(mean);
    free(rstd);
    free(dx);
    free(dg);
    free(db);
}

static void check_layernorm(void) {
    /* last-dim (5 rows x 8) and channel NCHW (N=2, C=4, HW=3) layouts */
    struct {
        int rows, cols, inner, outer, col;
        const char *name;
    } forms[] = {{5, 8, 1, 8, 1, "layernorm"}, {2 * 3, 4, 3, 12, 3, "channel layernorm"}};
    for (int f = 0; f < 2; f++) {
        int total = forms[f].rows * forms[f].cols;
        double x[64], gamma[8], beta[8];
        unsigned long long s = 11 + (unsigned long long)f;
        for (int i = 0; i < total; i++) x[i] = test_uniform(&s, -2, 3);
        for (int i = 0; i < forms[f].cols; i++) gamma[i] = test_uniform(&s, 0.5f, 1.5f), beta[i] = test_uniform(&s, -1, 1);
        const char *wrt_names[3] = {"x", "gamma", "beta"};
        for (int wrt = 0; wrt < 3; wrt++) {
            ln_ctx c = {forms[f].rows, forms[f].cols, forms[f].inner, forms[f].outer, forms[f].col, wrt, x, gamma, beta};
            char name[64];
            snprintf(name, sizeof name, "%s d/d%s", forms[f].name, wrt_names[wrt]);
            const double *x0 = wrt == 0 ? x : (wrt == 1 ? gamma : beta);
            gradcheck(name, wrt == 0 ? total : forms[f].cols, total, ln_fwd, ln_bwd, &c, x0, RTOL, 64);
        }
    }
}

/* ---- max over the last axis ---------------------------------------------------------------- */
typedef struct {
    int rows, cols;
} max_ctx;

static void max_fwd(void *u, const double *x, double *y) {
    max_ctx *c = u;
    int32_t idx[16];
    rf_ref_max_last_f64(c->rows, c->cols, x, y, idx);
}

static void max_bwd(void *u, const double *x, const double *dy, double *dx) {
    max_ctx *c = u;
    double v[16];
    int32_t idx[16];
    rf_ref_max_last_f64(c->rows, c->cols, x, v, idx);
    rf_ref_max_last_backward_f64(c->rows, c->cols, dy, idx, dx, false);
}

static void check_max(void) {
    double x[4 * 7];
    unsigned long long s = 5;
    for (int i = 0; i < 28; i++) x[i] = test_uniform(&s, -3, 3) + (i % 7) * 0.37; /* distinct values: no ties */
    max_ctx c = {4, 7};
    gradcheck("max_last", 28, 4, max_fwd, max_bwd, &c, x, RTOL, 28);
}

void gradcheck_basic(void) {
    check_unary();
    check_softmax();
    check_layernorm();
    check_max();
}
