/* rng.c — the host side of the rng kernel family: constants every
 * backend's launcher passes to its truncated-normal kernel. */
#define _GNU_SOURCE /* M_SQRT2, M_SQRT1_2 */
#include <math.h>

#include "backend/kernels.h"

void rf_rng_trunc_normal_map(float mean, float std, float lo, float hi, float *base, float *span, float *scale) {
    if (!(std > 0)) {
        *base = *span = *scale = 0.0f;
        return;
    }
    /* erf(z / sqrt 2) = 2 Phi(z) - 1: torch's uniform_(2l - 1, 2u - 1). */
    double lower = erf(((double)lo - mean) / std * M_SQRT1_2), upper = erf(((double)hi - mean) / std * M_SQRT1_2);
    *base = (float)lower;
    *span = (float)(upper - lower);
    *scale = (float)(std * M_SQRT2);
}
