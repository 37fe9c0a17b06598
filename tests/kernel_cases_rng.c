/* kernel_cases_rng.c — cases for the rng kernel family (none until the
 * family is implemented; see backend/kernels.h). */
#include "kernel_harness.h"

int kc_cases_rng(kcase *cases, int max) {
    (void)cases;
    (void)max;
    return 0;
}
