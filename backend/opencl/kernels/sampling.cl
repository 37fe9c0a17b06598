// sampling.cl — bilinear grid sample, multi-scale deformable attention, row
// gather and top-k for the OpenCL backend. Twins of
// backend/cpu/ref_sampling_impl.h.
//
// Deterministic without atomics: every work item owns its outputs. The
// gradients that naturally scatter are computed by the owner of a whole
// destination column, which walks the samples in a fixed order:
//   grid-sample dx        one work item per (n, c) plane, outputs in order;
//   deformable dvalue     one work item per (b, head, channel) column,
//                         samples in (query, level, point) order;
//   gather dsrc           one work item per (b, column), rows in order.

// Coordinates, weights and the floor that picks the corners must round
// exactly as the cpu reference's float code does: no fused multiply-adds.
#pragma OPENCL FP_CONTRACT OFF

// The four bilinear taps (nw, ne, sw, se) around pixel coordinates (px, py)
// of an h x w plane with zero padding; tap k is at row y0 + k/2, column
// x0 + k%2, used only when inside[k]. NaN coordinates leave every tap out.
typedef struct {
    float fx, fy;
    float wt[4];
    long at[4];
    int inside[4];
} taps;

inline taps bilinear_taps(float px, float py, long h, long w) {
    taps t;
    float x0 = floor(px), y0 = floor(py);
    t.fx = px - x0;
    t.fy = py - y0;
    float gx = 1.0f - t.fx, gy = 1.0f - t.fy;
    t.wt[0] = gx * gy;
    t.wt[1] = t.fx * gy;
    t.wt[2] = gx * t.fy;
    t.wt[3] = t.fx * t.fy;
    for (int k = 0; k < 4; k++) {
        float xk = x0 + (float)(k & 1), yk = y0 + (float)(k >> 1);
        t.inside[k] = xk >= 0.0f && xk <= (float)(w - 1) && yk >= 0.0f && yk <= (float)(h - 1);
        t.at[k] = t.inside[k] ? (long)yk * w + (long)xk : 0;
    }
    return t;
}

// d(weight of tap k)/d(px) and /d(py).
inline float tap_dx(const taps *t, int k) {
    float s = (k >> 1) ? t->fy : 1.0f - t->fy;
    return (k & 1) ? s : -s;
}
inline float tap_dy(const taps *t, int k) {
    float s = (k & 1) ? t->fx : 1.0f - t->fx;
    return (k >> 1) ? s : -s;
}

// align_corners=False: grid -1 and +1 are the outer edges of the border pixels.
inline float grid_to_pixel(float g, long size) { return ((g + 1.0f) * (float)size - 1.0f) * 0.5f; }

inline taps grid_taps(__global const float *grid, long at, long h, long w) {
    return bilinear_taps(grid_to_pixel(grid[at], w), grid_to_pixel(grid[at + 1], h), h, w);
}

// ---- grid sample --------------------------------------------------------------------

__kernel void grid_sample_f32(long n, long c, long h, long w, long ho, long wo, __global const float *x, ulong x_off,
                              __global const float *grid, ulong g_off, __global float *y, ulong y_off) {
    long i = get_global_id(0);
    long hw = ho * wo;
    if (i >= n * c * hw) return;
    long p = i % hw, b = i / (c * hw);
    taps t = grid_taps(grid, g_off + (b * hw + p) * 2, h, w);
    __global const float *plane = x + x_off + (i / hw) * h * w;
    float acc = 0.0f;
    for (int k = 0; k < 4; k++)
        if (t.inside[k]) acc += t.wt[k] * plane[t.at[k]];
    y[y_off + i] = acc;
}

// One work item per (n, c) plane of dx: walks the outputs in order.
__kernel void grid_sample_backward_dx_f32(long n, long c, long h, long w, long ho, long wo, __global const float *grid,
                                          ulong g_off, __global const float *dy, ulong dy_off, __global float *dx,
                                          ulong dx_off, int accumulate) {
    long i = get_global_id(0);
    if (i >= n * c) return;
    long b = i / c, hw = ho * wo;
    __global float *plane = dx + dx_off + i * h * w;
    if (!accumulate)
        for (long k = 0; k < h * w; k++) plane[k] = 0.0f;
    __global const float *g = dy + dy_off + i * hw;
    for (long p = 0; p < hw; p++) {
        taps t = grid_taps(grid, g_off + (b * hw + p) * 2, h, w);
        float gy = g[p];
        for (int k = 0; k < 4; k++)
            if (t.inside[k]) plane[t.at[k]] += t.wt[k] * gy;
    }
}

