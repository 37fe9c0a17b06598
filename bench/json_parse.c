/* json_parse.c — which Debian JSON library should read COCO files?
 *
 *   json_parse_<library> [--read-only] FILE.json
 *
 * Reads FILE into memory, parses it with LIBRARY and extracts what
 * rf_coco_dataset keeps (image id/size/file name; annotation ids, bbox, area,
 * iscrowd, category; category id/name), then prints the parse+extract time,
 * MB/s and the process's peak resident memory. This file is built once per
 * library found at configure time (cjson, jansson, json-c, yajl-tree,
 * yajl-stream), one executable each — Jansson's and json-c's headers cannot
 * share a translation unit, and one library per process keeps its peak
 * memory its own. --read-only stops after reading the file: the floor. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifdef HAVE_CJSON
#include <cjson/cJSON.h>
#endif
#ifdef HAVE_JANSSON
#include <jansson.h>
#endif
#ifdef HAVE_JSONC
#include <json-c/json.h>
#endif
#ifdef HAVE_YAJL
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>
#endif

typedef struct image {
    int64_t id;
    char *file_name;
    int32_t width, height;
} image;

typedef struct annotation {
    int64_t id, image_id, category_id;
    double bbox[4], area;
    int iscrowd;
} annotation;

typedef struct category {
    int64_t id;
    char *name;
} category;

/* The extracted dataset: the same work for every library. */
typedef struct extracted {
    image *images;
    size_t image_count, image_cap;
    annotation *annotations;
    size_t annotation_count, annotation_cap;
    category *categories;
    size_t category_count, category_cap;
} extracted;

#define PUSH(arr, count, cap)                                                    \
    do {                                                                         \
        if ((count) == (cap)) {                                                  \
            (cap) = (cap) ? 2 * (cap) : 1024;                                    \
            void *grown = realloc((arr), (cap) * sizeof *(arr));                 \
            if (!grown) {                                                        \
                fprintf(stderr, "out of memory\n");                              \
                exit(1);                                                         \
            }                                                                    \
            (arr) = grown;                                                       \
        }                                                                        \
        memset(&(arr)[(count)], 0, sizeof *(arr));                               \
        (count)++;                                                               \
    } while (0)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *dup_string(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) exit(1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int fail(const char *library, const char *what) {
    fprintf(stderr, "%s: %s\n", library, what);
    return 1;
}

/* ---- cJSON: DOM, numbers as double, keys found by a linear scan ------------- */
#ifdef HAVE_CJSON
static double cj_num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

static int parse_cjson(const char *buf, size_t len, extracted *x) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) return fail("cjson", "parse error");
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "images")) {
        PUSH(x->images, x->image_count, x->image_cap);
        image *im = &x->images[x->image_count - 1];
        im->id = (int64_t)cj_num(it, "id");
        im->width = (int32_t)cj_num(it, "width"), im->height = (int32_t)cj_num(it, "height");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(it, "file_name");
        if (cJSON_IsString(fn)) im->file_name = dup_string(fn->valuestring, strlen(fn->valuestring));
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "annotations")) {
        PUSH(x->annotations, x->annotation_count, x->annotation_cap);
        annotation *a = &x->annotations[x->annotation_count - 1];
        a->id = (int64_t)cj_num(it, "id"), a->image_id = (int64_t)cj_num(it, "image_id");
        a->category_id = (int64_t)cj_num(it, "category_id");
        a->area = cj_num(it, "area"), a->iscrowd = (int)cj_num(it, "iscrowd");
        int k = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(it, "bbox")) if (k < 4) a->bbox[k++] = v->valuedouble;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "categories")) {
        PUSH(x->categories, x->category_count, x->category_cap);
        category *c = &x->categories[x->category_count - 1];
        c->id = (int64_t)cj_num(it, "id");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
        if (cJSON_IsString(n)) c->name = dup_string(n->valuestring, strlen(n->valuestring));
    }
    cJSON_Delete(root);
    return 0;
}
#endif

