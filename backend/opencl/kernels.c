/* kernels.c — the OpenCL backend's kernel table. */
#include "backend/opencl/opencl_internal.h"

extern const rf_kernels_basic rf_opencl_kernels_basic;
extern const rf_kernels_conv rf_opencl_kernels_conv;
extern const rf_kernels_sampling rf_opencl_kernels_sampling;
extern const rf_kernels_loss rf_opencl_kernels_loss;
extern const rf_kernels_optim rf_opencl_kernels_optim;
extern const rf_kernels_rng rf_opencl_kernels_rng;

const rf_kernels rf_opencl_kernels = {
    .basic = &rf_opencl_kernels_basic,
    .conv = &rf_opencl_kernels_conv,
    .sampling = &rf_opencl_kernels_sampling,
    .loss = &rf_opencl_kernels_loss,
    .optim = &rf_opencl_kernels_optim,
    .rng = &rf_opencl_kernels_rng,
};
