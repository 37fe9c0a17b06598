/* image.h — decoding images to 8-bit RGB, and the one resampling step that
 * turns (a region of) a decoded image into the network's input: a square of
 * ImageNet-normalised float planes.
 *
 * Decoding uses stb_image (Debian's libstb): JPEG (baseline and progressive),
 * PNG (8/16-bit, palette), BMP, and whatever else stb reads. Grey, grey+alpha
 * and RGBA all become RGB; alpha is dropped, not composited (RF-DETR's
 * PIL .convert("RGB") does the same). Truncated files are errors even where
 * stb would quietly fill the missing part with zeros (JPEG, BMP). JPEG goes
 * through libjpeg-turbo when built with it; stb then reads only the CMYK and
 * YCCK JPEGs libjpeg cannot turn into RGB.
 */
#ifndef RFDETR_DATA_IMAGE_H
#define RFDETR_DATA_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rfdetr.h"

/* The decoder working memory (bytes) that all threads decoding at once may
 * hold between them: an image needing more is refused with its dimensions,
 * and a decode that would overrun it waits for the others. 1 GiB decodes a
 * ~150-megapixel JPEG or a ~60-megapixel 8-bit RGB PNG. */
#define RF_IMAGE_DECODE_BUDGET ((uint64_t)1 << 30)

typedef struct rf_image {
    int width, height;
    uint8_t *rgb; /* height rows of width * 3 bytes, top row first */
} rf_image;

/* Decodes an encoded image held in memory; `label` (usually the path) names
 * it in error messages. RF_ERR_FORMAT for empty, corrupt, truncated or
 * unsupported data (a libjpeg warning included), for a header declaring more
 * pixels than the file's length can hold, and for an image over the decode
 * budget; RF_ERR_OUT_OF_MEMORY when the pixels do not fit. */
rf_status rf_image_decode(const void *bytes, size_t length, const char *label, rf_image *out);
/* Reads and decodes a file (RF_ERR_IO when it cannot be read). */
rf_status rf_image_load(const char *path, rf_image *out);
void rf_image_free(rf_image *img);

/* Sets the shared decode budget (0 restores RF_IMAGE_DECODE_BUDGET); for
 * processes with less memory to spare, and for tests and fuzzing. */
void rf_image_set_decode_budget(uint64_t bytes);
uint64_t rf_image_decode_budget(void);

/* Width and height from the file's header, without decoding the pixels. */
rf_status rf_image_probe(const char *path, int *width, int *height);

/* ImageNet statistics RF-DETR normalises with (RGB, on pixels / 255). */
extern const float rf_imagenet_mean[3];
extern const float rf_imagenet_std[3];

/* ---- resampling ---------------------------------------------------------------
 * Samples the source rectangle [x0, x1) x [y0, y1) (source pixels, fractional
 * allowed) of the image, mirrored left-right first when hflip is set (then the
 * rectangle is in the mirrored image's coordinates), onto out_w x out_h
 * pixels, and writes (v / 255 - mean) / std as three planes (R, G, B) of
 * out_h x out_w floats: one image of an NCHW batch.
 *
 * The filter is PIL's "bilinear": a triangle whose support widens with the
 * downscale factor, so shrinking averages every source pixel (antialiased)
 * like torchvision's resize of PIL images that RF-DETR trains with. Taps that
 * fall outside the image are dropped and the rest renormalised. */
typedef struct rf_resample_region {
    double x0, y0, x1, y1;
    bool hflip;
} rf_resample_region;

/* Scratch space reused between calls (one per thread). Zero-initialise it;
 * release with rf_resampler_free. */
typedef struct rf_resampler {
    float *weights;    /* per output column/row: taps */
    int *index;        /* first source index, then tap count, of each output column/row */
    size_t weights_cap, index_cap;
    float *rows;       /* horizontally resampled source rows, out_w * 3 each */
    size_t rows_cap;
} rf_resampler;

rf_status rf_image_resample_normalized(const rf_image *img, const rf_resample_region *region, int out_w, int out_h,
                                       rf_resampler *scratch, float *out_chw);
void rf_resampler_free(rf_resampler *scratch);

#endif /* RFDETR_DATA_IMAGE_H */
