// loss.cl — weighted sigmoid BCE and the L1 + GIoU box losses for the
// OpenCL backend: twins of backend/cpu/ref_loss_impl.h in float. One work
// item per element (BCE) or per box pair (box losses) owns its outputs.

inline float sigmoid_f(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + exp(-x));
    float e = exp(x);
    return e / (1.0f + e);
}

// log(1 + e^x) without overflow.
inline float softplus_f(float x) { return fmax(x, 0.0f) + log1p(exp(-fabs(x))); }

__kernel void bce_f32(long n, __global const float *x, ulong x_off, __global const float *pw, ulong pw_off,
                      __global const float *nw, ulong nw_off, __global float *loss, ulong loss_off) {
    long i = get_global_id(0);
    if (i >= n) return;
    float v = x[x_off + i];
    loss[loss_off + i] = pw[pw_off + i] * softplus_f(-v) + nw[nw_off + i] * softplus_f(v);
}

__kernel void bce_backward_f32(long n, __global const float *x, ulong x_off, __global const float *pw, ulong pw_off,
                               __global const float *nw, ulong nw_off, __global const float *dl, ulong dl_off,
                               __global float *dx, ulong dx_off, int accumulate, int has_dweights,
                               __global float *dpw, ulong dpw_off, __global float *dnw, ulong dnw_off) {
    long i = get_global_id(0);
    if (i >= n) return;
    float v = x[x_off + i], s = sigmoid_f(v), d = dl[dl_off + i];
    float g = d * (pw[pw_off + i] * (s - 1.0f) + nw[nw_off + i] * s);
    dx[dx_off + i] = accumulate ? dx[dx_off + i] + g : g;
    if (has_dweights) {
        dpw[dpw_off + i] += d * softplus_f(-v);
        dnw[dnw_off + i] += d * softplus_f(v);
    }
}

// cxcywh -> xyxy with w, h clamped at 0 (RF-DETR's box_cxcywh_to_xyxy;
// NaN stays NaN as in torch's clamp).
inline float4 corners(__global const float *b) {
    float w = b[2] < 0.0f ? 0.0f : b[2], h = b[3] < 0.0f ? 0.0f : b[3];
    return (float4)(b[0] - 0.5f * w, b[1] - 0.5f * h, b[0] + 0.5f * w, b[1] + 0.5f * h);
}

// torch's subgradients of maximum/minimum: a tie gives half to each side.
inline float d_max_first(float a, float b) { return a > b ? 1.0f : a == b ? 0.5f : 0.0f; }
inline float d_min_first(float a, float b) { return a < b ? 1.0f : a == b ? 0.5f : 0.0f; }

typedef struct {
    float iw_raw, ih_raw, iw, ih, cw_raw, ch_raw, cw, ch, inter, uni, encl, loss;
} giou_terms;

inline giou_terms giou_forward(float4 a, float4 b) {
    giou_terms g;
    float area_a = (a.s2 - a.s0) * (a.s3 - a.s1), area_b = (b.s2 - b.s0) * (b.s3 - b.s1);
    g.iw_raw = fmin(a.s2, b.s2) - fmax(a.s0, b.s0);
    g.ih_raw = fmin(a.s3, b.s3) - fmax(a.s1, b.s1);
    g.iw = fmax(g.iw_raw, 0.0f);
    g.ih = fmax(g.ih_raw, 0.0f);
    g.inter = g.iw * g.ih;
    g.uni = area_a + area_b - g.inter;
    g.cw_raw = fmax(a.s2, b.s2) - fmin(a.s0, b.s0);
    g.ch_raw = fmax(a.s3, b.s3) - fmin(a.s1, b.s1);
    g.cw = fmax(g.cw_raw, 0.0f);
    g.ch = fmax(g.ch_raw, 0.0f);
    g.encl = g.cw * g.ch;
    g.loss = 1.0f - (g.inter / g.uni - (g.encl - g.uni) / g.encl);
    return g;
}

__kernel void box_loss_f32(long n, __global const float *pred, ulong p_off, __global const float *target, ulong t_off,
                           __global float *l1, ulong l1_off, __global float *giou, ulong g_off) {
    long i = get_global_id(0);
    if (i >= n) return;
    __global const float *p = pred + p_off + 4 * i, *t = target + t_off + 4 * i;
    l1[l1_off + i] = fabs(p[0] - t[0]) + fabs(p[1] - t[1]) + fabs(p[2] - t[2]) + fabs(p[3] - t[3]);
    giou[g_off + i] = giou_forward(corners(p), corners(t)).loss;
}

inline float sign_f(float d) { return d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : 0.0f; }

__kernel void box_loss_backward_f32(long n, __global const float *pred, ulong p_off, __global const float *target,
                                    ulong t_off, __global const float *dl1, ulong dl1_off, __global const float *dgiou,
                                    ulong dg_off, __global float *dpred, ulong dp_off, int accumulate) {
    long i = get_global_id(0);
    if (i >= n) return;
    __global const float *p = pred + p_off + 4 * i, *t = target + t_off + 4 * i;
    float4 a = corners(p), b = corners(t);
    giou_terms g = giou_forward(a, b);
    // L = 2 - I/U - U/C with U = A + B - I (see backend/cpu/ref_loss.c).
    float dl = dgiou[dg_off + i], u2 = g.uni * g.uni;
    float d_inter = dl * (1.0f / g.encl - 1.0f / g.uni - g.inter / u2);
    float d_area = dl * (g.inter / u2 - 1.0f / g.encl);
    float d_encl = dl * (g.uni / (g.encl * g.encl));
    float d_iw = g.iw_raw >= 0.0f ? d_inter * g.ih : 0.0f, d_ih = g.ih_raw >= 0.0f ? d_inter * g.iw : 0.0f;
    float d_cw = g.cw_raw >= 0.0f ? d_encl * g.ch : 0.0f, d_ch = g.ch_raw >= 0.0f ? d_encl * g.cw : 0.0f;
    float ah = a.s3 - a.s1, aw = a.s2 - a.s0;
    float g0 = -d_area * ah - d_iw * d_max_first(a.s0, b.s0) - d_cw * d_min_first(a.s0, b.s0);
    float g2 = d_area * ah + d_iw * d_min_first(a.s2, b.s2) + d_cw * d_max_first(a.s2, b.s2);
    float g1 = -d_area * aw - d_ih * d_max_first(a.s1, b.s1) - d_ch * d_min_first(a.s1, b.s1);
    float g3 = d_area * aw + d_ih * d_min_first(a.s3, b.s3) + d_ch * d_max_first(a.s3, b.s3);
    float d1 = dl1[dl1_off + i];
    float v[4] = {g0 + g2, g1 + g3, p[2] >= 0.0f ? 0.5f * (g2 - g0) : 0.0f, p[3] >= 0.0f ? 0.5f * (g3 - g1) : 0.0f};
    __global float *out = dpred + dp_off + 4 * i;
    for (int k = 0; k < 4; k++) {
        float r = v[k] + d1 * sign_f(p[k] - t[k]);
        out[k] = accumulate ? out[k] + r : r;
    }
}
