/* annotate.c — boxes and captions drawn straight into RGB pixels. Text uses
 * stb_easy_font (Debian's libstb headers): it turns a string into
 * axis-aligned quads, which we fill, scaled up for large images. */
#include "cli/annotate.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_easy_font.h>
#include <stb/stb_image_write.h>

#include "backend/status.h"

/* Distinct, saturated colours; class c takes palette[c % n]. */
static const uint8_t palette[][3] = {
    {230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200},  {245, 130, 48}, {145, 30, 180},
    {70, 240, 240}, {240, 50, 230}, {210, 245, 60}, {250, 190, 212}, {0, 128, 128}, {220, 190, 255},
};

static int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

static void fill_rect(uint8_t *rgb, int w, int h, int x0, int y0, int x1, int y1, const uint8_t c[3]) {
    x0 = clampi(x0, 0, w);
    x1 = clampi(x1, 0, w);
    y0 = clampi(y0, 0, h);
    y1 = clampi(y1, 0, h);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) memcpy(rgb + ((size_t)y * w + x) * 3, c, 3);
}

/* The quads of `text` at (x, y), `scale` pixels per font unit. */
static void draw_text(uint8_t *rgb, int w, int h, int x, int y, int scale, const char *text, const uint8_t c[3]) {
    static char vbuf[64 * 1024];
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    int quads = stb_easy_font_print(0, 0, copy, NULL, vbuf, sizeof vbuf);
    for (int q = 0; q < quads; q++) {
        /* 4 vertices of 16 bytes (x, y, z floats, rgba); corners 0 and 2 span the quad. */
        float v0[2], v2[2];
        memcpy(v0, vbuf + (q * 4 + 0) * 16, sizeof v0);
        memcpy(v2, vbuf + (q * 4 + 2) * 16, sizeof v2);
        fill_rect(rgb, w, h, x + (int)(v0[0] * scale), y + (int)(v0[1] * scale), x + (int)(v2[0] * scale),
                  y + (int)(v2[1] * scale), c);
    }
}

void annotate_draw(uint8_t *rgb, int w, int h, const annotate_box *boxes, int count) {
    int side = w < h ? w : h;
    int thick = side / 250 + 1, scale = side / 400 + 1;
    const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
    for (int i = 0; i < count; i++) {
        const annotate_box *b = &boxes[i];
        const uint8_t *c = palette[(unsigned)b->label % (sizeof palette / sizeof palette[0])];
        int x0 = (int)b->box[0], y0 = (int)b->box[1], x1 = (int)b->box[2], y1 = (int)b->box[3];
        fill_rect(rgb, w, h, x0, y0, x1, y0 + thick, c);
        fill_rect(rgb, w, h, x0, y1 - thick, x1, y1, c);
        fill_rect(rgb, w, h, x0, y0, x0 + thick, y1, c);
        fill_rect(rgb, w, h, x1 - thick, y0, x1, y1, c);
        if (!b->text || !*b->text) continue;
        char copy[256];
        snprintf(copy, sizeof copy, "%s", b->text);
        int tw = stb_easy_font_width(copy) * scale + 2 * scale, th = 10 * scale;
        /* The tag sits above the box, or inside it at the top edge. */
        int ty = y0 - th >= 0 ? y0 - th : y0;
        if (x0 + tw > w) x0 = w - tw > 0 ? w - tw : 0; /* keep the caption inside the image */
        fill_rect(rgb, w, h, x0, ty, x0 + tw, ty + th, c);
        /* Dark text on light colours, white on dark ones. */
        int luma = (299 * c[0] + 587 * c[1] + 114 * c[2]) / 1000;
        draw_text(rgb, w, h, x0 + scale, ty + scale, scale, b->text, luma > 140 ? black : white);
    }
}

static bool ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    if (n < k) return false;
    for (size_t i = 0; i < k; i++)
        if (tolower((unsigned char)s[n - k + i]) != suffix[i]) return false;
    return true;
}

rf_status annotate_write(const char *path, const uint8_t *rgb, int w, int h) {
    int ok;
    if (ends_with_ci(path, ".jpg") || ends_with_ci(path, ".jpeg"))
        ok = stbi_write_jpg(path, w, h, 3, rgb, 90);
    else
        ok = stbi_write_png(path, w, h, 3, rgb, w * 3);
    if (!ok) return RF_ERROR(RF_ERR_IO, "cannot write %s: %s", path, errno ? strerror(errno) : "encoder failed");
    return RF_OK;
}
