/* kernels.c — the OpenCL backend's kernel table. */
#include "backend/opencl/opencl_internal.h"

extern const rf_kernels_basic rf_opencl_kernels_basic;

const rf_kernels rf_opencl_kernels = {
    .basic = &rf_opencl_kernels_basic,
};
