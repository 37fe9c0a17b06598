/* coco.h — COCO annotation files (and Roboflow's COCO exports) in memory,
 * and COCO results files (detections). Shared by data/ (training sets) and
 * eval/ (ground truth and detections for COCO AP/AR).
 *
 * Ids are kept exactly as the file has them: category ids are never
 * remapped, so class k of the model is category id k (RF-DETR's convention:
 * the class head has max_category_id + 1 logits).
 *
 * Parsing is strict about syntax and types: malformed JSON, a missing
 * required key or a value of the wrong type is RF_ERR_FORMAT with a message
 * naming the file, the line and column, and the entry ("annotations[12].bbox").
 * Semantic checks (boxes outside images, unknown category ids, duplicate ids)
 * are made by rf_coco_validate, which collects every problem it finds.
 */
#ifndef RFDETR_DATA_COCO_H
#define RFDETR_DATA_COCO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rfdetr.h"

typedef struct rf_coco_image {
    int64_t id;
    char *file_name;       /* "" when the file omits it (results-only GT files do) */
    int32_t width, height; /* 0 when the file omits them */
} rf_coco_image;

typedef struct rf_coco_annotation {
    int64_t id;
    int64_t image_id;
    int64_t category_id;
    double bbox[4];     /* x, y, w, h in pixels, as in the file */
    double area;        /* the file's "area" (COCO eval bins by it); w*h when absent */
    int iscrowd;        /* 0 or 1 */
    int64_t image_index; /* index into images[] of image_id, -1 if no such image */
} rf_coco_annotation;

typedef struct rf_coco_category {
    int64_t id;
    char *name;
    char *supercategory; /* "" when absent */
} rf_coco_category;

typedef struct rf_coco_dataset {
    char *path; /* the file it came from (or the label given to rf_coco_parse) */
    rf_coco_image *images;
    size_t image_count;
    rf_coco_annotation *annotations;
    size_t annotation_count;
    rf_coco_category *categories;
    size_t category_count;
    int64_t max_category_id; /* -1 without categories */
    struct rf_coco_index *index; /* private: id -> index tables (rf_coco_build_index) */
} rf_coco_dataset;

rf_status rf_coco_load(const char *json_path, rf_coco_dataset **out);
/* Parses from memory; `label` names the source in messages. */
rf_status rf_coco_parse(const char *json, size_t length, const char *label, rf_coco_dataset **out);
void rf_coco_free(rf_coco_dataset *ds);

/* Index of the image / category with this id (the first one when ids
 * repeat), or -1. O(1) once the index is built (load and parse build it);
 * a linear scan without one. */
int64_t rf_coco_image_index(const rf_coco_dataset *ds, int64_t image_id);
int64_t rf_coco_category_index(const rf_coco_dataset *ds, int64_t category_id);

/* (Re)builds the id index, every annotation's image_index and
 * max_category_id. rf_coco_load / rf_coco_parse call it; call it after
 * building or changing a dataset by hand (e.g. from YOLO labels). The
 * dataset must be heap-allocated with malloc'd arrays and strings, since
 * rf_coco_free frees them. */
rf_status rf_coco_build_index(rf_coco_dataset *ds);

/* Roboflow exports carry a placeholder category whose supercategory is
 * "none" (the dataset's own name): it is not a class the model predicts. */
bool rf_coco_category_is_placeholder(const rf_coco_category *c);

/* ---- semantic validation ------------------------------------------------ */
typedef enum rf_coco_severity { RF_COCO_WARNING = 0, RF_COCO_ERROR = 1 } rf_coco_severity;

/* What went wrong, so callers decide per case (docs/data.md has the table of
 * what check-data reports and what training does about each). */
