/* coco_validate.c — semantic checks of a parsed COCO dataset: everything the
 * JSON parser cannot see because each value is well-typed on its own (ids
 * that repeat or point nowhere, boxes outside their image, a split without
 * images or classes). Every problem is collected, so `check-data` can show
 * all of them at once; what training does about each kind is decided by the
 * caller (data/dataset.c, table in docs/data.md). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "data/coco.h"
#include "data/id_map.h"

/* Boxes may overshoot their image by this much before it is reported: exports
 * (COCO's own instances files among them) round box corners and image sizes
 * separately, and RF-DETR clamps boxes to the image anyway. */
#define BBOX_SLACK_PIXELS 1.0

rf_status rf_coco_problems_add(rf_coco_problems *p, rf_coco_severity severity, rf_coco_problem_kind kind,
                               const char *fmt, ...) {
    if (p->count == p->capacity) {
        size_t cap = p->capacity ? p->capacity * 2 : 16;
        rf_coco_problem *items = realloc(p->items, cap * sizeof *items);
        if (!items) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for %zu problems", cap);
        p->items = items;
        p->capacity = cap;
    }
    rf_coco_problem *item = &p->items[p->count++];
    item->severity = severity;
    item->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(item->message, sizeof item->message, fmt, ap);
    va_end(ap);
    return RF_OK;
}

void rf_coco_problems_free(rf_coco_problems *p) {
    if (!p) return;
    free(p->items);
    memset(p, 0, sizeof *p);
}

size_t rf_coco_problems_errors(const rf_coco_problems *p) {
    size_t n = 0;
    for (size_t i = 0; i < p->count; i++) n += p->items[i].severity == RF_COCO_ERROR;
    return n;
}

static rf_status check_categories(const rf_coco_dataset *ds, rf_coco_problems *p, rf_id_map *ids) {
    const char *path = ds->path;
    if (ds->category_count == 0)
        return rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_NO_CATEGORIES,
                                    "%s: categories: the list is empty, so there are no classes", path);
    size_t placeholders = 0;
    RF_TRY(rf_id_map_reserve(ids, ds->category_count));
    for (size_t i = 0; i < ds->category_count; i++) {
        const rf_coco_category *c = &ds->categories[i];
        placeholders += rf_coco_category_is_placeholder(c);
        int64_t first = -1;
        RF_TRY(rf_id_map_insert(ids, c->id, (int64_t)i, &first));
        if (first >= 0)
            RF_TRY(rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_DUPLICATE_CATEGORY_ID,
                                        "%s: categories[%zu].id: %lld is already the id of categories[%lld] ('%s')",
                                        path, i, (long long)c->id, (long long)first, ds->categories[first].name));
        if (c->id < 0)
            RF_TRY(rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_OTHER,
                                        "%s: categories[%zu].id: %lld is negative; ids index the class logits", path,
                                        i, (long long)c->id));
        else if (c->id >= RF_MAX_CLASSES)
            RF_TRY(rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_OTHER,
                                        "%s: categories[%zu].id: %lld is above %d, the largest class id: ids index the "
                                        "class logits, so the head would need %lld of them; renumber the categories "
                                        "from 0",
                                        path, i, (long long)c->id, RF_MAX_CLASSES - 1, (long long)c->id + 1));
    }
    if (placeholders == ds->category_count)
        RF_TRY(rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_ALL_PLACEHOLDER,
                                    "%s: categories: all %zu have supercategory \"none\" (Roboflow's placeholder), so "
                                    "there is no class to learn",
                                    path, ds->category_count));
    return RF_OK;
}

