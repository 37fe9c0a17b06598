/* cuda_kernel_table.h — how a CUDA translation unit of the one kernel
 * source names its kernels for the launcher (cuda_backend.c finds a kernel
 * by program and name, then cudaLaunchKernel runs it). */
#ifndef RFDETR_CUDA_KERNEL_TABLE_H
#define RFDETR_CUDA_KERNEL_TABLE_H

typedef struct rf_cuda_kernel {
    const char *name;
    const void *function; /* the __global__ function: cudaLaunchKernel's handle */
} rf_cuda_kernel;

#ifdef __CUDACC__
#define RF_CUDA_ENTRY(kernel) {#kernel, (const void *)kernel},
/* extern "C" const rf_cuda_kernel rf_cuda_program_<family>[], ending in {NULL, NULL}. */
#define RF_CUDA_PROGRAM(family, LIST) \
    extern "C" const rf_cuda_kernel rf_cuda_program_##family[] = {LIST(RF_CUDA_ENTRY){nullptr, nullptr}};
#endif

#endif
