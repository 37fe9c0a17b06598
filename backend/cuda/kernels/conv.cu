// conv.cu — im2col and its adjoint col2im for the CUDA backend: twins of
// backend/opencl/kernels/conv.cl (same index maps, col2im as a gather over
// the kernel taps in row-major order), with their launchers.
#include "backend/cuda/kernels/common.cuh"

namespace {

// The geometry both kernels share (rf_im2col_args' fields).
struct geom {
    long long n, c, h, w, kh, kw, sh, sw, ph, pw, ho, wo;
};

template <typename Args> geom geom_of(const Args *a) {
    return {a->n, a->c, a->h, a->w, a->kh, a->kw, a->stride_h, a->stride_w, a->pad_h, a->pad_w, a->ho, a->wo};
}

__global__ void im2col_kernel(geom g, const float *x, float *col) {
    long long i = global_index();
    long long cols = g.ho * g.wo, rows = g.c * g.kh * g.kw;
    if (i >= g.n * rows * cols) return;
    long long ox = i % g.wo, oy = (i / g.wo) % g.ho, r = (i / cols) % rows, b = i / (rows * cols);
    long long ch = r / (g.kh * g.kw), ki = (r / g.kw) % g.kh, kj = r % g.kw;
    long long y = oy * g.sh - g.ph + ki, xx = ox * g.sw - g.pw + kj;
    bool inside = y >= 0 && y < g.h && xx >= 0 && xx < g.w;
    col[i] = inside ? x[((b * g.c + ch) * g.h + y) * g.w + xx] : 0.0f;
}

__global__ void col2im_kernel(geom g, const float *col, float *x, int accumulate) {
    long long i = global_index();
    if (i >= g.n * g.c * g.h * g.w) return;
    long long xx = i % g.w, y = (i / g.w) % g.h, ch = (i / (g.h * g.w)) % g.c, b = i / (g.c * g.h * g.w);
    long long cols = g.ho * g.wo, rows = g.c * g.kh * g.kw;
    const float *base = col + b * rows * cols;
    float acc = 0.0f;
    for (long long ki = 0; ki < g.kh; ki++) {
        long long ty = y + g.ph - ki;
        if (ty < 0 || ty % g.sh || ty / g.sh >= g.ho) continue;
        for (long long kj = 0; kj < g.kw; kj++) {
            long long tx = xx + g.pw - kj;
            if (tx < 0 || tx % g.sw || tx / g.sw >= g.wo) continue;
            acc += base[((ch * g.kh + ki) * g.kw + kj) * cols + (ty / g.sh) * g.wo + tx / g.sw];
        }
    }
    x[i] = accumulate ? x[i] + acc : acc;
}

rf_status cuda_im2col(rf_device *dev, const rf_im2col_args *a) {
    ENTER(dev);
    long long n = a->n * a->c * a->kh * a->kw * a->ho * a->wo;
    if (n == 0) return RF_OK;
    im2col_kernel<<<blocks_for(n), kThreads, 0, stream_of(dev)>>>(geom_of(a), CF(a->x), F(a->col));
    return finish(dev, "im2col_kernel");
}

rf_status cuda_col2im(rf_device *dev, const rf_col2im_args *a) {
    ENTER(dev);
    long long n = a->n * a->c * a->h * a->w;
    if (n == 0) return RF_OK;
    col2im_kernel<<<blocks_for(n), kThreads, 0, stream_of(dev)>>>(geom_of(a), CF(a->col), F(a->x), a->accumulate);
    return finish(dev, "col2im_kernel");
}

} // namespace

// Positional, in the order of rf_kernels_conv (backend/kernels.h).
extern "C" const rf_kernels_conv rf_cuda_kernels_conv = {cuda_im2col, cuda_col2im};
