/* run_files.c — see run_files.h. */
#include "train/run_files.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "backend/status.h"
#include "core/fileio.h"
#include "core/json_writer.h"

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Reads back one line of our own log.jsonl: only the fields the plot and
 * the rewrite need; the line itself is kept verbatim by the rewrite. */
static double field(const char *line, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *p = strstr(line, pattern);
    if (!p) return NAN;
    p += strlen(pattern);
    while (*p == ' ') p++;
    if (!strncmp(p, "null", 4)) return NAN;
    return strtod(p, NULL);
}

static bool array_field(const char *line, const char *key, double out[12]) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *p = strstr(line, pattern);
    if (!p) return false;
    p = strchr(p, '[');
    if (!p) return false;
    p++;
    for (int i = 0; i < 12; i++) {
        while (*p == ' ' || *p == ',') p++;
        char *end = NULL;
        out[i] = !strncmp(p, "null", 4) ? NAN : strtod(p, &end);
        p = !strncmp(p, "null", 4) ? p + 4 : end;
        if (!p) return false;
    }
    return true;
}

static rf_status write_log(const rf_run_log *log);

static rf_status grow(rf_run_log *log) {
    if (log->count < log->cap) return RF_OK;
    size_t cap = log->cap ? log->cap * 2 : 32;
    rf_run_epoch *e = realloc(log->epochs, cap * sizeof *e);
    if (!e) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    log->epochs = e;
    log->cap = cap;
    return RF_OK;
}

static double json_number(yajl_val object, const char *key) {
    const char *keys[] = {key, NULL};
    yajl_val v = yajl_tree_get(object, keys, yajl_t_any);
    return YAJL_IS_NUMBER(v) ? strtod(v->u.number.r, NULL) : NAN;
}

/* The per-class tables of results.json, so a resumed run that finds no
 * better model still writes the valid table it had. A missing or foreign
 * file restores nothing. */
static void read_results(rf_run_log *log) {
    char *path = join(log->dir, "results.json"), *text = NULL;
    size_t length = 0;
    if (!path || rf_read_file(path, &text, &length) != RF_OK) {
        free(path);
        return;
    }
    free(path);
    yajl_val root = yajl_tree_parse(text, NULL, 0);
    free(text);
    const char *names[2] = {"valid", "test"};
    for (int k = 0; k < 2 && root; k++) {
        const char *keys[] = {"class_map", names[k], NULL};
        yajl_val rows = yajl_tree_get(root, keys, yajl_t_array);
        if (!rows || !rows->u.array.len) continue;
        size_t n = rows->u.array.len;
        rf_results_row *out = calloc(n, sizeof *out);
        if (!out) break;
        for (size_t i = 0; i < n; i++) {
            yajl_val row = rows->u.array.values[i];
            const char *class_key[] = {"class", NULL};
            yajl_val name = yajl_tree_get(row, class_key, yajl_t_string);
            snprintf(out[i].name, sizeof out[i].name, "%s", name ? YAJL_GET_STRING(name) : "");
            double id = json_number(row, "category_id");
            out[i].category_id = isnan(id) ? -1 : (int64_t)id;
            out[i].map = json_number(row, "map@50:95");
            out[i].map50 = json_number(row, "map@50");
            out[i].precision = json_number(row, "precision");
            out[i].recall = json_number(row, "recall");
            out[i].f1 = json_number(row, "f1");
        }
        free(log->rows[k]);
        log->rows[k] = out;
        log->row_count[k] = n;
    }
    yajl_tree_free(root);
}

rf_status rf_run_log_open(rf_run_log *log, const char *dir, bool resume, int64_t keep_epochs) {
    memset(log, 0, sizeof *log);
    log->dir = strdup(dir);
    if (!log->dir) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    if (!resume) return RF_OK;
    read_results(log);
    char *path = join(dir, "log.jsonl"), *text = NULL;
    size_t length = 0;
    rf_status s = path ? rf_read_file(path, &text, &length) : RF_ERR_OUT_OF_MEMORY;
    free(path);
    if (s != RF_OK) return RF_OK; /* no log yet: an interrupted first epoch */
    bool dropped = false;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (grow(log) != RF_OK) break;
        rf_run_epoch *e = &log->epochs[log->count];
        memset(e, 0, sizeof *e);
        e->epoch = (int64_t)field(line, "epoch");
        /* Epochs past the training state's were written by a run killed
         * before its state: they are about to be trained again. */
        if (!(e->epoch >= 0 && e->epoch < keep_epochs)) {
            dropped = true;
            continue;
        }
        e->step = (int64_t)field(line, "step");
        e->n_parameters = (int64_t)field(line, "n_parameters");
        e->seconds = field(line, "epoch_time");
        e->train_loss = field(line, "train_loss");
        e->loss_ce = field(line, "train_loss_ce");
        e->loss_bbox = field(line, "train_loss_bbox");
        e->loss_giou = field(line, "train_loss_giou");
        e->grad_norm = field(line, "train_grad_norm");
        e->lr = field(line, "train_lr");
        double scale = field(line, "train_loss_scale"), skipped = field(line, "train_skipped_steps");
        e->loss_scale = isnan(scale) ? 0 : scale;
        e->skipped_steps = isnan(skipped) ? 0 : (int64_t)skipped;
        array_field(line, "test_coco_eval_bbox", e->stats);
        e->has_ema = array_field(line, "ema_test_coco_eval_bbox", e->ema_stats);
        log->count++;
    }
    free(text);
    if (!dropped) return RF_OK;
    RF_TRY(write_log(log));
    char *plot = join(log->dir, "metrics_plot.png");
    if (!plot) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    s = rf_run_write_plot(log, plot);
    free(plot);
    return s;
}

