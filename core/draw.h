/* draw.h — a small RGB raster for the pictures rfdetr.c writes itself: the
 * training chart (metrics_plot.png) and annotated predictions. Lines,
 * rectangles and text in a built-in 5x7 bitmap font (printable ASCII; other
 * bytes draw as '?'), saved as PNG or JPEG atomically. */
#ifndef RFDETR_DRAW_H
#define RFDETR_DRAW_H

#include <stdint.h>

#include "rfdetr.h"

typedef struct rf_canvas {
    int width, height;
    uint8_t *rgb; /* height x width x 3 */
} rf_canvas;

typedef struct rf_rgb {
    uint8_t r, g, b;
} rf_rgb;

rf_status rf_canvas_create(rf_canvas *c, int width, int height, rf_rgb background);
/* A canvas over existing pixels (not freed by rf_canvas_free). */
rf_canvas rf_canvas_wrap(uint8_t *rgb, int width, int height);
void rf_canvas_free(rf_canvas *c);

void rf_draw_line(rf_canvas *c, double x0, double y0, double x1, double y1, int thickness, rf_rgb color);
void rf_draw_rect(rf_canvas *c, int x0, int y0, int x1, int y1, int thickness, rf_rgb color);
void rf_fill_rect(rf_canvas *c, int x0, int y0, int x1, int y1, rf_rgb color);
/* Text with its top-left corner at (x, y), each font pixel scale x scale. */
void rf_draw_text(rf_canvas *c, int x, int y, const char *text, int scale, rf_rgb color);
int rf_text_width(const char *text, int scale);
int rf_text_height(int scale);

/* The colour detections of a class are drawn in: distinct, saturated. */
rf_rgb rf_class_color(int class_id);
/* Draws detections onto an image: a box a few pixels thick (scaled to the
 * image) per detection in its class's colour, and its caption (captions[i]
 * belongs to d[i]) on a filled tag above the box (inside it at the image's
 * top edge). Boxes first, then tags, each in ascending score order: where
 * tags overlap, the higher-scoring one is on top and readable. */
rf_status rf_draw_detections(rf_canvas *c, const rf_detection *d, int count, const char *const *captions);

/* Writes the canvas (.png, or .jpg/.jpeg by the path's extension) atomically. */
rf_status rf_canvas_save(const rf_canvas *c, const char *path);

#endif
