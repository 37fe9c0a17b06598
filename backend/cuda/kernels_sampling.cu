// kernels_sampling.cu — the sampling family of the one kernel source
// (backend/kernels/sampling.h), compiled by nvcc.
#include "backend/kernels/device.h"
#include "backend/kernels/sampling.h"
#include "backend/cuda/cuda_kernel_table.h"

RF_CUDA_PROGRAM(sampling, RF_KERNELS_SAMPLING)
