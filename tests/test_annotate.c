/* test_annotate.c — annotated predictions (rf_draw_detections): where
 * labels overlap, the higher score is drawn on top whatever order the
 * detections come in; boxes take their class's colour; a NaN score neither
 * breaks the order nor hides a real detection. */
#include <math.h>

#include "core/draw.h"
#include "test_util.h"

static rf_rgb pixel(const rf_canvas *c, int x, int y) {
    const uint8_t *p = c->rgb + ((size_t)y * c->width + x) * 3;
    return (rf_rgb){p[0], p[1], p[2]};
}

static bool same(rf_rgb a, rf_rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

/* Draws the detections on a white 200 x 200 canvas and returns the colour
 * of the tag's top-left pixel and of the box's bottom edge, where every
 * detection of the same box draws. */
static void draw(const rf_detection *d, int n, rf_rgb *tag, rf_rgb *edge) {
    rf_canvas c;
    CHECK_OK(rf_canvas_create(&c, 200, 200, (rf_rgb){255, 255, 255}));
    const char *captions[4] = {"first 0.90", "second 0.30", "third", "fourth"};
    CHECK_OK(rf_draw_detections(&c, d, n, captions));
    int tag_height = rf_text_height(1) + 2;
    *tag = pixel(&c, (int)d[0].box[0], (int)d[0].box[1] - tag_height);
    *edge = pixel(&c, 100, (int)d[0].box[3]);
    rf_canvas_free(&c);
}

int main(void) {
    rf_rgb a = rf_class_color(0), b = rf_class_color(1), tag, edge;
    CHECK(!same(a, b), "classes 0 and 1 have distinct colours");
    /* Best first, as rf_model_predict returns them: drawing in that order
     * would leave the 0.30 label over the 0.90 one. */
    rf_detection best_first[2] = {{0, 0, 0.9f, {50, 60, 150, 160}}, {0, 1, 0.3f, {50, 60, 150, 160}}};
    draw(best_first, 2, &tag, &edge);
    CHECK(same(tag, a), "best first: the tag on top is class %d's (%d,%d,%d)", same(tag, b) ? 1 : -1, tag.r, tag.g, tag.b);
    CHECK(same(edge, a), "best first: the box on top is the higher score's");
    rf_detection worst_first[2] = {best_first[1], best_first[0]};
    draw(worst_first, 2, &tag, &edge);
    CHECK(same(tag, a) && same(edge, a), "worst first: the higher score is still on top");
    /* Three overlapping, scores mixed, one NaN: the 0.8 one wins. */
    rf_detection mixed[3] = {{0, 2, 0.5f, {50, 60, 150, 160}}, {0, 3, 0.8f, {50, 60, 150, 160}},
                             {0, 1, NAN, {50, 60, 150, 160}}};
    draw(mixed, 3, &tag, &edge);
    CHECK(same(tag, rf_class_color(3)) && same(edge, rf_class_color(3)), "mixed with a NaN: 0.8 on top");
    /* Nothing to draw is not an error. */
    rf_canvas c;
    CHECK_OK(rf_canvas_create(&c, 8, 8, (rf_rgb){0, 0, 0}));
    CHECK_OK(rf_draw_detections(&c, NULL, 0, NULL));
    rf_canvas_free(&c);
    return test_finish("test_annotate");
}
