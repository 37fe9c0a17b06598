/* fast_loss.c — weighted sigmoid BCE in fast mode (fast.h): float softplus
 * and sigmoid in vectorizable loops. (The box losses have one entry per
 * matched pair, a few hundred per step: they keep the reference.) */
#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/fast.h"
#include "backend/cpu/fast_math.h"

CPU_CLONES static void bce_loop(int64_t n, const float *x, const float *pw, const float *nw, float *loss) {
    for (int64_t i = 0; i < n; i++) loss[i] = pw[i] * rf_softplusf(-x[i]) + nw[i] * rf_softplusf(x[i]);
}

static void bce_range(void *p, int64_t b, int64_t e) {
    const rf_bce_args *a = p;
    bce_loop(e - b, CPU_CF(a->x) + b, CPU_CF(a->pos_w) + b, CPU_CF(a->neg_w) + b, CPU_F(a->loss) + b);
}

bool cpu_fast_bce(rf_device *dev, const rf_bce_args *a) {
    cpu_parallel_range(dev, a->n, CPU_GRAIN / 4, bce_range, (void *)a);
    return true;
}

/* dx (+)= dl (pw (s - 1) + nw s), s = sigmoid(x). Accumulation is chosen
 * outside the loops and each weight's gradient has a loop of its own: with
 * a select inside, or both softplus in one loop, GCC left the loops scalar
 * (4-6 ms per million elements against 0.7-2.7). */
CPU_CLONES static void bce_backward_loop(int64_t n, const float *x, const float *pw, const float *nw, const float *dl,
                                         float *dx, bool acc, float *dpw, float *dnw) {
    if (acc)
        for (int64_t i = 0; i < n; i++) {
            float s = rf_sigmoidf(x[i]);
            dx[i] = dx[i] + dl[i] * (pw[i] * (s - 1.0f) + nw[i] * s);
        }
    else
        for (int64_t i = 0; i < n; i++) {
            float s = rf_sigmoidf(x[i]);
            dx[i] = dl[i] * (pw[i] * (s - 1.0f) + nw[i] * s);
        }
    if (dpw) {
        for (int64_t i = 0; i < n; i++) dpw[i] += dl[i] * rf_softplusf(-x[i]);
        for (int64_t i = 0; i < n; i++) dnw[i] += dl[i] * rf_softplusf(x[i]);
    }
}

static void bce_backward_range(void *p, int64_t b, int64_t e) {
    const rf_bce_backward_args *a = p;
    bce_backward_loop(e - b, CPU_CF(a->x) + b, CPU_CF(a->pos_w) + b, CPU_CF(a->neg_w) + b, CPU_CF(a->dloss) + b,
                      CPU_F(a->dx) + b, a->accumulate, a->has_dweights ? CPU_F(a->dpos_w) + b : NULL,
                      a->has_dweights ? CPU_F(a->dneg_w) + b : NULL);
}

bool cpu_fast_bce_backward(rf_device *dev, const rf_bce_backward_args *a) {
    cpu_parallel_range(dev, a->n, CPU_GRAIN / 4, bce_backward_range, (void *)a);
    return true;
}
