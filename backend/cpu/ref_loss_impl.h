/* ref_loss_impl.h — template body of the loss reference kernels.
 * Included by ref_loss.c once per precision through ref_instantiate.h
 * (REAL, FN). No include guard on purpose. */

void FN(rf_ref_bce)(int64_t n, const REAL *x, const REAL *pos_w, const REAL *neg_w, REAL *loss) {
    for (int64_t i = 0; i < n; i++) {
        double v = (double)x[i];
        loss[i] = (REAL)((double)pos_w[i] * softplus(-v) + (double)neg_w[i] * softplus(v));
    }
}

void FN(rf_ref_bce_backward)(int64_t n, const REAL *x, const REAL *pos_w, const REAL *neg_w, const REAL *dloss,
                             REAL *dx, bool accumulate, REAL *dpos_w, REAL *dneg_w) {
    for (int64_t i = 0; i < n; i++) {
        double v = (double)x[i], s = sigmoid(v), d = (double)dloss[i];
        double g = d * ((double)pos_w[i] * (s - 1.0) + (double)neg_w[i] * s);
        dx[i] = (REAL)(accumulate ? (double)dx[i] + g : g);
        if (dpos_w) {
            dpos_w[i] = (REAL)((double)dpos_w[i] + d * softplus(-v));
            dneg_w[i] = (REAL)((double)dneg_w[i] + d * softplus(v));
        }
    }
}

/* cxcywh -> xyxy with w, h clamped at 0, as RF-DETR's box_cxcywh_to_xyxy.
 * In REAL precision: cx -+ w/2 is one rounding (w/2 is exact), so every
 * device gets the same corners and takes the same side of every max/min tie
 * and clamp; the rest is in double. */
static void FN(corners)(const REAL *b, double *c) {
    REAL w = b[2] < 0 ? (REAL)0 : b[2], h = b[3] < 0 ? (REAL)0 : b[3]; /* NaN stays NaN, as torch's clamp */
    c[0] = (double)(REAL)(b[0] - (REAL)0.5 * w);
    c[1] = (double)(REAL)(b[1] - (REAL)0.5 * h);
    c[2] = (double)(REAL)(b[0] + (REAL)0.5 * w);
    c[3] = (double)(REAL)(b[1] + (REAL)0.5 * h);
}

void FN(rf_ref_box_loss)(int64_t n, const REAL *pred, const REAL *target, REAL *l1, REAL *giou) {
    for (int64_t i = 0; i < n; i++) {
        const REAL *p = pred + 4 * i, *t = target + 4 * i;
        double sum = 0;
        for (int k = 0; k < 4; k++) sum += fabs((double)p[k] - (double)t[k]);
        l1[i] = (REAL)sum;
        double a[4], b[4];
        FN(corners)(p, a);
        FN(corners)(t, b);
        giou_terms g = giou_forward(a, b);
        giou[i] = (REAL)g.loss;
    }
}

void FN(rf_ref_box_loss_backward)(int64_t n, const REAL *pred, const REAL *target, const REAL *dl1, const REAL *dgiou,
                                  REAL *dpred, bool accumulate) {
    for (int64_t i = 0; i < n; i++) {
        const REAL *p = pred + 4 * i, *t = target + 4 * i;
        double a[4], b[4], ga[4];
        FN(corners)(p, a);
        FN(corners)(t, b);
        giou_backward(a, b, (double)dgiou[i], ga);
        double g[4];
        g[0] = ga[0] + ga[2];
        g[1] = ga[1] + ga[3];
        g[2] = (double)p[2] >= 0 ? 0.5 * (ga[2] - ga[0]) : 0.0;
        g[3] = (double)p[3] >= 0 ? 0.5 * (ga[3] - ga[1]) : 0.0;
        for (int k = 0; k < 4; k++) {
            double diff = (double)p[k] - (double)t[k];
            double v = g[k] + (double)dl1[i] * (diff > 0 ? 1.0 : diff < 0 ? -1.0 : 0.0);
            REAL *out = &dpred[4 * i + k];
            *out = (REAL)(accumulate ? (double)*out + v : v);
        }
    }
}
