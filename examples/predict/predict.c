/* predict.c — a program that embeds rfdetr.c: detects objects in an image
 * with a trained model, through the installed library (rfdetr.h alone).
 *
 *   predict WEIGHTS IMAGE [THRESHOLD [DEVICE]]
 *
 * Prints one line per detection, best first, as `rfdetr predict` does:
 * class, score and box x0 y0 x1 y1 in the image's pixels. Build it against
 * an installed rfdetr with CMake (CMakeLists.txt) or pkg-config (Makefile);
 * docs/install.md has both. */
#include <stdio.h>
#include <stdlib.h>

#include <rfdetr.h>

static int fail(const char *what, rf_status s) {
    fprintf(stderr, "predict: %s: %s: %s\n", what, rf_status_name(s), rf_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s WEIGHTS IMAGE [THRESHOLD [DEVICE]]\n", argv[0]);
        return 2;
    }
    float threshold = argc > 3 ? strtof(argv[3], NULL) : 0.5f;
    const char *device_name = argc > 4 ? argv[4] : "cpu";

    rf_device *device = NULL;
    rf_status s = rf_device_open(device_name, &device);
    if (s != RF_OK) return fail("opening the device", s);
    rf_model *model = NULL;
    s = rf_model_open(device, argv[1], &model);
    if (s != RF_OK) {
        rf_device_close(device);
        return fail("loading the model", s);
    }
    rf_image_rgb8 image;
    s = rf_image_read(argv[2], &image);
    rf_detection *detections = NULL;
    size_t count = 0;
    if (s == RF_OK) s = rf_model_predict(model, &image, 1, threshold, &detections, &count);
    if (s == RF_OK) {
        printf("%s: %zu detection%s\n", argv[2], count, count == 1 ? "" : "s");
        for (size_t i = 0; i < count; i++) {
            const rf_detection *d = &detections[i];
            const char *name = rf_model_class_name(model, d->class_id);
            if (name)
                printf("  %s %.2f  box %.1f %.1f %.1f %.1f\n", name, d->score, d->box[0], d->box[1], d->box[2], d->box[3]);
            else
                printf("  class %d %.2f  box %.1f %.1f %.1f %.1f\n", d->class_id, d->score, d->box[0], d->box[1], d->box[2],
                       d->box[3]);
        }
    }
    int rc = s == RF_OK ? 0 : fail("predicting", s);
    rf_detections_free(detections);
    rf_image_rgb8_free(&image);
    rf_model_free(model);
    rf_device_close(device);
    return rc;
}
