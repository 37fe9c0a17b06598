/* ref_loss.c — instantiates the loss reference kernels in float and double,
 * around the precision-free GIoU algebra shared by both. */
#include <math.h>
#include <stddef.h>

#include "backend/cpu/ref_loss.h"

static inline double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* log(1 + e^x) without overflow: -log(sigmoid(-x)). */
static inline double softplus(double x) { return fmax(x, 0.0) + log1p(exp(-fabs(x))); }

/* Subgradients as torch's autograd: maximum/minimum split a tie in half. */
static inline double d_max_first(double a, double b) { return a > b ? 1.0 : a == b ? 0.5 : 0.0; }
static inline double d_min_first(double a, double b) { return a < b ? 1.0 : a == b ? 0.5 : 0.0; }

typedef struct giou_terms {
    double iw_raw, ih_raw, iw, ih, cw_raw, ch_raw, cw, ch, area_a, inter, uni, encl, loss;
} giou_terms;

/* 1 - GIoU of corner boxes a, b (x0, y0, x1, y1), as RF-DETR's box_ops. */
static giou_terms giou_forward(const double *a, const double *b) {
    giou_terms g;
    g.area_a = (a[2] - a[0]) * (a[3] - a[1]);
    double area_b = (b[2] - b[0]) * (b[3] - b[1]);
    g.iw_raw = fmin(a[2], b[2]) - fmax(a[0], b[0]);
    g.ih_raw = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    g.iw = fmax(g.iw_raw, 0.0);
    g.ih = fmax(g.ih_raw, 0.0);
    g.inter = g.iw * g.ih;
    g.uni = g.area_a + area_b - g.inter;
    g.cw_raw = fmax(a[2], b[2]) - fmin(a[0], b[0]);
    g.ch_raw = fmax(a[3], b[3]) - fmin(a[1], b[1]);
    g.cw = fmax(g.cw_raw, 0.0);
    g.ch = fmax(g.ch_raw, 0.0);
    g.encl = g.cw * g.ch;
    g.loss = 1.0 - (g.inter / g.uni - (g.encl - g.uni) / g.encl);
    return g;
}

/* d(1 - GIoU)/d(corners of a) times dl into ga. With L = 2 - I/U - U/C and
 * U = A + B - I: dL/dI = 1/C - 1/U - I/U^2, dL/dA = I/U^2 - 1/C, dL/dC = U/C^2. */
static void giou_backward(const double *a, const double *b, double dl, double *ga) {
    giou_terms g = giou_forward(a, b);
    double u2 = g.uni * g.uni;
    double d_inter = dl * (1.0 / g.encl - 1.0 / g.uni - g.inter / u2);
    double d_area = dl * (g.inter / u2 - 1.0 / g.encl);
    double d_encl = dl * (g.uni / (g.encl * g.encl));
    double d_iw = g.iw_raw >= 0 ? d_inter * g.ih : 0.0, d_ih = g.ih_raw >= 0 ? d_inter * g.iw : 0.0;
    double d_cw = g.cw_raw >= 0 ? d_encl * g.ch : 0.0, d_ch = g.ch_raw >= 0 ? d_encl * g.cw : 0.0;
    double ah = a[3] - a[1], aw = a[2] - a[0];
    ga[0] = -d_area * ah - d_iw * d_max_first(a[0], b[0]) - d_cw * d_min_first(a[0], b[0]);
    ga[2] = d_area * ah + d_iw * d_min_first(a[2], b[2]) + d_cw * d_max_first(a[2], b[2]);
    ga[1] = -d_area * aw - d_ih * d_max_first(a[1], b[1]) - d_ch * d_min_first(a[1], b[1]);
    ga[3] = d_area * aw + d_ih * d_min_first(a[3], b[3]) + d_ch * d_max_first(a[3], b[3]);
}

#define RF_REF_TEMPLATE "backend/cpu/ref_loss_impl.h"
#include "backend/cpu/ref_instantiate.h"
