/* launch_rng.c — launcher of backend/kernels/rng.h for every GPU backend. */
#include "backend/gpu/launch.h"
#include "backend/gpu/launchers.h"
#include "backend/status.h"

#define PROGRAM "rng"


rf_status rf_gpu_fill(rf_device *dev, const rf_rng_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "rng_fill_f32");
    rf_launch_int(&l, a->dist);
    rf_launch_long(&l, a->n);
    rf_launch_uint(&l, (uint32_t)a->seed);
    rf_launch_uint(&l, (uint32_t)(a->seed >> 32));
    rf_launch_ulong(&l, a->offset);
    rf_launch_float(&l, a->a);
    rf_launch_float(&l, a->b);
    rf_launch_float(&l, a->lo);
    rf_launch_float(&l, a->hi);
    float base = 0, span = 0, scale = 0;
    if (a->dist == RF_RNG_TRUNC_NORMAL) rf_rng_trunc_normal_map(a->a, a->b, a->lo, a->hi, &base, &span, &scale);
    rf_launch_float(&l, base);
    rf_launch_float(&l, span);
    rf_launch_float(&l, scale);
    rf_launch_mem(&l, a->out);
    /* One work item per Philox block of four elements, per element for the normal. */
    return rf_launch_items(&l, a->dist == RF_RNG_NORMAL ? a->n : (a->n + 3) / 4);
}

