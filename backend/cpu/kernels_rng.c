/* kernels_rng.c — the cpu device's random fill: the stream of
 * backend/kernels.h (rng family) from the shared Philox and conversions of
 * backend/kernels/rng.h, so the bits equal every other device's. */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/kernels/rng.h"
#include "backend/status.h"

rf_status rf_cpu_fill(rf_device *dev, const rf_rng_args *a) {
    float *out = CPU_F(a->out);
    const uint32_t k0 = (uint32_t)a->seed, k1 = (uint32_t)(a->seed >> 32);
    if (a->dist == RF_RNG_NORMAL) {
        for (int64_t i = 0; i < a->n; i++) out[i] = fmaf(a->b, rf_rng_irwin_hall(k0, k1, a->offset, 6 * (uint64_t)i), a->a);
        return RF_OK;
    }
    if (a->dist != RF_RNG_UNIFORM && a->dist != RF_RNG_TRUNC_NORMAL)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rng fill: unknown distribution %d", (int)a->dist);
    float base = 0, span = 0, scale = 0;
    if (a->dist == RF_RNG_TRUNC_NORMAL) rf_rng_trunc_normal_map(a->a, a->b, a->lo, a->hi, &base, &span, &scale);
    for (int64_t i = 0; i < a->n; i += 4) {
        rf_u32x4 w = rf_rng_fill_block(k0, k1, a->offset + (uint64_t)i / 4);
        for (int64_t k = 0; k < 4 && i + k < a->n; k++)
            out[i + k] = rf_rng_block_value(a->dist, w.w[k], a->a, a->b, a->lo, a->hi, base, span, scale);
    }
    return RF_OK;
}
