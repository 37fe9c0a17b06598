/* gradcheck_loss.c — finite-difference checks of the loss family's backward
 * kernels: weighted BCE with respect to the logits and both weights, and
 * the L1 + GIoU box losses with respect to the predicted boxes, in general
 * position and in the degenerate-ish arrangements training produces (no
 * overlap, one box inside the other either way, a negative width clamped
 * to 0). Exact ties and touching edges are kinks, left out on purpose. */
#include "backend/cpu/ref_loss.h"
#include "gradcheck.h"

#define RTOL 1e-6

/* ---- BCE ------------------------------------------------------------------------- */
typedef struct {
    int n, wrt; /* 0: x, 1: pos_w, 2: neg_w */
    const double *x, *pos_w, *neg_w;
} bce_ctx;

static void bce_fwd(void *u, const double *v, double *y) {
    bce_ctx *c = u;
    rf_ref_bce_f64(c->n, c->wrt == 0 ? v : c->x, c->wrt == 1 ? v : c->pos_w, c->wrt == 2 ? v : c->neg_w, y);
}

static void bce_bwd(void *u, const double *v, const double *dy, double *out) {
    bce_ctx *c = u;
    double *dx = calloc((size_t)c->n, sizeof *dx), *dp = calloc((size_t)c->n, sizeof *dp);
    double *dn = calloc((size_t)c->n, sizeof *dn);
    rf_ref_bce_backward_f64(c->n, c->wrt == 0 ? v : c->x, c->wrt == 1 ? v : c->pos_w, c->wrt == 2 ? v : c->neg_w, dy,
                            dx, false, dp, dn);
    const double *src = c->wrt == 0 ? dx : c->wrt == 1 ? dp : dn;
    for (int i = 0; i < c->n; i++) out[i] = src[i];
    free(dx);
    free(dp);
    free(dn);
}

static void check_bce(void) {
    enum { N = 48 };
    double x[N], pw[N], nw[N];
    unsigned long long s = 31;
    for (int i = 0; i < N; i++) {
        x[i] = test_uniform(&s, -12, 12);
        pw[i] = test_uniform(&s, 0, 1);
        nw[i] = test_uniform(&s, 0, 1);
    }
    bce_ctx c = {N, 0, x, pw, nw};
    gradcheck("bce d/dx", N, N, bce_fwd, bce_bwd, &c, x, RTOL, N);
    /* The weight gradients are softplus(-+x): logits within +-3 keep them
     * large enough for the finite difference of the summed loss to resolve. */
    for (int i = 0; i < N; i++) x[i] *= 0.25;
    c.wrt = 1;
    gradcheck("bce d/dpos_w", N, N, bce_fwd, bce_bwd, &c, pw, RTOL, N);
    c.wrt = 2;
    gradcheck("bce d/dneg_w", N, N, bce_fwd, bce_bwd, &c, nw, RTOL, N);
}

/* ---- boxes: outputs are (l1 (n), giou (n)) ---------------------------------------- */
typedef struct {
    int n;
    const double *target;
} box_ctx;

static void box_fwd(void *u, const double *pred, double *y) {
    box_ctx *c = u;
    rf_ref_box_loss_f64(c->n, pred, c->target, y, y + c->n);
}

static void box_bwd(void *u, const double *pred, const double *dy, double *dpred) {
    box_ctx *c = u;
    rf_ref_box_loss_backward_f64(c->n, pred, c->target, dy, dy + c->n, dpred, false);
}

static void check_boxes(const char *name, int n, const double *pred, const double *target) {
    box_ctx c = {n, target};
    gradcheck(name, 4 * n, 2 * n, box_fwd, box_bwd, &c, pred, RTOL, 4 * n);
}

static void check_box_losses(void) {
    enum { N = 40 };
    double pred[4 * N], target[4 * N];
    unsigned long long s = 77;
    for (int i = 0; i < N; i++) {
        double *p = pred + 4 * i, *t = target + 4 * i;
        for (int k = 0; k < 2; k++) t[k] = test_uniform(&s, 0.1f, 0.9f);
        for (int k = 2; k < 4; k++) t[k] = test_uniform(&s, 0.05f, 0.5f);
        for (int k = 0; k < 4; k++) p[k] = t[k] + test_uniform(&s, -0.15f, 0.15f);
        for (int k = 2; k < 4; k++) p[k] = fabs(p[k]) + 0.01;
    }
    check_boxes("box losses, general position", N, pred, target);

    /* (cx, cy, w, h) pred then target */
    const double disjoint[2][4] = {{0.2, 0.25, 0.1, 0.12}, {0.7, 0.6, 0.2, 0.15}};
    const double pred_inside[2][4] = {{0.51, 0.48, 0.1, 0.12}, {0.5, 0.5, 0.6, 0.5}};
    const double target_inside[2][4] = {{0.42, 0.57, 0.7, 0.8}, {0.45, 0.55, 0.1, 0.2}};
    const double apart_in_y[2][4] = {{0.3, 0.8, 0.25, 0.1}, {0.33, 0.3, 0.2, 0.1}};
    const double negative_width[2][4] = {{0.3, 0.3, -0.2, 0.25}, {0.32, 0.35, 0.2, 0.2}};
    struct {
        const char *name;
        const double (*pair)[4];
    } cases[] = {{"box losses, disjoint (no overlap)", disjoint},
                 {"box losses, pred inside target", pred_inside},
                 {"box losses, target inside pred", target_inside},
                 {"box losses, apart in y only", apart_in_y},
                 {"box losses, negative width clamped", negative_width}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_boxes(cases[i].name, 1, cases[i].pair[0], cases[i].pair[1]);
}

void gradcheck_loss(void) {
    check_bce();
    check_box_losses();
}
