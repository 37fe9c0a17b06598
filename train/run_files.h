/* run_files.h — the run directory's human-facing files: log.jsonl (one JSON
 * object per epoch, RF-DETR's log.txt names), results.json (per-class table
 * of the best model on valid, and on test at the end) and metrics_plot.png
 * (loss and mAP curves, redrawn every epoch). All written atomically; the
 * log is rewritten whole each epoch from the records kept in memory, so a
 * crash never leaves a torn line. */
#ifndef RFDETR_TRAIN_RUN_FILES_H
#define RFDETR_TRAIN_RUN_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include "eval/coco_eval.h"
#include "rfdetr.h"

typedef struct rf_run_epoch {
    int64_t epoch, step, n_parameters;
    double seconds, train_loss, loss_ce, loss_bbox, loss_giou, grad_norm, lr;
    double loss_scale;     /* fp16's at the epoch's end; 0: the run does not scale (not logged) */
    int64_t skipped_steps; /* in the epoch, by the loss scaler (grad_norm averages the others) */
    double stats[12];
    bool has_ema;
    double ema_stats[12];
} rf_run_epoch;

typedef struct rf_results_row {
    char name[128];
    int64_t category_id;
    double map, map50, precision, recall, f1;
} rf_results_row;

typedef struct rf_run_log {
    char *dir;
    rf_run_epoch *epochs;
    size_t count, cap;
    rf_results_row *rows[2]; /* valid, test */
    size_t row_count[2];
} rf_run_log;

/* resume: read the existing log.jsonl back, keeping the records of the
 * first keep_epochs epochs (the training state's) and rewriting the log
 * and plot without the rest; and results.json's tables. */
rf_status rf_run_log_open(rf_run_log *log, const char *dir, bool resume, int64_t keep_epochs);
rf_status rf_run_log_append(rf_run_log *log, const rf_run_epoch *epoch);
rf_status rf_run_write_results(rf_run_log *log, const rf_coco_eval_result *result, const char *split);
void rf_run_log_close(rf_run_log *log);

/* Draws loss and mAP curves of the records into a PNG. */
rf_status rf_run_write_plot(const rf_run_log *log, const char *path);

#endif
