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

/* One table per kernel family (kernels_<family>.c). NULL until a family is
 * implemented on this backend. */
extern const rf_kernels_basic rf_cpu_kernels_basic;
extern const rf_kernels_conv rf_cpu_kernels_conv;
extern const rf_kernels_sampling rf_cpu_kernels_sampling;
extern const rf_kernels_loss rf_cpu_kernels_loss;
extern const rf_kernels_optim rf_cpu_kernels_optim;
extern const rf_kernels_rng rf_cpu_kernels_rng;
extern const rf_kernels_attention rf_cpu_kernels_attention;

#endif
