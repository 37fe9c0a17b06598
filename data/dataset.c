#include "data/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/status.h"
#include "core/fileio.h"
#include "data/image.h"
#include "data/paths.h"
#include "data/shapes.h"
#include "data/yolo.h"

static const char *const split_names[RF_SPLIT_COUNT] = {"train", "valid", "test"};

const char *rf_split_name(rf_split s) { return s >= 0 && s < RF_SPLIT_COUNT ? split_names[s] : "?"; }

rf_status rf_split_parse(const char *name, rf_split *out) {
    if (name && strcmp(name, "train") == 0) *out = RF_SPLIT_TRAIN;
    else if (name && (strcmp(name, "valid") == 0 || strcmp(name, "val") == 0)) *out = RF_SPLIT_VALID;
    else if (name && strcmp(name, "test") == 0) *out = RF_SPLIT_TEST;
    else return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "unknown split '%s' (use train, valid or test)", name ? name : "");
    return RF_OK;
}

const char *rf_data_format_name(rf_data_format f) {
    switch (f) {
    case RF_DATA_ROBOFLOW: return "roboflow";
    case RF_DATA_COCO: return "coco";
    case RF_DATA_YOLO: return "yolo";
    default: return "unknown";
    }
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool rf_dataset_problem_is_fatal(rf_coco_problem_kind kind) {
    switch (kind) {
    /* Training works around these the way RF-DETR does. */
    case RF_COCO_PROBLEM_NO_ANNOTATIONS:          /* trains on background only */
    case RF_COCO_PROBLEM_PLACEHOLDER_USED:        /* its id is a class like any other */
    case RF_COCO_PROBLEM_DUPLICATE_ANNOTATION_ID: /* ids of annotations are not used */
    case RF_COCO_PROBLEM_DUPLICATE_FILE_NAME:     /* each entry is a sample of its own */
    case RF_COCO_PROBLEM_UNKNOWN_IMAGE:           /* the annotation belongs to no sample: unused */
    case RF_COCO_PROBLEM_BBOX_OUTSIDE:            /* clamped to the image */
    case RF_COCO_PROBLEM_BBOX_NEGATIVE:           /* dropped: empty after conversion to corners */
    case RF_COCO_PROBLEM_BBOX_EMPTY:              /* dropped */
    case RF_COCO_PROBLEM_IMAGE_SIZE_MISMATCH:     /* the decoded size is used, as PIL's would be */
    case RF_COCO_PROBLEM_SPLITS_DISAGREE:         /* ids are used as they are */
        return false;
    default: return true;
    }
}

rf_status rf_dataset_resolve_dir(const char *data, char *dir, size_t size, int *generated) {
    if (generated) *generated = 0;
    if (!data || !*data) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "no dataset given (a folder, or shapes)");
    if (strcmp(data, "shapes") == 0) return rf_shapes_ensure_default(dir, size, generated);
    int n = snprintf(dir, size, "%s", data);
    if (n < 0 || (size_t)n >= size) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: path too long", data);
    return RF_OK;
}

/* ---- layout detection ------------------------------------------------------------- */

typedef struct layout {
    rf_data_format format;
    char *annotations[RF_SPLIT_COUNT]; /* JSON file or labels folder; NULL = no such split */
    char *image_dir[RF_SPLIT_COUNT];
    char *yaml; /* YOLO: data.yaml */
} layout;

static void layout_free(layout *l) {
    for (int s = 0; s < RF_SPLIT_COUNT; s++) {
        free(l->annotations[s]);
        free(l->image_dir[s]);
    }
    free(l->yaml);
    memset(l, 0, sizeof *l);
}

