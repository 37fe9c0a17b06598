#include "data/augment.h"

#include <string.h>

/* RF-DETR's constants (make_coco_transforms_square_div_64). */
static const int shorter_sides[3] = {400, 500, 600};
enum { CROP_MIN = 384, CROP_MAX = 600 };

/* torchvision resize to a shorter side of `size`, keeping the aspect ratio
 * with Python's int() truncation on the longer side. */
static void resize_shorter(int w, int h, int size, int *ow, int *oh) {
    if ((w <= h && w == size) || (h <= w && h == size)) {
        *ow = w;
        *oh = h;
    } else if (w < h) {
        *ow = size;
        *oh = (int)((double)size * h / w);
    } else {
        *oh = size;
        *ow = (int)((double)size * w / h);
    }
}

void rf_augment_plan_eval(int width, int height, rf_augment_plan *plan) {
    memset(plan, 0, sizeof *plan);
    plan->region = (rf_resample_region){0, 0, width, height, false};
}

void rf_augment_plan_train(rf_philox_stream *rng, int width, int height, rf_augment_plan *plan) {
    rf_augment_plan_eval(width, height, plan);
    plan->hflip = rf_philox_next_double(rng) < 0.5;
    plan->region.hflip = plan->hflip;
    /* RandomSelect: p 0.5 for the plain square resize. */
    if (rf_philox_next_double(rng) < 0.5) return;
    plan->crop = true;
    int side = shorter_sides[rf_philox_next_below(rng, 3)];
    resize_shorter(width, height, side, &plan->resized_w, &plan->resized_h);
    int max_w = plan->resized_w < CROP_MAX ? plan->resized_w : CROP_MAX;
    int max_h = plan->resized_h < CROP_MAX ? plan->resized_h : CROP_MAX;
    plan->crop_w = (int)rf_philox_next_int(rng, CROP_MIN, max_w);
    plan->crop_h = (int)rf_philox_next_int(rng, CROP_MIN, max_h);
    plan->crop_y = (int)rf_philox_next_int(rng, 0, plan->resized_h - plan->crop_h);
    plan->crop_x = (int)rf_philox_next_int(rng, 0, plan->resized_w - plan->crop_w);
    double fx = (double)width / plan->resized_w, fy = (double)height / plan->resized_h;
    plan->region.x0 = plan->crop_x * fx;
    plan->region.x1 = (plan->crop_x + plan->crop_w) * fx;
    plan->region.y0 = plan->crop_y * fy;
    plan->region.y1 = (plan->crop_y + plan->crop_h) * fy;
}

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

void rf_boxes_hflip(float *xyxy, size_t n, int width) {
    for (size_t i = 0; i < n; i++) {
        float *b = xyxy + 4 * i;
        float x0 = b[0];
        b[0] = (float)width - b[2];
        b[2] = (float)width - x0;
    }
}

size_t rf_augment_boxes(const rf_augment_plan *plan, int width, int height, const float *xyxy, size_t n,
                        float *cxcywh, size_t *kept_from) {
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        /* ConvertCoco: clamp to the image; boxes left empty are dropped. */
        double x0 = clampd(xyxy[4 * i], 0, width), y0 = clampd(xyxy[4 * i + 1], 0, height);
        double x1 = clampd(xyxy[4 * i + 2], 0, width), y1 = clampd(xyxy[4 * i + 3], 0, height);
        if (!(x1 > x0 && y1 > y0)) continue;
        if (plan->hflip) {
            double t = x0;
            x0 = width - x1;
            x1 = width - t;
        }
        /* Output frame: the crop (in resized pixels) or the whole image. */
        double ox = 0, oy = 0, ow = width, oh = height;
        if (plan->crop) {
            double rx = (double)plan->resized_w / width, ry = (double)plan->resized_h / height;
            x0 *= rx, x1 *= rx, y0 *= ry, y1 *= ry;
            ox = plan->crop_x, oy = plan->crop_y, ow = plan->crop_w, oh = plan->crop_h;
        }
        x0 = clampd(x0 - ox, 0, ow), x1 = clampd(x1 - ox, 0, ow);
        y0 = clampd(y0 - oy, 0, oh), y1 = clampd(y1 - oy, 0, oh);
        if (!(x1 > x0 && y1 > y0)) continue;
        float *o = cxcywh + 4 * kept;
        o[0] = (float)((x0 + x1) * 0.5 / ow);
        o[1] = (float)((y0 + y1) * 0.5 / oh);
        o[2] = (float)((x1 - x0) / ow);
        o[3] = (float)((y1 - y0) / oh);
        if (kept_from) kept_from[kept] = i;
        kept++;
    }
    return kept;
}

int rf_multi_scale_sizes(int resolution, int patch_size, int num_windows, bool expanded, int *sizes, int max) {
    if (resolution <= 0 || patch_size <= 0 || num_windows <= 0) return 0;
    int step = patch_size * num_windows, base = resolution / step, n = 0;
    int lo = expanded ? -5 : -3, hi = expanded ? 5 : 4;
    for (int off = lo; off <= hi && n < max; off++) {
        int size = (base + off) * step;
        if (size >= 2 * step) sizes[n++] = size;
    }
    return n;
}
