// sampling.cu — bilinear grid sample, multi-scale deformable attention, row
// gather and top-k for the CUDA backend: twins of
// backend/opencl/kernels/sampling.cl (same work decomposition, same
// summation order, no atomics), with their launchers.
#include "backend/cuda/kernels/common.cuh"

namespace {

// The four bilinear taps (nw, ne, sw, se) around pixel coordinates (px, py)
// of an h x w plane with zero padding; tap k is at row y0 + k/2, column
// x0 + k%2, used only when inside[k]. NaN coordinates leave every tap out.
struct taps {
    float fx, fy;
    float wt[4];
    long long at[4];
    bool inside[4];
};

__device__ inline taps bilinear_taps(float px, float py, long long h, long long w) {
    taps t;
    float x0 = floorf(px), y0 = floorf(py);
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
        t.at[k] = t.inside[k] ? (long long)yk * w + (long long)xk : 0;
    }
    return t;
}

__device__ inline float tap_dx(const taps &t, int k) {
    float s = (k >> 1) ? t.fy : 1.0f - t.fy;
    return (k & 1) ? s : -s;
}
__device__ inline float tap_dy(const taps &t, int k) {
    float s = (k & 1) ? t.fx : 1.0f - t.fx;
    return (k >> 1) ? s : -s;
}

// Coordinates round exactly as in the OpenCL kernels (FP_CONTRACT OFF) and
// the cpu reference: explicitly unfused, so a sample on a pixel boundary
// picks the same corners everywhere.
__device__ inline float grid_to_pixel(float g, long long size) {
    return __fmul_rn(__fsub_rn(__fmul_rn(__fadd_rn(g, 1.0f), (float)size), 1.0f), 0.5f);
}

__device__ inline taps grid_taps(const float *grid, long long at, long long h, long long w) {
    return bilinear_taps(grid_to_pixel(grid[at], w), grid_to_pixel(grid[at + 1], h), h, w);
}

struct grid_dims {
    long long n, c, h, w, ho, wo;
};

template <typename Args> grid_dims grid_dims_of(const Args *a) { return {a->n, a->c, a->h, a->w, a->ho, a->wo}; }

__global__ void grid_sample_kernel(grid_dims g, const float *x, const float *grid, float *y) {
    long long i = global_index();
    long long hw = g.ho * g.wo;
    if (i >= g.n * g.c * hw) return;
    long long p = i % hw, b = i / (g.c * hw);
    taps t = grid_taps(grid, (b * hw + p) * 2, g.h, g.w);
    const float *plane = x + (i / hw) * g.h * g.w;
    float acc = 0.0f;
    for (int k = 0; k < 4; k++)
        if (t.inside[k]) acc += t.wt[k] * plane[t.at[k]];
    y[i] = acc;
}

// One thread per (n, c) plane of dx: walks the outputs in order.
__global__ void grid_sample_backward_dx_kernel(grid_dims g, const float *grid, const float *dy, float *dx,
                                               int accumulate) {
    long long i = global_index();
    if (i >= g.n * g.c) return;
    long long b = i / g.c, hw = g.ho * g.wo;
    float *plane = dx + i * g.h * g.w;
    if (!accumulate)
        for (long long k = 0; k < g.h * g.w; k++) plane[k] = 0.0f;
    const float *gout = dy + i * hw;
    for (long long p = 0; p < hw; p++) {
        taps t = grid_taps(grid, (b * hw + p) * 2, g.h, g.w);
        float gy = gout[p];
        for (int k = 0; k < 4; k++)
            if (t.inside[k]) plane[t.at[k]] += t.wt[k] * gy;
    }
}

