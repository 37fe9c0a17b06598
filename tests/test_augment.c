/* test_augment.c — the augmentation invariants: boxes stay inside the output,
 * plans stay inside the image, flip twice is the identity, counts are kept
 * by the square resize (only a crop may drop a box, when none of it is left),
 * pixels and boxes move together, and the same seed gives the same plans. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "test_util.h"

static void test_eval_plan(void) {
    rf_augment_plan p;
    rf_augment_plan_eval(400, 300, &p);
    CHECK(!p.hflip && !p.crop, "eval plan is not random");
    const float in[] = {10, 20, 110, 70, -5, -5, 50, 50, 390, 290, 450, 350, 30, 30, 30, 60};
    float out[16];
    size_t from[4];
    size_t n = rf_augment_boxes(&p, 400, 300, in, 4, out, from);
    /* The last box has zero width: dropped, as RF-DETR's ConvertCoco does. */
    CHECK(n == 3, "kept %zu of 4", n);
    CHECK(fabsf(out[0] - 60.0f / 400) < 1e-6f && fabsf(out[1] - 45.0f / 300) < 1e-6f, "centre %g %g", out[0], out[1]);
    CHECK(fabsf(out[2] - 100.0f / 400) < 1e-6f && fabsf(out[3] - 50.0f / 300) < 1e-6f, "size %g %g", out[2], out[3]);
    /* Clamped to the image. */
    CHECK(fabsf(out[4] - 25.0f / 400) < 1e-6f && fabsf(out[6] - 50.0f / 400) < 1e-6f, "clamped box %g %g", out[4],
          out[6]);
    CHECK(fabsf(out[8] - 395.0f / 400) < 1e-6f && fabsf(out[10] - 10.0f / 400) < 1e-6f, "clamped box %g %g", out[8],
          out[10]);
    CHECK(from[0] == 0 && from[1] == 1 && from[2] == 2, "kept_from");
}

static void test_flip_twice(void) {
    float b[] = {0, 0, 10, 10, 3.5f, 7, 99.25f, 8, 50, 1, 100, 2};
    float orig[12];
    memcpy(orig, b, sizeof b);
    rf_boxes_hflip(b, 3, 100);
    CHECK(b[0] == 90 && b[2] == 100, "flip: %g %g", b[0], b[2]);
    rf_boxes_hflip(b, 3, 100);
    CHECK(memcmp(b, orig, sizeof b) == 0, "flip twice is the identity");

    /* And through a plan: a flipped plan's boxes mirror the unflipped plan's. */
    rf_augment_plan p;
    rf_augment_plan_eval(200, 100, &p);
    float a[12], f[12];
    size_t na = rf_augment_boxes(&p, 200, 100, orig, 3, a, NULL);
    p.hflip = p.region.hflip = true;
    size_t nf = rf_augment_boxes(&p, 200, 100, orig, 3, f, NULL);
    CHECK(na == nf, "flip keeps the count");
    for (size_t i = 0; i < na; i++)
        CHECK(fabsf(f[4 * i] - (1.0f - a[4 * i])) < 1e-6f && f[4 * i + 1] == a[4 * i + 1] && f[4 * i + 2] == a[4 * i + 2],
              "box %zu mirrored", i);
}

static void test_random_plans(void) {
    int flips = 0, crops = 0, sides[3] = {0};
    const int trials = 4000;
    int bad_region = 0, bad_box = 0, bad_crop = 0, lost_uncropped = 0;
    unsigned long long lcg = 11;
    for (int t = 0; t < trials; t++) {
        int w = (int)test_uniform(&lcg, 150, 1300), h = (int)test_uniform(&lcg, 150, 1300);
        rf_philox_stream rng;
        rf_philox_stream_init(&rng, 1234, (uint32_t)t, 0, RF_RNG_TAG_AUGMENT);
        rf_augment_plan p;
        rf_augment_plan_train(&rng, w, h, &p);
        flips += p.hflip;
        crops += p.crop;
        const rf_resample_region *r = &p.region;
        if (r->x0 < 0 || r->y0 < 0 || r->x1 > w + 1e-9 || r->y1 > h + 1e-9 || !(r->x1 > r->x0) || !(r->y1 > r->y0))
            bad_region++;
        if (p.crop) {
            int shorter = p.resized_w < p.resized_h ? p.resized_w : p.resized_h;
            sides[shorter == 400 ? 0 : shorter == 500 ? 1 : 2]++;
            if (p.crop_w < 384 || p.crop_h < 384 || p.crop_w > 600 || p.crop_h > 600 ||
                p.crop_x + p.crop_w > p.resized_w || p.crop_y + p.crop_h > p.resized_h || p.crop_x < 0 || p.crop_y < 0)
                bad_crop++;
        }
        float in[4 * 8], out[4 * 8];
        for (int i = 0; i < 8; i++) {
            float x = test_uniform(&lcg, -50, (float)w + 50), y = test_uniform(&lcg, -50, (float)h + 50);
            in[4 * i] = x;
            in[4 * i + 1] = y;
            in[4 * i + 2] = x + test_uniform(&lcg, 0, 300);
            in[4 * i + 3] = y + test_uniform(&lcg, 0, 300);
        }
        size_t n = rf_augment_boxes(&p, w, h, in, 8, out, NULL);
        for (size_t i = 0; i < n; i++) {
            const float *b = out + 4 * i;
            if (!(b[2] > 0 && b[3] > 0 && b[0] - b[2] / 2 >= -1e-6f && b[0] + b[2] / 2 <= 1 + 1e-6f &&
                  b[1] - b[3] / 2 >= -1e-6f && b[1] + b[3] / 2 <= 1 + 1e-6f))
                bad_box++;
        }
        if (!p.crop) {
            /* Without the crop only boxes empty after clamping may go. */
            rf_augment_plan e;
            rf_augment_plan_eval(w, h, &e);
            if (n != rf_augment_boxes(&e, w, h, in, 8, out, NULL)) lost_uncropped++;
        }
    }
    CHECK(bad_region == 0, "%d plans sample outside the image", bad_region);
    CHECK(bad_crop == 0, "%d crops outside RF-DETR's limits", bad_crop);
    CHECK(bad_box == 0, "%d boxes outside [0, 1] or empty", bad_box);
    CHECK(lost_uncropped == 0, "%d uncropped plans lost boxes", lost_uncropped);
    CHECK(abs(flips - trials / 2) < 200, "flip rate %d / %d", flips, trials);
    CHECK(abs(crops - trials / 2) < 200, "crop rate %d / %d", crops, trials);
    for (int k = 0; k < 3; k++) CHECK(abs(sides[k] - crops / 3) < 150, "shorter side %d chosen %d times", k, sides[k]);

    /* Same seed and stream: the same plan, field for field. */
    rf_philox_stream a, b;
    rf_philox_stream_init(&a, 99, 5, 3, RF_RNG_TAG_AUGMENT);
    rf_philox_stream_init(&b, 99, 5, 3, RF_RNG_TAG_AUGMENT);
    int differ = 0;
    for (int t = 0; t < 100; t++) {
        rf_augment_plan pa, pb;
        rf_augment_plan_train(&a, 640, 480, &pa);
        rf_augment_plan_train(&b, 640, 480, &pb);
        differ += memcmp(&pa, &pb, sizeof pa) != 0;
    }
    CHECK(differ == 0, "%d plans differ for the same seed", differ);
}

