/* COCO results (detections) files, checked against a small ground truth. */
#include <string.h>

#include "data/coco.h"
#include "fuzz_util.h"

static const char ground_truth[] =
    "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 64, \"height\": 48},"
    " {\"id\": 7, \"file_name\": \"b.jpg\", \"width\": 32, \"height\": 32}],"
    " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 2, \"bbox\": [1, 2, 10, 12], \"area\": 120,"
    " \"iscrowd\": 0}],"
    " \"categories\": [{\"id\": 2, \"name\": \"cat\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static rf_coco_dataset *gt;
    if (!gt && rf_coco_parse(ground_truth, strlen(ground_truth), "gt.json", &gt) != RF_OK) abort();
    rf_coco_detection *dets = NULL;
    size_t count = 0;
    rf_coco_parse_detections((const char *)data, size, "fuzz.json", (size & 1) ? gt : NULL, &dets, &count);
    free(dets);
    return 0;
}
