/* kernels_rng.c — launcher for rng.cl. */
#include "backend/opencl/opencl_internal.h"
#include "backend/status.h"

static rf_status cl_rng_fill(rf_device *dev, const rf_rng_args *a) {
    rf_cl_call c;
    RF_TRY(rf_cl_begin(dev, "rng.cl", "rng_fill_f32", &c));
    rf_cl_int(&c, a->dist);
    rf_cl_long(&c, a->n);
    rf_cl_arg(&c, sizeof(cl_uint), &(cl_uint){(cl_uint)a->seed});
    rf_cl_arg(&c, sizeof(cl_uint), &(cl_uint){(cl_uint)(a->seed >> 32)});
    rf_cl_arg(&c, sizeof(cl_ulong), &(cl_ulong){a->offset});
    rf_cl_float(&c, a->a);
    rf_cl_float(&c, a->b);
    rf_cl_float(&c, a->lo);
    rf_cl_float(&c, a->hi);
    float base = 0, span = 0, scale = 0;
    if (a->dist == RF_RNG_TRUNC_NORMAL) rf_rng_trunc_normal_map(a->a, a->b, a->lo, a->hi, &base, &span, &scale);
    rf_cl_float(&c, base);
    rf_cl_float(&c, span);
    rf_cl_float(&c, scale);
    rf_cl_mem(&c, a->out);
    /* One work item per Philox block of four elements, per element for the normal. */
    return rf_cl_run_1d(&c, (size_t)(a->dist == RF_RNG_NORMAL ? a->n : (a->n + 3) / 4));
}

const rf_kernels_rng rf_opencl_kernels_rng = {
    .fill = cl_rng_fill,
};
