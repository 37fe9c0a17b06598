#include "core/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "core/fileio.h"
#include "core/json_writer.h"

/* ============================================================================
 * Reading
 * ==========================================================================*/

/* "__metadata__": string keys to string values, in the order given. Both
 * reader and writer own their strings. */
typedef struct metadata_map {
    int count, capacity;
    char **keys, **values;
} metadata_map;

/* Takes ownership of key and value (freeing them on failure); an existing
 * key is an error when `replace` is false, else its value is replaced. */
static rf_status metadata_put(metadata_map *map, char *key, char *value, bool replace) {
    for (int i = 0; i < map->count; i++) {
        if (strcmp(map->keys[i], key) != 0) continue;
        if (!replace) {
            rf_status s = RF_ERROR(RF_ERR_FORMAT, "duplicate \"__metadata__\" key \"%s\"", key);
            free(key);
            free(value);
            return s;
        }
        free(key);
        free(map->values[i]);
        map->values[i] = value;
        return RF_OK;
    }
    if (map->count == map->capacity) {
        int cap = map->capacity ? 2 * map->capacity : 8;
        char **k = realloc(map->keys, (size_t)cap * sizeof *k);
        if (k) map->keys = k;
        char **v = k ? realloc(map->values, (size_t)cap * sizeof *v) : NULL;
        if (v) map->values = v;
        if (!k || !v) {
            free(key);
            free(value);
            return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        map->capacity = cap;
    }
    map->keys[map->count] = key;
    map->values[map->count++] = value;
    return RF_OK;
}

static const char *metadata_get(const metadata_map *map, const char *key) {
    for (int i = 0; i < map->count; i++)
        if (strcmp(map->keys[i], key) == 0) return map->values[i];
    return NULL;
}

static void metadata_free(metadata_map *map) {
    for (int i = 0; i < map->count; i++) {
        free(map->keys[i]);
        free(map->values[i]);
    }
    free(map->keys);
    free(map->values);
    memset(map, 0, sizeof *map);
}

typedef struct st_tensor {
    char *name;
    rf_file_dtype dtype;
    int ndim;
    int64_t shape[RF_TENSOR_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end; /* data_offsets, relative to the byte buffer */
} st_tensor;

struct rf_safetensors {
    char *label;
    rf_mapped_file map;     /* empty when reading borrowed memory */
    const uint8_t *buffer;  /* the byte buffer after the header */
    uint64_t buffer_size;
    int count, capacity;
    st_tensor *tensors;     /* sorted by data offset after open */
    rf_name_index index;
    metadata_map metadata;
};

/* ---- a strict parser for the header's restricted JSON --------------------- */

typedef struct header_parser {
    const char *start, *p, *end;
    const char *label;
} header_parser;

#define HEADER_MAX_DEPTH 64

static rf_status header_error(const header_parser *hp, const char *what) {
    return RF_ERROR(RF_ERR_FORMAT, "%s: bad header JSON at byte %td of the header: %s", hp->label, hp->p - hp->start,
                    what);
}

static void skip_ws(header_parser *hp) {
    while (hp->p < hp->end && (*hp->p == ' ' || *hp->p == '\t' || *hp->p == '\n' || *hp->p == '\r')) hp->p++;
}

static bool expect_char(header_parser *hp, char c) {
    skip_ws(hp);
    if (hp->p < hp->end && *hp->p == c) {
        hp->p++;
        return true;
    }
    return false;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(header_parser *hp, unsigned *out) {
    if (hp->end - hp->p < 4) return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(hp->p[i]);
        if (h < 0) return false;
        v = v * 16 + (unsigned)h;
    }
    hp->p += 4;
    *out = v;
    return true;
}

static size_t put_utf8(char *dst, unsigned cp) {
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xc0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xe0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        dst[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    dst[0] = (char)(0xf0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    dst[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses a JSON string into a malloc'd NUL-terminated buffer (decoded
 * length ≤ encoded length, so one allocation of the encoded size is enough).
 * A string holding U+0000 cannot be a C name and is refused. */
static rf_status parse_string(header_parser *hp, char **out) {
    *out = NULL;
    if (!expect_char(hp, '"')) return header_error(hp, "expected a string");
    const char *q = hp->p;
    while (q < hp->end && *q != '"') q += (*q == '\\' && q + 1 < hp->end) ? 2 : 1;
    if (q >= hp->end) return header_error(hp, "unterminated string");
    char *buf = malloc((size_t)(q - hp->p) + 1);
    if (!buf) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory parsing the header", hp->label);
    size_t n = 0;
    while (*hp->p != '"') {
        unsigned char c = (unsigned char)*hp->p;
        if (c < 0x20) {
            free(buf);
            return header_error(hp, "control character inside a string");
        }
        if (c != '\\') {
            buf[n++] = (char)c;
            hp->p++;
            continue;
        }
        hp->p++;
        char e = *hp->p++;
        unsigned cp;
        switch (e) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u':
            if (!read_hex4(hp, &cp)) {
                free(buf);
                return header_error(hp, "bad \\u escape");
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned low;
                if (hp->end - hp->p < 2 || hp->p[0] != '\\' || hp->p[1] != 'u' || (hp->p += 2, !read_hex4(hp, &low)) ||
                    low < 0xdc00 || low > 0xdfff) {
                    free(buf);
                    return header_error(hp, "unpaired UTF-16 surrogate in \\u escape");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                free(buf);
                return header_error(hp, "unpaired UTF-16 surrogate in \\u escape");
            }
            if (cp == 0) {
                free(buf);
                return header_error(hp, "\\u0000 inside a name");
            }
            n += put_utf8(buf + n, cp); /* ≤ 4 bytes from ≥ 6 escaped bytes */
            break;
        default: free(buf); return header_error(hp, "unknown escape");
        }
    }
    hp->p++; /* closing quote */
    buf[n] = '\0';
    *out = buf;
    return RF_OK;
}

/* A non-negative JSON integer that fits int64 (no sign, fraction or
 * exponent: offsets and dimensions are counts). */
static rf_status parse_count(header_parser *hp, int64_t *out) {
    skip_ws(hp);
    if (hp->p >= hp->end || *hp->p < '0' || *hp->p > '9') return header_error(hp, "expected a non-negative integer");
    if (*hp->p == '0' && hp->p + 1 < hp->end && hp->p[1] >= '0' && hp->p[1] <= '9')
        return header_error(hp, "leading zero in a number");
    int64_t v = 0;
    while (hp->p < hp->end && *hp->p >= '0' && *hp->p <= '9') {
        int digit = *hp->p - '0';
        if (v > (INT64_MAX - digit) / 10) return header_error(hp, "integer too large");
        v = v * 10 + digit;
        hp->p++;
    }
    if (hp->p < hp->end && (*hp->p == '.' || *hp->p == 'e' || *hp->p == 'E'))
        return header_error(hp, "expected an integer, found a fraction or exponent");
    *out = v;
    return RF_OK;
}

static bool match_literal(header_parser *hp, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(hp->end - hp->p) >= n && memcmp(hp->p, word, n) == 0) {
        hp->p += n;
        return true;
    }
    return false;
}

/* Skips any JSON value (for fields we do not use). */
static rf_status skip_value(header_parser *hp, int depth) {
    if (depth > HEADER_MAX_DEPTH) return header_error(hp, "nesting too deep");
    skip_ws(hp);
    if (hp->p >= hp->end) return header_error(hp, "expected a value");
    char c = *hp->p;
    if (c == '"') {
        char *s;
        RF_TRY(parse_string(hp, &s));
        free(s);
        return RF_OK;
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        hp->p++;
        if (expect_char(hp, close)) return RF_OK;
        do {
            if (c == '{') {
                char *key;
                RF_TRY(parse_string(hp, &key));
                free(key);
                if (!expect_char(hp, ':')) return header_error(hp, "expected ':'");
            }
            RF_TRY(skip_value(hp, depth + 1));
        } while (expect_char(hp, ','));
        if (!expect_char(hp, close)) return header_error(hp, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
        return RF_OK;
    }
    if (match_literal(hp, "true") || match_literal(hp, "false") || match_literal(hp, "null")) return RF_OK;
    if (c == '-' || (c >= '0' && c <= '9')) {
        const char *q = hp->p + (c == '-');
        if (q >= hp->end || *q < '0' || *q > '9') return header_error(hp, "bad number");
        while (q < hp->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' || *q == '-'))
            q++;
        hp->p = q;
        return RF_OK;
    }
    return header_error(hp, "unexpected character");
}

/* A JSON array of non-negative integers, at most `max` of them. */
static rf_status parse_count_array(header_parser *hp, int64_t *values, int max, int *count, const char *what) {
    *count = 0;
    if (!expect_char(hp, '[')) return header_error(hp, what);
    if (expect_char(hp, ']')) return RF_OK;
    do {
        if (*count >= max) return header_error(hp, what);
        RF_TRY(parse_count(hp, &values[(*count)++]));
    } while (expect_char(hp, ','));
    if (!expect_char(hp, ']')) return header_error(hp, "expected ',' or ']'");
    return RF_OK;
}

static rf_status parse_metadata(header_parser *hp, rf_safetensors *st) {
    skip_ws(hp);
    if (match_literal(hp, "null")) return RF_OK;
    if (!expect_char(hp, '{')) return header_error(hp, "\"__metadata__\" must be an object of strings");
    if (expect_char(hp, '}')) return RF_OK;
    do {
        char *key, *value;
        RF_TRY(parse_string(hp, &key));
        if (!expect_char(hp, ':')) {
            free(key);
            return header_error(hp, "expected ':'");
        }
        rf_status s = parse_string(hp, &value);
        if (s != RF_OK) {
            free(key);
            return rf_error_prefix(s, "\"__metadata__\" values must be strings: ");
        }
        if (st->metadata.count >= RF_SAFETENSORS_MAX_METADATA) {
            free(key);
            free(value);
            return RF_ERROR(RF_ERR_FORMAT, "%s: more than %d \"__metadata__\" entries", hp->label,
                            RF_SAFETENSORS_MAX_METADATA);
        }
        s = metadata_put(&st->metadata, key, value, false);
        if (s != RF_OK) return rf_error_prefix(s, "%s: ", hp->label);
    } while (expect_char(hp, ','));
    if (!expect_char(hp, '}')) return header_error(hp, "expected ',' or '}'");
    return RF_OK;
}

/* The object describing one tensor; `t->name` is already set. */
static rf_status parse_tensor(header_parser *hp, st_tensor *t) {
    bool have_dtype = false, have_shape = false, have_offsets = false;
    if (!expect_char(hp, '{')) return header_error(hp, "a tensor entry must be an object");
    if (!expect_char(hp, '}')) {
        do {
            char *field;
            RF_TRY(parse_string(hp, &field));
            if (!expect_char(hp, ':')) {
                free(field);
                return header_error(hp, "expected ':'");
            }
            rf_status s = RF_OK;
            if (strcmp(field, "dtype") == 0 && !have_dtype) {
                char *dtype;
                s = parse_string(hp, &dtype);
                if (s == RF_OK) {
                    if (!rf_file_dtype_from_name(dtype, strlen(dtype), &t->dtype))
                        s = RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": unknown dtype \"%s\"", hp->label, t->name, dtype);
                    free(dtype);
                }
                have_dtype = true;
            } else if (strcmp(field, "shape") == 0 && !have_shape) {
                s = parse_count_array(hp, t->shape, RF_TENSOR_MAX_DIMS, &t->ndim,
                                      "\"shape\" must be an array of at most 8 non-negative integers");
                have_shape = true;
            } else if (strcmp(field, "data_offsets") == 0 && !have_offsets) {
                int64_t offsets[2];
                int n = 0;
                s = parse_count_array(hp, offsets, 2, &n, "\"data_offsets\" must be [begin, end]");
                if (s == RF_OK && n != 2) s = header_error(hp, "\"data_offsets\" must be [begin, end]");
                t->begin = (uint64_t)offsets[0];
                t->end = (uint64_t)offsets[1];
                have_offsets = true;
            } else if (strcmp(field, "dtype") == 0 || strcmp(field, "shape") == 0 || strcmp(field, "data_offsets") == 0) {
                s = RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": field \"%s\" given twice", hp->label, t->name, field);
            } else {
                s = skip_value(hp, 1); /* unknown fields are ignored, as the reference reader does */
            }
            free(field);
            if (s != RF_OK) return rf_error_prefix(s, "tensor \"%s\": ", t->name);
        } while (expect_char(hp, ','));
        if (!expect_char(hp, '}')) return rf_error_prefix(header_error(hp, "expected ',' or '}'"), "tensor \"%s\": ", t->name);
    }
    if (!have_dtype || !have_shape || !have_offsets)
        return RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": missing \"%s\"", hp->label, t->name,
                        !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    t->numel = rf_shape_numel(t->ndim, t->shape);
    if (t->numel < 0) return RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": element count overflows", hp->label, t->name);
    return RF_OK;
}

static rf_status parse_header(rf_safetensors *st, const char *json, size_t length) {
    header_parser hp = {json, json, json + length, st->label};
    if (length == 0 || json[0] != '{') return header_error(&hp, "the header must start with '{'");
    hp.p++;
    if (!expect_char(&hp, '}')) {
        do {
            char *key;
            RF_TRY(parse_string(&hp, &key));
            if (!expect_char(&hp, ':')) {
                free(key);
                return header_error(&hp, "expected ':'");
            }
            if (strcmp(key, "__metadata__") == 0) {
                free(key);
                RF_TRY(parse_metadata(&hp, st));
                continue;
            }
            if (st->count == st->capacity) {
                int cap = st->capacity ? 2 * st->capacity : 64;
                st_tensor *t = realloc(st->tensors, (size_t)cap * sizeof *t);
                if (!t) {
                    free(key);
                    return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory", st->label);
                }
                st->tensors = t;
                st->capacity = cap;
            }
            st_tensor *t = &st->tensors[st->count++];
            memset(t, 0, sizeof *t);
            t->name = key;
            RF_TRY(parse_tensor(&hp, t));
        } while (expect_char(&hp, ','));
        if (!expect_char(&hp, '}')) return header_error(&hp, "expected ',' or '}'");
    }
    skip_ws(&hp); /* writers pad the header with spaces */
    if (hp.p != hp.end) return header_error(&hp, "trailing bytes after the header object");
    return RF_OK;
}

static int compare_offsets(const void *a, const void *b) {
    const st_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Sorted by offset, the tensors must tile [0, buffer_size) exactly. */
static rf_status validate_layout(rf_safetensors *st) {
    if (st->count > 1) qsort(st->tensors, (size_t)st->count, sizeof *st->tensors, compare_offsets);
    uint64_t expected_begin = 0;
    for (int i = 0; i < st->count; i++) {
        const st_tensor *t = &st->tensors[i];
        if (t->end < t->begin)
            return RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] end before they begin", st->label,
                            t->name, (unsigned long long)t->begin, (unsigned long long)t->end);
        if (t->begin != expected_begin)
            return RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": data begins at %llu but the previous tensor ends at %llu (%s)",
                            st->label, t->name, (unsigned long long)t->begin, (unsigned long long)expected_begin,
                            t->begin < expected_begin ? "overlap" : "hole");
        if (t->end > st->buffer_size)
            return RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": data_offsets end %llu lies beyond the %llu-byte data buffer",
                            st->label, t->name, (unsigned long long)t->end, (unsigned long long)st->buffer_size);
        uint64_t elem = rf_file_dtype_size(t->dtype);
        if ((uint64_t)t->numel > UINT64_MAX / elem || (uint64_t)t->numel * elem != t->end - t->begin) {
            char shape[160];
            return RF_ERROR(RF_ERR_FORMAT, "%s: tensor \"%s\": %s %s needs %llu bytes but data_offsets span %llu", st->label,
                            t->name, rf_file_dtype_name(t->dtype), rf_shape_string(t->ndim, t->shape, shape, sizeof shape),
                            (unsigned long long)((uint64_t)t->numel * elem), (unsigned long long)(t->end - t->begin));
        }
        expected_begin = t->end;
    }
    if (expected_begin != st->buffer_size)
        return RF_ERROR(RF_ERR_FORMAT, "%s: the tensors cover %llu bytes of a %llu-byte data buffer (%s)", st->label,
                        (unsigned long long)expected_begin, (unsigned long long)st->buffer_size,
                        expected_begin < st->buffer_size ? "trailing bytes" : "truncated");
    const char **names = malloc((size_t)(st->count ? st->count : 1) * sizeof *names);
    if (!names) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory", st->label);
    for (int i = 0; i < st->count; i++) names[i] = st->tensors[i].name;
    rf_status s = rf_name_index_build(&st->index, names, st->count);
    free(names);
    if (s != RF_OK) return rf_error_prefix(s, "%s: ", st->label);
    return RF_OK;
}

