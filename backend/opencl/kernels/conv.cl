// conv.cl — im2col and its adjoint col2im for convolution by GEMM. Twins of
// backend/cpu/ref_conv_impl.h. col2im is a gather (each input pixel sums the
// col entries that read it, kernel taps in row-major order), so it needs no
// atomics and is deterministic.

// The shared geometry, in the order of rf_im2col_args / rf_col2im_args.
#define GEOM long n, long c, long h, long w, long kh, long kw, long sh, long sw, long ph, long pw, long ho, long wo

__kernel void im2col_f32(GEOM, __global const float *x, ulong x_off, __global float *col, ulong col_off) {
    long i = get_global_id(0);
    long cols = ho * wo, rows = c * kh * kw;
    if (i >= n * rows * cols) return;
    long ox = i % wo, oy = (i / wo) % ho, r = (i / cols) % rows, b = i / (rows * cols);
    long ch = r / (kh * kw), ki = (r / kw) % kh, kj = r % kw;
    long y = oy * sh - ph + ki, xx = ox * sw - pw + kj;
    bool inside = y >= 0 && y < h && xx >= 0 && xx < w;
    col[col_off + i] = inside ? x[x_off + ((b * c + ch) * h + y) * w + xx] : 0.0f;
}

__kernel void col2im_f32(GEOM, __global const float *col, ulong col_off, __global float *x, ulong x_off,
                         int accumulate) {
    long i = get_global_id(0);
    if (i >= n * c * h * w) return;
    long xx = i % w, y = (i / w) % h, ch = (i / (h * w)) % c, b = i / (c * h * w);
    long cols = ho * wo, rows = c * kh * kw;
    __global const float *base = col + col_off + b * rows * cols;
    float acc = 0.0f;
    for (long ki = 0; ki < kh; ki++) {
        long ty = y + ph - ki;
        if (ty < 0 || ty % sh || ty / sh >= ho) continue;
        for (long kj = 0; kj < kw; kj++) {
            long tx = xx + pw - kj;
            if (tx < 0 || tx % sw || tx / sw >= wo) continue;
            acc += base[((ch * kh + ki) * kw + kj) * cols + (ty / sh) * wo + tx / sw];
        }
    }
    x[x_off + i] = accumulate ? x[x_off + i] + acc : acc;
}
