/* coco_json.c — COCO annotation files and COCO results files, read with
 * yajl's streaming (SAX) parser straight into rf_coco_dataset /
 * rf_coco_detection records.
 *
 * Why streaming (docs/json.md has the numbers): a COCO-train-sized file
 * (445 MB) parses at ~5x the speed of the DOM libraries, and without a DOM
 * the peak memory is the records themselves instead of 3.6-6.8 GB of nodes.
 * rf_coco_load feeds the file in chunks, so the file itself is never held
 * in memory either. Everything we do not keep (segmentation polygons,
 * info, licenses, unknown keys) is skipped without converting its numbers.
 *
 * The parser is a small state machine over container depth: the root value,
 * the section lists ("images", "annotations", "categories", or the root list
 * of a results file), their element objects, and the one nested value we
 * keep (bbox). Errors name the file, line and column, and the entry
 * ("annotations[12].bbox"); yajl reports a byte offset, converted to
 * line/column by counting newlines in the text already consumed. */
#include "data/coco.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "backend/status.h"
#include "core/fileio.h"
#include "data/id_map.h"

struct rf_coco_index {
    rf_id_map images;     /* image id -> index in images[] (first occurrence) */
    rf_id_map categories; /* category id -> index in categories[] */
};

enum { READ_CHUNK_BYTES = 1 << 20 };

typedef enum document_kind { DOC_DATASET, DOC_DETECTIONS } document_kind;

typedef enum section { SEC_NONE, SEC_IMAGES, SEC_ANNOTATIONS, SEC_CATEGORIES, SEC_DETECTIONS } section;

typedef enum field {
    F_UNKNOWN,
    F_ID,
    F_IMAGE_ID,
    F_CATEGORY_ID,
    F_BBOX,
    F_AREA,
    F_ISCROWD,
    F_SCORE,
    F_FILE_NAME,
    F_WIDTH,
    F_HEIGHT,
    F_NAME,
    F_SUPERCATEGORY,
    F_COUNT
} field;

static const char *const field_names[F_COUNT] = {
    [F_UNKNOWN] = "?",        [F_ID] = "id",         [F_IMAGE_ID] = "image_id", [F_CATEGORY_ID] = "category_id",
    [F_BBOX] = "bbox",        [F_AREA] = "area",     [F_ISCROWD] = "iscrowd",   [F_SCORE] = "score",
    [F_FILE_NAME] = "file_name", [F_WIDTH] = "width", [F_HEIGHT] = "height",   [F_NAME] = "name",
    [F_SUPERCATEGORY] = "supercategory",
};

static const size_t field_lengths[F_COUNT] = {
    [F_UNKNOWN] = 1, [F_ID] = 2,    [F_IMAGE_ID] = 8, [F_CATEGORY_ID] = 11, [F_BBOX] = 4,  [F_AREA] = 4,
    [F_ISCROWD] = 7, [F_SCORE] = 5, [F_FILE_NAME] = 9, [F_WIDTH] = 5,      [F_HEIGHT] = 6, [F_NAME] = 4,
    [F_SUPERCATEGORY] = 13,
};

#define BIT(f) (1u << (f))

/* The keys each kind of element has (others are skipped) and must have.
 * Results files: pycocotools recomputes area, id and iscrowd of detections,
 * so those keys are ignored there. */
typedef struct section_schema {
    const char *name;
    unsigned known, required;
} section_schema;

static const section_schema schemas[] = {
    [SEC_NONE] = {"", 0, 0},
    [SEC_IMAGES] = {"images", BIT(F_ID) | BIT(F_FILE_NAME) | BIT(F_WIDTH) | BIT(F_HEIGHT), BIT(F_ID)},
    [SEC_ANNOTATIONS] = {"annotations",
                         BIT(F_ID) | BIT(F_IMAGE_ID) | BIT(F_CATEGORY_ID) | BIT(F_BBOX) | BIT(F_AREA) | BIT(F_ISCROWD),
                         BIT(F_ID) | BIT(F_IMAGE_ID) | BIT(F_CATEGORY_ID) | BIT(F_BBOX)},
    [SEC_CATEGORIES] = {"categories", BIT(F_ID) | BIT(F_NAME) | BIT(F_SUPERCATEGORY), BIT(F_ID) | BIT(F_NAME)},
    [SEC_DETECTIONS] = {"", BIT(F_IMAGE_ID) | BIT(F_CATEGORY_ID) | BIT(F_BBOX) | BIT(F_SCORE),
                        BIT(F_IMAGE_ID) | BIT(F_CATEGORY_ID) | BIT(F_BBOX) | BIT(F_SCORE)},
};

