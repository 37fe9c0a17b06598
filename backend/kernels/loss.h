/* loss.h — weighted sigmoid BCE and the L1 + GIoU box losses: the GIoU
 * algebra of every device (generic over RF_S) and the kernels of the GPU
 * backends. Part of the one kernel source (device.h). One work item per
 * element (BCE) or per box pair (box losses) owns its outputs. */
#ifndef RFDETR_KERNELS_LOSS_H
#define RFDETR_KERNELS_LOSS_H

#ifndef __OPENCL_VERSION__
#include "backend/kernels/common.h"
#endif

/* cxcywh -> xyxy with w, h clamped at 0 (RF-DETR's box_cxcywh_to_xyxy; NaN
 * stays NaN as in torch's clamp), in the storage type T: cx -+ w/2 is one
 * rounding (w/2 is exact), so every device gets the same corners and takes
 * the same side of every max/min tie and clamp. */
#define RF_BOX_CORNERS(T, box, out)                                                                                \
    do {                                                                                                           \
        T w_ = (box)[2] < (T)0 ? (T)0 : (box)[2], h_ = (box)[3] < (T)0 ? (T)0 : (box)[3];                          \
        (out)[0] = (box)[0] - (T)0.5 * w_;                                                                         \
        (out)[1] = (box)[1] - (T)0.5 * h_;                                                                         \
        (out)[2] = (box)[0] + (T)0.5 * w_;                                                                         \
        (out)[3] = (box)[1] + (T)0.5 * h_;                                                                         \
    } while (0)

/* torch's subgradients of maximum/minimum: a tie gives half to each side. */
RF_FN RF_S rf_d_max_first(RF_S a, RF_S b) { return a > b ? RF_C(1.0) : a == b ? RF_C(0.5) : RF_C(0.0); }
RF_FN RF_S rf_d_min_first(RF_S a, RF_S b) { return a < b ? RF_C(1.0) : a == b ? RF_C(0.5) : RF_C(0.0); }

typedef struct rf_giou_terms {
    RF_S iw_raw, ih_raw, iw, ih, cw_raw, ch_raw, cw, ch, inter, uni, encl, loss;
} rf_giou_terms;

/* 1 - GIoU of corner boxes a, b (x0, y0, x1, y1), as RF-DETR's box_ops:
 * areas of the corners, intersection and enclosing extents clamped at 0,
 * GIoU = I/U - (C - U)/C; degenerate pairs give Inf/NaN as torch does. */
RF_FN rf_giou_terms rf_giou_forward(const RF_S *a, const RF_S *b) {
    rf_giou_terms g;
    RF_S area_a = (a[2] - a[0]) * (a[3] - a[1]), area_b = (b[2] - b[0]) * (b[3] - b[1]);
    g.iw_raw = fmin(a[2], b[2]) - fmax(a[0], b[0]);
    g.ih_raw = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    g.iw = fmax(g.iw_raw, RF_C(0.0));
    g.ih = fmax(g.ih_raw, RF_C(0.0));
    g.inter = g.iw * g.ih;
    g.uni = area_a + area_b - g.inter;
    g.cw_raw = fmax(a[2], b[2]) - fmin(a[0], b[0]);
    g.ch_raw = fmax(a[3], b[3]) - fmin(a[1], b[1]);
    g.cw = fmax(g.cw_raw, RF_C(0.0));
    g.ch = fmax(g.ch_raw, RF_C(0.0));
    g.encl = g.cw * g.ch;
    g.loss = RF_C(1.0) - (g.inter / g.uni - (g.encl - g.uni) / g.encl);
    return g;
}

/* d(1 - GIoU)/d(corners of a) times dl into ga. With L = 2 - I/U - U/C and
 * U = A + B - I: dL/dI = 1/C - 1/U - I/U^2, dL/dA = I/U^2 - 1/C,
 * dL/dC = U/C^2; clamp(min=0) passes the gradient where its input is >= 0. */
RF_FN void rf_giou_backward(const RF_S *a, const RF_S *b, RF_S dl, RF_S *ga) {
    rf_giou_terms g = rf_giou_forward(a, b);
    RF_S u2 = g.uni * g.uni;
    RF_S d_inter = dl * (RF_C(1.0) / g.encl - RF_C(1.0) / g.uni - g.inter / u2);
    RF_S d_area = dl * (g.inter / u2 - RF_C(1.0) / g.encl);
    RF_S d_encl = dl * (g.uni / (g.encl * g.encl));
    RF_S d_iw = g.iw_raw >= RF_C(0.0) ? d_inter * g.ih : RF_C(0.0);
    RF_S d_ih = g.ih_raw >= RF_C(0.0) ? d_inter * g.iw : RF_C(0.0);
    RF_S d_cw = g.cw_raw >= RF_C(0.0) ? d_encl * g.ch : RF_C(0.0);
    RF_S d_ch = g.ch_raw >= RF_C(0.0) ? d_encl * g.cw : RF_C(0.0);
    RF_S ah = a[3] - a[1], aw = a[2] - a[0];
    ga[0] = -d_area * ah - d_iw * rf_d_max_first(a[0], b[0]) - d_cw * rf_d_min_first(a[0], b[0]);
    ga[2] = d_area * ah + d_iw * rf_d_min_first(a[2], b[2]) + d_cw * rf_d_max_first(a[2], b[2]);
    ga[1] = -d_area * aw - d_ih * rf_d_max_first(a[1], b[1]) - d_ch * rf_d_min_first(a[1], b[1]);
    ga[3] = d_area * aw + d_ih * rf_d_min_first(a[3], b[3]) + d_ch * rf_d_max_first(a[3], b[3]);
}

