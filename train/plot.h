/* plot.h — axis ticks for metrics_plot.png (train/plot.c), apart so tests
 * can check them: ticks at round values (1, 2 or 5 times a power of ten),
 * whole numbers only on an axis of epochs. */
#ifndef RFDETR_TRAIN_PLOT_H
#define RFDETR_TRAIN_PLOT_H

#include <stdbool.h>

#define RF_PLOT_MAX_TICKS 12

typedef struct rf_plot_axis {
    double lo, hi;   /* the axis' ends: [lo, hi] widened to whole steps */
    double step;
    int count;       /* ticks at lo, lo + step, ..., hi */
    int decimals;    /* what a label needs to show the step */
} rf_plot_axis;

/* At most max_ticks (2..RF_PLOT_MAX_TICKS) ticks covering [lo, hi];
 * integers: steps of at least 1 (epochs). */
rf_plot_axis rf_plot_axis_for(double lo, double hi, int max_ticks, bool integers);

#endif
