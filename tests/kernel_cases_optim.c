/* kernel_cases_optim.c — cases for the optim kernel family (none until the
 * family is implemented; see backend/kernels.h). */
#include "kernel_harness.h"

int kc_cases_optim(kcase *cases, int max) {
    (void)cases;
    (void)max;
    return 0;
}
