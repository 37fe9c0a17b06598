/* kernels.c — the cpu backend's kernel table, generated from the kernel
 * list: the cpu fills every slot (it is the oracle, and the host fallback of
 * the other backends). */
#include "backend/cpu/cpu_kernels.h"

const rf_kernels rf_cpu_kernels = {
#define RF_KERNEL_SLOT(family, slot, args_type, fields, where) .slot = rf_cpu_##slot,
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT
};
