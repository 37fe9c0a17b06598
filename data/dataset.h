/* dataset.h — a detection dataset on disk, whatever its layout, as one
 * handle: up to three splits (train, valid, test), each an rf_coco_dataset
 * plus the folder its file names are relative to.
 *
 * Layouts (`--data DIR`), tried in this order:
 *   roboflow  DIR/{train,valid,test}/_annotations.coco.json, images beside
 *             each JSON (Roboflow's COCO export; RF-DETR's default).
 *   coco      DIR/annotations/instances_<name>.json; images in DIR/<name>/,
 *             DIR/images/<name>/ or DIR/images/. <name> starting with
 *             "train" is the train split, "val" valid, "test" test (also
 *             image_info_test*.json).
 *   yolo      DIR/data.yaml (or data.yml) with images/ and labels/ folders:
 *             DIR/<split>/images (Roboflow's YOLO export, split "train",
 *             "valid" or "val", "test"), DIR/images/<split> (Ultralytics), or
 *             the folders data.yaml's train/val/test keys name.
 * Anything else is RF_ERR_FORMAT naming DIR and what was looked for.
 *
 * Class ids are the category ids of the files, kept exactly; the class head
 * needs (largest id + 1) logits. Roboflow's placeholder category
 * (supercategory "none") is not a class name. See docs/data.md for which
 * problems stop training and which are warned about and fixed.
 */
#ifndef RFDETR_DATA_DATASET_H
#define RFDETR_DATA_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "data/coco.h"
#include "rfdetr.h"

typedef enum rf_data_format {
    RF_DATA_UNKNOWN = 0,
    RF_DATA_ROBOFLOW,
    RF_DATA_COCO,
    RF_DATA_YOLO,
} rf_data_format;

typedef enum rf_split { RF_SPLIT_TRAIN = 0, RF_SPLIT_VALID = 1, RF_SPLIT_TEST = 2, RF_SPLIT_COUNT = 3 } rf_split;

#define RF_SPLIT_BIT(s) (1u << (s))
#define RF_SPLITS_ALL (RF_SPLIT_BIT(RF_SPLIT_TRAIN) | RF_SPLIT_BIT(RF_SPLIT_VALID) | RF_SPLIT_BIT(RF_SPLIT_TEST))

const char *rf_data_format_name(rf_data_format format); /* "roboflow", "coco", "yolo", "unknown" */
const char *rf_split_name(rf_split split);              /* "train", "valid", "test" */
/* "train", "valid" (also "val"), "test" -> split; RF_ERR_INVALID_ARGUMENT otherwise. */
rf_status rf_split_parse(const char *name, rf_split *out);

typedef struct rf_dataset_split {
    bool present;      /* the layout has this split */
    char *annotations; /* its JSON file, or its labels folder (YOLO) */
    char *image_dir;   /* the folder image file names are relative to */
    rf_coco_dataset *coco; /* NULL when absent, not requested, or unparseable */

    /* Training targets per image: indices into coco->annotations of the
     * boxes that are not crowd regions, image i owning
     * target_index[target_start[i] .. target_start[i+1]). */
    size_t *target_start; /* image_count + 1 */
    size_t *target_index;
    size_t max_targets; /* most targets of any one image */
} rf_dataset_split;

typedef struct rf_dataset {
    char *root;
    rf_data_format format;
    rf_dataset_split splits[RF_SPLIT_COUNT];
    int64_t num_classes; /* largest category id of the loaded splits + 1: the class head's logits */
    /* Problems found while opening. rf_dataset_open keeps only warnings (it
     * fails on anything that stops training); rf_dataset_inspect keeps all. */
    rf_coco_problems problems;
} rf_dataset;

/* What `--data` names: "shapes" is the built-in dataset (generated into the
 * cache on first use, see data/shapes.h; `*generated` tells whether it was
 * made now, may be NULL); anything else is a folder, copied as it is (write
 * ./shapes for a folder of that name). */
rf_status rf_dataset_resolve_dir(const char *data, char *dir, size_t size, int *generated);

/* Which layout DIR has (RF_ERR_FORMAT naming what was looked for when none). */
rf_status rf_dataset_detect(const char *dir, rf_data_format *format);

/* Opens the splits in `splits` (RF_SPLIT_BIT mask) for training or
 * evaluation. Fails (RF_ERR_FORMAT / RF_ERR_IO, message naming file and
 * entry) when a requested split is absent or unparseable, or has a problem
 * training cannot work around; warnings stay in ds->problems. Every image
 * file is checked to exist and be non-empty; pixels are decoded later, by
 * the loader. */
rf_status rf_dataset_open(const char *dir, unsigned splits, rf_dataset **out);

/* For check-data: opens every split the layout has, never failing because
 * of the data: parse errors, semantic problems and missing files are all
 * collected in ds->problems (a split that cannot be parsed has coco NULL).
 * Fails only when DIR has no known layout or memory runs out. */
rf_status rf_dataset_inspect(const char *dir, rf_dataset **out);

/* Decodes every image of a split, reporting unreadable ones and sizes that
 * differ from the annotation file (check-data's slow part). */
rf_status rf_dataset_check_images(rf_dataset *ds, rf_split split);

void rf_dataset_free(rf_dataset *ds);

/* Full path of image `index` of a split. */
rf_status rf_dataset_image_path(const rf_dataset *ds, rf_split split, size_t index, char *out, size_t size);

/* Whether training stops on this kind of problem (else it warns and goes
 * on: boxes clamped or dropped as RF-DETR does). */
bool rf_dataset_problem_is_fatal(rf_coco_problem_kind kind);

#endif /* RFDETR_DATA_DATASET_H */