static rf_status find_roboflow(const char *dir, layout *l) {
    static const char *const folders[RF_SPLIT_COUNT][2] = {{"train", NULL}, {"valid", "val"}, {"test", NULL}};
    for (int s = 0; s < RF_SPLIT_COUNT; s++)
        for (int k = 0; k < 2 && folders[s][k] && !l->annotations[s]; k++) {
            char *split_dir = rf_path_join(dir, folders[s][k]);
            char *json = split_dir ? rf_path_join(split_dir, "_annotations.coco.json") : NULL;
            if (!split_dir || !json) {
                free(split_dir);
                free(json);
                return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
            }
            if (is_file(json)) {
                l->annotations[s] = json;
                l->image_dir[s] = split_dir;
                l->format = RF_DATA_ROBOFLOW;
            } else {
                free(json);
                free(split_dir);
            }
        }
    return RF_OK;
}

static int split_of_coco_name(const char *name, rf_split *s) {
    if (strncmp(name, "train", 5) == 0) *s = RF_SPLIT_TRAIN;
    else if (strncmp(name, "val", 3) == 0) *s = RF_SPLIT_VALID;
    else if (strncmp(name, "test", 4) == 0) *s = RF_SPLIT_TEST;
    else return 0;
    return 1;
}

static rf_status find_coco(const char *dir, layout *l, rf_coco_problems *problems) {
    char *ann_dir = rf_path_join(dir, "annotations");
    if (!ann_dir) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    DIR *d = opendir(ann_dir);
    rf_status s = RF_OK;
    struct dirent *e;
    while (d && s == RF_OK && (e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        const char *prefix = strncmp(n, "instances_", 10) == 0 ? "instances_"
                             : strncmp(n, "image_info_", 11) == 0 ? "image_info_" : NULL;
        if (!prefix || len < 6 || strcmp(n + len - 5, ".json") != 0) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(len - 5 - strlen(prefix)), n + strlen(prefix));
        rf_split split;
        if (!split_of_coco_name(name, &split)) continue;
        /* Two files for one split (train2014 and train2017): the later name wins. */
        if (l->annotations[split]) {
            const char *old = strrchr(l->annotations[split], '/') + 1;
            if (strcmp(old, n) > 0) {
                s = rf_coco_problems_add(problems, RF_COCO_WARNING, RF_COCO_PROBLEM_OTHER,
                                         "%s: %s is ignored: %s is the %s split", ann_dir, n, old, split_names[split]);
                continue;
            }
            s = rf_coco_problems_add(problems, RF_COCO_WARNING, RF_COCO_PROBLEM_OTHER,
                                     "%s: %s is ignored: %s is the %s split", ann_dir, old, n, split_names[split]);
            free(l->annotations[split]);
            free(l->image_dir[split]);
            l->annotations[split] = l->image_dir[split] = NULL;
        }
        l->annotations[split] = rf_path_join(ann_dir, n);
        char *images = rf_path_join(dir, "images");
        char *candidates[4] = {rf_path_join(dir, name), images ? rf_path_join(images, name) : NULL, images, strdup(dir)};
        for (int k = 0; k < 4; k++) {
            if (!l->image_dir[split] && candidates[k] && is_dir(candidates[k]))
                l->image_dir[split] = candidates[k];
            else
                free(candidates[k]);
        }
        if (!l->annotations[split] || !l->image_dir[split]) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        l->format = RF_DATA_COCO;
    }
    if (d) closedir(d);
    free(ann_dir);
    return s;
}

/* data.yaml's folder for a split resolved against `path` or the YAML's
 * folder; Roboflow writes "../train/images", which only works relative to a
 * subfolder, so a leading "../" is also tried without. */
static char *resolve_yolo_folder(const char *root, const rf_yolo_yaml *y, const char *value) {
    if (!value || !*value) return NULL;
    if (value[0] == '/') return is_dir(value) ? strdup(value) : NULL;
    char *base = y->path && *y->path ? (y->path[0] == '/' ? strdup(y->path) : rf_path_join(root, y->path)) : strdup(root);
    if (!base) return NULL;
    char *p = rf_path_join(base, value);
    if (p && !is_dir(p) && strncmp(value, "../", 3) == 0) {
        free(p);
        p = rf_path_join(base, value + 3);
    }
    free(base);
    if (p && !is_dir(p)) {
        free(p);
        p = NULL;
    }
    return p;
}

