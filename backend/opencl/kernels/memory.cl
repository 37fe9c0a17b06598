// memory.cl — raw memory kernels of the OpenCL backend.

// dst[offset + i] = value for i < n (a 32-bit pattern: floats and ints alike).
__kernel void fill_u32(__global uint *dst, ulong offset, ulong n, uint value) {
    size_t i = get_global_id(0);
    if (i < n) dst[offset + i] = value;
}

// C_b = beta * C_b for an m x n row-major matrix per batch entry: GEMM with
// k == 0, which BLAS libraries disagree about. beta == 0 writes zeros without
// reading, so NaN garbage in C does not survive.
__kernel void gemm_scale_c(__global float *c, ulong offset, ulong ldc, ulong stride, ulong m, ulong n, float beta) {
    size_t j = get_global_id(0), i = get_global_id(1), b = get_global_id(2);
    if (i >= m || j >= n) return;
    __global float *p = c + offset + b * stride + i * ldc + j;
    *p = beta == 0.0f ? 0.0f : beta * *p;
}