typedef struct parser {
    document_kind kind;
    const char *label;
    int depth;          /* containers open */
    int skip_until;     /* >= 0: inside a skipped container opened at this depth */
    int element_depth;  /* depth inside an element object: 3 (dataset) or 2 (results) */
    section sec;
    size_t index;       /* element index within the section */
    field fld;          /* the field whose value comes next (depth == element_depth) */
    unsigned seen;      /* fields present in the current element */
    int element_open;   /* begin_element ran, end_element has not */
    int bbox_count;
    double bbox[4];
    char problem[512];  /* set by a callback that stops the parse */
    rf_status problem_status;

    rf_coco_dataset *ds;
    size_t image_cap, annotation_cap, category_cap;
    const rf_coco_dataset *gt; /* results: image ids must be in it (may be NULL) */
    rf_coco_detection *dets;
    size_t det_count, det_cap;
} parser;

/* ---- messages ------------------------------------------------------------------ */

/* "annotations[12].bbox" for the entry being parsed; "" at the top. */
static void entry_path(const parser *p, char *out, size_t size) {
    out[0] = '\0';
    if (p->sec == SEC_NONE) return;
    int n = p->sec == SEC_DETECTIONS ? snprintf(out, size, "[%zu]", p->index)
                                     : snprintf(out, size, "%s[%zu]", schemas[p->sec].name, p->index);
    if (n < 0 || (size_t)n >= size) return;
    if (p->depth > p->element_depth - 1 && p->fld != F_UNKNOWN)
        snprintf(out + n, size - (size_t)n, ".%s", field_names[p->fld]);
}

/* Records why the parse stops (a callback then returns 0). */
__attribute__((format(printf, 3, 4))) static int stop(parser *p, rf_status status, const char *fmt, ...) {
    char path[160], what[340]; /* both fit p->problem with ": " */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    entry_path(p, path, sizeof path);
    snprintf(p->problem, sizeof p->problem, "%s%s%s", path, path[0] ? ": " : "", what);
    p->problem_status = status;
    return 0;
}

static int type_error(parser *p, const char *expected, const char *got) {
    return stop(p, RF_ERR_FORMAT, "expected %s, got %s", expected, got);
}

/* ---- growing arrays -------------------------------------------------------------- */

static int grow_array(parser *p, void **items, size_t *cap, size_t count, size_t item_size) {
    if (count < *cap) return 1;
    size_t next = *cap ? 2 * *cap : 256;
    void *grown = realloc(*items, next * item_size);
    if (!grown) return stop(p, RF_ERR_OUT_OF_MEMORY, "out of host memory (%zu entries)", next);
    *items = grown;
    *cap = next;
    return 1;
}

/* The new slot is zeroed before anything else can fail, so an element cut
 * short by an error is safe to count and free. */
static int begin_element(parser *p) {
    rf_coco_dataset *ds = p->ds;
    p->seen = 0;
    p->fld = F_UNKNOWN;
    switch (p->sec) {
    case SEC_IMAGES:
        if (!grow_array(p, (void **)&ds->images, &p->image_cap, ds->image_count, sizeof *ds->images)) return 0;
        ds->images[ds->image_count] = (rf_coco_image){0};
        break;
    case SEC_ANNOTATIONS:
        if (!grow_array(p, (void **)&ds->annotations, &p->annotation_cap, ds->annotation_count,
                        sizeof *ds->annotations))
            return 0;
        ds->annotations[ds->annotation_count] = (rf_coco_annotation){.image_index = -1};
        break;
    case SEC_CATEGORIES:
        if (!grow_array(p, (void **)&ds->categories, &p->category_cap, ds->category_count, sizeof *ds->categories))
            return 0;
        ds->categories[ds->category_count] = (rf_coco_category){0};
        break;
    case SEC_DETECTIONS:
        if (!grow_array(p, (void **)&p->dets, &p->det_cap, p->det_count, sizeof *p->dets)) return 0;
        p->dets[p->det_count] = (rf_coco_detection){0};
        break;
    default: break;
    }
    p->element_open = 1;
    return 1;
}