typedef enum rf_coco_problem_kind {
    RF_COCO_PROBLEM_OTHER = 0,
    RF_COCO_PROBLEM_SYNTAX,             /* unparseable file: malformed JSON, missing key, wrong type */
    RF_COCO_PROBLEM_EMPTY_SPLIT,        /* no images */
    RF_COCO_PROBLEM_NO_ANNOTATIONS,     /* images but not one annotation */
    RF_COCO_PROBLEM_NO_CATEGORIES,
    RF_COCO_PROBLEM_ALL_PLACEHOLDER,    /* every category has supercategory "none" */
    RF_COCO_PROBLEM_PLACEHOLDER_USED,   /* annotations of the placeholder category */
    RF_COCO_PROBLEM_DUPLICATE_IMAGE_ID,
    RF_COCO_PROBLEM_DUPLICATE_CATEGORY_ID,
    RF_COCO_PROBLEM_DUPLICATE_ANNOTATION_ID,
    RF_COCO_PROBLEM_DUPLICATE_FILE_NAME, /* two image entries, one file */
    RF_COCO_PROBLEM_UNKNOWN_IMAGE,      /* annotation's image_id not among the images */
    RF_COCO_PROBLEM_UNKNOWN_CATEGORY,   /* annotation's category_id not among the categories */
    RF_COCO_PROBLEM_IMAGE_SIZE,         /* width/height negative, or absent where needed */
    RF_COCO_PROBLEM_BBOX_OUTSIDE,       /* bbox reaches outside its image */
    RF_COCO_PROBLEM_BBOX_NEGATIVE,      /* bbox width or height negative */
    RF_COCO_PROBLEM_BBOX_EMPTY,         /* bbox width or height zero */
    RF_COCO_PROBLEM_IMAGE_MISSING,      /* image file absent or not a regular file */
    RF_COCO_PROBLEM_IMAGE_UNREADABLE,   /* corrupt, truncated, empty or unsupported image file */
    RF_COCO_PROBLEM_IMAGE_SIZE_MISMATCH, /* decoded size differs from the file's width/height */
    RF_COCO_PROBLEM_SPLITS_DISAGREE,    /* splits list different categories */
    RF_COCO_PROBLEM_KIND_COUNT
} rf_coco_problem_kind;

typedef struct rf_coco_problem {
    rf_coco_severity severity;
    char message[512]; /* names the file and the entry */
    rf_coco_problem_kind kind;
} rf_coco_problem;

typedef struct rf_coco_problems {
    rf_coco_problem *items;
    size_t count;
    size_t capacity;
} rf_coco_problems;

/* Appends every problem found in ds to *problems; returns RF_ERR_FORMAT if any
 * has severity RF_COCO_ERROR. */
rf_status rf_coco_validate(const rf_coco_dataset *ds, rf_coco_problems *problems);
void rf_coco_problems_free(rf_coco_problems *problems);
/* Appends one problem (printf-style message); RF_ERR_OUT_OF_MEMORY only. */
rf_status rf_coco_problems_add(rf_coco_problems *problems, rf_coco_severity severity, rf_coco_problem_kind kind,
                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Number of problems of severity RF_COCO_ERROR. */
size_t rf_coco_problems_errors(const rf_coco_problems *problems);

/* ---- detections (COCO results files) ------------------------------------------ */
typedef struct rf_coco_detection {
    int64_t image_id;
    int64_t category_id;
    double bbox[4]; /* x, y, w, h in original image pixels */
    double score;
} rf_coco_detection;

/* Reads a results file: a JSON list of {image_id, category_id, bbox, score}
 * (other keys, e.g. segmentation, are ignored). With gt given, an image id
 * absent from it is RF_ERR_FORMAT naming the entry. A negative width, height
 * or score, and a NaN or infinite value anywhere, are RF_ERR_FORMAT; x and y
 * may be negative (RF-DETR does not clip boxes to the image, and COCO
 * evaluation accepts them). An empty list is valid. */
rf_status rf_coco_load_detections(const char *json_path, const rf_coco_dataset *gt, rf_coco_detection **out,
                                  size_t *count);
rf_status rf_coco_parse_detections(const char *json, size_t length, const char *label, const rf_coco_dataset *gt,
                                   rf_coco_detection **out, size_t *count);
/* Writes a results file (atomically: temporary file, then rename), one
 * detection per line, numbers at full precision. A non-finite value is
 * RF_ERR_NUMERIC (JSON cannot spell it) and leaves any old file in place. */
rf_status rf_coco_write_detections(const char *path, const rf_coco_detection *dets, size_t count);

#endif /* RFDETR_DATA_COCO_H */
