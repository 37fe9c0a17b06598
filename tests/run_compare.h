/* run_compare.h — comparing two training run directories byte for byte,
 * for the tests that promise bit-for-bit equal runs. */
#ifndef RFDETR_TEST_RUN_COMPARE_H
#define RFDETR_TEST_RUN_COMPARE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"

/* dir/name in one of eight rotating buffers (so a call may hold several). */
static inline char *run_path_in(const char *dir, const char *name) {
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static inline bool run_same_file(const char *a, const char *b) {
    char *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    bool same = rf_read_file(a, &da, &la) == RF_OK && rf_read_file(b, &db, &lb) == RF_OK && la == lb && !memcmp(da, db, la);
    free(da);
    free(db);
    return same;
}

/* Drops the values of log.jsonl's wall-clock "epoch_time" fields from
 * text, in place: equal runs give equal text. */
static inline void run_drop_times(char *text) {
    char *w = text;
    for (char *r = text; *r;) {
        if (!strncmp(r, "\"epoch_time\":", 13)) {
            memcpy(w, r, 13);
            w += 13;
            r += 13;
            while (*r && *r != ',' && *r != '}') r++;
            continue;
        }
        *w++ = *r++;
    }
    *w = '\0';
}

/* dir's log.jsonl without them. Free the result. */
static inline char *run_log_without_times(const char *dir) {
    char *text = NULL;
    size_t n = 0;
    if (rf_read_file(run_path_in(dir, "log.jsonl"), &text, &n) != RF_OK) return NULL;
    run_drop_times(text);
    return text;
}

#endif