/* ---- Jansson: DOM, integer vs real kept apart, hashed objects, line/column -- */
#ifdef HAVE_JANSSON
static double jn_num(const json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

static int parse_jansson(const char *buf, size_t len, extracted *x) {
    json_error_t err;
    json_t *root = json_loadb(buf, len, 0, &err);
    if (!root) return fail("jansson", err.text);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(root, "images"), i, it) {
        PUSH(x->images, x->image_count, x->image_cap);
        image *im = &x->images[x->image_count - 1];
        im->id = json_integer_value(json_object_get(it, "id"));
        im->width = (int32_t)jn_num(it, "width"), im->height = (int32_t)jn_num(it, "height");
        const json_t *fn = json_object_get(it, "file_name");
        if (json_is_string(fn)) im->file_name = dup_string(json_string_value(fn), json_string_length(fn));
    }
    json_array_foreach(json_object_get(root, "annotations"), i, it) {
        PUSH(x->annotations, x->annotation_count, x->annotation_cap);
        annotation *a = &x->annotations[x->annotation_count - 1];
        a->id = json_integer_value(json_object_get(it, "id"));
        a->image_id = json_integer_value(json_object_get(it, "image_id"));
        a->category_id = json_integer_value(json_object_get(it, "category_id"));
        a->area = jn_num(it, "area"), a->iscrowd = (int)jn_num(it, "iscrowd");
        const json_t *bbox = json_object_get(it, "bbox");
        for (size_t k = 0; k < 4 && k < json_array_size(bbox); k++) a->bbox[k] = json_number_value(json_array_get(bbox, k));
    }
    json_array_foreach(json_object_get(root, "categories"), i, it) {
        PUSH(x->categories, x->category_count, x->category_cap);
        category *c = &x->categories[x->category_count - 1];
        c->id = json_integer_value(json_object_get(it, "id"));
        const json_t *n = json_object_get(it, "name");
        if (json_is_string(n)) c->name = dup_string(json_string_value(n), json_string_length(n));
    }
    json_decref(root);
    return 0;
}
#endif