/* The labels folder of an images folder: its last "images" component
 * replaced by "labels" (Ultralytics' rule). */
static char *labels_for(const char *images) {
    char *l = strdup(images);
    if (!l) return NULL;
    for (char *p = l + strlen(l); p >= l; p--) {
        if (strncmp(p, "images", 6) == 0 && (p == l || p[-1] == '/') && (p[6] == '/' || p[6] == '\0')) {
            memcpy(p, "labels", 6);
            return l;
        }
    }
    free(l);
    return NULL;
}

static rf_status find_yolo(const char *dir, layout *l) {
    char *yaml = rf_path_join(dir, "data.yaml");
    if (yaml && !is_file(yaml)) {
        free(yaml);
        yaml = rf_path_join(dir, "data.yml");
        if (yaml && !is_file(yaml)) {
            free(yaml);
            return RF_OK;
        }
    }
    if (!yaml) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    l->yaml = yaml;
    l->format = RF_DATA_YOLO;
    return RF_OK;
}

/* YOLO splits need data.yaml parsed (its keys may name the folders). */
static rf_status resolve_yolo_splits(const char *dir, const rf_yolo_yaml *y, layout *l) {
    static const char *const conventional[RF_SPLIT_COUNT][4] = {
        {"train/images", "images/train", NULL, NULL},
        {"valid/images", "val/images", "images/val", "images/valid"},
        {"test/images", "images/test", NULL, NULL},
    };
    const char *keys[RF_SPLIT_COUNT] = {y->train, y->val, y->test};
    for (int s = 0; s < RF_SPLIT_COUNT; s++) {
        char *images = resolve_yolo_folder(dir, y, keys[s]);
        for (int k = 0; k < 4 && !images && conventional[s][k]; k++) {
            char *p = rf_path_join(dir, conventional[s][k]);
            if (p && is_dir(p)) images = p;
            else free(p);
        }
        if (!images) continue;
        char *labels = labels_for(images);
        if (!labels) {
            rf_status st = RF_ERROR(RF_ERR_FORMAT, "%s: the %s images folder %s has no 'images' component, so its "
                                    "labels folder is unknown", l->yaml, split_names[s], images);
            free(images);
            return st;
        }
        l->image_dir[s] = images;
        l->annotations[s] = labels;
    }
    return RF_OK;
}

static rf_status detect(const char *dir, layout *l, rf_coco_problems *problems) {
    memset(l, 0, sizeof *l);
    if (!is_dir(dir)) return RF_ERROR(RF_ERR_IO, "%s: not a directory", dir);
    RF_TRY(find_roboflow(dir, l));
    if (l->format == RF_DATA_UNKNOWN) RF_TRY(find_coco(dir, l, problems));
    if (l->format == RF_DATA_UNKNOWN) RF_TRY(find_yolo(dir, l));
    if (l->format != RF_DATA_UNKNOWN) return RF_OK;
    char *own = rf_path_join(dir, "_annotations.coco.json");
    int is_split = own && is_file(own);
    free(own);
    if (is_split)
        return RF_ERROR(RF_ERR_FORMAT, "%s: this is one split of a Roboflow dataset (it holds _annotations.coco.json); "
                        "give the folder above it", dir);
    return RF_ERROR(RF_ERR_FORMAT,
                    "%s: not a known dataset layout: expected Roboflow COCO (train/ valid/ test/ with "
                    "_annotations.coco.json), COCO (annotations/instances_*.json) or YOLO (data.yaml with images/ "
                    "and labels/)",
                    dir);
}