static rf_status open_bytes(rf_safetensors *st, const uint8_t *data, size_t size) {
    if (size < 8) return RF_ERROR(RF_ERR_FORMAT, "%s: %zu bytes is too small for a safetensors file (truncated?)", st->label, size);
    uint64_t header_length = 0;
    for (int i = 7; i >= 0; i--) header_length = header_length << 8 | data[i];
    if (header_length > size - 8)
        return RF_ERROR(RF_ERR_FORMAT, "%s: header length %llu runs beyond the end of the %zu-byte file (truncated?)",
                        st->label, (unsigned long long)header_length, size);
    if (header_length > RF_SAFETENSORS_MAX_HEADER)
        return RF_ERROR(RF_ERR_FORMAT, "%s: header length %llu exceeds the %u-byte limit", st->label,
                        (unsigned long long)header_length, RF_SAFETENSORS_MAX_HEADER);
    RF_TRY(parse_header(st, (const char *)data + 8, (size_t)header_length));
    st->buffer = data + 8 + header_length;
    st->buffer_size = size - 8 - header_length;
    return validate_layout(st);
}

static rf_status open_common(const char *label, rf_safetensors **out, rf_safetensors **st_out) {
    *out = NULL;
    *st_out = NULL;
    rf_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->label = strdup(label ? label : "<memory>"))) {
        free(st);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    *st_out = st;
    return RF_OK;
}