/* ---- json-c: DOM, int64 vs double, hashed objects ------------------------- */
#ifdef HAVE_JSONC
static json_object *jc_get(json_object *o, const char *key) {
    json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static int parse_jsonc(const char *buf, size_t len, extracted *x) {
    json_tokener *tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
    json_object *root = json_tokener_parse_ex(tok, buf, (int)len);
    if (!root) {
        int rc = fail("json-c", json_tokener_error_desc(json_tokener_get_error(tok)));
        json_tokener_free(tok);
        return rc;
    }
    json_tokener_free(tok);
    json_object *arr = jc_get(root, "images");
    for (size_t i = 0, n = json_object_array_length(arr); i < n; i++) {
        json_object *it = json_object_array_get_idx(arr, i);
        PUSH(x->images, x->image_count, x->image_cap);
        image *im = &x->images[x->image_count - 1];
        im->id = json_object_get_int64(jc_get(it, "id"));
        im->width = json_object_get_int(jc_get(it, "width")), im->height = json_object_get_int(jc_get(it, "height"));
        json_object *fn = jc_get(it, "file_name");
        if (fn) im->file_name = dup_string(json_object_get_string(fn), (size_t)json_object_get_string_len(fn));
    }
    arr = jc_get(root, "annotations");
    for (size_t i = 0, n = json_object_array_length(arr); i < n; i++) {
        json_object *it = json_object_array_get_idx(arr, i);
        PUSH(x->annotations, x->annotation_count, x->annotation_cap);
        annotation *a = &x->annotations[x->annotation_count - 1];
        a->id = json_object_get_int64(jc_get(it, "id"));
        a->image_id = json_object_get_int64(jc_get(it, "image_id"));
        a->category_id = json_object_get_int64(jc_get(it, "category_id"));
        a->area = json_object_get_double(jc_get(it, "area"));
        a->iscrowd = json_object_get_int(jc_get(it, "iscrowd"));
        json_object *bbox = jc_get(it, "bbox");
        for (size_t k = 0; k < 4 && k < json_object_array_length(bbox); k++)
            a->bbox[k] = json_object_get_double(json_object_array_get_idx(bbox, k));
    }
    arr = jc_get(root, "categories");
    for (size_t i = 0, n = json_object_array_length(arr); i < n; i++) {
        json_object *it = json_object_array_get_idx(arr, i);
        PUSH(x->categories, x->category_count, x->category_cap);
        category *c = &x->categories[x->category_count - 1];
        c->id = json_object_get_int64(jc_get(it, "id"));
        json_object *nm = jc_get(it, "name");
        if (nm) c->name = dup_string(json_object_get_string(nm), (size_t)json_object_get_string_len(nm));
    }
    json_object_put(root);
    return 0;
}
#endif

#if defined(HAVE_YAJL) && defined(YAJL_TREE)
/* ---- yajl tree: DOM built on the streaming parser; needs a NUL-terminated copy */
static yajl_val yt_get(yajl_val o, const char *key) {
    if (!YAJL_IS_OBJECT(o)) return NULL;
    for (size_t i = 0; i < o->u.object.len; i++)
        if (strcmp(o->u.object.keys[i], key) == 0) return o->u.object.values[i];
    return NULL;
}

static double yt_num(yajl_val o, const char *key) {
    yajl_val v = yt_get(o, key);
    return YAJL_IS_NUMBER(v) ? YAJL_GET_DOUBLE(v) : 0.0;
}

static int64_t yt_int(yajl_val o, const char *key) {
    yajl_val v = yt_get(o, key);
    return YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : 0;
}

static int parse_yajl_tree(const char *buf, size_t len, extracted *x) {
    char errbuf[256];
    (void)len; /* yajl_tree_parse reads up to the NUL rf_read_file-style buffers end with */
    yajl_val root = yajl_tree_parse(buf, errbuf, sizeof errbuf);
    if (!root) return fail("yajl-tree", errbuf);
    yajl_val arr = yt_get(root, "images");
    for (size_t i = 0; arr && i < arr->u.array.len; i++) {
        yajl_val it = arr->u.array.values[i];
        PUSH(x->images, x->image_count, x->image_cap);
        image *im = &x->images[x->image_count - 1];
        im->id = yt_int(it, "id"), im->width = (int32_t)yt_int(it, "width"), im->height = (int32_t)yt_int(it, "height");
        yajl_val fn = yt_get(it, "file_name");
        if (YAJL_IS_STRING(fn)) im->file_name = dup_string(fn->u.string, strlen(fn->u.string));
    }
    arr = yt_get(root, "annotations");
    for (size_t i = 0; arr && i < arr->u.array.len; i++) {
        yajl_val it = arr->u.array.values[i];
        PUSH(x->annotations, x->annotation_count, x->annotation_cap);
        annotation *a = &x->annotations[x->annotation_count - 1];
        a->id = yt_int(it, "id"), a->image_id = yt_int(it, "image_id"), a->category_id = yt_int(it, "category_id");
        a->area = yt_num(it, "area"), a->iscrowd = (int)yt_int(it, "iscrowd");
        yajl_val bbox = yt_get(it, "bbox");
        for (size_t k = 0; YAJL_IS_ARRAY(bbox) && k < 4 && k < bbox->u.array.len; k++)
            a->bbox[k] = YAJL_GET_DOUBLE(bbox->u.array.values[k]);
    }
    arr = yt_get(root, "categories");
    for (size_t i = 0; arr && i < arr->u.array.len; i++) {
        yajl_val it = arr->u.array.values[i];
        PUSH(x->categories, x->category_count, x->category_cap);
        category *c = &x->categories[x->category_count - 1];
        c->id = yt_int(it, "id");
        yajl_val n = yt_get(it, "name");
        if (YAJL_IS_STRING(n)) c->name = dup_string(n->u.string, strlen(n->u.string));
    }
    yajl_tree_free(root);
    return 0;
}
#endif

#if defined(HAVE_YAJL) && !defined(YAJL_TREE)
/* ---- yajl streaming: callbacks fill the records directly, no DOM -------------
 * The state is "which top-level array, which key of its element, how deep":
 * everything below an unknown key (segmentation, info, licenses) is skipped. */
typedef enum section { SEC_NONE, SEC_IMAGES, SEC_ANNOTATIONS, SEC_CATEGORIES } section;

typedef struct stream_state {
    extracted *x;
    int depth;        /* 1 inside the root object, 2 in a top array, 3 in an element */
    section sec;
    char key[32];     /* the element's current key (depth 3) */
    int bbox_index;   /* next bbox slot while inside "bbox" */
} stream_state;

static void stream_number(stream_state *s, double d, int64_t i, int is_int) {
    if (s->sec == SEC_ANNOTATIONS) {
        annotation *a = &s->x->annotations[s->x->annotation_count - 1];
        if (s->depth == 4 && s->bbox_index >= 0) {
            if (s->bbox_index < 4) a->bbox[s->bbox_index++] = d;
            return;
        }
        if (s->depth != 3) return;
        if (!strcmp(s->key, "id")) a->id = is_int ? i : (int64_t)d;
        else if (!strcmp(s->key, "image_id")) a->image_id = i;
        else if (!strcmp(s->key, "category_id")) a->category_id = i;
        else if (!strcmp(s->key, "area")) a->area = d;
        else if (!strcmp(s->key, "iscrowd")) a->iscrowd = (int)i;
    } else if (s->sec == SEC_IMAGES && s->depth == 3) {
        image *im = &s->x->images[s->x->image_count - 1];
        if (!strcmp(s->key, "id")) im->id = i;
        else if (!strcmp(s->key, "width")) im->width = (int32_t)i;
        else if (!strcmp(s->key, "height")) im->height = (int32_t)i;
    } else if (s->sec == SEC_CATEGORIES && s->depth == 3) {
        if (!strcmp(s->key, "id")) s->x->categories[s->x->category_count - 1].id = i;
    }
}

static int cb_integer(void *ctx, long long v) {
    stream_number(ctx, (double)v, v, 1);
    return 1;
}
static int cb_double(void *ctx, double v) {
    stream_number(ctx, v, (int64_t)v, 0);
    return 1;
}
static int cb_string(void *ctx, const unsigned char *v, size_t n) {
    stream_state *s = ctx;
    if (s->depth != 3) return 1;
    if (s->sec == SEC_IMAGES && !strcmp(s->key, "file_name"))
        s->x->images[s->x->image_count - 1].file_name = dup_string((const char *)v, n);
    else if (s->sec == SEC_CATEGORIES && !strcmp(s->key, "name"))
        s->x->categories[s->x->category_count - 1].name = dup_string((const char *)v, n);
    return 1;
}
static int cb_scalar(void *ctx) { return 1; }
static int cb_bool(void *ctx, int v) { return 1; }
static int cb_map_key(void *ctx, const unsigned char *k, size_t n) {
    stream_state *s = ctx;
    if (s->depth == 1) {
        s->sec = SEC_NONE;
        if (n == 6 && !memcmp(k, "images", 6)) s->sec = SEC_IMAGES;
        else if (n == 11 && !memcmp(k, "annotations", 11)) s->sec = SEC_ANNOTATIONS;
        else if (n == 10 && !memcmp(k, "categories", 10)) s->sec = SEC_CATEGORIES;
    } else if (s->depth == 3) {
        size_t m = n < sizeof s->key - 1 ? n : sizeof s->key - 1;
        memcpy(s->key, k, m);
        s->key[m] = '\0';
    }
    return 1;
}
static int cb_start_map(void *ctx) {
    stream_state *s = ctx;
    s->depth++;
    if (s->depth == 3) {
        s->key[0] = '\0';
        if (s->sec == SEC_IMAGES) PUSH(s->x->images, s->x->image_count, s->x->image_cap);
        else if (s->sec == SEC_ANNOTATIONS) PUSH(s->x->annotations, s->x->annotation_count, s->x->annotation_cap);
        else if (s->sec == SEC_CATEGORIES) PUSH(s->x->categories, s->x->category_count, s->x->category_cap);
    }
    return 1;
}
static int cb_end(void *ctx) {
    stream_state *s = ctx;
    if (s->depth == 4) s->bbox_index = -1;
    s->depth--;
    return 1;
}
static int cb_start_array(void *ctx) {
    stream_state *s = ctx;
    s->depth++;
    s->bbox_index = (s->depth == 4 && s->sec == SEC_ANNOTATIONS && !strcmp(s->key, "bbox")) ? 0 : -1;
    return 1;
}

static int parse_yajl_stream(const char *buf, size_t len, extracted *x) {
    static const yajl_callbacks callbacks = {
        .yajl_null = cb_scalar, .yajl_boolean = cb_bool, .yajl_integer = cb_integer, .yajl_double = cb_double,
        .yajl_string = cb_string, .yajl_start_map = cb_start_map, .yajl_map_key = cb_map_key,
        .yajl_end_map = cb_end, .yajl_start_array = cb_start_array, .yajl_end_array = cb_end,
    };
    stream_state s = {.x = x, .bbox_index = -1};
    yajl_handle h = yajl_alloc(&callbacks, NULL, &s);
    yajl_status st = yajl_parse(h, (const unsigned char *)buf, len);
    if (st == yajl_status_ok) st = yajl_complete_parse(h);
    if (st != yajl_status_ok) {
        unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *)buf, len);
        int rc = fail("yajl-stream", (const char *)msg);
        yajl_free_error(h, msg);
        yajl_free(h);
        return rc;
    }
    yajl_free(h);
    return 0;
}
#endif