static char *copy_string(parser *p, const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) {
        stop(p, RF_ERR_OUT_OF_MEMORY, "out of host memory");
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Absent optional strings become "", so readers never meet NULL. */
static int default_string(parser *p, char **s) {
    if (*s) return 1;
    *s = copy_string(p, "", 0);
    return *s != NULL;
}

static int end_element(parser *p) {
    unsigned missing = schemas[p->sec].required & ~p->seen;
    p->fld = F_UNKNOWN;
    if (missing) {
        for (int f = 0; f < F_COUNT; f++)
            if (missing & BIT(f)) return stop(p, RF_ERR_FORMAT, "missing required key \"%s\"", field_names[f]);
    }
    rf_coco_dataset *ds = p->ds;
    switch (p->sec) {
    case SEC_IMAGES:
        if (!default_string(p, &ds->images[ds->image_count].file_name)) return 0;
        ds->image_count++;
        break;
    case SEC_ANNOTATIONS: {
        rf_coco_annotation *a = &ds->annotations[ds->annotation_count];
        if (!(p->seen & BIT(F_AREA))) a->area = a->bbox[2] * a->bbox[3];
        ds->annotation_count++;
        break;
    }
    case SEC_CATEGORIES:
        if (!default_string(p, &ds->categories[ds->category_count].supercategory)) return 0;
        ds->category_count++;
        break;
    case SEC_DETECTIONS: {
        rf_coco_detection *d = &p->dets[p->det_count];
        if (d->bbox[2] < 0 || d->bbox[3] < 0)
            return stop(p, RF_ERR_FORMAT, "bbox [%g, %g, %g, %g] has a negative width or height", d->bbox[0],
                        d->bbox[1], d->bbox[2], d->bbox[3]);
        if (d->score < 0) return stop(p, RF_ERR_FORMAT, "score %g is negative", d->score);
        if (p->gt && rf_coco_image_index(p->gt, d->image_id) < 0)
            return stop(p, RF_ERR_FORMAT, "image_id %lld is not an image of the ground truth %s",
                        (long long)d->image_id, p->gt->path ? p->gt->path : "");
        p->det_count++;
        break;
    }
    default: break;
    }
    p->element_open = 0;
    p->index++;
    return 1;
}

/* ---- values ------------------------------------------------------------------- */

static int is_skipping(const parser *p) { return p->skip_until >= 0; }

/* Where a value arrives: the root, a section list, an element's field, or
 * inside bbox. Values in no known place are skipped. */
typedef enum place { AT_ROOT, AT_SECTION_VALUE, AT_ELEMENT, AT_FIELD, AT_BBOX, AT_IGNORED } place;

static place current_place(const parser *p) {
    if (p->depth == 0) return AT_ROOT;
    int e = p->element_depth;
    if (p->kind == DOC_DATASET && p->depth == 1) return p->sec == SEC_NONE ? AT_IGNORED : AT_SECTION_VALUE;
    if (p->depth == e - 1) return p->sec == SEC_NONE ? AT_IGNORED : AT_ELEMENT;
    if (p->depth == e) return p->fld == F_UNKNOWN ? AT_IGNORED : AT_FIELD;
    if (p->depth == e + 1 && p->fld == F_BBOX) return AT_BBOX;
    return AT_IGNORED;
}

static const char *root_expectation(const parser *p) {
    return p->kind == DOC_DATASET ? "a JSON object (a COCO dataset: images, annotations, categories)"
                                  : "a JSON list of detections ({image_id, category_id, bbox, score})";
}

/* A value that is not a number/string where one of those was expected. */
static int unexpected_value(parser *p, const char *got) {
    switch (current_place(p)) {
    case AT_ROOT: return type_error(p, root_expectation(p), got);
    case AT_SECTION_VALUE: return type_error(p, "a list", got);
    case AT_ELEMENT: return type_error(p, "an object", got);
    case AT_BBOX: return stop(p, RF_ERR_FORMAT, "expected numbers, got %s at index %d", got, p->bbox_count);
    case AT_FIELD:
        switch (p->fld) {
        case F_BBOX: return type_error(p, "a list of 4 numbers [x, y, w, h]", got);
        case F_FILE_NAME:
        case F_NAME:
        case F_SUPERCATEGORY: return type_error(p, "a string", got);
        case F_AREA:
        case F_SCORE: return type_error(p, "a number", got);
        case F_ISCROWD: return type_error(p, "0, 1 or a boolean", got);
        default: return type_error(p, "an integer", got);
        }
    default: return 1;
    }
}

/* Clinger's fast path: a decimal with at most 15 significant digits whose
 * power of ten is exact in a double (|e| <= 22) is one correctly rounded
 * multiplication or division of two exact doubles — the same double strtod
 * (and Python) give. COCO numbers nearly always qualify; the others go
 * through strtod. Returns 0 when the fast path does not apply. */
static int parse_decimal_fast(const char *text, size_t len, double *out, int *is_integer) {
    static const double powers_of_ten[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                           1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    int negative = 0, digits = 0, exponent = 0;
    uint64_t mantissa = 0;
    if (i < len && text[i] == '-') negative = 1, i++;
    for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
        if (mantissa == 0 && text[i] == '0') continue; /* leading zeros are not significant */
        if (++digits > 15) return 0;
        mantissa = mantissa * 10 + (uint64_t)(text[i] - '0');
    }
    *is_integer = 1;
    if (i < len && text[i] == '.') {
        *is_integer = 0;
        for (i++; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
            if (mantissa == 0 && text[i] == '0') {
                exponent--;
                continue;
            }
            if (++digits > 15) return 0;
            mantissa = mantissa * 10 + (uint64_t)(text[i] - '0');
            exponent--;
        }
    }
    if (i < len && (text[i] == 'e' || text[i] == 'E')) {
        *is_integer = 0;
        i++;
        int exp_negative = 0, e = 0;
        if (i < len && (text[i] == '+' || text[i] == '-')) exp_negative = text[i++] == '-';
        for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
            if (e > 1000) return 0;
            e = e * 10 + (text[i] - '0');
        }
        exponent += exp_negative ? -e : e;
    }
    if (i != len) return 0;
    if (mantissa == 0) exponent = 0;
    if (exponent < -22 || exponent > 22) return 0;
    double v = (double)mantissa; /* exact: < 10^15 < 2^53 */
    v = exponent < 0 ? v / powers_of_ten[-exponent] : v * powers_of_ten[exponent];
    /* "-0" is the integer 0 in Python, hence +0.0 */
    *out = negative && !(*is_integer && mantissa == 0) ? -v : v;
    return 1;
}

