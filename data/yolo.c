#include "data/yolo.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "backend/status.h"
#include "core/fileio.h"
#include "data/id_map.h"
#include "data/image.h"
#include "data/paths.h"

/* ---- a growable list of strings ------------------------------------------------ */

typedef struct string_list {
    char **items;
    size_t count, capacity;
} string_list;

static rf_status string_list_push(string_list *l, char *s) {
    if (!s) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    if (l->count == l->capacity) {
        size_t cap = l->capacity ? 2 * l->capacity : 16;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items) {
            free(s);
            return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        l->items = items;
        l->capacity = cap;
    }
    l->items[l->count++] = s;
    return RF_OK;
}

static void string_list_free(string_list *l) {
    for (size_t i = 0; i < l->count; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static char *copy_range(const char *s, size_t n) {
    char *c = malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

/* ---- the YAML subset ---------------------------------------------------------------
 * The text is cut into lines with comments removed; a top-level key's value
 * is a scalar, a flow collection (which may continue on later lines), or a
 * block of the following indented lines ("- item" or "key: value"). */

typedef struct yaml_line {
    const char *text; /* within the comment-free copy */
    size_t length;
    int indent;
    int number; /* 1-based */
} yaml_line;

typedef struct yaml_parser {
    const char *label;
    yaml_line *lines;
    size_t count;
} yaml_parser;

/* Removes a comment: '#' at the start or after a blank, outside quotes. */
static size_t strip_comment(const char *s, size_t n) {
    char quote = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (quote) {
            if (c == quote) quote = 0;
            else if (c == '\\' && quote == '"' && i + 1 < n) i++;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
            n = i;
        }
    }
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    return n;
}

static rf_status yaml_split_lines(yaml_parser *p, const char *text, size_t length) {
    size_t cap = 16;
    p->lines = malloc(cap * sizeof *p->lines);
    if (!p->lines) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    int number = 0;
    for (size_t start = 0; start < length;) {
        size_t end = start;
        while (end < length && text[end] != '\n') end++;
        number++;
        size_t n = strip_comment(text + start, end - start);
        int indent = 0;
        while ((size_t)indent < n && (text[start + indent] == ' ' || text[start + indent] == '\t')) {
            if (text[start + indent] == '\t')
                return RF_ERROR(RF_ERR_FORMAT, "%s:%d: tab in indentation (YAML allows spaces only)", p->label,
                                number);
            indent++;
        }
        if ((size_t)indent < n) {
            if (p->count == cap) {
                cap *= 2;
                yaml_line *lines = realloc(p->lines, cap * sizeof *lines);
                if (!lines) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
                p->lines = lines;
            }
            p->lines[p->count++] = (yaml_line){text + start + indent, n - (size_t)indent, indent, number};
        }
        start = end + 1;
    }
    return RF_OK;
}

/* Reads one scalar from s[*i..n): quoted ('' escapes ', \ escapes in "") or
 * plain up to a stop character. Returns a malloc'd string. */
static rf_status yaml_scalar(const yaml_parser *p, int line, const char *s, size_t n, size_t *i, const char *stops,
                             char **out) {
    *out = NULL;
    while (*i < n && (s[*i] == ' ' || s[*i] == '\t')) (*i)++;
    if (*i < n && (s[*i] == '\'' || s[*i] == '"')) {
        char q = s[(*i)++];
        /* Sized by the string itself, not by the rest of the line: a long
         * flow list holds many strings. */
        size_t end = *i;
        while (end < n) {
            if (s[end] == q) {
                if (q == '\'' && end + 1 < n && s[end + 1] == '\'') { /* '' stands for one quote */
                    end += 2;
                    continue;
                }
                break;
            }
            end += q == '"' && s[end] == '\\' && end + 1 < n ? 2 : 1;
        }
        char *buf = malloc(end - *i + 1);
        if (!buf) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        size_t k = 0;
        for (;;) {
            if (*i >= n) {
                free(buf);
                return RF_ERROR(RF_ERR_FORMAT, "%s:%d: unterminated %s-quoted string", p->label, line,
                                q == '"' ? "double" : "single");
            }
            char c = s[(*i)++];
            if (c == q) {
                if (q == '\'' && *i < n && s[*i] == '\'') {
                    buf[k++] = '\'';
                    (*i)++;
                    continue;
                }
                break;
            }
            if (q == '"' && c == '\\' && *i < n) {
                char e = s[(*i)++];
                c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
            }
            buf[k++] = c;
        }
        buf[k] = '\0';
        *out = buf;
        return RF_OK;
    }
    size_t start = *i;
    while (*i < n && !strchr(stops, s[*i])) (*i)++;
    size_t end = *i;
    while (end > start && isspace((unsigned char)s[end - 1])) end--;
    *out = copy_range(s + start, end - start);
    return *out ? RF_OK : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
}

/* A parsed value: a scalar, or a list of items, or a mapping (keys + items). */
typedef struct yaml_value {
    char *scalar;
    string_list keys, items;
    int is_list, is_map;
} yaml_value;

static void yaml_value_free(yaml_value *v) {
    free(v->scalar);
    string_list_free(&v->keys);
    string_list_free(&v->items);
    memset(v, 0, sizeof *v);
}

/* A flow collection "[a, b]" or "{k: v, ...}" in s[0..n). */
static rf_status yaml_flow(const yaml_parser *p, int line, const char *s, size_t n, yaml_value *v) {
    char open = s[0], close = open == '[' ? ']' : '}';
    v->is_list = open == '[';
    v->is_map = open == '{';
    size_t i = 1;
    for (;;) {
        while (i < n && isspace((unsigned char)s[i])) i++;
        if (i < n && s[i] == close) {
            i++;
            break;
        }
        if (i < n && (s[i] == '[' || s[i] == '{'))
            return RF_ERROR(RF_ERR_FORMAT, "%s:%d: nested collections are not supported here", p->label, line);
        char *item = NULL;
        RF_TRY(yaml_scalar(p, line, s, n, &i, v->is_map ? ":,}\n" : ",]\n", &item));
        if (v->is_map) {
            RF_TRY(string_list_push(&v->keys, item));
            while (i < n && isspace((unsigned char)s[i])) i++;
            if (i >= n || s[i] != ':')
                return RF_ERROR(RF_ERR_FORMAT, "%s:%d: expected ':' after key '%s' in {...}", p->label, line, item);
            i++;
            RF_TRY(yaml_scalar(p, line, s, n, &i, ",}\n", &item));
        }
        RF_TRY(string_list_push(&v->items, item));
        while (i < n && isspace((unsigned char)s[i])) i++;
        if (i < n && s[i] == ',') {
            i++;
            continue;
        }
        if (i < n && s[i] == close) {
            i++;
            break;
        }
        return RF_ERROR(RF_ERR_FORMAT, "%s:%d: expected ',' or '%c' in a flow %s", p->label, line, close,
                        v->is_list ? "list" : "mapping");
    }
    while (i < n && isspace((unsigned char)s[i])) i++;
    if (i < n) return RF_ERROR(RF_ERR_FORMAT, "%s:%d: unexpected text after '%c'", p->label, line, close);
    return RF_OK;
}

/* Splits "key: value" at the first ':' followed by a blank or the end. */
static int split_key(const char *s, size_t n, size_t *colon) {
    char quote = 0;
    for (size_t i = 0; i < n; i++) {
        if (quote) {
            if (s[i] == quote) quote = 0;
        } else if (s[i] == '\'' || s[i] == '"') {
            quote = s[i];
        } else if (s[i] == ':' && (i + 1 == n || s[i + 1] == ' ' || s[i + 1] == '\t')) {
            *colon = i;
            return 1;
        }
    }
    return 0;
}

/* Parses the value of the top-level key on line *li; advances *li past it. */
static rf_status yaml_value_at(const yaml_parser *p, size_t *li, size_t colon, yaml_value *v) {
    const yaml_line *L = &p->lines[*li];
    const char *rest = L->text + colon + 1;
    size_t n = L->length - colon - 1;
    while (n > 0 && isspace((unsigned char)*rest)) rest++, n--;
    (*li)++;
    if (n > 0 && (rest[0] == '[' || rest[0] == '{')) {
        /* Join continuation lines until the brackets balance. Each byte is
         * scanned once, the bracket depth and quote carried from line to
         * line, so a list spread over many lines costs linear time. */
        size_t total = 0, capacity = 0, scanned = 0;
        char *joined = NULL;
        char quote = 0;
        long depth = 0;
        for (const yaml_line *next = NULL;; next = &p->lines[(*li)++]) {
            const char *piece = next ? next->text : rest;
            size_t length = next ? next->length : n;
            if (total + length + 2 > capacity) {
                capacity = 2 * (total + length + 2);
                char *grown = realloc(joined, capacity);
                if (!grown) {
                    free(joined);
                    return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
                }
                joined = grown;
            }
            if (next) joined[total++] = ' ';
            memcpy(joined + total, piece, length);
            total += length;
            joined[total] = '\0';
            for (; scanned < total; scanned++) {
                char c = joined[scanned];
                if (quote) {
                    if (c == quote) quote = 0;
                } else if (c == '\'' || c == '"') {
                    quote = c;
                } else if (c == '[' || c == '{') {
                    depth++;
                } else if (c == ']' || c == '}') {
                    depth--;
                }
            }
            if (depth <= 0) break;
            if (*li >= p->count) {
                free(joined);
                if (quote) return RF_ERROR(RF_ERR_FORMAT, "%s:%d: unterminated quoted string", p->label, L->number);
                return RF_ERROR(RF_ERR_FORMAT, "%s:%d: '%c' is never closed", p->label, L->number, rest[0]);
            }
        }
        rf_status s = yaml_flow(p, L->number, joined, total, v);
        free(joined);
        return s;
    }
    if (n > 0) {
        size_t i = 0;
        RF_TRY(yaml_scalar(p, L->number, rest, n, &i, "", &v->scalar));
        return RF_OK;
    }
    /* A block: indented lines, or "- item" lines at the key's own indent. */
    while (*li < p->count) {
        const yaml_line *b = &p->lines[*li];
        int dash = b->length >= 1 && b->text[0] == '-' && (b->length == 1 || b->text[1] == ' ');
        if (b->indent == 0 && !dash) break;
        (*li)++;
        char *item = NULL;
        if (dash) {
            if (v->is_map) return RF_ERROR(RF_ERR_FORMAT, "%s:%d: a list item inside a mapping", p->label, b->number);
            v->is_list = 1;
            size_t i = 1;
            RF_TRY(yaml_scalar(p, b->number, b->text, b->length, &i, "", &item));
            RF_TRY(string_list_push(&v->items, item));
        } else {
            size_t c;
            if (v->is_list) return RF_ERROR(RF_ERR_FORMAT, "%s:%d: a mapping entry inside a list", p->label, b->number);
            if (!split_key(b->text, b->length, &c))
                return RF_ERROR(RF_ERR_FORMAT, "%s:%d: expected 'key: value' or '- item'", p->label, b->number);
            v->is_map = 1;
            size_t i = 0;
            RF_TRY(yaml_scalar(p, b->number, b->text, c, &i, "", &item));
            RF_TRY(string_list_push(&v->keys, item));
            i = c + 1;
            RF_TRY(yaml_scalar(p, b->number, b->text, b->length, &i, "", &item));
            RF_TRY(string_list_push(&v->items, item));
        }
    }
    return RF_OK;
}

static int parse_integer(const char *s, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return 0;
    *out = v;
    return 1;
}

static rf_status take_folder(const yaml_parser *p, int line, const char *key, yaml_value *v, char **out) {
    if (v->is_list || v->is_map)
        return RF_ERROR(RF_ERR_FORMAT, "%s:%d: %s: a list of folders is not supported; give one folder", p->label,
                        line, key);
    free(*out);
    *out = v->scalar;
    v->scalar = NULL;
    return RF_OK;
}

static rf_status yaml_read(yaml_parser *p, rf_yolo_yaml *y) {
    int names_line = 0;
    for (size_t li = 0; li < p->count;) {
        const yaml_line *L = &p->lines[li];
        size_t colon;
        if (L->indent != 0 || !split_key(L->text, L->length, &colon))
            return RF_ERROR(RF_ERR_FORMAT, "%s:%d: expected a top-level 'key: value'", p->label, L->number);
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)colon, L->text);
        int line = L->number;
        yaml_value v = {0};
        rf_status s = yaml_value_at(p, &li, colon, &v);
        if (s == RF_OK) {
            if (strcmp(key, "path") == 0) s = take_folder(p, line, key, &v, &y->path);
            else if (strcmp(key, "train") == 0) s = take_folder(p, line, key, &v, &y->train);
            else if (strcmp(key, "val") == 0) s = take_folder(p, line, key, &v, &y->val);
            else if (strcmp(key, "test") == 0) s = take_folder(p, line, key, &v, &y->test);
            else if (strcmp(key, "nc") == 0) {
                long long nc;
                if (!v.scalar || !parse_integer(v.scalar, &nc) || nc < 0)
                    s = RF_ERROR(RF_ERR_FORMAT, "%s:%d: nc: expected a class count, got '%s'", p->label, line,
                                 v.scalar ? v.scalar : "a collection");
                else
                    y->nc = (long)nc;
            } else if (strcmp(key, "names") == 0) {
                names_line = line;
                if (!v.is_list && !v.is_map)
                    s = RF_ERROR(RF_ERR_FORMAT, "%s:%d: names: expected a list or a mapping of class names",
                                 p->label, line);
                for (size_t i = 0; i < y->name_count; i++) free(y->names[i]); /* a repeated key: the last wins */
                free(y->names);
                free(y->ids);
                y->names = NULL, y->ids = NULL, y->name_count = 0;
                size_t n = v.items.count;
                if (s == RF_OK) {
                    y->names = calloc(n ? n : 1, sizeof *y->names);
                    y->ids = calloc(n ? n : 1, sizeof *y->ids);
                    if (!y->names || !y->ids) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
                }
                for (size_t i = 0; s == RF_OK && i < n; i++) {
                    long long id = (long long)i;
                    if (v.is_map && (!parse_integer(v.keys.items[i], &id) || id < 0)) {
                        s = RF_ERROR(RF_ERR_FORMAT, "%s:%d: names: key '%s' is not a class id (0, 1, ...)", p->label,
                                     line, v.keys.items[i]);
                        break;
                    }
                    y->names[i] = v.items.items[i];
                    v.items.items[i] = NULL;
                    y->ids[i] = id;
                    y->name_count++;
                }
            }
        }
        yaml_value_free(&v);
        if (s != RF_OK) return s;
    }
    if (!y->names) return RF_ERROR(RF_ERR_FORMAT, "%s: names: missing; data.yaml must list the class names", p->label);
    if (y->name_count == 0) return RF_ERROR(RF_ERR_FORMAT, "%s:%d: names: the list is empty", p->label, names_line);
    if (y->nc >= 0 && (size_t)y->nc != y->name_count)
        return RF_ERROR(RF_ERR_FORMAT, "%s: nc is %ld but names lists %zu classes", p->label, y->nc, y->name_count);
    rf_id_map seen = {0};
    rf_status s = rf_id_map_reserve(&seen, y->name_count);
    for (size_t i = 0; s == RF_OK && i < y->name_count; i++) {
        int64_t first = -1;
        s = rf_id_map_insert(&seen, y->ids[i], (int64_t)i, &first);
        if (s == RF_OK && first >= 0)
            s = RF_ERROR(RF_ERR_FORMAT, "%s:%d: names: class id %lld appears twice", p->label, names_line,
                         (long long)y->ids[i]);
    }
    rf_id_map_free(&seen);
    return s;
}