rf_status rf_safetensors_open_memory(const void *data, size_t size, const char *label, rf_safetensors **out) {
    rf_safetensors *st = NULL;
    RF_TRY(open_common(label, out, &st));
    rf_status s = open_bytes(st, data, size);
    if (s != RF_OK) {
        rf_safetensors_close(st);
        return s;
    }
    *out = st;
    return RF_OK;
}

rf_status rf_safetensors_open(const char *path, rf_safetensors **out) {
    rf_safetensors *st = NULL;
    RF_TRY(open_common(path, out, &st));
    rf_status s = rf_map_file(path, &st->map);
    if (s == RF_OK) s = open_bytes(st, st->map.data, st->map.size);
    if (s != RF_OK) {
        rf_safetensors_close(st);
        return s;
    }
    *out = st;
    return RF_OK;
}

void rf_safetensors_close(rf_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->count; i++) free(st->tensors[i].name);
    free(st->tensors);
    metadata_free(&st->metadata);
    rf_name_index_free(&st->index);
    rf_unmap_file(&st->map);
    free(st->label);
    free(st);
}

int rf_safetensors_count(const rf_safetensors *st) { return st->count; }

rf_status rf_safetensors_info_at(const rf_safetensors *st, int i, rf_tensor_info *info) {
    if (i < 0 || i >= st->count)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: tensor index %d out of range [0, %d)", st->label, i, st->count);
    const st_tensor *t = &st->tensors[i];
    rf_tensor_info_set(info, t->name, t->dtype, t->ndim, t->shape);
    return RF_OK;
}