/* Parses a JSON number token (already validated by yajl). Integers keep
 * all 64 bits; everything else (and integers too long for 64 bits) becomes
 * the correctly rounded double, as Python's json module makes it. */
static int parse_number(parser *p, const char *text, size_t len, double *d, int64_t *i, int *is_integer) {
    *i = 0;
    if (parse_decimal_fast(text, len, d, is_integer)) {
        if (*is_integer) *i = (int64_t)*d; /* at most 15 digits: exact */
        return 1;
    }
    char small[64], *buf = small;
    if (len >= sizeof small && !(buf = copy_string(p, text, len))) return 0;
    if (buf == small) {
        memcpy(small, text, len);
        small[len] = '\0';
    }
    int ok = 1;
    *is_integer = strpbrk(buf, ".eE") == NULL;
    if (*is_integer) {
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        if (errno == ERANGE) *is_integer = 0;
        *i = v;
        *d = (double)v;
    }
    if (!*is_integer) {
        *d = strtod(buf, NULL);
        if (!isfinite(*d)) ok = stop(p, RF_ERR_FORMAT, "number %s is not finite in double precision", buf);
    }
    if (buf != small) free(buf);
    return ok;
}

/* Ids: an integer, or a number with an integral value (5.0), in range. */
static int integral_value(parser *p, double d, int64_t i, int is_integer, int64_t *out) {
    if (is_integer) {
        *out = i;
        return 1;
    }
    if (d != floor(d) || d < -9.2233720368547758e18 || d >= 9.2233720368547758e18)
        return stop(p, RF_ERR_FORMAT, "expected an integer, got %.17g", d);
    *out = (int64_t)d;
    return 1;
}

static int cb_number(void *ctx, const char *text, size_t len) {
    parser *p = ctx;
    if (is_skipping(p)) return 1;
    place where = current_place(p);
    if (where == AT_IGNORED) return 1;
    if (where != AT_FIELD && where != AT_BBOX) return unexpected_value(p, "a number");
    if (where == AT_FIELD && (p->fld == F_BBOX || p->fld == F_FILE_NAME || p->fld == F_NAME ||
                              p->fld == F_SUPERCATEGORY))
        return unexpected_value(p, "a number");
    double d;
    int64_t i;
    int is_integer;
    if (!parse_number(p, text, len, &d, &i, &is_integer)) return 0;
    if (where == AT_BBOX) {
        if (p->bbox_count < 4) p->bbox[p->bbox_count] = d;
        p->bbox_count++;
        return 1;
    }
    p->seen |= BIT(p->fld);
    rf_coco_dataset *ds = p->ds;
    int64_t v = 0;
    switch (p->sec) {
    case SEC_IMAGES: {
        rf_coco_image *im = &ds->images[ds->image_count];
        if (!integral_value(p, d, i, is_integer, &v)) return 0;
        if (p->fld == F_ID) {
            im->id = v;
        } else {
            if (v < INT32_MIN || v > INT32_MAX) return stop(p, RF_ERR_FORMAT, "%lld is out of range", (long long)v);
            if (p->fld == F_WIDTH) im->width = (int32_t)v;
            else im->height = (int32_t)v;
        }
        return 1;
    }
    case SEC_ANNOTATIONS: {
        rf_coco_annotation *a = &ds->annotations[ds->annotation_count];
        if (p->fld == F_AREA) {
            a->area = d;
            return 1;
        }
        if (!integral_value(p, d, i, is_integer, &v)) return 0;
        if (p->fld == F_ID) a->id = v;
        else if (p->fld == F_IMAGE_ID) a->image_id = v;
        else if (p->fld == F_CATEGORY_ID) a->category_id = v;
        else a->iscrowd = v != 0;
        return 1;
    }
    case SEC_CATEGORIES:
        if (!integral_value(p, d, i, is_integer, &v)) return 0;
        ds->categories[ds->category_count].id = v;
        return 1;
    case SEC_DETECTIONS: {
        rf_coco_detection *det = &p->dets[p->det_count];
        if (p->fld == F_SCORE) {
            det->score = d;
            return 1;
        }
        if (!integral_value(p, d, i, is_integer, &v)) return 0;
        if (p->fld == F_IMAGE_ID) det->image_id = v;
        else det->category_id = v;
        return 1;
    }
    default: return 1;
    }
}

