/* test_plot_axis.c — metrics_plot.png's ticks: whole epochs on x, round
 * values (1, 2 or 5 x 10^k) on y, the axis covering the data, labels with
 * just the decimals the step needs. The cases are the ones a user saw as
 * 2.75 / 4.5 / 6.25 epochs and 0.839 / 0.629 / 0.419 mAP. */
#include <math.h>
#include <stdio.h>

#include "test_util.h"
#include "train/plot.h"

static bool round_step(double step) {
    double m = step / pow(10, floor(log10(step) + 1e-9));
    return fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9;
}

static void check_axis(double lo, double hi, int max_ticks, bool integers) {
    rf_plot_axis a = rf_plot_axis_for(lo, hi, max_ticks, integers);
    CHECK(a.count >= 2 && a.count <= max_ticks, "[%g, %g]: %d ticks (at most %d)", lo, hi, a.count, max_ticks);
    CHECK(a.lo <= lo + 1e-12 && a.lo + a.step * (a.count - 1) >= hi - 1e-12, "[%g, %g]: axis [%g, %g] must cover it",
          lo, hi, a.lo, a.lo + a.step * (a.count - 1));
    CHECK(round_step(a.step), "[%g, %g]: step %g is not 1, 2 or 5 x 10^k", lo, hi, a.step);
    for (int t = 0; t < a.count; t++) {
        double v = a.lo + a.step * t, k = v / a.step;
        CHECK(fabs(k - round(k)) < 1e-6, "[%g, %g]: tick %g is not a multiple of %g", lo, hi, v, a.step);
        if (integers) CHECK(fabs(v - round(v)) < 1e-9, "[%g, %g]: epoch tick %g is not whole", lo, hi, v);
        char label[32];
        snprintf(label, sizeof label, "%.*f", a.decimals, v);
        CHECK(fabs(atof(label) - v) < 1e-9, "[%g, %g]: label %s loses tick %.17g", lo, hi, label, v);
    }
}

int main(void) {
    check_axis(1, 8, 8, true);
    check_axis(1, 1, 8, true);
    check_axis(1, 3, 8, true);
    check_axis(1, 100, 8, true);
    check_axis(1, 37, 8, true);
    check_axis(0, 0.839, 6, false);
    check_axis(0.419, 0.839, 6, false);
    check_axis(0, 0.0031, 6, false);
    check_axis(7.96, 11.6, 6, false);
    check_axis(0, 1, 6, false);
    check_axis(2.5, 2.5, 6, false);
    rf_plot_axis a = rf_plot_axis_for(1, 8, 8, true);
    CHECK(a.step == 1 && a.lo == 1 && a.count == 8, "8 epochs: ticks 1..8 (step %g from %g, %d ticks)", a.step, a.lo,
          a.count);
    a = rf_plot_axis_for(0, 0.839, 6, false);
    CHECK(a.step == 0.2 && a.count == 6 && a.decimals == 1, "mAP to 0.839: 0, 0.2, ..., 1.0 (step %g, %d ticks)", a.step,
          a.count);
    return test_finish("test_plot_axis");
}