rf_status rf_yolo_yaml_parse(const char *text, size_t length, const char *label, rf_yolo_yaml *out) {
    memset(out, 0, sizeof *out);
    out->nc = -1;
    yaml_parser p = {.label = label ? label : "<memory>"};
    rf_status s = yaml_split_lines(&p, text, length);
    if (s == RF_OK) s = yaml_read(&p, out);
    free(p.lines);
    if (s != RF_OK) rf_yolo_yaml_free(out);
    return s;
}

rf_status rf_yolo_yaml_load(const char *path, rf_yolo_yaml *out) {
    memset(out, 0, sizeof *out);
    char *text = NULL;
    size_t length = 0;
    RF_TRY(rf_read_file(path, &text, &length));
    rf_status s = rf_yolo_yaml_parse(text, length, path, out);
    free(text);
    return s;
}

void rf_yolo_yaml_free(rf_yolo_yaml *y) {
    if (!y) return;
    free(y->path);
    free(y->train);
    free(y->val);
    free(y->test);
    for (size_t i = 0; i < y->name_count; i++) free(y->names[i]);
    free(y->names);
    free(y->ids);
    memset(y, 0, sizeof *y);
    y->nc = -1;
}

/* ---- images and label files ----------------------------------------------------------- */

static int has_label_extension(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && strcmp(dot, ".txt") == 0;
}

