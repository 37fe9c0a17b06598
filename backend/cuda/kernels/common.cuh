// common.cuh — what every CUDA kernel file shares: the compensated float sum,
// the launch geometry and the launcher boilerplate (device entry, pointers
// from (buffer, element offset), launch check and count). Internal to
// backend/cuda/kernels; each .cu includes it inside no namespace of its own.
#ifndef RFDETR_CUDA_COMMON_CUH
#define RFDETR_CUDA_COMMON_CUH

#include "backend/cuda/cuda_internal.h"
#include "backend/kernels.h"
#include "backend/status.h"

namespace {

// Kahan-compensated float sum: long sums stay close to the cpu reference's
// double accumulation, in a fixed order.
struct kahan {
    float sum = 0.0f, c = 0.0f;
    __device__ void add(float x) {
        float y = x - c;
        float t = sum + y;
        c = (t - sum) - y;
        sum = t;
    }
};

__device__ inline long long global_index() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }

const unsigned kThreads = 256;

inline unsigned blocks_for(long long n) { return (unsigned)((n + kThreads - 1) / kThreads); }
inline float *F(rf_mem m) { return (float *)m.buf->native + m.off; }
inline const float *CF(rf_mem m) { return (const float *)m.buf->native + m.off; }
inline int *I(rf_mem m) { return (int *)m.buf->native + m.off; }
inline const int *CI(rf_mem m) { return (const int *)m.buf->native + m.off; }
inline float *VF(const rf_view &v) { return (float *)v.buf->native + v.off; }
inline cudaStream_t stream_of(rf_device *dev) { return ((rf_cuda_state *)dev->native)->stream; }

// After a launch: the launch error, if any, else count the launch.
inline rf_status finish(rf_device *dev, const char *name) {
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return rf_cuda_fail(dev, err, name, __FILE__, __LINE__);
    rf_device_count_launch(dev);
    return RF_OK;
}

} // namespace

// The first statement of every launcher: this device's ordinal is current.
#define ENTER(dev)                                                                              \
    do {                                                                                        \
        cudaError_t e_ = cudaSetDevice(((rf_cuda_state *)(dev)->native)->ordinal);              \
        if (e_ != cudaSuccess) return rf_cuda_fail((dev), e_, "cudaSetDevice", __FILE__, __LINE__); \
    } while (0)

#endif
