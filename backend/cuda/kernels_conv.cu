// kernels_conv.cu — the conv family of the one kernel source
// (backend/kernels/conv.h), compiled by nvcc.
#include "backend/kernels/device.h"
#include "backend/kernels/conv.h"
#include "backend/cuda/cuda_kernel_table.h"

RF_CUDA_PROGRAM(conv, RF_KERNELS_CONV)
