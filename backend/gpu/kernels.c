/* kernels.c — the kernel table the OpenCL and CUDA backends share: their
 * launchers are written once, on rf_gpu_ops. Generated from the kernel
 * list; a slot marked host stays empty and runs through the cpu kernel. */
#include "backend/gpu/launchers.h"

#define RF_GPU_SLOT_gpu(slot) rf_gpu_##slot
#define RF_GPU_SLOT_host(slot) NULL

const rf_kernels rf_gpu_kernels = {
#define RF_KERNEL_SLOT(family, slot, args_type, fields, where) .slot = RF_GPU_SLOT_##where(slot),
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT
};