// One thread per sample point: sums over channels in order.
__global__ void grid_sample_backward_dgrid_kernel(grid_dims g, const float *x, const float *grid, const float *dy,
                                                  float *dgrid, int accumulate) {
    long long i = global_index();
    long long hw = g.ho * g.wo;
    if (i >= g.n * hw) return;
    long long b = i / hw, p = i % hw;
    taps t = grid_taps(grid, i * 2, g.h, g.w);
    float sx = 0.0f, sy = 0.0f;
    for (long long ch = 0; ch < g.c; ch++) {
        const float *plane = x + (b * g.c + ch) * g.h * g.w;
        float gout = dy[(b * g.c + ch) * hw + p];
        for (int k = 0; k < 4; k++)
            if (t.inside[k]) {
                float v = plane[t.at[k]] * gout;
                sx += tap_dx(t, k) * v;
                sy += tap_dy(t, k) * v;
            }
    }
    sx *= 0.5f * (float)g.w;
    sy *= 0.5f * (float)g.h;
    float *dg = dgrid + i * 2;
    dg[0] = accumulate ? dg[0] + sx : sx;
    dg[1] = accumulate ? dg[1] + sy : sy;
}

// ---- multi-scale deformable attention ---------------------------------------------------

struct deform_dims {
    long long B, S, H, D, Q, L, P;
};

template <typename Args> deform_dims deform_dims_of(const Args *a) {
    return {a->batch, a->value_len, a->heads, a->head_dim, a->queries, a->levels, a->points};
}

// Taps of sample ((b*Q + q)*H + h)*L + l)*P + p, with `at` turned into value
// rows (b, level start + pixel) of head h.
__device__ inline taps deform_taps(const deform_dims &d, const int *shapes, const int *starts, const float *loc,
                                   long long sample, long long b, long long h, long long l, float *scale_x,
                                   float *scale_y) {
    long long lh = shapes[2 * l], lw = shapes[2 * l + 1];
    taps t = bilinear_taps(__fsub_rn(__fmul_rn(loc[2 * sample], (float)lw), 0.5f),
                           __fsub_rn(__fmul_rn(loc[2 * sample + 1], (float)lh), 0.5f), lh, lw);
    for (int k = 0; k < 4; k++) t.at[k] = (b * d.S + starts[l] + t.at[k]) * d.H + h;
    *scale_x = (float)lw;
    *scale_y = (float)lh;
    return t;
}

// One thread per output element (b, q, h, d): levels and points in order.
__global__ void deform_attn_kernel(deform_dims d, const float *value, const int *shapes, const int *starts,
                                   const float *loc, const float *attn, float *out) {
    long long i = global_index();
    if (i >= d.B * d.Q * d.H * d.D) return;
    long long c = i % d.D, h = (i / d.D) % d.H, q = (i / (d.D * d.H)) % d.Q, b = i / (d.D * d.H * d.Q);
    float acc = 0.0f;
    for (long long l = 0; l < d.L; l++)
        for (long long p = 0; p < d.P; p++) {
            long long sample = (((b * d.Q + q) * d.H + h) * d.L + l) * d.P + p;
            float sx, sy;
            taps t = deform_taps(d, shapes, starts, loc, sample, b, h, l, &sx, &sy);
            float v = 0.0f;
            for (int k = 0; k < 4; k++)
                if (t.inside[k]) v += t.wt[k] * value[t.at[k] * d.D + c];
            acc += attn[sample] * v;
        }
    out[i] = acc;
}

// dvalue: one thread per (b, h, d) column, samples in (q, l, p) order.
__global__ void deform_attn_backward_value_kernel(deform_dims d, const int *shapes, const int *starts,
                                                  const float *loc, const float *attn, const float *dout,
                                                  float *dvalue) {
    long long i = global_index();
    if (i >= d.B * d.H * d.D) return;
    long long c = i % d.D, h = (i / d.D) % d.H, b = i / (d.D * d.H);
    for (long long q = 0; q < d.Q; q++) {
        float g = dout[((b * d.Q + q) * d.H + h) * d.D + c];
        for (long long l = 0; l < d.L; l++)
            for (long long p = 0; p < d.P; p++) {
                long long sample = (((b * d.Q + q) * d.H + h) * d.L + l) * d.P + p;
                float sx, sy;
                taps t = deform_taps(d, shapes, starts, loc, sample, b, h, l, &sx, &sy);
                float ag = attn[sample] * g;
                for (int k = 0; k < 4; k++)
                    if (t.inside[k]) dvalue[t.at[k] * d.D + c] += t.wt[k] * ag;
            }
    }
}

