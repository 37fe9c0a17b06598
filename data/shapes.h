/* shapes.h — the built-in "shapes" dataset: filled shapes of random colours
 * on a noisy background, written to disk as a Roboflow-layout COCO dataset
 * (train/ valid/ test/, each with _annotations.coco.json beside the images).
 *
 * It follows the generator the tiny recipe's learning curves were measured on
 * (shared/reference/tiny-torch/shapes.py): per image a uniform background
 * colour, 1-4 objects of class uniform in [0, K), circles of diameter and
 * other shapes of width and height uniform in [12, 70] px, centred so that at
 * least ~60% lies inside, boxes clipped to the image and at least 4 px a
 * side, pairwise IoU at most 0.3 (up to 100 attempts), a colour at L1
 * distance > 150 from the background (up to 20 attempts), larger objects
 * drawn first, then Gaussian noise of sd 8 on every channel, truncated to
 * 8 bits. Classes 0, 1, 2 are circle, rectangle, triangle (apex up or down),
 * as in the reference; K > 3 adds diamond, cross, ring, hexagon and star.
 * Category ids are 0..K-1 with no Roboflow placeholder, so a model trained
 * on it has exactly K class logits, as the reference's did.
 *
 * Every random choice comes from Philox keyed by the seed, one stream per
 * (split, image), so the same seed gives the same bytes whatever the thread
 * count, and images are generated in parallel.
 */
#ifndef RFDETR_DATA_SHAPES_H
#define RFDETR_DATA_SHAPES_H

#include <stddef.h>
#include <stdint.h>

#include "rfdetr.h"

#define RF_SHAPES_MAX_CLASSES 8
#define RF_SHAPES_MAX_OBJECTS 4

typedef struct rf_shapes_config {
    int train, valid, test; /* images per split; a split with 0 images is not written */
    int size;               /* square image side in pixels */
    int classes;            /* 1..RF_SHAPES_MAX_CLASSES */
    uint64_t seed;
    int threads;            /* generator threads; 0 = 2 */
} rf_shapes_config;

/* 2000 train / 200 valid / 0 test images of 192 px, 3 classes, seed 0: the
 * set the tiny recipe is known to learn. */
void rf_shapes_config_default(rf_shapes_config *cfg);
/* RF_ERR_INVALID_ARGUMENT naming the field when a value is out of range. */
rf_status rf_shapes_config_check(const rf_shapes_config *cfg);

const char *rf_shapes_class_name(int category_id);

typedef struct rf_shapes_object {
    int category_id;
    double bbox[4]; /* x, y, w, h in pixels, clipped to the image */
} rf_shapes_object;

/* Renders image `index` of split `split` (0 train, 1 valid, 2 test) into rgb
 * (size * size * 3 bytes) and its objects, in drawing order. Returns the
 * object count (1..RF_SHAPES_MAX_OBJECTS) in *count. */
void rf_shapes_render(const rf_shapes_config *cfg, int split, int index, uint8_t *rgb, rf_shapes_object *objects,
                      int *count);

/* Writes the dataset into `dir`, which must not exist or be empty. The files
 * are written into a temporary sibling directory that is renamed into place
 * at the end, so `dir` never holds half a dataset, even after a crash. */
rf_status rf_shapes_write(const char *dir, const rf_shapes_config *cfg);

/* Where the default dataset lives: $XDG_CACHE_HOME/rfdetr/ or
 * ~/.cache/rfdetr/, in a folder named after the generator version and the
 * default configuration (so a changed generator never reuses an old set). */
rf_status rf_shapes_default_dir(char *out, size_t size);
/* Makes sure the default dataset exists (generating it on first use, about
 * five seconds) and writes its directory to out. `*generated` (may be NULL)
 * tells whether it had to be made. Safe when several processes race. */
rf_status rf_shapes_ensure_default(char *out, size_t size, int *generated);

#endif /* RFDETR_DATA_SHAPES_H */
