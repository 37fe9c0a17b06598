/* test_fast_gelu.c — the fast cpu mode's GELU (backend/cpu/fast_math.h,
 * division-free erfc) against erf in double: 1 + erf within 4e-7
 * absolutely and its tail within 5e-6 relatively over [-6, 6] (what the
 * division-based erfc it replaced gave: 3.9e-7, 3.9e-6), GELU and its
 * derivative within 4e-7 of their scale, and the limits (+-inf, NaN). */
#include <math.h>

#include "backend/cpu/fast_math.h"
#include "test_util.h"

int main(void) {
    double worst_abs = 0, worst_rel = 0, worst_gelu = 0, worst_grad = 0;
    for (int i = -600000; i <= 600000; i++) {
        float z = (float)i * 1e-5f;
        double want = erfc(-(double)z), got = rf_erfc_negf(z);
        worst_abs = fmax(worst_abs, fabs(got - want));
        if (z < 0) worst_rel = fmax(worst_rel, fabs(got - want) / want);
        float x = z * 1.41421356f;
        double gelu = 0.5 * x * erfc(-(double)x / sqrt(2.0));
        double grad = 0.5 * erfc(-(double)x / sqrt(2.0)) + x * exp(-0.5 * (double)x * x) / sqrt(2 * M_PI);
        worst_gelu = fmax(worst_gelu, fabs(rf_geluf(x) - gelu) / fmax(1.0, fabs(gelu)));
        worst_grad = fmax(worst_grad, fabs(rf_gelu_gradf(x) - grad) / fmax(1.0, fabs(grad)));
    }
    CHECK(worst_abs <= 4e-7, "1 + erf(z): absolute error %.3g", worst_abs);
    CHECK(worst_rel <= 5e-6, "erfc tail: relative error %.3g", worst_rel);
    CHECK(worst_gelu <= 4e-7, "GELU: error %.3g", worst_gelu);
    CHECK(worst_grad <= 4e-7, "GELU derivative: error %.3g", worst_grad);
    CHECK(rf_erfc_negf(INFINITY) == 2.0f && rf_erfc_negf(-INFINITY) == 0.0f, "erfc limits");
    CHECK(rf_erfc_negf(-30.0f) == 0.0f && rf_erfc_negf(30.0f) == 2.0f, "erfc far out");
    CHECK(isnan(rf_erfc_negf(NAN)) && isnan(rf_geluf(NAN)), "NaN must propagate");
    CHECK(rf_geluf(-INFINITY) == 0.0f || isnan(rf_geluf(-INFINITY)), "GELU(-inf)");
    printf("1+erf abs %.3g, tail rel %.3g, GELU %.3g, GELU' %.3g\n", worst_abs, worst_rel, worst_gelu, worst_grad);
    return test_finish("test_fast_gelu");
}
