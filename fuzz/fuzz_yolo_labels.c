/* YOLO label files: the input is one image's label file in a split of one
 * 16 x 12 image, read the way training reads a YOLO dataset. */
#include <sys/stat.h>

#include <stb/stb_image_write.h>

#include "data/yolo.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char images[1024], labels[1024];
    static rf_yolo_yaml yaml;
    if (!images[0]) {
        snprintf(images, sizeof images, "%s/images", fuzz_scratch());
        snprintf(labels, sizeof labels, "%s/labels", fuzz_scratch());
        mkdir(images, 0755);
        mkdir(labels, 0755);
        static unsigned char grey[16 * 12];
        char png[1100];
        snprintf(png, sizeof png, "%s/a.png", images);
        if (!stbi_write_png(png, 16, 12, 1, grey, 16)) abort();
        static const char text[] = "names: [zero, one, two]\n";
        if (rf_yolo_yaml_parse(text, sizeof text - 1, "data.yaml", &yaml) != RF_OK) abort();
    }
    fuzz_write("labels/a.txt", data, size);
    rf_coco_dataset *ds = NULL;
    rf_coco_problems problems = {0};
    if (rf_yolo_load_split(images, labels, &yaml, &ds, &problems) == RF_OK) {
        rf_coco_problems more = {0};
        rf_coco_validate(ds, &more);
        rf_coco_problems_free(&more);
    }
    rf_coco_problems_free(&problems);
    rf_coco_free(ds);
    return 0;
}