int rf_safetensors_find(const rf_safetensors *st, const char *name) { return rf_name_index_find(&st->index, name); }

const void *rf_safetensors_data(const rf_safetensors *st, int i, size_t *nbytes) {
    if (i < 0 || i >= st->count) return NULL;
    if (nbytes) *nbytes = (size_t)(st->tensors[i].end - st->tensors[i].begin);
    return st->buffer + st->tensors[i].begin;
}

static rf_status read_converted(const rf_safetensors *st, const char *name, size_t count, void *out, bool to_f32) {
    int i = rf_safetensors_find(st, name);
    if (i < 0) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: no tensor named \"%s\"", st->label, name);
    rf_tensor_info info;
    RF_TRY(rf_safetensors_info_at(st, i, &info));
    RF_TRY(rf_tensor_check_count(st->label, &info, count));
    const void *data = rf_safetensors_data(st, i, NULL);
    rf_status s = to_f32 ? rf_convert_to_f32(info.dtype, data, count, out, name)
                         : rf_convert_to_i64(info.dtype, data, count, out, name);
    return s == RF_OK ? s : rf_error_prefix(s, "%s: ", st->label);
}

rf_status rf_safetensors_get_f32(const rf_safetensors *st, const char *name, float *out, size_t count) {
    return read_converted(st, name, count, out, true);
}

