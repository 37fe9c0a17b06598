/* fast_optim.c — AdamW, partial sums of squares and EMA in fast mode
 * (fast.h): float arithmetic in torch.optim.AdamW's order, the slab split
 * into fixed ranges across the threads. The per-segment constants (lr,
 * decay, bias corrections) are computed in double, as the reference does,
 * and rounded once. */
#include <math.h>

#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/fast.h"
#include "backend/cpu/fast_math.h"
#include "backend/kernels/device.h"
/* The shared step in float: tgmath's sqrt of a float is sqrtf. */
#include <tgmath.h>
#undef RF_S
#undef RF_SN
#define RF_S float
#define RF_SN(name) name##_f32
#include "backend/kernels/adamw_step.h"

CPU_CLONES static void adamw_loop(int64_t n, float *p, const float *g, float *m, float *v, float gs, float w, float b2,
                                  float decay, float step, float inv_bc2_sqrt, float eps) {
    for (int64_t i = 0; i < n; i++) rf_adamw_step_f32(&p[i], &m[i], &v[i], g[i] * gs, w, b2, decay, step, inv_bc2_sqrt, eps);
}

static void adamw_range(void *ptr, int64_t b, int64_t e) {
    const rf_adamw_args *a = ptr;
    const int32_t *start = CPU_CI(a->seg_start);
    const float *lrs = CPU_CF(a->seg_lr), *wds = CPU_CF(a->seg_wd);
    double b1 = a->beta1, b2 = a->beta2;
    double bc1 = 1.0 - pow(b1, (double)a->step), bc2_sqrt = sqrt(1.0 - pow(b2, (double)a->step));
    /* The first segment reaching into [b, e). */
    int64_t lo = 0, hi = a->segments;
    while (hi - lo > 1) {
        int64_t mid = (lo + hi) / 2;
        if (start[mid] <= b) lo = mid;
        else hi = mid;
    }
    for (int64_t s = lo; s < a->segments && start[s] < e; s++) {
        int64_t s0 = start[s] > b ? start[s] : b, s1 = start[s + 1] < e ? start[s + 1] : e;
        if (s1 <= s0) continue;
        double lr = (double)lrs[s] * a->lr_scale;
        adamw_loop(s1 - s0, CPU_F(a->param) + s0, CPU_CF(a->grad) + s0, CPU_F(a->m) + s0, CPU_F(a->v) + s0,
                   a->grad_scale, (float)(1.0 - b1), a->beta2, (float)(1.0 - lr * (double)wds[s]), (float)(lr / bc1),
                   (float)(1.0 / bc2_sqrt), a->eps);
    }
}

bool cpu_fast_adamw(rf_device *dev, const rf_adamw_args *a) {
    cpu_parallel_range(dev, a->n, CPU_GRAIN, adamw_range, (void *)a);
    return true;
}

/* Sums of squares in double lanes: the gradient norm that clipping divides
 * by should not lose digits over millions of elements. */
CPU_CLONES static double sumsq_loop(const float *x, int64_t n) {
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += (double)x[i + l] * (double)x[i + l];
    double t[8] = {0}; /* the tail apart: see rf_lanes_add */
    for (int l = 0; i < n; i++, l++) t[l] = (double)x[i] * (double)x[i];
    for (int l = 0; l < 8; l++) acc[l] += t[l];
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

static void sumsq_range(void *p, int64_t b, int64_t e) {
    const rf_sumsq_args *a = p;
    for (int64_t g = b; g < e; g++) {
        int64_t s = g * a->group_size, end = s + a->group_size < a->n ? s + a->group_size : a->n;
        CPU_F(a->out)[g] = (float)sumsq_loop(CPU_CF(a->x) + s, end - s);
    }
}

bool cpu_fast_sumsq(rf_device *dev, const rf_sumsq_args *a) {
    int64_t groups = (a->n + a->group_size - 1) / a->group_size;
    cpu_parallel_range(dev, groups, CPU_GRAIN / a->group_size + 1, sumsq_range, (void *)a);
    return true;
}

CPU_CLONES static void ema_loop(int64_t n, float d, const float *x, float *e) {
    for (int64_t i = 0; i < n; i++) e[i] = d * e[i] + (1.0f - d) * x[i];
}

static void ema_range(void *p, int64_t b, int64_t e) {
    const rf_ema_args *a = p;
    ema_loop(e - b, a->decay, CPU_CF(a->x) + b, CPU_F(a->ema) + b);
}

bool cpu_fast_ema(rf_device *dev, const rf_ema_args *a) {
    cpu_parallel_range(dev, a->n, CPU_GRAIN, ema_range, (void *)a);
    return true;
}
