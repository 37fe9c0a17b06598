/* cuda_internal.h — shared by the CUDA backend's files. Plain C: the host
 * side of the backend is compiled by the C compiler, kernels by nvcc. */
#ifndef RFDETR_CUDA_INTERNAL_H
#define RFDETR_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rf_cuda_state {
    int ordinal;
    cudaStream_t stream;
    cublasHandle_t cublas;
} rf_cuda_state;

rf_status rf_cuda_fail(rf_device *dev, cudaError_t err, const char *call, const char *file, int line);
rf_status rf_cublas_fail(rf_device *dev, cublasStatus_t st, const char *call, const char *file, int line);

#define RF_CUDA_CHECK(dev, expr, name)                                                              \
    do {                                                                                            \
        cudaError_t rf_cuda_err_ = (expr);                                                          \
        if (rf_cuda_err_ != cudaSuccess) return rf_cuda_fail((dev), rf_cuda_err_, (name), __FILE__, __LINE__); \
    } while (0)

/* Makes the device's own ordinal current for this thread: the first thing
 * every vtable entry does, so no call ever lands on another GPU. */
#define RF_CUDA_ENTER(dev) RF_CUDA_CHECK((dev), cudaSetDevice(((rf_cuda_state *)(dev)->native)->ordinal), "cudaSetDevice")

#ifdef __cplusplus
}
#endif

#endif
