/* kernels.c — the cpu backend's kernel table. */
#include "backend/cpu/cpu_kernels.h"

const rf_kernels rf_cpu_kernels = {
    .basic = &rf_cpu_kernels_basic,
    .conv = &rf_cpu_kernels_conv,
    .sampling = &rf_cpu_kernels_sampling,
    .loss = &rf_cpu_kernels_loss,
    .optim = &rf_cpu_kernels_optim,
    .rng = &rf_cpu_kernels_rng,
    .attention = &rf_cpu_kernels_attention,
};
