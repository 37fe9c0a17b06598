/* gradcheck.h — central finite differences against analytic backward
 * passes, in double precision on the reference kernels (the f64
 * instantiations of backend/cpu/ref_*.h).
 *
 * A check fixes every input but one, x; L(x) = sum(r * f(x)) with a random
 * projection r; the analytic gradient is backward(dy = r), the numeric one
 * (L(x + h e_i) - L(x - h e_i)) / 2h. */
#ifndef RFDETR_GRADCHECK_H
#define RFDETR_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_util.h"

typedef void (*gc_forward_fn)(void *user, const double *x, double *y);
/* dx = J^T dy (overwrites dx). */
typedef void (*gc_backward_fn)(void *user, const double *x, const double *dy, double *dx);

/* Checks up to max_points coordinates of x (all when n_in is small).
 * Returns the worst relative error; records a failure above rtol. */
static inline double gradcheck(const char *name, int n_in, int n_out, gc_forward_fn fwd, gc_backward_fn bwd, void *user,
                               const double *x0, double rtol, int max_points) {
    double *x = malloc((size_t)n_in * sizeof *x), *r = malloc((size_t)n_out * sizeof *r);
    double *y = malloc((size_t)n_out * sizeof *y), *dx = malloc((size_t)n_in * sizeof *dx);
    unsigned long long s = 12345;
    for (int i = 0; i < n_out; i++) r[i] = test_uniform(&s, -1, 1);
    for (int i = 0; i < n_in; i++) x[i] = x0[i];
    bwd(user, x, r, dx);
    double worst = 0;
    int stride = n_in > max_points ? n_in / max_points : 1;
    for (int i = 0; i < n_in; i += stride) {
        double h = 1e-6 * (fabs(x0[i]) > 1 ? fabs(x0[i]) : 1);
        double lp = 0, lm = 0;
        x[i] = x0[i] + h;
        fwd(user, x, y);
        for (int k = 0; k < n_out; k++) lp += r[k] * y[k];
        x[i] = x0[i] - h;
        fwd(user, x, y);
        for (int k = 0; k < n_out; k++) lm += r[k] * y[k];
        x[i] = x0[i];
        double numeric = (lp - lm) / (2 * h);
        double err = fabs(numeric - dx[i]) / (fabs(numeric) + fabs(dx[i]) + 1e-6);
        if (err > worst) worst = err;
        if (err > rtol) {
            CHECK(err <= rtol, "%s: d/dx[%d] analytic %.10g numeric %.10g (rel err %.3g)", name, i, dx[i], numeric, err);
            break;
        }
    }
    if (worst <= rtol) test_passed_count++;
    free(x);
    free(r);
    free(y);
    free(dx);
    return worst;
}

#endif
