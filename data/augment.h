/* augment.h — RF-DETR's training augmentation as geometry: which part of the
 * source image becomes the network input, and where the boxes land.
 *
 * RF-DETR (rfdetr/datasets/coco.py, make_coco_transforms_square_div_64)
 * trains with
 *     RandomHorizontalFlip(p=0.5)
 *     RandomSelect(p=0.5:  SquareResize(S),
 *                  else:   RandomResize([400, 500, 600])   shorter side
 *                          RandomSizeCrop(384, 600)       w, h each in [384, min(side, 600)]
 *                          SquareResize(S))
 *     Normalize (ImageNet mean/std; boxes to cx cy w h divided by S)
 * and evaluates with SquareResize(S) alone. Its multi-scale training picks S
 * per batch among multiples of patch_size x num_windows (engine.py resizes
 * the whole batch). A plan records every random choice with the integer
 * sizes and crop offsets RF-DETR computes; the pixels are then resampled in
 * one pass from the matching source rectangle (data/image.h) instead of
 * three successive resizes, which is faster and blurs less but puts every
 * box exactly where RF-DETR puts it. Normalised targets do not depend on S.
 */
#ifndef RFDETR_DATA_AUGMENT_H
#define RFDETR_DATA_AUGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/philox.h"
#include "data/image.h"

/* Philox stream tags (counter word 3) of the data layer's random choices. */
enum {
    RF_RNG_TAG_AUGMENT = 0x41756731, /* per image and epoch: flip, branch, resize, crop */
    RF_RNG_TAG_SHUFFLE = 0x53687566, /* per epoch: the order of images */
    RF_RNG_TAG_SCALE = 0x5363616c,   /* per batch and epoch: the square size */
    RF_RNG_TAG_SHAPES = 0x53687031,  /* per split and image: the shapes dataset */
};

typedef struct rf_augment_plan {
    bool hflip;             /* mirrored left-right first */
    bool crop;              /* took the resize-and-crop branch */
    int resized_w, resized_h; /* after the shorter-side resize (crop branch) */
    int crop_x, crop_y, crop_w, crop_h; /* crop in the resized image (crop branch) */
    rf_resample_region region; /* the source pixels that become the output square */
} rf_augment_plan;

/* The training plan for an image of width x height, drawing from rng in a
 * fixed order (flip, branch, shorter side, crop width, crop height, crop y,
 * crop x). */
void rf_augment_plan_train(rf_philox_stream *rng, int width, int height, rf_augment_plan *plan);
/* Validation / test: the whole image, square-resized, nothing random. */
void rf_augment_plan_eval(int width, int height, rf_augment_plan *plan);

/* Boxes (x0 y0 x1 y1 in source pixels) through the plan, as RF-DETR's
 * targets: clamped to the image, mirrored, scaled, cropped (clamped to the
 * crop), boxes left with no width or height dropped, and written as
 * normalised cx cy w h in [0, 1]. Returns how many were kept; kept_from[k]
 * (if not NULL) is the input index of output box k. out may not alias in. */
size_t rf_augment_boxes(const rf_augment_plan *plan, int width, int height, const float *xyxy, size_t n,
                        float *cxcywh, size_t *kept_from);

/* Mirrors boxes left-right in place within an image of the given width. */
void rf_boxes_hflip(float *xyxy, size_t n, int width);

/* RF-DETR's multi-scale sizes (compute_multi_scale_scales): multiples of
 * patch * windows around `resolution` (offsets -3..+4, or -5..+5 expanded),
 * at least 2 * patch * windows. Writes up to max sizes ascending; returns the
 * count (0 when the arguments are not positive). */
int rf_multi_scale_sizes(int resolution, int patch_size, int num_windows, bool expanded, int *sizes, int max);

#endif /* RFDETR_DATA_AUGMENT_H */
