/* COCO annotation files: the parser, then the semantic checks check-data runs. */
#include "data/coco.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rf_coco_dataset *ds = NULL;
    if (rf_coco_parse((const char *)data, size, "fuzz.json", &ds) == RF_OK) {
        rf_coco_problems problems = {0};
        rf_coco_validate(ds, &problems);
        rf_coco_problems_free(&problems);
    }
    rf_coco_free(ds);
    return 0;
}