static void write_stats(rf_json_writer *w, const char *key, const double *stats) {
    rf_json_key(w, key);
    rf_json_begin_array(w);
    for (int i = 0; i < 12; i++) rf_json_double(w, stats[i]);
    rf_json_end_array(w);
}

static rf_status write_log(const rf_run_log *log) {
    char *path = join(log->dir, "log.jsonl");
    if (!path) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    rf_atomic_file af;
    rf_status s = rf_atomic_file_open(&af, path);
    free(path);
    RF_TRY(s);
    for (size_t i = 0; i < log->count; i++) {
        const rf_run_epoch *e = &log->epochs[i];
        rf_json_writer w;
        rf_json_init(&w, af.f, false);
        rf_json_begin_object(&w);
        rf_json_key(&w, "epoch"), rf_json_int(&w, e->epoch);
        rf_json_key(&w, "step"), rf_json_int(&w, e->step);
        rf_json_key(&w, "train_lr"), rf_json_double(&w, e->lr);
        rf_json_key(&w, "train_loss"), rf_json_double(&w, e->train_loss);
        rf_json_key(&w, "train_loss_ce"), rf_json_double(&w, e->loss_ce);
        rf_json_key(&w, "train_loss_bbox"), rf_json_double(&w, e->loss_bbox);
        rf_json_key(&w, "train_loss_giou"), rf_json_double(&w, e->loss_giou);
        rf_json_key(&w, "train_grad_norm"), rf_json_double(&w, e->grad_norm);
        if (e->loss_scale > 0) {
            rf_json_key(&w, "train_loss_scale"), rf_json_double(&w, e->loss_scale);
            rf_json_key(&w, "train_skipped_steps"), rf_json_int(&w, e->skipped_steps);
        }
        write_stats(&w, "test_coco_eval_bbox", e->stats);
        if (e->has_ema) write_stats(&w, "ema_test_coco_eval_bbox", e->ema_stats);
        rf_json_key(&w, "epoch_time"), rf_json_double(&w, e->seconds);
        rf_json_key(&w, "n_parameters"), rf_json_int(&w, e->n_parameters);
        rf_json_end_object(&w);
        fputc('\n', af.f);
    }
    return rf_atomic_file_commit(&af);
}

rf_status rf_run_log_append(rf_run_log *log, const rf_run_epoch *epoch) {
    RF_TRY(grow(log));
    log->epochs[log->count++] = *epoch;
    RF_TRY(write_log(log));
    char *plot = join(log->dir, "metrics_plot.png");
    if (!plot) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    rf_status s = rf_run_write_plot(log, plot);
    free(plot);
    return s;
}

static void write_rows(rf_json_writer *w, const rf_results_row *rows, size_t n) {
    rf_json_begin_array(w);
    for (size_t i = 0; i < n; i++) {
        rf_json_begin_object(w);
        rf_json_key(w, "class"), rf_json_string(w, rows[i].name);
        if (rows[i].category_id >= 0) rf_json_key(w, "category_id"), rf_json_int(w, rows[i].category_id);
        rf_json_key(w, "map@50:95"), rf_json_double(w, rows[i].map);
        rf_json_key(w, "map@50"), rf_json_double(w, rows[i].map50);
        rf_json_key(w, "precision"), rf_json_double(w, rows[i].precision);
        rf_json_key(w, "recall"), rf_json_double(w, rows[i].recall);
        rf_json_key(w, "f1"), rf_json_double(w, rows[i].f1);
        rf_json_end_object(w);
    }
    rf_json_end_array(w);
}

rf_status rf_run_write_results(rf_run_log *log, const rf_coco_eval_result *r, const char *split) {
    int k = strcmp(split, "test") == 0;
    rf_results_row *rows = calloc(r->class_count + 1, sizeof *rows);
    if (!rows) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    /* "all" first, as RF-DETR's results.json: the summary AP and the
     * macro precision / recall / F1 at the best confidence. */
    snprintf(rows[0].name, sizeof rows[0].name, "all");
    rows[0].category_id = -1;
    rows[0].map = r->stats[0];
    rows[0].map50 = r->stats[1];
    rows[0].precision = r->precision;
    rows[0].recall = r->recall;
    rows[0].f1 = r->f1;
    for (size_t i = 0; i < r->class_count; i++) {
        const rf_coco_class_result *c = &r->classes[i];
        rf_results_row *row = &rows[i + 1];
        snprintf(row->name, sizeof row->name, "%s", c->name ? c->name : "");
        row->category_id = c->category_id;
        row->map = c->ap;
        row->map50 = c->ap50;
        row->precision = c->precision;
        row->recall = c->recall;
        row->f1 = c->f1;
    }
    free(log->rows[k]);
    log->rows[k] = rows;
    log->row_count[k] = r->class_count + 1;

    char *path = join(log->dir, "results.json");
    if (!path) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    rf_atomic_file af;
    rf_status s = rf_atomic_file_open(&af, path);
    free(path);
    RF_TRY(s);
    rf_json_writer w;
    rf_json_init(&w, af.f, true);
    rf_json_begin_object(&w);
    rf_json_key(&w, "class_map");
    rf_json_begin_object(&w);
    const char *names[2] = {"valid", "test"};
    for (int i = 0; i < 2; i++)
        if (log->rows[i]) {
            rf_json_key(&w, names[i]);
            write_rows(&w, log->rows[i], log->row_count[i]);
        }
    rf_json_end_object(&w);
    rf_json_end_object(&w);
    fputc('\n', af.f);
    return rf_atomic_file_commit(&af);
}

void rf_run_log_close(rf_run_log *log) {
    free(log->dir);
    free(log->epochs);
    free(log->rows[0]);
    free(log->rows[1]);
    memset(log, 0, sizeof *log);
}
