/* kernels.c — the CUDA backend's kernel table. */
#include "backend/cuda/cuda_internal.h"
#include "backend/kernels.h"

extern const rf_kernels_basic rf_cuda_kernels_basic;
extern const rf_kernels_conv rf_cuda_kernels_conv;
extern const rf_kernels_sampling rf_cuda_kernels_sampling;

const rf_kernels rf_cuda_kernels = {
    .basic = &rf_cuda_kernels_basic,
    .conv = &rf_cuda_kernels_conv,
    .sampling = &rf_cuda_kernels_sampling,
};
