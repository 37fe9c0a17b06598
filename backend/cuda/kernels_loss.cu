// kernels_loss.cu — the loss family of the one kernel source
// (backend/kernels/loss.h), compiled by nvcc.
#include "backend/kernels/device.h"
#include "backend/kernels/loss.h"
#include "backend/cuda/cuda_kernel_table.h"

RF_CUDA_PROGRAM(loss, RF_KERNELS_LOSS)