static rf_status check_images(const rf_coco_dataset *ds, rf_coco_problems *p, rf_id_map *ids) {
    const char *path = ds->path;
    if (ds->image_count == 0)
        return rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_EMPTY_SPLIT,
                                    "%s: images: the list is empty (an empty split)", path);
    RF_TRY(rf_id_map_reserve(ids, ds->image_count));
    for (size_t i = 0; i < ds->image_count; i++) {
        const rf_coco_image *im = &ds->images[i];
        int64_t first = -1;
        RF_TRY(rf_id_map_insert(ids, im->id, (int64_t)i, &first));
        if (first >= 0)
            RF_TRY(rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_DUPLICATE_IMAGE_ID,
                                        "%s: images[%zu].id: %lld is already the id of images[%lld] ('%s'), so its "
                                        "annotations are ambiguous",
                                        path, i, (long long)im->id, (long long)first, ds->images[first].file_name));
        if (im->width < 0 || im->height < 0)
            RF_TRY(rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_IMAGE_SIZE,
                                        "%s: images[%zu]: negative size %d x %d ('%s')", path, i, im->width, im->height,
                                        im->file_name));
    }
    return RF_OK;
}

/* Reports two image entries naming one file: a sort of (name, index) pairs. */
typedef struct named_index {
    const char *name;
    size_t index;
} named_index;

static int compare_names(const void *a, const void *b) {
    const named_index *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

static rf_status check_file_names(const rf_coco_dataset *ds, rf_coco_problems *p) {
    named_index *order = malloc((ds->image_count ? ds->image_count : 1) * sizeof *order);
    if (!order) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    size_t n = 0;
    for (size_t i = 0; i < ds->image_count; i++)
        if (ds->images[i].file_name && ds->images[i].file_name[0])
            order[n++] = (named_index){ds->images[i].file_name, i};
    qsort(order, n, sizeof *order, compare_names);
    rf_status s = RF_OK;
    for (size_t k = 1; k < n && s == RF_OK; k++)
        if (strcmp(order[k - 1].name, order[k].name) == 0)
            s = rf_coco_problems_add(p, RF_COCO_WARNING, RF_COCO_PROBLEM_DUPLICATE_FILE_NAME,
                                     "%s: images[%zu] and images[%zu] (ids %lld, %lld) both name '%s'", ds->path,
                                     order[k - 1].index, order[k].index, (long long)ds->images[order[k - 1].index].id,
                                     (long long)ds->images[order[k].index].id, order[k].name);
    free(order);
    return s;
}

static rf_status check_annotation(const rf_coco_dataset *ds, size_t i, const rf_id_map *category_ids,
                                  size_t *placeholder_uses, rf_coco_problems *p) {
    const rf_coco_annotation *a = &ds->annotations[i];
    const char *path = ds->path;
    const double *b = a->bbox;
    long long id = (long long)a->id;
    if (a->image_index < 0)
        RF_TRY(rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_UNKNOWN_IMAGE,
                                    "%s: annotations[%zu].image_id: %lld is not the id of any image (annotation id %lld)",
                                    path, i, (long long)a->image_id, id));
    int64_t c = rf_id_map_get(category_ids, a->category_id);
    if (c < 0)
        RF_TRY(rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_UNKNOWN_CATEGORY,
                                    "%s: annotations[%zu].category_id: %lld is not among the categories (annotation id "
                                    "%lld)",
                                    path, i, (long long)a->category_id, id));
    else if (rf_coco_category_is_placeholder(&ds->categories[c]))
        placeholder_uses[c]++;
    if (!isfinite(b[0]) || !isfinite(b[1]) || !isfinite(b[2]) || !isfinite(b[3]))
        return rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_OTHER,
                                    "%s: annotations[%zu].bbox: not finite (annotation id %lld)", path, i, id);
    if (b[2] < 0 || b[3] < 0)
        return rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_BBOX_NEGATIVE,
                                    "%s: annotations[%zu].bbox: negative size [%g, %g, %g, %g] (annotation id %lld)",
                                    path, i, b[0], b[1], b[2], b[3], id);
    if (b[2] == 0 || b[3] == 0)
        return rf_coco_problems_add(p, RF_COCO_WARNING, RF_COCO_PROBLEM_BBOX_EMPTY,
                                    "%s: annotations[%zu].bbox: zero width or height [%g, %g, %g, %g] (annotation id "
                                    "%lld); dropped from training",
                                    path, i, b[0], b[1], b[2], b[3], id);
    if (a->image_index >= 0) {
        const rf_coco_image *im = &ds->images[a->image_index];
        double slack = BBOX_SLACK_PIXELS;
        if (im->width > 0 && im->height > 0 &&
            (b[0] < -slack || b[1] < -slack || b[0] + b[2] > im->width + slack || b[1] + b[3] > im->height + slack))
            return rf_coco_problems_add(p, RF_COCO_ERROR, RF_COCO_PROBLEM_BBOX_OUTSIDE,
                                        "%s: annotations[%zu].bbox: [%g, %g, %g, %g] reaches outside its %d x %d "
                                        "image '%s' (annotation id %lld)",
                                        path, i, b[0], b[1], b[2], b[3], im->width, im->height, im->file_name, id);
    }
    return RF_OK;
}