rf_status rf_dataset_detect(const char *dir, rf_data_format *format) {
    *format = RF_DATA_UNKNOWN;
    layout l;
    rf_coco_problems ignored = {0};
    rf_status s = detect(dir, &l, &ignored);
    *format = l.format;
    layout_free(&l);
    rf_coco_problems_free(&ignored);
    return s;
}

/* ---- opening ------------------------------------------------------------------------- */

void rf_dataset_free(rf_dataset *ds) {
    if (!ds) return;
    for (int s = 0; s < RF_SPLIT_COUNT; s++) {
        rf_dataset_split *sp = &ds->splits[s];
        free(sp->annotations);
        free(sp->image_dir);
        rf_coco_free(sp->coco);
        free(sp->target_start);
        free(sp->target_index);
    }
    rf_coco_problems_free(&ds->problems);
    free(ds->root);
    free(ds);
}

rf_status rf_dataset_image_path(const rf_dataset *ds, rf_split split, size_t index, char *out, size_t size) {
    const rf_dataset_split *sp = &ds->splits[split];
    if (!sp->coco || index >= sp->coco->image_count)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "no image %zu in the %s split", index, rf_split_name(split));
    int n = snprintf(out, size, "%s/%s", sp->image_dir, sp->coco->images[index].file_name);
    if (n < 0 || (size_t)n >= size) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "image path too long");
    return RF_OK;
}

/* Records a parse failure (the current error message) as a problem. */
static rf_status add_syntax_problem(rf_coco_problems *p, rf_status status) {
    if (status == RF_ERR_OUT_OF_MEMORY) return status;
    return rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_SYNTAX, "%s", rf_last_error());
}

static rf_status check_files(const rf_dataset_split *sp, rf_coco_problems *p) {
    const rf_coco_dataset *c = sp->coco;
    for (size_t i = 0; i < c->image_count; i++) {
        const char *name = c->images[i].file_name;
        if (!name || !*name) {
            /* Evaluation ground truth may omit file names; a training set may not. */
            RF_TRY(rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_IMAGE_MISSING,
                                        "%s: images[%zu].file_name: missing or empty (image id %lld)", c->path, i,
                                        (long long)c->images[i].id));
            continue;
        }
        char *path = rf_path_join(sp->image_dir, name);
        if (!path) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        struct stat st;
        rf_status s = RF_OK;
        if (stat(path, &st) != 0)
            s = rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_IMAGE_MISSING,
                                     "%s: images[%zu].file_name: %s: %s", c->path, i, path, strerror(errno));
        else if (!S_ISREG(st.st_mode))
            s = rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_IMAGE_MISSING,
                                     "%s: images[%zu].file_name: %s: not a regular file", c->path, i, path);
        else if (st.st_size == 0)
            s = rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_IMAGE_UNREADABLE,
                                     "%s: images[%zu].file_name: %s: empty file (0 bytes)", c->path, i, path);
        free(path);
        RF_TRY(s);
    }
    return RF_OK;
}

static rf_status build_targets(rf_dataset_split *sp) {
    const rf_coco_dataset *c = sp->coco;
    sp->target_start = calloc(c->image_count + 1, sizeof *sp->target_start);
    sp->target_index = malloc((c->annotation_count ? c->annotation_count : 1) * sizeof *sp->target_index);
    if (!sp->target_start || !sp->target_index) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    /* Counting sort by image keeps each image's boxes in file order. */
    for (size_t a = 0; a < c->annotation_count; a++) {
        const rf_coco_annotation *an = &c->annotations[a];
        if (an->image_index >= 0 && !an->iscrowd) sp->target_start[an->image_index + 1]++;
    }
    sp->max_targets = 0;
    for (size_t i = 0; i < c->image_count; i++) {
        if (sp->target_start[i + 1] > sp->max_targets) sp->max_targets = sp->target_start[i + 1];
        sp->target_start[i + 1] += sp->target_start[i];
    }
    size_t *fill = malloc((c->image_count ? c->image_count : 1) * sizeof *fill);
    if (!fill) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    memcpy(fill, sp->target_start, c->image_count * sizeof *fill);
    for (size_t a = 0; a < c->annotation_count; a++) {
        const rf_coco_annotation *an = &c->annotations[a];
        if (an->image_index >= 0 && !an->iscrowd) sp->target_index[fill[an->image_index]++] = a;
    }
    free(fill);
    return RF_OK;
}