// One work item per sample point: sums over channels in order.
__kernel void grid_sample_backward_dgrid_f32(long n, long c, long h, long w, long ho, long wo, __global const float *x,
                                             ulong x_off, __global const float *grid, ulong g_off,
                                             __global const float *dy, ulong dy_off, __global float *dgrid,
                                             ulong dg_off, int accumulate) {
    long i = get_global_id(0);
    long hw = ho * wo;
    if (i >= n * hw) return;
    long b = i / hw, p = i % hw;
    taps t = grid_taps(grid, g_off + i * 2, h, w);
    float sx = 0.0f, sy = 0.0f;
    for (long ch = 0; ch < c; ch++) {
        __global const float *plane = x + x_off + (b * c + ch) * h * w;
        float gout = dy[dy_off + (b * c + ch) * hw + p];
        for (int k = 0; k < 4; k++)
            if (t.inside[k]) {
                float v = plane[t.at[k]] * gout;
                sx += tap_dx(&t, k) * v;
                sy += tap_dy(&t, k) * v;
            }
    }
    sx *= 0.5f * (float)w;
    sy *= 0.5f * (float)h;
    __global float *dg = dgrid + dg_off + i * 2;
    dg[0] = accumulate ? dg[0] + sx : sx;
    dg[1] = accumulate ? dg[1] + sy : sy;
}

// ---- multi-scale deformable attention ---------------------------------------------------

// The leading arguments of every deformable-attention kernel: the sizes in
// rf_deform_attn_args' order, then value, level shapes and starts, sampling
// locations and attention weights (each buffer with its offset).
#define DEFORM_INPUTS                                                                                        \
    long B, long S, long H, long D, long Q, long L, long P, __global const float *value, ulong v_off,        \
        __global const int *shapes, ulong shapes_off, __global const int *starts, ulong starts_off,          \
        __global const float *loc, ulong loc_off, __global const float *attn, ulong a_off

// Taps of sample `sample` = ((b*Q + q)*H + h)*L + l)*P + p, with `at` turned
// into value rows (b, level start + pixel) of head h.
inline taps deform_taps(long S, long H, __global const int *shapes, __global const int *starts,
                        __global const float *loc, long sample, long b, long h, long l, float *scale_x,
                        float *scale_y) {
    long lh = shapes[2 * l], lw = shapes[2 * l + 1];
    taps t = bilinear_taps(loc[2 * sample] * (float)lw - 0.5f, loc[2 * sample + 1] * (float)lh - 0.5f, lh, lw);
    for (int k = 0; k < 4; k++) t.at[k] = (b * S + starts[l] + t.at[k]) * H + h;
    *scale_x = (float)lw;
    *scale_y = (float)lh;
    return t;
}

// One work item per output element (b, q, h, d): levels and points in order.
__kernel void deform_attn_f32(DEFORM_INPUTS, __global float *out, ulong o_off) {
    long i = get_global_id(0);
    if (i >= B * Q * H * D) return;
    long d = i % D, h = (i / D) % H, q = (i / (D * H)) % Q, b = i / (D * H * Q);
    shapes += shapes_off;
    starts += starts_off;
    loc += loc_off;
    value += v_off;
    float acc = 0.0f;
    for (long l = 0; l < L; l++)
        for (long p = 0; p < P; p++) {
            long sample = (((b * Q + q) * H + h) * L + l) * P + p;
            float sx, sy;
            taps t = deform_taps(S, H, shapes, starts, loc, sample, b, h, l, &sx, &sy);
            float v = 0.0f;
            for (int k = 0; k < 4; k++)
                if (t.inside[k]) v += t.wt[k] * value[t.at[k] * D + d];
            acc += attn[a_off + sample] * v;
        }
    out[o_off + i] = acc;
}

