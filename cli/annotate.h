/* annotate.h — drawing detections onto an RGB image and writing it
 * (PNG or JPEG by the output name), for `rfdetr predict`. */
#ifndef RFDETR_CLI_ANNOTATE_H
#define RFDETR_CLI_ANNOTATE_H

#include <stdint.h>

#include "rfdetr.h"

typedef struct annotate_box {
    float box[4];      /* x0, y0, x1, y1 pixels */
    int label;         /* picks the colour */
    const char *text;  /* drawn above the box; may be NULL */
} annotate_box;

/* Draws the boxes (outline a few pixels thick, scaled to the image) and
 * their captions on a filled tag, in place. */
void annotate_draw(uint8_t *rgb, int width, int height, const annotate_box *boxes, int count);

/* Writes rgb as PNG, or JPEG (quality 90) when path ends in .jpg/.jpeg
 * (any case). RF_ERR_IO naming the path on failure. */
rf_status annotate_write(const char *path, const uint8_t *rgb, int width, int height);

#endif
