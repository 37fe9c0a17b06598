// kernels_basic.cu — the basic family of the one kernel source
// (backend/kernels/basic.h), compiled by nvcc.
#include "backend/kernels/device.h"
#include "backend/kernels/basic.h"
#include "backend/cuda/cuda_kernel_table.h"

RF_CUDA_PROGRAM(basic, RF_KERNELS_BASIC)
