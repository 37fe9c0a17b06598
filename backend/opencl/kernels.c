/* kernels.c — the OpenCL backend's kernel table. */
#include "backend/opencl/opencl_internal.h"

extern const rf_kernels_basic rf_opencl_kernels_basic;
extern const rf_kernels_conv rf_opencl_kernels_conv;
extern const rf_kernels_sampling rf_opencl_kernels_sampling;

const rf_kernels rf_opencl_kernels = {
    .basic = &rf_opencl_kernels_basic,
    .conv = &rf_opencl_kernels_conv,
    .sampling = &rf_opencl_kernels_sampling,
};
