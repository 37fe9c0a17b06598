/* cpu_backend.h — what the cpu backend offers beyond the common contract. */
#ifndef RFDETR_CPU_BACKEND_H
#define RFDETR_CPU_BACKEND_H

#include "backend/backend.h"

typedef enum rf_cpu_gemm_impl {
    RF_CPU_GEMM_OPENBLAS = 0,  /* default: fast */
    RF_CPU_GEMM_REFERENCE = 1, /* double accumulation, single thread: the oracle of every test */
} rf_cpu_gemm_impl;

/* Chooses the GEMM a cpu device uses. RF_ERR_INVALID_ARGUMENT for non-cpu devices. */
rf_status rf_cpu_set_gemm_impl(rf_device *dev, rf_cpu_gemm_impl impl);

/* The reference GEMM on host arrays (elements addressed from each pointer). */
void rf_cpu_gemm_reference(const rf_gemm_desc *d, const float *a, const float *b, float *c);

#endif