rf_status rf_safetensors_get_i64(const rf_safetensors *st, const char *name, int64_t *out, size_t count) {
    return read_converted(st, name, count, out, false);
}

const char *rf_safetensors_metadata(const rf_safetensors *st, const char *key) { return metadata_get(&st->metadata, key); }

int rf_safetensors_metadata_count(const rf_safetensors *st) { return st->metadata.count; }

void rf_safetensors_metadata_at(const rf_safetensors *st, int i, const char **key, const char **value) {
    bool ok = i >= 0 && i < st->metadata.count;
    if (key) *key = ok ? st->metadata.keys[i] : NULL;
    if (value) *value = ok ? st->metadata.values[i] : NULL;
}

/* ============================================================================
 * Writing
 * ==========================================================================*/

typedef struct writer_tensor {
    char *name;
    rf_file_dtype dtype;
    int ndim;
    int64_t shape[RF_TENSOR_MAX_DIMS];
    uint64_t nbytes;
    const void *data; /* borrowed */
} writer_tensor;

struct rf_safetensors_writer {
    int count, capacity;
    writer_tensor *tensors;
    metadata_map metadata;
};

rf_status rf_safetensors_writer_create(rf_safetensors_writer **out) {
    *out = calloc(1, sizeof **out);
    return *out ? RF_OK : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
}