static int cb_string(void *ctx, const unsigned char *s, size_t len) {
    parser *p = ctx;
    if (is_skipping(p)) return 1;
    place where = current_place(p);
    if (where == AT_IGNORED) return 1;
    int wants_string = where == AT_FIELD && (p->fld == F_FILE_NAME || p->fld == F_NAME || p->fld == F_SUPERCATEGORY);
    if (!wants_string) return unexpected_value(p, "a string");
    char *copy = copy_string(p, (const char *)s, len);
    if (!copy) return 0;
    char **slot = p->fld == F_FILE_NAME ? &p->ds->images[p->ds->image_count].file_name
                  : p->fld == F_NAME    ? &p->ds->categories[p->ds->category_count].name
                                        : &p->ds->categories[p->ds->category_count].supercategory;
    free(*slot); /* a repeated key: the last one wins, as in Python */
    *slot = copy;
    p->seen |= BIT(p->fld);
    return 1;
}

static int cb_boolean(void *ctx, int value) {
    parser *p = ctx;
    if (is_skipping(p)) return 1;
    place where = current_place(p);
    if (where == AT_IGNORED) return 1;
    if (where == AT_FIELD && p->fld == F_ISCROWD && p->sec == SEC_ANNOTATIONS) {
        p->ds->annotations[p->ds->annotation_count].iscrowd = value != 0;
        p->seen |= BIT(F_ISCROWD);
        return 1;
    }
    return unexpected_value(p, value ? "true" : "false");
}

static int cb_null(void *ctx) {
    parser *p = ctx;
    if (is_skipping(p)) return 1;
    return current_place(p) == AT_IGNORED ? 1 : unexpected_value(p, "null");
}

/* ---- containers ------------------------------------------------------------------ */

static int cb_map_key(void *ctx, const unsigned char *key, size_t len) {
    parser *p = ctx;
    if (is_skipping(p)) return 1;
    if (p->kind == DOC_DATASET && p->depth == 1) {
        p->sec = SEC_NONE;
        for (section s = SEC_IMAGES; s <= SEC_CATEGORIES; s++)
            if (strlen(schemas[s].name) == len && memcmp(schemas[s].name, key, len) == 0) p->sec = s;
        p->index = 0;
        return 1;
    }
    if (p->depth == p->element_depth && p->sec != SEC_NONE) {
        p->fld = F_UNKNOWN;
        unsigned known = schemas[p->sec].known;
        for (int f = 1; f < F_COUNT; f++)
            if ((known & BIT(f)) && field_lengths[f] == len && memcmp(field_names[f], key, len) == 0) {
                p->fld = (field)f;
                break;
            }
    }
    return 1;
}

static int open_container(parser *p, int is_map) {
    if (is_skipping(p)) {
        p->depth++;
        return 1;
    }
    const char *got = is_map ? "an object" : "a list";
    switch (current_place(p)) {
    case AT_ROOT:
        if (is_map != (p->kind == DOC_DATASET)) return type_error(p, root_expectation(p), got);
        if (p->kind == DOC_DETECTIONS) p->sec = SEC_DETECTIONS;
        break;
    case AT_SECTION_VALUE:
        if (is_map) return type_error(p, "a list", got);
        break;
    case AT_ELEMENT:
        if (!is_map) return type_error(p, "an object", got);
        if (!begin_element(p)) return 0;
        break;
    case AT_FIELD:
        if (p->fld != F_BBOX || is_map) return unexpected_value(p, got);
        p->bbox_count = 0;
        break;
    case AT_BBOX: return unexpected_value(p, got);
    case AT_IGNORED: p->skip_until = p->depth; break;
    }
    p->depth++;
    return 1;
}

