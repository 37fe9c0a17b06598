// kernels_memory.cu — the memory family of the one kernel source
// (backend/kernels/memory.h), compiled by nvcc.
#include "backend/kernels/device.h"
#include "backend/kernels/memory.h"
#include "backend/cuda/cuda_kernel_table.h"

RF_CUDA_PROGRAM(memory, RF_KERNELS_MEMORY)
