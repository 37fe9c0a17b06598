/* kernel_cases_conv.c — cases for the conv kernel family (none until the
 * family is implemented; see backend/kernels.h). */
#include "kernel_harness.h"

int kc_cases_conv(kcase *cases, int max) {
    (void)cases;
    (void)max;
    return 0;
}