static int close_container(parser *p) {
    p->depth--;
    if (is_skipping(p)) {
        if (p->depth == p->skip_until) p->skip_until = -1;
        return 1;
    }
    if (p->depth == p->element_depth - 1 && p->sec != SEC_NONE) return end_element(p);
    if (p->depth == p->element_depth && p->fld == F_BBOX) {
        if (p->bbox_count != 4)
            return stop(p, RF_ERR_FORMAT, "expected 4 numbers [x, y, w, h], got %d", p->bbox_count);
        double *dst = p->sec == SEC_DETECTIONS ? p->dets[p->det_count].bbox
                      : p->sec == SEC_ANNOTATIONS ? p->ds->annotations[p->ds->annotation_count].bbox
                                                  : NULL;
        if (dst) memcpy(dst, p->bbox, sizeof p->bbox);
        p->seen |= BIT(F_BBOX);
    }
    if (p->kind == DOC_DATASET && p->depth == 1) p->sec = SEC_NONE;
    return 1;
}

static int cb_start_map(void *ctx) { return open_container(ctx, 1); }
static int cb_start_array(void *ctx) { return open_container(ctx, 0); }
static int cb_end(void *ctx) { return close_container(ctx); }

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number, /* raw text: skipped numbers are never converted */
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end,
};

/* ---- driving yajl over memory or a file ------------------------------------------- */

/* Line and column (1-based, column in bytes) after a span of text. */
typedef struct text_position {
    size_t line, column;
} text_position;

static void advance_position(text_position *pos, const char *text, size_t len) {
    const char *end = text + len, *nl;
    while ((nl = memchr(text, '\n', (size_t)(end - text))) != NULL) {
        pos->line++;
        pos->column = 1;
        text = nl + 1;
    }
    pos->column += (size_t)(end - text);
}

typedef struct json_feed {
    yajl_handle handle;
    parser *p;
    text_position consumed; /* position at the start of the current chunk */
    int at_start;           /* nothing fed yet: a UTF-8 byte order mark may be skipped */
} json_feed;

static rf_status feed_init(json_feed *f, parser *p) {
    memset(f, 0, sizeof *f);
    f->p = p;
    f->consumed = (text_position){1, 1};
    f->at_start = 1;
    f->handle = yajl_alloc(&callbacks, NULL, p);
    if (!f->handle) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory for the JSON parser", p->label);
    return RF_OK;
}

/* The error of a failed yajl call, at the byte `offset` of `chunk`. */
static rf_status feed_error(json_feed *f, yajl_status st, const char *chunk, size_t len) {
    parser *p = f->p;
    /* yajl stops just past the byte it rejects (or past the token a callback
     * refused): report that byte's position. */
    size_t offset = yajl_get_bytes_consumed(f->handle);
    if (offset > len) offset = len;
    if (offset > 0) offset--;
    text_position at = f->consumed;
    advance_position(&at, chunk, offset);
    if (st == yajl_status_client_canceled)
        return RF_ERROR(p->problem_status, "%s:%zu:%zu: %s", p->label, at.line, at.column, p->problem);
    unsigned char *message = yajl_get_error(f->handle, 0, (const unsigned char *)chunk, len);
    char detail[256];
    snprintf(detail, sizeof detail, "%s", message ? (const char *)message : "malformed JSON");
    if (message) yajl_free_error(f->handle, message);
    for (char *c = detail; *c; c++)
        if (*c == '\n') *c = ' ';
    size_t n = strlen(detail);
    while (n && (detail[n - 1] == ' ' || detail[n - 1] == '.')) detail[--n] = '\0';
    const char *bad = chunk + offset;
    size_t rest = len - offset;
    const char *hint = "";
    if ((rest >= 3 && memcmp(bad, "NaN", 3) == 0) || (rest >= 8 && memcmp(bad, "Infinity", 8) == 0) ||
        (rest >= 9 && memcmp(bad, "-Infinity", 9) == 0))
        hint = " (NaN and Infinity are not JSON: a non-finite value was written)";
    char path[160];
    entry_path(p, path, sizeof path);
    return RF_ERROR(RF_ERR_FORMAT, "%s:%zu:%zu: malformed JSON: %s%s%s%s", p->label, at.line, at.column, detail, hint,
                    path[0] ? " in " : "", path);
}

static rf_status feed_chunk(json_feed *f, const char *chunk, size_t len) {
    if (f->at_start && len >= 3 && memcmp(chunk, "\xEF\xBB\xBF", 3) == 0) chunk += 3, len -= 3;
    f->at_start = 0;
    yajl_status st = yajl_parse(f->handle, (const unsigned char *)chunk, len);
    if (st != yajl_status_ok) return feed_error(f, st, chunk, len);
    advance_position(&f->consumed, chunk, len);
    return RF_OK;
}

