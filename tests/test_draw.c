/* test_draw.c — the raster used for charts and annotated predictions:
 * every printable character has a glyph, text lands where asked, lines and
 * rectangles stay inside the canvas, and images save atomically as PNG/JPEG
 * that stb_image reads back identically (PNG). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_image.h>

#include "core/draw.h"
#include "test_util.h"

static int count_color(const rf_canvas *c, rf_rgb col) {
    int n = 0;
    for (int i = 0; i < c->width * c->height; i++)
        n += c->rgb[i * 3] == col.r && c->rgb[i * 3 + 1] == col.g && c->rgb[i * 3 + 2] == col.b;
    return n;
}

int main(void) {
    rf_rgb white = {255, 255, 255}, black = {0, 0, 0}, red = {220, 30, 30};
    rf_canvas c;
    CHECK_OK(rf_canvas_create(&c, 640, 80, white));
    /* Every printable character except space draws something. */
    for (int ch = 33; ch < 127; ch++) {
        rf_canvas g;
        CHECK_OK(rf_canvas_create(&g, 8, 8, white));
        char s[2] = {(char)ch, 0};
        rf_draw_text(&g, 0, 0, s, 1, black);
        CHECK(count_color(&g, black) > 0, "character %c draws nothing", ch);
        rf_canvas_free(&g);
    }
    rf_draw_text(&c, 4, 4, "rfdetr.c 0123456789 mAP@[.50:.95] ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1, black);
    rf_draw_text(&c, 4, 20, "abcdefghijklmnopqrstuvwxyz !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", 2, red);
    CHECK(rf_text_width("abc", 2) == 36 && rf_text_height(2) == 16, "metrics");
    /* Clipping: shapes far outside the canvas do not write out of bounds. */
    rf_draw_line(&c, -1000, -1000, 2000, 2000, 3, black);
    rf_draw_rect(&c, -5, -5, 700, 100, 2, red);
    rf_fill_rect(&c, 600, 60, 10000, 10000, black);
    CHECK(count_color(&c, black) > 0 && count_color(&c, red) > 0, "drawn");
    char path[] = "/tmp/rfdetr_draw_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    char png[64];
    snprintf(png, sizeof png, "%s.png", path);
    CHECK_OK(rf_canvas_save(&c, png));
    int w = 0, h = 0, comp = 0;
    unsigned char *back = stbi_load(png, &w, &h, &comp, 3);
    CHECK(back && w == 640 && h == 80 && memcmp(back, c.rgb, (size_t)w * h * 3) == 0, "PNG round trip");
    stbi_image_free(back);
    char jpg[64];
    snprintf(jpg, sizeof jpg, "%s.jpg", path);
    CHECK_OK(rf_canvas_save(&c, jpg));
    back = stbi_load(jpg, &w, &h, &comp, 3);
    CHECK(back && w == 640 && h == 80, "JPEG readable");
    stbi_image_free(back);
    CHECK_STATUS(rf_canvas_save(&c, "/nonexistent-dir/x.png"), RF_ERR_IO);
    if (getenv("RFDETR_KEEP_DRAW")) printf("kept %s\n", png);
    else unlink(png);
    unlink(jpg);
    unlink(path);
    rf_canvas_free(&c);
    CHECK_STATUS(rf_canvas_create(&c, 0, 10, white), RF_ERR_INVALID_ARGUMENT);
    return test_finish("test_draw");
}
