/* launchers.h — the GPU launchers, one per slot the kernel list marks gpu
 * (backend/kernel_list.h), defined in backend/gpu/launch_<family>.c. */
#ifndef RFDETR_GPU_LAUNCHERS_H
#define RFDETR_GPU_LAUNCHERS_H

#include "backend/kernels.h"

#define RF_GPU_DECLARE_gpu(slot, args_type) rf_status rf_gpu_##slot(rf_device *dev, const args_type *a);
#define RF_GPU_DECLARE_host(slot, args_type)
#define RF_KERNEL_SLOT(family, slot, args_type, fields, where) RF_GPU_DECLARE_##where(slot, args_type)
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT
#undef RF_GPU_DECLARE_gpu
#undef RF_GPU_DECLARE_host

#endif
