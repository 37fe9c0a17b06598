/* json_writer.h — a small streaming JSON writer: correct escaping, doubles
 * at full precision (%.17g round-trips), NaN/Inf written as null (JSON has no
 * spelling for them). Used for --json outputs, log.jsonl and results.json. */
#ifndef RFDETR_JSON_WRITER_H
#define RFDETR_JSON_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define RF_JSON_MAX_DEPTH 32

typedef struct rf_json_writer {
    FILE *out;
    int depth;
    bool first[RF_JSON_MAX_DEPTH]; /* no element written yet at this depth */
    bool pretty;
    bool after_key;
} rf_json_writer;

void rf_json_init(rf_json_writer *w, FILE *out, bool pretty);
void rf_json_begin_object(rf_json_writer *w);
void rf_json_end_object(rf_json_writer *w);
void rf_json_begin_array(rf_json_writer *w);
void rf_json_end_array(rf_json_writer *w);
void rf_json_key(rf_json_writer *w, const char *key);
void rf_json_string(rf_json_writer *w, const char *s);
void rf_json_int(rf_json_writer *w, int64_t v);
void rf_json_uint(rf_json_writer *w, uint64_t v);
void rf_json_double(rf_json_writer *w, double v);
void rf_json_bool(rf_json_writer *w, bool v);
void rf_json_null(rf_json_writer *w);
/* Writes s as a JSON string literal (with quotes) to f. */
void rf_json_write_escaped(FILE *f, const char *s);

#endif