/* Collects paths relative to root (recursively, depth-limited) of files
 * accepted by `want`. */
static rf_status list_files(const char *root, const char *rel, int depth, int (*want)(const char *),
                            string_list *out) {
    char *dir = *rel ? rf_path_join(root, rel) : strdup(root);
    if (!dir) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    DIR *d = opendir(dir);
    if (!d) {
        rf_status s = RF_ERROR(RF_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
        free(dir);
        return s;
    }
    rf_status s = RF_OK;
    struct dirent *e;
    while (s == RF_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ., .., and hidden files (e.g. macOS ._x.jpg) */
        char *child_rel = rf_path_join(rel, e->d_name), *child = child_rel ? rf_path_join(dir, e->d_name) : NULL;
        struct stat st;
        if (!child) {
            s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        } else if (stat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (depth < 8) s = list_files(root, child_rel, depth + 1, want, out);
        } else if (stat(child, &st) == 0 && S_ISREG(st.st_mode) && want(e->d_name)) {
            s = string_list_push(out, child_rel);
            child_rel = NULL;
        }
        free(child_rel);
        free(child);
    }
    closedir(d);
    free(dir);
    return s;
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* "a/b.jpg" -> "a/b.txt" */
static char *label_name(const char *image_rel) {
    const char *dot = strrchr(image_rel, '.');
    size_t stem = dot ? (size_t)(dot - image_rel) : strlen(image_rel);
    char *s = malloc(stem + 5);
    if (!s) return NULL;
    memcpy(s, image_rel, stem);
    memcpy(s + stem, ".txt", 5);
    return s;
}

typedef struct yolo_builder {
    rf_coco_dataset *ds;
    size_t annotation_capacity;
} yolo_builder;

static rf_status add_annotation(yolo_builder *b, int64_t image_id, int64_t category, const double bbox[4]) {
    rf_coco_dataset *ds = b->ds;
    if (ds->annotation_count == b->annotation_capacity) {
        size_t cap = b->annotation_capacity ? 2 * b->annotation_capacity : 256;
        rf_coco_annotation *a = realloc(ds->annotations, cap * sizeof *a);
        if (!a) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for %zu annotations", cap);
        ds->annotations = a;
        b->annotation_capacity = cap;
    }
    rf_coco_annotation *a = &ds->annotations[ds->annotation_count];
    *a = (rf_coco_annotation){.id = (int64_t)ds->annotation_count, .image_id = image_id, .category_id = category,
                              .bbox = {bbox[0], bbox[1], bbox[2], bbox[3]}, .area = bbox[2] * bbox[3],
                              .image_index = -1};
    ds->annotation_count++;
    return RF_OK;
}

/* Parses one label file's text for an image of width x height. */
static rf_status parse_labels(yolo_builder *b, const char *path, char *text, int64_t image_id, int width,
                              int height) {
    int line = 0;
    for (char *cur = text; *cur;) {
        char *end = strchr(cur, '\n');
        if (end) *end = '\0';
        line++;
        double v[1 + 2 * 64];
        int n = 0;
        char *p = cur;
        for (;;) {
            while (*p == ' ' || *p == '\t' || *p == '\r') p++;
            if (!*p) break;
            if (n == (int)(sizeof v / sizeof v[0]))
                return RF_ERROR(RF_ERR_FORMAT, "%s:%d: more than %d numbers on one line", path, line, n);
            char *next = NULL;
            errno = 0;
            v[n] = strtod(p, &next);
            if (next == p || errno == ERANGE || !isfinite(v[n]) || (*next && !isspace((unsigned char)*next))) {
                char *word_end = p;
                while (*word_end && !isspace((unsigned char)*word_end)) word_end++;
                return RF_ERROR(RF_ERR_FORMAT, "%s:%d: value %d: '%.*s' is not a number", path, line, n + 1,
                                (int)(word_end - p), p);
            }
            n++;
            p = next;
        }
        if (n > 0) {
            if (v[0] < 0 || v[0] != floor(v[0]) || v[0] > 1e9)
                return RF_ERROR(RF_ERR_FORMAT, "%s:%d: class: '%g' is not a class id (0, 1, ...)", path, line, v[0]);
            double x0, y0, x1, y1;
            if (n == 5) {
                if (v[3] < 0 || v[4] < 0)
                    return RF_ERROR(RF_ERR_FORMAT, "%s:%d: negative box width or height (%g, %g)", path, line, v[3],
                                    v[4]);
                x0 = v[1] - v[3] / 2, x1 = v[1] + v[3] / 2, y0 = v[2] - v[4] / 2, y1 = v[2] + v[4] / 2;
            } else if (n >= 7 && n % 2 == 1) {
                x0 = x1 = v[1], y0 = y1 = v[2];
                for (int k = 3; k < n; k += 2) {
                    x0 = fmin(x0, v[k]), x1 = fmax(x1, v[k]);
                    y0 = fmin(y0, v[k + 1]), y1 = fmax(y1, v[k + 1]);
                }
            } else {
                return RF_ERROR(RF_ERR_FORMAT,
                                "%s:%d: expected 'class cx cy w h' (5 numbers) or a polygon 'class x1 y1 x2 y2 x3 y3 "
                                "...', got %d numbers",
                                path, line, n);
            }
            double bbox[4] = {x0 * width, y0 * height, (x1 - x0) * width, (y1 - y0) * height};
            RF_TRY(add_annotation(b, image_id, (int64_t)v[0], bbox));
        }
        if (!end) break;
        cur = end + 1;
    }
    return RF_OK;
}

static rf_status build_categories(rf_coco_dataset *ds, const rf_yolo_yaml *yaml) {
    ds->categories = calloc(yaml->name_count ? yaml->name_count : 1, sizeof *ds->categories);
    if (!ds->categories) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < yaml->name_count; i++) {
        rf_coco_category *c = &ds->categories[ds->category_count];
        c->id = yaml->ids[i];
        c->name = strdup(yaml->names[i]);
        c->supercategory = strdup("");
        ds->category_count++;
        if (!c->name || !c->supercategory) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    return RF_OK;
}

static rf_status load_split(const char *image_dir, const char *label_dir, const rf_yolo_yaml *yaml,
                            rf_coco_dataset *ds, rf_coco_problems *problems) {
    yolo_builder b = {.ds = ds};
    RF_TRY(build_categories(ds, yaml));
    string_list images = {0}, labels = {0};
    rf_status s = list_files(image_dir, "", 0, rf_path_is_image, &images);
    if (s == RF_OK) qsort(images.items, images.count, sizeof *images.items, compare_strings);
    if (s == RF_OK && rf_file_exists(label_dir)) s = list_files(label_dir, "", 0, has_label_extension, &labels);
    if (s == RF_OK) qsort(labels.items, labels.count, sizeof *labels.items, compare_strings);
    if (s == RF_OK) {
        ds->images = calloc(images.count ? images.count : 1, sizeof *ds->images);
        if (!ds->images) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    size_t matched_labels = 0;
    for (size_t i = 0; s == RF_OK && i < images.count; i++) {
        char *path = rf_path_join(image_dir, images.items[i]);
        if (!path) {
            s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
            break;
        }
        int w = 0, h = 0;
        rf_status probe = rf_image_probe(path, &w, &h);
        free(path);
        if (probe != RF_OK) {
            s = rf_coco_problems_add(problems, RF_COCO_ERROR, RF_COCO_PROBLEM_IMAGE_UNREADABLE, "%s; left out",
                                     rf_last_error());
            continue;
        }
        rf_coco_image *im = &ds->images[ds->image_count];
        im->id = (int64_t)ds->image_count;
        im->width = w;
        im->height = h;
        im->file_name = images.items[i];
        images.items[i] = NULL;
        ds->image_count++;
        char *label_rel = label_name(im->file_name);
        if (!label_rel) {
            s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
            break;
        }
        if (bsearch(&label_rel, labels.items, labels.count, sizeof *labels.items, compare_strings)) {
            matched_labels++;
            char *label_path = rf_path_join(label_dir, label_rel), *text = NULL;
            s = label_path ? rf_read_file(label_path, &text, NULL) : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of memory");
            if (s == RF_OK) s = parse_labels(&b, label_path, text, im->id, w, h);
            free(text);
            free(label_path);
        }
        free(label_rel);
    }
    if (s == RF_OK && matched_labels < labels.count)
        s = rf_coco_problems_add(problems, RF_COCO_WARNING, RF_COCO_PROBLEM_OTHER,
                                 "%s: %zu label files have no image in %s (they are ignored)", label_dir,
                                 labels.count - matched_labels, image_dir);
    string_list_free(&images);
    string_list_free(&labels);
    return s;
}

rf_status rf_yolo_load_split(const char *image_dir, const char *label_dir, const rf_yolo_yaml *yaml,
                             rf_coco_dataset **out, rf_coco_problems *problems) {
    *out = NULL;
    rf_coco_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    ds->max_category_id = -1;
    ds->path = strdup(label_dir);
    rf_status s = ds->path ? load_split(image_dir, label_dir, yaml, ds, problems)
                           : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    if (s == RF_OK) s = rf_coco_build_index(ds);
    if (s != RF_OK) {
        rf_coco_free(ds);
        return s;
    }
    *out = ds;
    return RF_OK;
}
