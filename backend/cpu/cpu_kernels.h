/* cpu_kernels.h — shared by the cpu backend's kernel files: host pointers
 * from (buffer, element offset). */
#ifndef RFDETR_CPU_KERNELS_H
#define RFDETR_CPU_KERNELS_H

#include "backend/kernels.h"

#define CPU_F(m) ((float *)(m).buf->native + (m).off)
#define CPU_CF(m) ((const float *)(m).buf->native + (m).off)
#define CPU_I(m) ((int32_t *)(m).buf->native + (m).off)
#define CPU_CI(m) ((const int32_t *)(m).buf->native + (m).off)
#define CPU_VF(v) ((float *)(v).buf->native + (v).off)
#define CPU_VCF(v) ((const float *)(v).buf->native + (v).off)

/* The cpu kernels, one per slot of the kernel list (kernels_<family>.c). */
#define RF_KERNEL_SLOT(family, slot, args_type, fields, where) rf_status rf_cpu_##slot(rf_device *dev, const args_type *a);
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT

#endif