// Locations and attention weights: one thread per sample, channels in order.
__global__ void deform_attn_backward_sample_kernel(deform_dims d, const float *value, const int *shapes,
                                                   const int *starts, const float *loc, const float *attn,
                                                   const float *dout, float *dloc, float *dattn) {
    long long sample = global_index();
    if (sample >= d.B * d.Q * d.H * d.L * d.P) return;
    long long l = (sample / d.P) % d.L, h = (sample / (d.P * d.L)) % d.H, b = sample / (d.P * d.L * d.H * d.Q);
    float sx, sy;
    taps t = deform_taps(d, shapes, starts, loc, sample, b, h, l, &sx, &sy);
    const float *go = dout + (sample / (d.P * d.L)) * d.D;
    float ga = 0.0f, gx = 0.0f, gy = 0.0f;
    for (long long c = 0; c < d.D; c++)
        for (int k = 0; k < 4; k++)
            if (t.inside[k]) {
                float v = value[t.at[k] * d.D + c] * go[c];
                ga += t.wt[k] * v;
                gx += tap_dx(t, k) * v;
                gy += tap_dy(t, k) * v;
            }
    float a = attn[sample];
    dattn[sample] += ga;
    dloc[2 * sample] += a * gx * sx;
    dloc[2 * sample + 1] += a * gy * sy;
}

// ---- gather rows and top-k ---------------------------------------------------------------

__global__ void gather_rows_kernel(long long batch, long long src_rows, long long cols, long long count,
                                   const float *src, const int *idx, float *out) {
    long long i = global_index();
    if (i >= batch * count * cols) return;
    long long c = i % cols, row = i / cols, b = row / count;
    long long r = idx[row];
    out[i] = (r >= 0 && r < src_rows) ? src[(b * src_rows + r) * cols + c] : 0.0f;
}

// One thread per (b, column): rows in order, so repeated indices add up
// deterministically.
__global__ void gather_rows_backward_kernel(long long batch, long long src_rows, long long cols, long long count,
                                            const float *dout, const int *idx, float *dsrc) {
    long long i = global_index();
    if (i >= batch * cols) return;
    long long c = i % cols, b = i / cols;
    for (long long k = 0; k < count; k++) {
        long long r = idx[b * count + k];
        if (r >= 0 && r < src_rows) dsrc[(b * src_rows + r) * cols + c] += dout[(b * count + k) * cols + c];
    }
}

// The top-k order: NaN first, then larger values, ties by ascending index.
__device__ inline bool topk_before(float a, long long ia, float b, long long ib) {
    bool na = isnan(a), nb = isnan(b);
    if (na != nb) return na;
    if (!na && a != b) return a > b;
    return ia < ib;
}

// One thread per element: its rank in top-k order picks its slot (the order
// is total, so each slot below k gets exactly one writer); counting stops at k.
__global__ void topk_kernel(long long rows, long long cols, long long k, const float *x, float *values, int *indices) {
    long long i = global_index();
    if (i >= rows * cols) return;
    long long r = i / cols, j = i % cols;
    const float *row = x + r * cols;
    float v = row[j];
    long long rank = 0;
    for (long long m = 0; m < cols && rank < k; m++) rank += topk_before(row[m], m, v, j);
    if (rank >= k) return;
    values[r * k + rank] = v;
    indices[r * k + rank] = (int)j;
}

// ---- launchers ----------------------------------------------------------------------------

rf_status cuda_grid_sample(rf_device *dev, const rf_grid_sample_args *a) {
    ENTER(dev);
    long long n = a->n * a->c * a->ho * a->wo;
    if (n == 0) return RF_OK;
    grid_sample_kernel<<<blocks_for(n), kThreads, 0, stream_of(dev)>>>(grid_dims_of(a), CF(a->x), CF(a->grid), F(a->y));
    return finish(dev, "grid_sample_kernel");
}