void rf_safetensors_writer_free(rf_safetensors_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->count; i++) free(w->tensors[i].name);
    free(w->tensors);
    metadata_free(&w->metadata);
    free(w);
}

rf_status rf_safetensors_writer_add(rf_safetensors_writer *w, const char *name, rf_file_dtype dtype, int ndim,
                                    const int64_t *shape, const void *data) {
    if (!name || !*name || strcmp(name, "__metadata__") == 0)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "safetensors writer: invalid tensor name \"%s\"", name ? name : "(null)");
    if ((unsigned)dtype >= RF_FILE_COUNT)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "safetensors writer: tensor \"%s\": invalid dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > RF_TENSOR_MAX_DIMS)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "safetensors writer: tensor \"%s\": %d dimensions (at most %d)", name, ndim,
                        RF_TENSOR_MAX_DIMS);
    int64_t numel = rf_shape_numel(ndim, shape);
    if (numel < 0 || (uint64_t)numel > UINT64_MAX / rf_file_dtype_size(dtype))
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "safetensors writer: tensor \"%s\": invalid shape", name);
    if (numel > 0 && !data)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "safetensors writer: tensor \"%s\": no data", name);
    for (int i = 0; i < w->count; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "safetensors writer: duplicate tensor name \"%s\"", name);
    if (w->count == w->capacity) {
        int cap = w->capacity ? 2 * w->capacity : 64;
        writer_tensor *t = realloc(w->tensors, (size_t)cap * sizeof *t);
        if (!t) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        w->tensors = t;
        w->capacity = cap;
    }
    writer_tensor *t = &w->tensors[w->count];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->nbytes = (uint64_t)numel * rf_file_dtype_size(dtype);
    t->data = data;
    w->count++;
    return RF_OK;
}

