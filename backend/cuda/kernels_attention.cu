// kernels_attention.cu — the attention family of the one kernel source
// (backend/kernels/attention.h), compiled by nvcc.
#include "backend/kernels/device.h"
#include "backend/kernels/attention.h"
#include "backend/cuda/cuda_kernel_table.h"

RF_CUDA_PROGRAM(attention, RF_KERNELS_ATTENTION)
