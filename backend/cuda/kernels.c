/* kernels.c — the CUDA backend's kernel table. */
#include "backend/cuda/cuda_internal.h"
#include "backend/kernels.h"

extern const rf_kernels_basic rf_cuda_kernels_basic;
extern const rf_kernels_conv rf_cuda_kernels_conv;
extern const rf_kernels_sampling rf_cuda_kernels_sampling;
extern const rf_kernels_loss rf_cuda_kernels_loss;
extern const rf_kernels_optim rf_cuda_kernels_optim;
extern const rf_kernels_rng rf_cuda_kernels_rng;

const rf_kernels rf_cuda_kernels = {
    .basic = &rf_cuda_kernels_basic,
    .conv = &rf_cuda_kernels_conv,
    .sampling = &rf_cuda_kernels_sampling,
    .loss = &rf_cuda_kernels_loss,
    .optim = &rf_cuda_kernels_optim,
    .rng = &rf_cuda_kernels_rng,
};
