/* kernels_optim.c — the cpu device's optimizer kernels. In reference mode
 * (the oracle of the others): float storage, double arithmetic, in the
 * order documented in backend/kernels.h (torch.optim.AdamW's); in fast mode
 * fast_optim.c. */
#include <math.h>

#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/fast.h"
#include "backend/kernels/device.h"
#include "backend/kernels/adamw_step.h"

rf_status rf_cpu_adamw(rf_device *dev, const rf_adamw_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_adamw(dev, a)) return RF_OK;
    float *p = CPU_F(a->param), *m = CPU_F(a->m), *v = CPU_F(a->v);
    const float *g = CPU_CF(a->grad), *lrs = CPU_CF(a->seg_lr), *wds = CPU_CF(a->seg_wd);
    const int32_t *start = CPU_CI(a->seg_start);
    double b1 = a->beta1, b2 = a->beta2;
    double bc1 = 1.0 - pow(b1, (double)a->step), inv_bc2_sqrt = 1.0 / sqrt(1.0 - pow(b2, (double)a->step));
    for (int64_t s = 0; s < a->segments; s++) {
        double lr = (double)lrs[s] * a->lr_scale, decay = 1.0 - lr * (double)wds[s], step_size = lr / bc1;
        for (int64_t i = start[s]; i < start[s + 1]; i++) {
            double pi = p[i], mi = m[i], vi = v[i];
            rf_adamw_step(&pi, &mi, &vi, (double)g[i] * a->grad_scale, 1.0 - b1, b2, decay, step_size, inv_bc2_sqrt,
                          a->eps);
            m[i] = (float)mi;
            v[i] = (float)vi;
            p[i] = (float)pi;
        }
    }
    return RF_OK;
}

rf_status rf_cpu_sumsq(rf_device *dev, const rf_sumsq_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_sumsq(dev, a)) return RF_OK;
    const float *x = CPU_CF(a->x);
    float *out = CPU_F(a->out);
    for (int64_t g = 0, start = 0; start < a->n; g++, start += a->group_size) {
        int64_t end = start + a->group_size < a->n ? start + a->group_size : a->n;
        double acc = 0;
        for (int64_t i = start; i < end; i++) acc += (double)x[i] * (double)x[i];
        out[g] = (float)acc;
    }
    return RF_OK;
}

rf_status rf_cpu_ema(rf_device *dev, const rf_ema_args *a) {
    if (!cpu_is_reference(dev) && cpu_fast_ema(dev, a)) return RF_OK;
    const float *x = CPU_CF(a->x);
    float *e = CPU_F(a->ema);
    double d = a->decay;
    for (int64_t i = 0; i < a->n; i++) e[i] = (float)(d * (double)e[i] + (1.0 - d) * (double)x[i]);
    return RF_OK;
}

