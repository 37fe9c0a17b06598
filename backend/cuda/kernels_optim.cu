// kernels_optim.cu — the optim family of the one kernel source
// (backend/kernels/optim.h), compiled by nvcc.
#include "backend/kernels/device.h"
#include "backend/kernels/optim.h"
#include "backend/cuda/cuda_kernel_table.h"

RF_CUDA_PROGRAM(optim, RF_KERNELS_OPTIM)
