/* ref_loss_impl.h — template body of the loss reference kernels.
 * Included by ref_loss.c once per precision through ref_instantiate.h
 * (REAL, FN). No include guard on purpose. */

void FN(rf_ref_bce)(int64_t n, const REAL *x, const REAL *pos_w, const REAL *neg_w, REAL *loss) {
    for (int64_t i = 0; i < n; i++) {
        double v = (double)x[i];
        loss[i] = (REAL)((double)pos_w[i] * rf_softplus(-v) + (double)neg_w[i] * rf_softplus(v));
    }
}

void FN(rf_ref_bce_backward)(int64_t n, const REAL *x, const REAL *pos_w, const REAL *neg_w, const REAL *dloss,
                             REAL *dx, bool accumulate, REAL *dpos_w, REAL *dneg_w) {
    for (int64_t i = 0; i < n; i++) {
        double v = (double)x[i], s = rf_sigmoid(v), d = (double)dloss[i];
        double g = d * ((double)pos_w[i] * (s - 1.0) + (double)neg_w[i] * s);
        dx[i] = (REAL)(accumulate ? (double)dx[i] + g : g);
        if (dpos_w) {
            dpos_w[i] = (REAL)((double)dpos_w[i] + d * rf_softplus(-v));
            dneg_w[i] = (REAL)((double)dneg_w[i] + d * rf_softplus(v));
        }
    }
}

/* The corners in REAL (RF_BOX_CORNERS, as every device), then double. */
static void FN(corners)(const REAL *box, double *c) {
    REAL r[4];
    RF_BOX_CORNERS(REAL, box, r);
    for (int k = 0; k < 4; k++) c[k] = (double)r[k];
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
        giou[i] = (REAL)rf_giou_forward(a, b).loss;
    }
}

void FN(rf_ref_box_loss_backward)(int64_t n, const REAL *pred, const REAL *target, const REAL *dl1, const REAL *dgiou,
                                  REAL *dpred, bool accumulate) {
    for (int64_t i = 0; i < n; i++) {
        const REAL *p = pred + 4 * i, *t = target + 4 * i;
        double a[4], b[4], ga[4];
        FN(corners)(p, a);
        FN(corners)(t, b);
        rf_giou_backward(a, b, (double)dgiou[i], ga);
        double pd[4], td[4], g[4];
        for (int k = 0; k < 4; k++) {
            pd[k] = (double)p[k];
            td[k] = (double)t[k];
        }
        rf_box_loss_grad(pd, td, ga, (double)dl1[i], g);
        for (int k = 0; k < 4; k++) {
            double v = g[k];
            REAL *out = &dpred[4 * i + k];
            *out = (REAL)(accumulate ? (double)*out + v : v);
        }
    }
}