rf_status cuda_grid_sample_backward(rf_device *dev, const rf_grid_sample_backward_args *a) {
    ENTER(dev);
    if (a->has_dx && a->n * a->c > 0) {
        grid_sample_backward_dx_kernel<<<blocks_for(a->n * a->c), kThreads, 0, stream_of(dev)>>>(
            grid_dims_of(a), CF(a->grid), CF(a->dy), F(a->dx), a->accumulate);
        RF_TRY(finish(dev, "grid_sample_backward_dx_kernel"));
    }
    long long n = a->n * a->ho * a->wo;
    if (!a->has_dgrid || n == 0) return RF_OK;
    grid_sample_backward_dgrid_kernel<<<blocks_for(n), kThreads, 0, stream_of(dev)>>>(
        grid_dims_of(a), CF(a->x), CF(a->grid), CF(a->dy), F(a->dgrid), a->accumulate);
    return finish(dev, "grid_sample_backward_dgrid_kernel");
}

rf_status cuda_deform_attn(rf_device *dev, const rf_deform_attn_args *a) {
    ENTER(dev);
    long long n = a->batch * a->queries * a->heads * a->head_dim;
    if (n == 0) return RF_OK;
    deform_attn_kernel<<<blocks_for(n), kThreads, 0, stream_of(dev)>>>(
        deform_dims_of(a), CF(a->value), CI(a->level_shapes), CI(a->level_start), CF(a->sampling_locations),
        CF(a->attention_weights), F(a->output));
    return finish(dev, "deform_attn_kernel");
}

rf_status cuda_deform_attn_backward(rf_device *dev, const rf_deform_attn_backward_args *a) {
    ENTER(dev);
    deform_dims d = deform_dims_of(a);
    long long columns = d.B * d.H * d.D, samples = d.B * d.Q * d.H * d.L * d.P;
    if (columns > 0) {
        deform_attn_backward_value_kernel<<<blocks_for(columns), kThreads, 0, stream_of(dev)>>>(
            d, CI(a->level_shapes), CI(a->level_start), CF(a->sampling_locations), CF(a->attention_weights),
            CF(a->doutput), F(a->dvalue));
        RF_TRY(finish(dev, "deform_attn_backward_value_kernel"));
    }
    if (samples == 0) return RF_OK;
    deform_attn_backward_sample_kernel<<<blocks_for(samples), kThreads, 0, stream_of(dev)>>>(
        d, CF(a->value), CI(a->level_shapes), CI(a->level_start), CF(a->sampling_locations), CF(a->attention_weights),
        CF(a->doutput), F(a->dsampling_locations), F(a->dattention_weights));
    return finish(dev, "deform_attn_backward_sample_kernel");
}

rf_status cuda_gather_rows(rf_device *dev, const rf_gather_rows_args *a) {
    ENTER(dev);
    long long n = a->batch * a->count * a->cols;
    if (n == 0) return RF_OK;
    gather_rows_kernel<<<blocks_for(n), kThreads, 0, stream_of(dev)>>>(a->batch, a->src_rows, a->cols, a->count,
                                                                       CF(a->src), CI(a->indices), F(a->out));
    return finish(dev, "gather_rows_kernel");
}

rf_status cuda_gather_rows_backward(rf_device *dev, const rf_gather_rows_backward_args *a) {
    ENTER(dev);
    long long n = a->batch * a->cols;
    if (n == 0) return RF_OK;
    gather_rows_backward_kernel<<<blocks_for(n), kThreads, 0, stream_of(dev)>>>(
        a->batch, a->src_rows, a->cols, a->count, CF(a->dout), CI(a->indices), F(a->dsrc));
    return finish(dev, "gather_rows_backward_kernel");
}

rf_status cuda_topk(rf_device *dev, const rf_topk_args *a) {
    ENTER(dev);
    long long n = a->rows * a->cols;
    if (n == 0 || a->k == 0) return RF_OK;
    topk_kernel<<<blocks_for(n), kThreads, 0, stream_of(dev)>>>(a->rows, a->cols, a->k, CF(a->x), F(a->values),
                                                               I(a->indices));
    return finish(dev, "topk_kernel");
}

} // namespace

// Positional, in the order of rf_kernels_sampling (backend/kernels.h).
extern "C" const rf_kernels_sampling rf_cuda_kernels_sampling = {
    cuda_grid_sample, cuda_grid_sample_backward, cuda_deform_attn,  cuda_deform_attn_backward,
    cuda_gather_rows, cuda_gather_rows_backward, cuda_topk,
};