/* Pixels and boxes move together: paint a red rectangle, augment, and check
 * that the output is red inside the transformed box and not red outside. */
static void test_pixels_follow_boxes(void) {
    enum { IW = 640, IH = 480, S = 160 };
    uint8_t *px = calloc((size_t)IW * IH * 3, 1);
    const float box[4] = {200, 120, 520, 400};
    for (int y = 120; y < 400; y++)
        for (int x = 200; x < 520; x++) px[(y * IW + x) * 3] = 255;
    rf_image img = {IW, IH, px};
    rf_resampler sc = {0};
    float *out = malloc(sizeof(float) * 3 * S * S);
    int checked = 0, bad = 0;
    for (uint32_t t = 0; t < 40; t++) {
        rf_philox_stream rng;
        rf_philox_stream_init(&rng, 7, t, 0, RF_RNG_TAG_AUGMENT);
        rf_augment_plan p;
        rf_augment_plan_train(&rng, IW, IH, &p);
        float b[4];
        if (rf_augment_boxes(&p, IW, IH, box, 1, b, NULL) != 1) continue;
        CHECK_OK(rf_image_resample_normalized(&img, &p.region, S, S, &sc, out));
        float x0 = (b[0] - b[2] / 2) * S, x1 = (b[0] + b[2] / 2) * S, y0 = (b[1] - b[3] / 2) * S,
              y1 = (b[1] + b[3] / 2) * S;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                float cx = x + 0.5f, cy = y + 0.5f;
                /* Two output pixels of margin for the filter's blur. */
                bool inside = cx > x0 + 2 && cx < x1 - 2 && cy > y0 + 2 && cy < y1 - 2;
                bool outside = cx < x0 - 2 || cx > x1 + 2 || cy < y0 - 2 || cy > y1 + 2;
                float red = out[y * S + x] * rf_imagenet_std[0] + rf_imagenet_mean[0];
                if (inside) bad += red < 0.99f, checked++;
                if (outside) bad += red > 0.01f, checked++;
            }
    }
    CHECK(checked > 100000 && bad == 0, "%d of %d pixels disagree with their box", bad, checked);
    rf_resampler_free(&sc);
    free(out);
    free(px);
}

static void test_multi_scale(void) {
    int sizes[16];
    /* RF-DETR base: resolution 560, patch 14, 4 windows, expanded scales. */
    int n = rf_multi_scale_sizes(560, 14, 4, true, sizes, 16);
    CHECK(n == 11 && sizes[0] == 280 && sizes[5] == 560 && sizes[10] == 840, "n %d: %d .. %d", n, sizes[0],
          sizes[n > 0 ? n - 1 : 0]);
    for (int i = 0; i < n; i++) CHECK(sizes[i] % 56 == 0, "size %d is a multiple of 56", sizes[i]);
    /* Small resolutions drop sizes below 2 * patch * windows. */
    n = rf_multi_scale_sizes(192, 16, 1, false, sizes, 16);
    CHECK(n == 8 && sizes[0] == 144 && sizes[7] == 256, "n %d: %d .. %d", n, sizes[0], sizes[n > 0 ? n - 1 : 0]);
    n = rf_multi_scale_sizes(128, 16, 2, true, sizes, 16);
    CHECK(n == 8 && sizes[0] == 64, "n %d first %d", n, sizes[0]);
    CHECK(rf_multi_scale_sizes(0, 16, 1, false, sizes, 16) == 0, "bad arguments give no sizes");
}

int main(void) {
    test_eval_plan();
    test_flip_twice();
    test_random_plans();
    test_pixels_follow_boxes();
    test_multi_scale();
    return test_finish("test_augment");
}
