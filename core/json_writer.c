#include "core/json_writer.h"

#include <inttypes.h>
#include <math.h>

void rf_json_init(rf_json_writer *w, FILE *out, bool pretty) {
    w->out = out;
    w->depth = 0;
    w->first[0] = true;
    w->pretty = pretty;
    w->after_key = false;
}

static void indent(rf_json_writer *w) {
    if (!w->pretty) return;
    fputc('\n', w->out);
    for (int i = 0; i < w->depth; i++) fputs("  ", w->out);
}

/* Separator and indentation before a value or key at the current depth. */
static void before_item(rf_json_writer *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (!w->first[w->depth]) fputc(',', w->out);
        indent(w);
    }
    w->first[w->depth] = false;
}

static void open_scope(rf_json_writer *w, char c) {
    before_item(w);
    fputc(c, w->out);
    if (w->depth + 1 < RF_JSON_MAX_DEPTH) w->depth++;
    w->first[w->depth] = true;
}

static void close_scope(rf_json_writer *w, char c) {
    bool empty = w->first[w->depth];
    if (w->depth > 0) w->depth--;
    if (!empty) indent(w);
    fputc(c, w->out);
}

void rf_json_begin_object(rf_json_writer *w) { open_scope(w, '{'); }
void rf_json_end_object(rf_json_writer *w) { close_scope(w, '}'); }
void rf_json_begin_array(rf_json_writer *w) { open_scope(w, '['); }
void rf_json_end_array(rf_json_writer *w) { close_scope(w, ']'); }

void rf_json_write_escaped(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f); /* UTF-8 passes through unchanged */
        }
    }
    fputc('"', f);
}

void rf_json_key(rf_json_writer *w, const char *key) {
    before_item(w);
    rf_json_write_escaped(w->out, key);
    fputs(w->pretty ? ": " : ":", w->out);
    w->after_key = true;
}

void rf_json_string(rf_json_writer *w, const char *s) {
    before_item(w);
    rf_json_write_escaped(w->out, s);
}

void rf_json_int(rf_json_writer *w, int64_t v) {
    before_item(w);
    fprintf(w->out, "%" PRId64, v);
}

void rf_json_uint(rf_json_writer *w, uint64_t v) {
    before_item(w);
    fprintf(w->out, "%" PRIu64, v);
}

void rf_json_double(rf_json_writer *w, double v) {
    before_item(w);
    if (!isfinite(v))
        fputs("null", w->out);
    else
        fprintf(w->out, "%.17g", v);
}

void rf_json_bool(rf_json_writer *w, bool v) {
    before_item(w);
    fputs(v ? "true" : "false", w->out);
}

void rf_json_null(rf_json_writer *w) {
    before_item(w);
    fputs("null", w->out);
}
