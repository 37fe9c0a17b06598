/* YOLO data.yaml. */
#include "data/yolo.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rf_yolo_yaml y;
    if (rf_yolo_yaml_parse((const char *)data, size, "data.yaml", &y) == RF_OK) rf_yolo_yaml_free(&y);
    return 0;
}