rf_status rf_safetensors_writer_set_metadata(rf_safetensors_writer *w, const char *key, const char *value) {
    if (!key || !value) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "safetensors writer: NULL metadata key or value");
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    return metadata_put(&w->metadata, k, v, true);
}

/* Largest element first keeps every tensor aligned to its element size
 * (the buffer starts 8-aligned and each earlier span is a multiple of the
 * later, smaller sizes); equal sizes keep the order added. */
static int compare_layout(const void *a, const void *b, const rf_safetensors_writer *w) {
    int x = *(const int *)a, y = *(const int *)b;
    size_t sx = rf_file_dtype_size(w->tensors[x].dtype), sy = rf_file_dtype_size(w->tensors[y].dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return (x > y) - (x < y);
}

static void layout_order(const rf_safetensors_writer *w, int *order) {
    for (int i = 0; i < w->count; i++) order[i] = i;
    /* Insertion sort: a checkpoint has hundreds of tensors, and it avoids
     * a comparator that needs the writer as context. */
    for (int i = 1; i < w->count; i++) {
        int v = order[i], j = i - 1;
        while (j >= 0 && compare_layout(&order[j], &v, w) > 0) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
}

/* Builds the JSON header, padded with spaces to a multiple of 8 bytes. */
static rf_status build_header(const rf_safetensors_writer *w, const int *order, char **json, size_t *length) {
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "safetensors writer: cannot build the header");
    rf_json_writer jw;
    rf_json_init(&jw, f, false);
    rf_json_begin_object(&jw);
    if (w->metadata.count) {
        rf_json_key(&jw, "__metadata__");
        rf_json_begin_object(&jw);
        for (int i = 0; i < w->metadata.count; i++) {
            rf_json_key(&jw, w->metadata.keys[i]);
            rf_json_string(&jw, w->metadata.values[i]);
        }
        rf_json_end_object(&jw);
    }
    uint64_t offset = 0;
    for (int k = 0; k < w->count; k++) {
        const writer_tensor *t = &w->tensors[order[k]];
        rf_json_key(&jw, t->name);
        rf_json_begin_object(&jw);
        rf_json_key(&jw, "dtype");
        rf_json_string(&jw, rf_file_dtype_name(t->dtype));
        rf_json_key(&jw, "shape");
        rf_json_begin_array(&jw);
        for (int d = 0; d < t->ndim; d++) rf_json_int(&jw, t->shape[d]);
        rf_json_end_array(&jw);
        rf_json_key(&jw, "data_offsets");
        rf_json_begin_array(&jw);
        rf_json_uint(&jw, offset);
        rf_json_uint(&jw, offset + t->nbytes);
        rf_json_end_array(&jw);
        rf_json_end_object(&jw);
        offset += t->nbytes;
    }
    rf_json_end_object(&jw);
    while ((ftell(f) % 8) != 0) fputc(' ', f);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "safetensors writer: cannot build the header");
    }
    *json = buf;
    *length = size;
    return RF_OK;
}

rf_status rf_safetensors_writer_save(const rf_safetensors_writer *w, const char *path) {
    int *order = malloc((size_t)(w->count ? w->count : 1) * sizeof *order);
    if (!order) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    layout_order(w, order);
    char *json = NULL;
    size_t json_length = 0;
    rf_status s = build_header(w, order, &json, &json_length);
    rf_atomic_file af;
    if (s == RF_OK) s = rf_atomic_file_open(&af, path);
    if (s == RF_OK) {
        uint8_t length_le[8];
        for (int i = 0; i < 8; i++) length_le[i] = (uint8_t)((uint64_t)json_length >> (8 * i));
        fwrite(length_le, 1, 8, af.f);
        fwrite(json, 1, json_length, af.f);
        for (int k = 0; k < w->count; k++) {
            const writer_tensor *t = &w->tensors[order[k]];
            if (t->nbytes) fwrite(t->data, 1, (size_t)t->nbytes, af.f);
        }
        s = rf_atomic_file_commit(&af); /* checks every earlier write through ferror */
    }
    free(json);
    free(order);
    return s;
}
