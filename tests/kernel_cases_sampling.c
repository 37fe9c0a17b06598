/* kernel_cases_sampling.c — cases for the sampling kernel family (none until the
 * family is implemented; see backend/kernels.h). */
#include "kernel_harness.h"

int kc_cases_sampling(kcase *cases, int max) {
    (void)cases;
    (void)max;
    return 0;
}
