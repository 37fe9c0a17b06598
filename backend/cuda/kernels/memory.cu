// memory.cu — raw memory kernels of the CUDA backend (twins of memory.cl).
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

__global__ void fill_u32_kernel(uint32_t *dst, size_t n, uint32_t value) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = value;
}

// C = beta * C per batch entry: GEMM with k == 0. beta == 0 never reads C.
__global__ void gemm_scale_c_kernel(float *c, size_t ldc, size_t stride, size_t m, size_t n, size_t batch,
                                    float beta) {
    size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n) return;
    // grid.y and grid.z are capped at 65535: stride over the rest.
    for (size_t b = blockIdx.z; b < batch; b += gridDim.z)
        for (size_t i = blockIdx.y; i < m; i += gridDim.y) {
            float *p = c + b * stride + i * ldc + j;
            *p = beta == 0.0f ? 0.0f : beta * *p;
        }
}

extern "C" cudaError_t rf_cuda_launch_fill_u32(uint32_t *dst, size_t n, uint32_t value, cudaStream_t stream) {
    const unsigned threads = 256;
    size_t blocks = (n + threads - 1) / threads;
    fill_u32_kernel<<<(unsigned)blocks, threads, 0, stream>>>(dst, n, value);
    return cudaGetLastError();
}

extern "C" cudaError_t rf_cuda_launch_gemm_scale_c(float *c, size_t ldc, size_t stride, size_t m, size_t n,
                                                   size_t batch, float beta, cudaStream_t stream) {
    const unsigned threads = 128;
    dim3 grid((unsigned)((n + threads - 1) / threads), (unsigned)(m < 65535 ? m : 65535),
              (unsigned)(batch < 65535 ? batch : 65535));
    gemm_scale_c_kernel<<<grid, threads, 0, stream>>>(c, ldc, stride, m, n, batch, beta);
    return cudaGetLastError();
}
