// kernels_rng.cu — the rng family of the one kernel source
// (backend/kernels/rng.h), compiled by nvcc.
#include "backend/kernels/device.h"
#include "backend/kernels/rng.h"
#include "backend/cuda/cuda_kernel_table.h"

RF_CUDA_PROGRAM(rng, RF_KERNELS_RNG)