/* Whether two splits list the same categories (ids and names). */
static int same_categories(const rf_coco_dataset *a, const rf_coco_dataset *b) {
    if (a->category_count != b->category_count) return 0;
    for (size_t i = 0; i < a->category_count; i++) {
        int64_t k = rf_coco_category_index(b, a->categories[i].id);
        if (k < 0 || strcmp(a->categories[i].name, b->categories[k].name) != 0) return 0;
    }
    return 1;
}

/* Loads the splits in `mask`; data problems go to ds->problems. */
static rf_status load(const char *dir, unsigned mask, rf_dataset **out) {
    *out = NULL;
    rf_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    ds->root = strdup(dir);
    layout l;
    rf_status s = ds->root ? detect(dir, &l, &ds->problems) : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    if (s != RF_OK) {
        rf_dataset_free(ds);
        return s;
    }
    ds->format = l.format;
    rf_yolo_yaml yaml = {0};
    int yaml_ok = 0;
    if (l.format == RF_DATA_YOLO) {
        s = rf_yolo_yaml_load(l.yaml, &yaml);
        if (s == RF_OK) {
            yaml_ok = 1;
            s = resolve_yolo_splits(dir, &yaml, &l);
        }
        if (s != RF_OK) s = add_syntax_problem(&ds->problems, s);
    }
    for (int sp = 0; sp < RF_SPLIT_COUNT && s == RF_OK; sp++) {
        rf_dataset_split *split = &ds->splits[sp];
        split->present = l.annotations[sp] != NULL;
        split->annotations = l.annotations[sp];
        split->image_dir = l.image_dir[sp];
        l.annotations[sp] = l.image_dir[sp] = NULL;
        if (!split->present || !(mask & RF_SPLIT_BIT(sp))) continue;
        rf_status ls;
        if (l.format == RF_DATA_YOLO)
            ls = yaml_ok ? rf_yolo_load_split(split->image_dir, split->annotations, &yaml, &split->coco, &ds->problems)
                         : RF_ERR_FORMAT;
        else
            ls = rf_coco_load(split->annotations, &split->coco);
        if (ls != RF_OK) {
            if (yaml_ok || l.format != RF_DATA_YOLO) s = add_syntax_problem(&ds->problems, ls);
            continue;
        }
        rf_status vs = rf_coco_validate(split->coco, &ds->problems);
        if (vs == RF_ERR_OUT_OF_MEMORY) s = vs;
        if (s == RF_OK && l.format != RF_DATA_YOLO) s = check_files(split, &ds->problems);
        if (s == RF_OK) s = build_targets(split);
        if (split->coco->max_category_id + 1 > ds->num_classes) ds->num_classes = split->coco->max_category_id + 1;
    }
    /* Splits should share one category list (Roboflow writes the same in all). */
    const rf_coco_dataset *first = NULL;
    for (int sp = 0; sp < RF_SPLIT_COUNT && s == RF_OK; sp++) {
        const rf_coco_dataset *c = ds->splits[sp].coco;
        if (!c) continue;
        if (first && !same_categories(first, c))
            s = rf_coco_problems_add(&ds->problems, RF_COCO_WARNING, RF_COCO_PROBLEM_SPLITS_DISAGREE,
                                     "%s and %s list different categories; class ids are used as they are",
                                     first->path, c->path);
        if (!first) first = c;
    }
    if (yaml_ok) rf_yolo_yaml_free(&yaml);
    if (s == RF_OK && yaml_ok && !ds->splits[0].present && !ds->splits[1].present &&
        !ds->splits[2].present)
        s = rf_coco_problems_add(&ds->problems, RF_COCO_ERROR, RF_COCO_PROBLEM_EMPTY_SPLIT,
                                 "%s: no split found: expected train/images, valid/images, images/train, images/val "
                                 "or the folders data.yaml names",
                                 l.yaml ? l.yaml : dir);
    layout_free(&l);
    if (s != RF_OK) {
        rf_dataset_free(ds);
        return s;
    }
    *out = ds;
    return RF_OK;
}

