/* yolo.h — YOLO datasets (Ultralytics / Roboflow "YOLOv5+" exports) read into
 * the same in-memory form as COCO files (data/coco.h).
 *
 * data.yaml gives the class names, as a list (ids 0..n-1) or as a mapping
 * {id: name}, and optionally the image folders of each split (train, val,
 * test, relative to `path` or to the YAML's folder). Only this subset of YAML
 * is read: top-level `key: value` lines, plain or quoted scalars, flow lists
 * and mappings ([a, b], {0: a}) that may span lines, block lists (- a) and
 * block mappings (0: a) under a key, and # comments. Other keys are ignored.
 *
 * Each image `images/.../x.jpg` has labels in `labels/.../x.txt` (the last
 * path component "images" replaced by "labels"): one object per line,
 * `class cx cy w h` normalised to [0, 1], or `class x1 y1 x2 y2 ...` (a
 * segmentation polygon, whose bounding box is taken). An image without a
 * label file has no objects. Images are listed in name order and get ids
 * 0..N-1; category ids are the class ids; boxes become pixel xywh using each
 * image's size from its header.
 */
#ifndef RFDETR_DATA_YOLO_H
#define RFDETR_DATA_YOLO_H

#include <stddef.h>
#include <stdint.h>

#include "data/coco.h"
#include "rfdetr.h"

typedef struct rf_yolo_yaml {
    char *path;                /* the `path` key (dataset root), NULL when absent */
    char *train, *val, *test;  /* image folders as written, NULL when absent */
    char **names;              /* class names ... */
    int64_t *ids;              /* ... and their ids */
    size_t name_count;
    long nc;                   /* the `nc` key, -1 when absent */
} rf_yolo_yaml;

/* Parses data.yaml text; `label` names it in messages ("data.yaml:7: ...").
 * RF_ERR_FORMAT for text outside the subset, names missing, or nc
 * disagreeing with the number of names. */
rf_status rf_yolo_yaml_parse(const char *text, size_t length, const char *label, rf_yolo_yaml *out);
rf_status rf_yolo_yaml_load(const char *path, rf_yolo_yaml *out);
void rf_yolo_yaml_free(rf_yolo_yaml *yaml);

/* Reads one split: every image in image_dir (.jpg .jpeg .png .bmp, any case,
 * subfolders included) with its labels from label_dir. Malformed label lines
 * are RF_ERR_FORMAT naming file and line. An image whose header cannot be
 * read is left out and reported in *problems (RF_COCO_PROBLEM_IMAGE_UNREADABLE).
 * ds->path is label_dir; file_name is relative to image_dir. */
rf_status rf_yolo_load_split(const char *image_dir, const char *label_dir, const rf_yolo_yaml *yaml,
                             rf_coco_dataset **out, rf_coco_problems *problems);

#endif /* RFDETR_DATA_YOLO_H */