// dvalue: one work item per (b, h, d) column, samples in (q, l, p) order.
__kernel void deform_attn_backward_value_f32(DEFORM_INPUTS, __global const float *dout, ulong do_off,
                                             __global float *dvalue, ulong dv_off) {
    long i = get_global_id(0);
    if (i >= B * H * D) return;
    long d = i % D, h = (i / D) % H, b = i / (D * H);
    shapes += shapes_off;
    starts += starts_off;
    loc += loc_off;
    dvalue += dv_off;
    for (long q = 0; q < Q; q++) {
        float g = dout[do_off + ((b * Q + q) * H + h) * D + d];
        for (long l = 0; l < L; l++)
            for (long p = 0; p < P; p++) {
                long sample = (((b * Q + q) * H + h) * L + l) * P + p;
                float sx, sy;
                taps t = deform_taps(S, H, shapes, starts, loc, sample, b, h, l, &sx, &sy);
                float ag = attn[a_off + sample] * g;
                for (int k = 0; k < 4; k++)
                    if (t.inside[k]) dvalue[t.at[k] * D + d] += t.wt[k] * ag;
            }
    }
}

// Locations and attention weights: one work item per sample, channels in order.
__kernel void deform_attn_backward_sample_f32(DEFORM_INPUTS, __global const float *dout, ulong do_off,
                                              __global float *dloc, ulong dl_off, __global float *dattn,
                                              ulong da_off) {
    long sample = get_global_id(0);
    if (sample >= B * Q * H * L * P) return;
    long l = (sample / P) % L, h = (sample / (P * L)) % H, b = sample / (P * L * H * Q);
    shapes += shapes_off;
    starts += starts_off;
    loc += loc_off;
    value += v_off;
    float sx, sy;
    taps t = deform_taps(S, H, shapes, starts, loc, sample, b, h, l, &sx, &sy);
    __global const float *go = dout + do_off + (sample / (P * L)) * D;
    float ga = 0.0f, gx = 0.0f, gy = 0.0f;
    for (long d = 0; d < D; d++)
        for (int k = 0; k < 4; k++)
            if (t.inside[k]) {
                float v = value[t.at[k] * D + d] * go[d];
                ga += t.wt[k] * v;
                gx += tap_dx(&t, k) * v;
                gy += tap_dy(&t, k) * v;
            }
    float a = attn[a_off + sample];
    dattn[da_off + sample] += ga;
    dloc[dl_off + 2 * sample] += a * gx * sx;
    dloc[dl_off + 2 * sample + 1] += a * gy * sy;
}

// ---- gather rows -------------------------------------------------------------------------

__kernel void gather_rows_f32(long batch, long src_rows, long cols, long count, __global const float *src,
                              ulong s_off, __global const int *idx, ulong i_off, __global float *out, ulong o_off) {
    long i = get_global_id(0);
    if (i >= batch * count * cols) return;
    long c = i % cols, row = i / cols, b = row / count;
    long r = idx[i_off + row];
    out[o_off + i] = (r >= 0 && r < src_rows) ? src[s_off + (b * src_rows + r) * cols + c] : 0.0f;
}

// One work item per (b, column): rows in order, so repeated indices add up
// deterministically.
__kernel void gather_rows_backward_f32(long batch, long src_rows, long cols, long count, __global const float *dout,
                                       ulong do_off, __global const int *idx, ulong i_off, __global float *dsrc,
                                       ulong ds_off) {
    long i = get_global_id(0);
    if (i >= batch * cols) return;
    long c = i % cols, b = i / cols;
    for (long k = 0; k < count; k++) {
        long r = idx[i_off + b * count + k];
        if (r >= 0 && r < src_rows) dsrc[ds_off + (b * src_rows + r) * cols + c] += dout[do_off + (b * count + k) * cols + c];
    }
}

// ---- top-k --------------------------------------------------------------------------------

// The top-k order: NaN first, then larger values, ties by ascending index.
inline bool topk_before(float a, long ia, float b, long ib) {
    bool na = isnan(a), nb = isnan(b);
    if (na != nb) return na;
    if (!na && a != b) return a > b;
    return ia < ib;
}

// One work item per element: its rank is the number of elements before it
// in top-k order; it writes itself to slot `rank` when that is below k (the
// order is total, so every slot gets exactly one writer). Stops counting at
// k, so elements far from the top cost little.
__kernel void topk_f32(long rows, long cols, long k, __global const float *x, ulong x_off, __global float *values,
                       ulong v_off, __global int *indices, ulong i_off) {
    long i = get_global_id(0);
    if (i >= rows * cols) return;
    long r = i / cols, j = i % cols;
    __global const float *row = x + x_off + r * cols;
    float v = row[j];
    long rank = 0;
    for (long m = 0; m < cols && rank < k; m++) rank += topk_before(row[m], m, v, j);
    if (rank >= k) return;
    values[v_off + r * k + rank] = v;
    indices[i_off + r * k + rank] = (int)j;
}