rf_status rf_dataset_inspect(const char *dir, rf_dataset **out) { return load(dir, RF_SPLITS_ALL, out); }

rf_status rf_dataset_open(const char *dir, unsigned splits, rf_dataset **out) {
    *out = NULL;
    rf_dataset *ds = NULL;
    RF_TRY(load(dir, splits, &ds));
    /* Stop at the first problem training cannot work around; keep the rest as warnings. */
    size_t fatal = 0;
    for (size_t i = 0; i < ds->problems.count; i++) {
        const rf_coco_problem *p = &ds->problems.items[i];
        if (p->severity == RF_COCO_ERROR && rf_dataset_problem_is_fatal(p->kind) && fatal++ == 0)
            RF_ERROR(RF_ERR_FORMAT, "%s", p->message);
    }
    if (fatal) {
        if (fatal > 1) rf_error_prefix(RF_ERR_FORMAT, "(%zu problems stop training; rfdetr check-data lists them) ", fatal);
        rf_dataset_free(ds);
        return RF_ERR_FORMAT;
    }
    for (size_t i = 0; i < ds->problems.count; i++) ds->problems.items[i].severity = RF_COCO_WARNING;
    for (int sp = 0; sp < RF_SPLIT_COUNT; sp++)
        if ((splits & RF_SPLIT_BIT(sp)) && !ds->splits[sp].present) {
            rf_status s = RF_ERROR(RF_ERR_FORMAT, "%s: no %s split in this %s dataset", dir, split_names[sp],
                                   rf_data_format_name(ds->format));
            rf_dataset_free(ds);
            return s;
        }
    *out = ds;
    return RF_OK;
}

rf_status rf_dataset_check_images(rf_dataset *ds, rf_split split) {
    rf_dataset_split *sp = &ds->splits[split];
    if (!sp->coco || ds->format == RF_DATA_UNKNOWN) return RF_OK;
    const rf_coco_dataset *c = sp->coco;
    for (size_t i = 0; i < c->image_count; i++) {
        const rf_coco_image *im = &c->images[i];
        if (!im->file_name || !*im->file_name) continue;
        char *path = rf_path_join(sp->image_dir, im->file_name);
        if (!path) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        rf_image img = {0};
        rf_status s = is_file(path) ? rf_image_load(path, &img) : RF_OK; /* missing ones are already reported */
        if (s != RF_OK && s != RF_ERR_OUT_OF_MEMORY)
            s = rf_coco_problems_add(&ds->problems, RF_COCO_ERROR, RF_COCO_PROBLEM_IMAGE_UNREADABLE,
                                     "%s: images[%zu]: %s", c->path, i, rf_last_error());
        else if (s == RF_OK && img.rgb) {
            if (im->width > 0 && im->height > 0 && (img.width != im->width || img.height != im->height))
                s = rf_coco_problems_add(&ds->problems, RF_COCO_WARNING, RF_COCO_PROBLEM_IMAGE_SIZE_MISMATCH,
                                         "%s: images[%zu]: %s is %d x %d pixels but the file says %d x %d; the "
                                         "decoded size is used",
                                         c->path, i, path, img.width, img.height, im->width, im->height);
            rf_image_free(&img);
        }
        free(path);
        RF_TRY(s);
    }
    return RF_OK;
}
