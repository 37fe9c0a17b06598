/* Image decoding (libjpeg-turbo and stb), then the resampler on the result.
 * The decode budget is lowered so that whatever it admits stays well under
 * the fuzzer's RSS limit: a file it lets through that still takes more is
 * a bug in the bounds. */
#include "data/image.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static rf_resampler scratch;
    static float out[3 * 24 * 20];
    rf_image_set_decode_budget(128u << 20);
    rf_image img;
    if (rf_image_decode(data, size, "fuzz.img", &img) != RF_OK) return 0;
    rf_resample_region region = {0.5, 0.25, img.width - 0.5, img.height * 0.75 + 0.25, (size & 1) != 0};
    rf_image_resample_normalized(&img, &region, 24, 20, &scratch, out);
    rf_image_free(&img);
    return 0;
}