rf_status rf_coco_validate(const rf_coco_dataset *ds, rf_coco_problems *problems) {
    if (!ds || !problems) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_coco_validate: no dataset or problem list");
    size_t first_new = problems->count;
    rf_id_map image_ids = {0}, category_ids = {0}, annotation_ids = {0};
    rf_status s = check_categories(ds, problems, &category_ids);
    if (s == RF_OK) s = check_images(ds, problems, &image_ids);
    if (s == RF_OK) s = check_file_names(ds, problems);
    if (s == RF_OK && ds->image_count > 0 && ds->annotation_count == 0)
        s = rf_coco_problems_add(problems, RF_COCO_WARNING, RF_COCO_PROBLEM_NO_ANNOTATIONS,
                                 "%s: annotations: none for %zu images; nothing to learn from this split", ds->path,
                                 ds->image_count);
    size_t *placeholder_uses = calloc(ds->category_count + 1, sizeof *placeholder_uses);
    if (s == RF_OK && !placeholder_uses) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    if (s == RF_OK) s = rf_id_map_reserve(&annotation_ids, ds->annotation_count);
    for (size_t i = 0; s == RF_OK && i < ds->annotation_count; i++) {
        int64_t first = -1;
        s = rf_id_map_insert(&annotation_ids, ds->annotations[i].id, (int64_t)i, &first);
        if (s == RF_OK && first >= 0)
            s = rf_coco_problems_add(problems, RF_COCO_WARNING, RF_COCO_PROBLEM_DUPLICATE_ANNOTATION_ID,
                                     "%s: annotations[%zu].id: %lld is already the id of annotations[%lld]", ds->path, i,
                                     (long long)ds->annotations[i].id, (long long)first);
        if (s == RF_OK) s = check_annotation(ds, i, &category_ids, placeholder_uses, problems);
    }
    /* One line per placeholder category in use (none when every category is
     * a placeholder: that is reported above, and the ids are simply used). */
    bool all_placeholder = true;
    for (size_t c = 0; c < ds->category_count; c++) all_placeholder &= rf_coco_category_is_placeholder(&ds->categories[c]);
    for (size_t c = 0; s == RF_OK && !all_placeholder && c < ds->category_count; c++)
        if (placeholder_uses[c])
            s = rf_coco_problems_add(problems, RF_COCO_WARNING, RF_COCO_PROBLEM_PLACEHOLDER_USED,
                                     "%s: %zu annotations have category_id %lld, the placeholder category '%s' "
                                     "(supercategory \"none\"); it is trained as a class of its own",
                                     ds->path, placeholder_uses[c], (long long)ds->categories[c].id,
                                     ds->categories[c].name);
    free(placeholder_uses);
    rf_id_map_free(&image_ids);
    rf_id_map_free(&category_ids);
    rf_id_map_free(&annotation_ids);
    if (s != RF_OK) return s;
    /* The status carries the first error found; check-data lists them all. */
    size_t errors = 0, first_error = 0;
    for (size_t i = first_new; i < problems->count; i++)
        if (problems->items[i].severity == RF_COCO_ERROR && errors++ == 0) first_error = i;
    if (errors == 0) return RF_OK;
    return RF_ERROR(RF_ERR_FORMAT, "%s%s", problems->items[first_error].message,
                    errors > 1 ? " (and more: rfdetr check-data lists every problem)" : "");
}
