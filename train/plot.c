/* plot.c — metrics_plot.png: training loss (left) and validation mAP of the
 * regular and EMA models (right) per epoch, redrawn every epoch so a user
 * watching the run sees the chart grow (darknet's chart, which users love). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/status.h"

#include "core/draw.h"
#include "train/plot.h"
#include "train/run_files.h"

typedef struct series {
    const char *label;
    rf_rgb color;
    double *y;
} series;

static const rf_rgb WHITE = {255, 255, 255}, INK = {40, 40, 40}, GRID = {225, 225, 225};

rf_plot_axis rf_plot_axis_for(double lo, double hi, int max_ticks, bool integers) {
    if (max_ticks < 2) max_ticks = 2;
    if (max_ticks > RF_PLOT_MAX_TICKS) max_ticks = RF_PLOT_MAX_TICKS;
    if (!(hi > lo)) hi = lo + (integers ? 1 : fmax(fabs(lo), 1.0));
    /* The smallest 1/2/5 x 10^k step that needs at most max_ticks ticks. */
    double raw = (hi - lo) / (max_ticks - 1), step = 1;
    double power = pow(10, floor(log10(raw)));
    static const double mantissas[] = {1, 2, 5, 10};
    for (int i = 0; i < 4; i++) {
        step = mantissas[i] * power;
        if (step >= raw * (1 - 1e-9)) break;
    }
    if (integers && step < 1) step = 1;
    rf_plot_axis a = {.step = step};
    a.lo = floor(lo / step + 1e-9) * step;
    a.hi = ceil(hi / step - 1e-9) * step;
    a.count = (int)lround((a.hi - a.lo) / step) + 1;
    a.decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    return a;
}

/* One panel: round ticks on both axes (whole epochs on x), axis labels, the
 * series as lines with dots. */
static void panel(rf_canvas *c, int x0, int y0, int w, int h, const char *title, const char *y_label,
                  const double *x, int n, const series *s, int ns, bool from_zero) {
    double lo = INFINITY, hi = -INFINITY, xlo = x[0], xhi = x[n - 1];
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < n; i++)
            if (isfinite(s[k].y[i]) && s[k].y[i] >= 0) {
                lo = fmin(lo, s[k].y[i]);
                hi = fmax(hi, s[k].y[i]);
            }
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (from_zero) lo = 0;
    rf_plot_axis ya = rf_plot_axis_for(lo, hi, 6, false), xa = rf_plot_axis_for(xlo, xhi, 8, true);
    lo = ya.lo, hi = ya.hi, xlo = xa.lo, xhi = xa.hi;
    int left = x0 + 56, right = x0 + w - 12, top = y0 + 40, bottom = y0 + h - 36;
    rf_draw_text(c, x0 + (w - rf_text_width(title, 2)) / 2, y0 + 4, title, 2, INK);
    char label[32];
    for (int t = 0; t < ya.count; t++) {
        double v = ya.lo + ya.step * t;
        int py = (int)lround(bottom - (bottom - top) * (v - lo) / (hi - lo));
        rf_draw_line(c, left, py, right, py, 1, GRID);
        snprintf(label, sizeof label, "%.*f", ya.decimals, v);
        rf_draw_text(c, left - 6 - rf_text_width(label, 1), py - 3, label, 1, INK);
    }
    for (int t = 0; t < xa.count; t++) {
        double v = xa.lo + xa.step * t;
        int px = (int)lround(left + (right - left) * (v - xlo) / (xhi - xlo));
        rf_draw_line(c, px, bottom, px, bottom + 3, 1, INK);
        snprintf(label, sizeof label, "%.0f", v);
        rf_draw_text(c, px - rf_text_width(label, 1) / 2, bottom + 6, label, 1, INK);
    }
    rf_draw_rect(c, left, top, right, bottom, 1, INK);
    /* Axis labels: x under the ticks, y above its tick labels (the font
     * draws horizontally). */
    rf_draw_text(c, (left + right - rf_text_width("epoch", 1)) / 2, bottom + 20, "epoch", 1, INK);
    rf_draw_text(c, left - rf_text_width(y_label, 1) / 2, top - 12, y_label, 1, INK);
    for (int k = 0; k < ns; k++) {
        double px_prev = NAN, py_prev = NAN;
        for (int i = 0; i < n; i++) {
            double v = s[k].y[i];
            if (!isfinite(v) || v < 0) continue; /* -1: undefined stat */
            double px = left + (right - left) * (x[i] - xlo) / (xhi - xlo);
            double py = bottom - (bottom - top) * (v - lo) / (hi - lo);
            if (isfinite(px_prev)) rf_draw_line(c, px_prev, py_prev, px, py, 2, s[k].color);
            rf_fill_rect(c, (int)px - 2, (int)py - 2, (int)px + 2, (int)py + 2, s[k].color);
            px_prev = px;
            py_prev = py;
        }
        rf_fill_rect(c, left + 8, top + 8 + k * 14, left + 20, top + 16 + k * 14, s[k].color);
        rf_draw_text(c, left + 26, top + 9 + k * 14, s[k].label, 1, INK);
    }
}

rf_status rf_run_write_plot(const rf_run_log *log, const char *path) {
    int n = (int)log->count;
    if (n == 0) return RF_OK;
    double *buf = malloc((size_t)n * 6 * sizeof *buf);
    if (!buf) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    double *x = buf, *loss = buf + n, *map = buf + 2 * n, *map50 = buf + 3 * n, *ema = buf + 4 * n, *ema50 = buf + 5 * n;
    bool has_ema = false;
    for (int i = 0; i < n; i++) {
        const rf_run_epoch *e = &log->epochs[i];
        x[i] = (double)e->epoch + 1;
        loss[i] = e->train_loss;
        map[i] = e->stats[0];
        map50[i] = e->stats[1];
        ema[i] = e->has_ema ? e->ema_stats[0] : NAN;
        ema50[i] = e->has_ema ? e->ema_stats[1] : NAN;
        has_ema |= e->has_ema;
    }
    rf_canvas c;
    rf_status s = rf_canvas_create(&c, 1100, 420, WHITE);
    if (s == RF_OK) {
        series ls[1] = {{"train loss", {31, 119, 180}, loss}};
        panel(&c, 0, 0, 540, 420, "training loss", "loss", x, n, ls, 1, false);
        series ms[4] = {{"mAP@50 regular", {44, 160, 44}, map50},
                        {"mAP@50:95 regular", {214, 39, 40}, map},
                        {"mAP@50 EMA", {148, 103, 189}, ema50},
                        {"mAP@50:95 EMA", {255, 127, 14}, ema}};
        panel(&c, 550, 0, 550, 420, "validation mAP", "mAP", x, n, ms, has_ema ? 4 : 2, true);
        s = rf_canvas_save(&c, path);
        rf_canvas_free(&c);
    }
    free(buf);
    return s;
}