/* The gradient of one pair's loss w.r.t. its cxcywh prediction p (target
 * t): the corners' gradient ga folded back through the cxcywh -> xyxy map
 * (w, h clamped: no gradient where negative), plus dl1 times the L1's
 * subgradient (sign, 0 at 0). */
RF_FN void rf_box_loss_grad(const RF_S *p, const RF_S *t, const RF_S *ga, RF_S dl1, RF_S *out) {
    out[0] = ga[0] + ga[2];
    out[1] = ga[1] + ga[3];
    out[2] = p[2] >= RF_C(0.0) ? RF_C(0.5) * (ga[2] - ga[0]) : RF_C(0.0);
    out[3] = p[3] >= RF_C(0.0) ? RF_C(0.5) * (ga[3] - ga[1]) : RF_C(0.0);
    for (int k = 0; k < 4; k++) {
        RF_S d = p[k] - t[k];
        out[k] += dl1 * (d > RF_C(0.0) ? RF_C(1.0) : d < RF_C(0.0) ? RF_C(-1.0) : RF_C(0.0));
    }
}

#ifdef RF_DEVICE_GPU

RF_KERNEL bce_f32(rf_long n, RF_GLOBAL const float *x, rf_ulong x_off, RF_GLOBAL const float *pw, rf_ulong pw_off,
                  RF_GLOBAL const float *nw, rf_ulong nw_off, RF_GLOBAL float *loss, rf_ulong loss_off) {
    rf_long i = rf_global_id(0);
    if (i >= n) return;
    float v = x[x_off + i];
    loss[loss_off + i] = pw[pw_off + i] * rf_softplus(-v) + nw[nw_off + i] * rf_softplus(v);
}

RF_KERNEL bce_backward_f32(rf_long n, RF_GLOBAL const float *x, rf_ulong x_off, RF_GLOBAL const float *pw,
                           rf_ulong pw_off, RF_GLOBAL const float *nw, rf_ulong nw_off, RF_GLOBAL const float *dl,
                           rf_ulong dl_off, RF_GLOBAL float *dx, rf_ulong dx_off, int accumulate, int has_dweights,
                           RF_GLOBAL float *dpw, rf_ulong dpw_off, RF_GLOBAL float *dnw, rf_ulong dnw_off) {
    rf_long i = rf_global_id(0);
    if (i >= n) return;
    float v = x[x_off + i], s = rf_sigmoid(v), d = dl[dl_off + i];
    float g = d * (pw[pw_off + i] * (s - 1.0f) + nw[nw_off + i] * s);
    dx[dx_off + i] = accumulate ? dx[dx_off + i] + g : g;
    if (has_dweights) {
        dpw[dpw_off + i] += d * rf_softplus(-v);
        dnw[dnw_off + i] += d * rf_softplus(v);
    }
}

RF_FN void rf_load4(RF_GLOBAL const float *src, float *dst) {
    for (int k = 0; k < 4; k++) dst[k] = src[k];
}

RF_KERNEL box_loss_f32(rf_long n, RF_GLOBAL const float *pred, rf_ulong p_off, RF_GLOBAL const float *target,
                       rf_ulong t_off, RF_GLOBAL float *l1, rf_ulong l1_off, RF_GLOBAL float *giou, rf_ulong g_off) {
    rf_long i = rf_global_id(0);
    if (i >= n) return;
    float p[4], t[4], a[4], b[4];
    rf_load4(pred + p_off + 4 * i, p);
    rf_load4(target + t_off + 4 * i, t);
    l1[l1_off + i] = fabs(p[0] - t[0]) + fabs(p[1] - t[1]) + fabs(p[2] - t[2]) + fabs(p[3] - t[3]);
    RF_BOX_CORNERS(float, p, a);
    RF_BOX_CORNERS(float, t, b);
    giou[g_off + i] = rf_giou_forward(a, b).loss;
}

RF_KERNEL box_loss_backward_f32(rf_long n, RF_GLOBAL const float *pred, rf_ulong p_off, RF_GLOBAL const float *target,
                                rf_ulong t_off, RF_GLOBAL const float *dl1, rf_ulong dl1_off,
                                RF_GLOBAL const float *dgiou, rf_ulong dg_off, RF_GLOBAL float *dpred, rf_ulong dp_off,
                                int accumulate) {
    rf_long i = rf_global_id(0);
    if (i >= n) return;
    float p[4], t[4], a[4], b[4], ga[4], g[4];
    rf_load4(pred + p_off + 4 * i, p);
    rf_load4(target + t_off + 4 * i, t);
    RF_BOX_CORNERS(float, p, a);
    RF_BOX_CORNERS(float, t, b);
    rf_giou_backward(a, b, dgiou[dg_off + i], ga);
    rf_box_loss_grad(p, t, ga, dl1[dl1_off + i], g);
    RF_GLOBAL float *out = dpred + dp_off + 4 * i;
    for (int k = 0; k < 4; k++) out[k] = accumulate ? out[k] + g[k] : g[k];
}

#define RF_KERNELS_LOSS(X) X(bce_f32) X(bce_backward_f32) X(box_loss_f32) X(box_loss_backward_f32)

#endif /* RF_DEVICE_GPU */

#endif /* RFDETR_KERNELS_LOSS_H */
