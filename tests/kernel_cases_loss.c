/* kernel_cases_loss.c — cases for the loss kernel family (none until the
 * family is implemented; see backend/kernels.h). */
#include "kernel_harness.h"

int kc_cases_loss(kcase *cases, int max) {
    (void)cases;
    (void)max;
    return 0;
}