#if defined(HAVE_CJSON)
#define LIBRARY_NAME "cjson"
#define LIBRARY_PARSE parse_cjson
#elif defined(HAVE_JANSSON)
#define LIBRARY_NAME "jansson"
#define LIBRARY_PARSE parse_jansson
#elif defined(HAVE_JSONC)
#define LIBRARY_NAME "json-c"
#define LIBRARY_PARSE parse_jsonc
#elif defined(HAVE_YAJL) && defined(YAJL_TREE)
#define LIBRARY_NAME "yajl-tree"
#define LIBRARY_PARSE parse_yajl_tree
#elif defined(HAVE_YAJL)
#define LIBRARY_NAME "yajl-stream"
#define LIBRARY_PARSE parse_yajl_stream
#else
#error "define one of HAVE_CJSON, HAVE_JANSSON, HAVE_JSONC, HAVE_YAJL (+ YAJL_TREE)"
#endif

int main(int argc, char **argv) {
    int read_only = argc == 3 && !strcmp(argv[1], "--read-only");
    if (argc != 2 + read_only) {
        fprintf(stderr, "usage: %s [--read-only] FILE.json   (parses with %s)\n", argv[0], LIBRARY_NAME);
        return 2;
    }
    const char *path = argv[argc - 1];
    double t0 = now();
    FILE *f = fopen(path, "rb");
    if (!f) return fail(path, "cannot open");
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(len + 1);
    if (!buf || fread(buf, 1, len, f) != len) return fail(path, "cannot read");
    buf[len] = '\0';
    fclose(f);
    double t1 = now();
    extracted x = {0};
    if (!read_only && LIBRARY_PARSE(buf, len, &x)) return 1;
    double t2 = now();
    double checksum = 0;
    for (size_t i = 0; i < x.annotation_count; i++)
        checksum += x.annotations[i].bbox[2] + (double)x.annotations[i].image_id + x.annotations[i].area;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%-12s %8.1f MB  read %6.3f s  parse+extract %7.3f s  %8.1f MB/s  peak RSS %7.0f MB  "
           "images %zu annotations %zu categories %zu checksum %.6e\n",
           read_only ? "read-only" : LIBRARY_NAME, len / 1e6, t1 - t0, t2 - t1, (t2 - t1) > 0 ? len / 1e6 / (t2 - t1) : 0.0, ru.ru_maxrss / 1024.0,
           x.image_count, x.annotation_count, x.category_count, checksum);
    for (size_t i = 0; i < x.image_count; i++) free(x.images[i].file_name);
    for (size_t i = 0; i < x.category_count; i++) free(x.categories[i].name);
    free(x.images), free(x.annotations), free(x.categories), free(buf);
    return 0;
}