static rf_status feed_finish(json_feed *f) {
    yajl_status st = yajl_complete_parse(f->handle);
    if (st == yajl_status_ok) return RF_OK;
    return feed_error(f, st, "", 0);
}

static void feed_free(json_feed *f) {
    if (f->handle) yajl_free(f->handle);
    f->handle = NULL;
}

static rf_status parse_memory(parser *p, const char *json, size_t length) {
    json_feed f;
    RF_TRY(feed_init(&f, p));
    rf_status s = feed_chunk(&f, json, length);
    if (s == RF_OK) s = feed_finish(&f);
    feed_free(&f);
    return s;
}

static rf_status parse_file(parser *p, const char *path) {
    FILE *file = fopen(path, "rb");
    if (!file) return RF_ERROR(RF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *chunk = malloc(READ_CHUNK_BYTES);
    json_feed f;
    rf_status s = chunk ? feed_init(&f, p) : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
    if (s != RF_OK) {
        free(chunk);
        fclose(file);
        return s;
    }
    for (;;) {
        size_t got = fread(chunk, 1, READ_CHUNK_BYTES, file);
        if (got == 0) {
            if (ferror(file)) s = RF_ERROR(RF_ERR_IO, "%s: read failed: %s", path, strerror(errno));
            break;
        }
        if ((s = feed_chunk(&f, chunk, got)) != RF_OK) break;
    }
    if (s == RF_OK) s = feed_finish(&f);
    feed_free(&f);
    free(chunk);
    fclose(file);
    return s;
}

static void parser_init(parser *p, document_kind kind, const char *label) {
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->label = label ? label : "<memory>";
    p->skip_until = -1;
    p->element_depth = kind == DOC_DATASET ? 3 : 2;
}

/* ---- datasets ------------------------------------------------------------------------ */

void rf_coco_free(rf_coco_dataset *ds) {
    if (!ds) return;
    for (size_t i = 0; i < ds->image_count; i++) free(ds->images[i].file_name);
    for (size_t i = 0; i < ds->category_count; i++) {
        free(ds->categories[i].name);
        free(ds->categories[i].supercategory);
    }
    if (ds->index) {
        rf_id_map_free(&ds->index->images);
        rf_id_map_free(&ds->index->categories);
        free(ds->index);
    }
    free(ds->images);
    free(ds->annotations);
    free(ds->categories);
    free(ds->path);
    free(ds);
}

rf_status rf_coco_build_index(rf_coco_dataset *ds) {
    if (!ds) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_coco_build_index: no dataset");
    struct rf_coco_index *index = calloc(1, sizeof *index);
    if (!index) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    rf_status s = rf_id_map_reserve(&index->images, ds->image_count);
    if (s == RF_OK) s = rf_id_map_reserve(&index->categories, ds->category_count);
    for (size_t i = 0; s == RF_OK && i < ds->image_count; i++)
        s = rf_id_map_insert(&index->images, ds->images[i].id, (int64_t)i, NULL);
    for (size_t i = 0; s == RF_OK && i < ds->category_count; i++)
        s = rf_id_map_insert(&index->categories, ds->categories[i].id, (int64_t)i, NULL);
    if (s != RF_OK) {
        rf_id_map_free(&index->images);
        rf_id_map_free(&index->categories);
        free(index);
        return s;
    }
    if (ds->index) {
        rf_id_map_free(&ds->index->images);
        rf_id_map_free(&ds->index->categories);
        free(ds->index);
    }
    ds->index = index;
    for (size_t i = 0; i < ds->annotation_count; i++)
        ds->annotations[i].image_index = rf_id_map_get(&index->images, ds->annotations[i].image_id);
    ds->max_category_id = -1;
    for (size_t i = 0; i < ds->category_count; i++)
        if (ds->categories[i].id > ds->max_category_id) ds->max_category_id = ds->categories[i].id;
    return RF_OK;
}

int64_t rf_coco_image_index(const rf_coco_dataset *ds, int64_t image_id) {
    if (!ds) return -1;
    if (ds->index) return rf_id_map_get(&ds->index->images, image_id);
    for (size_t i = 0; i < ds->image_count; i++)
        if (ds->images[i].id == image_id) return (int64_t)i;
    return -1;
}

int64_t rf_coco_category_index(const rf_coco_dataset *ds, int64_t category_id) {
    if (!ds) return -1;
    if (ds->index) return rf_id_map_get(&ds->index->categories, category_id);
    for (size_t i = 0; i < ds->category_count; i++)
        if (ds->categories[i].id == category_id) return (int64_t)i;
    return -1;
}

bool rf_coco_category_is_placeholder(const rf_coco_category *c) {
    return c && c->supercategory && strcmp(c->supercategory, "none") == 0;
}

/* Shared by load and parse: run `parse` on a fresh dataset, then index it. */
static rf_status read_dataset(const char *source, int from_file, const char *json, size_t length,
                              rf_coco_dataset **out) {
    *out = NULL;
    rf_coco_dataset *ds = calloc(1, sizeof *ds);
    char *path = strdup(source ? source : "<memory>");
    if (!ds || !path) {
        free(ds);
        free(path);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    ds->path = path;
    ds->max_category_id = -1;
    parser p;
    parser_init(&p, DOC_DATASET, path);
    p.ds = ds;
    rf_status s = from_file ? parse_file(&p, path) : parse_memory(&p, json, length);
    /* An element cut short by an error may own strings: count it so they are freed. */
    if (s != RF_OK && p.element_open) {
        if (p.sec == SEC_IMAGES) ds->image_count++;
        if (p.sec == SEC_CATEGORIES) ds->category_count++;
    }
    if (s == RF_OK) s = rf_coco_build_index(ds);
    if (s != RF_OK) {
        rf_coco_free(ds);
        return s;
    }
    *out = ds;
    return RF_OK;
}

rf_status rf_coco_load(const char *json_path, rf_coco_dataset **out) {
    if (!json_path || !out) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_coco_load: no path or output");
    return read_dataset(json_path, 1, NULL, 0, out);
}

rf_status rf_coco_parse(const char *json, size_t length, const char *label, rf_coco_dataset **out) {
    if (!json || !out) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_coco_parse: no text or output");
    return read_dataset(label, 0, json, length, out);
}

/* ---- detections -------------------------------------------------------------------- */

static rf_status read_detections(const char *source, int from_file, const char *json, size_t length,
                                 const rf_coco_dataset *gt, rf_coco_detection **out, size_t *count) {
    *out = NULL;
    *count = 0;
    parser p;
    parser_init(&p, DOC_DETECTIONS, source);
    p.gt = gt;
    rf_coco_dataset scratch = {0}; /* detections never touch it */
    p.ds = &scratch;
    rf_status s = from_file ? parse_file(&p, p.label) : parse_memory(&p, json, length);
    if (s != RF_OK) {
        free(p.dets);
        return s;
    }
    *out = p.dets;
    *count = p.det_count;
    return RF_OK;
}

rf_status rf_coco_load_detections(const char *json_path, const rf_coco_dataset *gt, rf_coco_detection **out,
                                  size_t *count) {
    if (!json_path || !out || !count)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_coco_load_detections: no path or output");
    return read_detections(json_path, 1, NULL, 0, gt, out, count);
}

rf_status rf_coco_parse_detections(const char *json, size_t length, const char *label, const rf_coco_dataset *gt,
                                   rf_coco_detection **out, size_t *count) {
    if (!json || !out || !count)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_coco_parse_detections: no text or output");
    return read_detections(label, 0, json, length, gt, out, count);
}

rf_status rf_coco_write_detections(const char *path, const rf_coco_detection *dets, size_t count) {
    if (!path || (!dets && count)) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_coco_write_detections: no path");
    for (size_t i = 0; i < count; i++) {
        const rf_coco_detection *d = &dets[i];
        if (!isfinite(d->bbox[0]) || !isfinite(d->bbox[1]) || !isfinite(d->bbox[2]) || !isfinite(d->bbox[3]) ||
            !isfinite(d->score))
            return RF_ERROR(RF_ERR_NUMERIC, "%s: detection %zu (image %lld) has a non-finite box or score", path, i,
                            (long long)d->image_id);
    }
    rf_atomic_file af;
    RF_TRY(rf_atomic_file_open(&af, path));
    /* One detection per line (not core/json_writer's layout): results files
     * run to 100s of thousands of entries and people grep them. %.17g
     * round-trips every double. */
    fputc('[', af.f);
    for (size_t i = 0; i < count; i++) {
        const rf_coco_detection *d = &dets[i];
        fprintf(af.f,
                "%s{\"image_id\": %lld, \"category_id\": %lld, \"bbox\": [%.17g, %.17g, %.17g, %.17g], "
                "\"score\": %.17g}",
                i ? ",\n " : "", (long long)d->image_id, (long long)d->category_id, d->bbox[0], d->bbox[1],
                d->bbox[2], d->bbox[3], d->score);
    }
    fputs("]\n", af.f);
    return rf_atomic_file_commit(&af);
}
