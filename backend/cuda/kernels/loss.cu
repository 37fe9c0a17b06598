// loss.cu — weighted sigmoid BCE and the L1 + GIoU box losses for the CUDA
// backend: twins of backend/opencl/kernels/loss.cl (same formulas, same
// order), with their launchers. One thread per element or box pair.
#include <cmath>

#include "backend/cuda/kernels/common.cuh"

namespace {

__device__ inline float sigmoid_f(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

__device__ inline float softplus_f(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }

__global__ void bce_kernel(long long n, const float *x, const float *pw, const float *nw, float *loss) {
    long long i = global_index();
    if (i >= n) return;
    float v = x[i];
    loss[i] = pw[i] * softplus_f(-v) + nw[i] * softplus_f(v);
}

__global__ void bce_backward_kernel(long long n, const float *x, const float *pw, const float *nw, const float *dl,
                                    float *dx, int accumulate, float *dpw, float *dnw) {
    long long i = global_index();
    if (i >= n) return;
    float v = x[i], s = sigmoid_f(v), d = dl[i];
    float g = d * (pw[i] * (s - 1.0f) + nw[i] * s);
    dx[i] = accumulate ? dx[i] + g : g;
    if (dpw) {
        dpw[i] += d * softplus_f(-v);
        dnw[i] += d * softplus_f(v);
    }
}

struct box4 {
    float x0, y0, x1, y1;
};

// cxcywh -> xyxy with w, h clamped at 0 (RF-DETR's box_cxcywh_to_xyxy;
// NaN stays NaN as in torch's clamp).
__device__ inline box4 corners(const float *b) {
    float w = b[2] < 0.0f ? 0.0f : b[2], h = b[3] < 0.0f ? 0.0f : b[3];
    return {b[0] - 0.5f * w, b[1] - 0.5f * h, b[0] + 0.5f * w, b[1] + 0.5f * h};
}

// torch's subgradients of maximum/minimum: a tie gives half to each side.
__device__ inline float d_max_first(float a, float b) { return a > b ? 1.0f : a == b ? 0.5f : 0.0f; }
__device__ inline float d_min_first(float a, float b) { return a < b ? 1.0f : a == b ? 0.5f : 0.0f; }
__device__ inline float sign_f(float d) { return d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : 0.0f; }

struct giou_terms {
    float iw_raw, ih_raw, iw, ih, cw_raw, ch_raw, cw, ch, inter, uni, encl, loss;
};

__device__ giou_terms giou_forward(box4 a, box4 b) {
    giou_terms g;
    float area_a = (a.x1 - a.x0) * (a.y1 - a.y0), area_b = (b.x1 - b.x0) * (b.y1 - b.y0);
    g.iw_raw = fminf(a.x1, b.x1) - fmaxf(a.x0, b.x0);
    g.ih_raw = fminf(a.y1, b.y1) - fmaxf(a.y0, b.y0);
    g.iw = fmaxf(g.iw_raw, 0.0f);
    g.ih = fmaxf(g.ih_raw, 0.0f);
    g.inter = g.iw * g.ih;
    g.uni = area_a + area_b - g.inter;
    g.cw_raw = fmaxf(a.x1, b.x1) - fminf(a.x0, b.x0);
    g.ch_raw = fmaxf(a.y1, b.y1) - fminf(a.y0, b.y0);
    g.cw = fmaxf(g.cw_raw, 0.0f);
    g.ch = fmaxf(g.ch_raw, 0.0f);
    g.encl = g.cw * g.ch;
    g.loss = 1.0f - (g.inter / g.uni - (g.encl - g.uni) / g.encl);
    return g;
}

__global__ void box_loss_kernel(long long n, const float *pred, const float *target, float *l1, float *giou) {
    long long i = global_index();
    if (i >= n) return;
    const float *p = pred + 4 * i, *t = target + 4 * i;
    l1[i] = fabsf(p[0] - t[0]) + fabsf(p[1] - t[1]) + fabsf(p[2] - t[2]) + fabsf(p[3] - t[3]);
    giou[i] = giou_forward(corners(p), corners(t)).loss;
}

__global__ void box_loss_backward_kernel(long long n, const float *pred, const float *target, const float *dl1,
                                         const float *dgiou, float *dpred, int accumulate) {
    long long i = global_index();
    if (i >= n) return;
    const float *p = pred + 4 * i, *t = target + 4 * i;
    box4 a = corners(p), b = corners(t);
    giou_terms g = giou_forward(a, b);
    // L = 2 - I/U - U/C with U = A + B - I (see backend/cpu/ref_loss.c).
    float dl = dgiou[i], u2 = g.uni * g.uni;
    float d_inter = dl * (1.0f / g.encl - 1.0f / g.uni - g.inter / u2);
    float d_area = dl * (g.inter / u2 - 1.0f / g.encl);
    float d_encl = dl * (g.uni / (g.encl * g.encl));
    float d_iw = g.iw_raw >= 0.0f ? d_inter * g.ih : 0.0f, d_ih = g.ih_raw >= 0.0f ? d_inter * g.iw : 0.0f;
    float d_cw = g.cw_raw >= 0.0f ? d_encl * g.ch : 0.0f, d_ch = g.ch_raw >= 0.0f ? d_encl * g.cw : 0.0f;
    float ah = a.y1 - a.y0, aw = a.x1 - a.x0;
    float g0 = -d_area * ah - d_iw * d_max_first(a.x0, b.x0) - d_cw * d_min_first(a.x0, b.x0);
    float g2 = d_area * ah + d_iw * d_min_first(a.x1, b.x1) + d_cw * d_max_first(a.x1, b.x1);
    float g1 = -d_area * aw - d_ih * d_max_first(a.y0, b.y0) - d_ch * d_min_first(a.y0, b.y0);
    float g3 = d_area * aw + d_ih * d_min_first(a.y1, b.y1) + d_ch * d_max_first(a.y1, b.y1);
    float d1 = dl1[i];
    float v[4] = {g0 + g2, g1 + g3, p[2] >= 0.0f ? 0.5f * (g2 - g0) : 0.0f, p[3] >= 0.0f ? 0.5f * (g3 - g1) : 0.0f};
    float *out = dpred + 4 * i;
    for (int k = 0; k < 4; k++) {
        float r = v[k] + d1 * sign_f(p[k] - t[k]);
        out[k] = accumulate ? out[k] + r : r;
    }
}

rf_status cuda_bce(rf_device *dev, const rf_bce_args *a) {
    ENTER(dev);
    if (a->n == 0) return RF_OK;
    bce_kernel<<<blocks_for(a->n), kThreads, 0, stream_of(dev)>>>(a->n, CF(a->x), CF(a->pos_w), CF(a->neg_w), F(a->loss));
    return finish(dev, "bce_kernel");
}

rf_status cuda_bce_backward(rf_device *dev, const rf_bce_backward_args *a) {
    ENTER(dev);
    if (a->n == 0) return RF_OK;
    bce_backward_kernel<<<blocks_for(a->n), kThreads, 0, stream_of(dev)>>>(
        a->n, CF(a->x), CF(a->pos_w), CF(a->neg_w), CF(a->dloss), F(a->dx), a->accumulate,
        a->has_dweights ? F(a->dpos_w) : nullptr, a->has_dweights ? F(a->dneg_w) : nullptr);
    return finish(dev, "bce_backward_kernel");
}

rf_status cuda_box_loss(rf_device *dev, const rf_box_loss_args *a) {
    ENTER(dev);
    if (a->n == 0) return RF_OK;
    box_loss_kernel<<<blocks_for(a->n), kThreads, 0, stream_of(dev)>>>(a->n, CF(a->pred), CF(a->target), F(a->l1),
                                                                       F(a->giou));
    return finish(dev, "box_loss_kernel");
}

rf_status cuda_box_loss_backward(rf_device *dev, const rf_box_loss_backward_args *a) {
    ENTER(dev);
    if (a->n == 0) return RF_OK;
    box_loss_backward_kernel<<<blocks_for(a->n), kThreads, 0, stream_of(dev)>>>(
        a->n, CF(a->pred), CF(a->target), CF(a->dl1), CF(a->dgiou), F(a->dpred), a->accumulate);
    return finish(dev, "box_loss_backward_kernel");
}

} // namespace

// Positional, in the order of rf_kernels_loss (backend/kernels.h).
extern "C" const rf_kernels_loss rf_cuda_kernels_loss = {
    cuda_bce,
    cuda_bce_backward,
    cuda_box_loss,
    cuda_box_loss_backward,
};
