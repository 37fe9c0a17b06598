/* train_state.h — everything a run needs to continue exactly: counters,
 * bests, early-stopping state, and the weights', optimizer's and EMA's
 * slabs, in one safetensors file written atomically
 * (training_state.safetensors). It is the run's commit point: written last
 * at the end of each epoch (and on Ctrl-C), and the only file a resume
 * takes training state from, so a kill between the epoch's other writes
 * never mixes two epochs. */
#ifndef RFDETR_TRAIN_STATE_H
#define RFDETR_TRAIN_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/optim.h"
#include "core/tensor.h"

typedef struct rf_train_state {
    int64_t epoch;            /* epochs completed */
    int64_t step;             /* optimizer steps taken */
    int64_t batches_done;     /* loader batches consumed in the current epoch (after an interruption) */
    int64_t epochs_evaluated;
    double best_regular, best_ema, best_total, best_for_patience;
    bool best_total_is_ema;
    double best_total_stats[12];
    int64_t epochs_without_improvement;
    /* Running sums of the current epoch (loss, ce, bbox, giou, grad norm) and
     * its step count, so an epoch resumed mid-way logs the same averages. */
    double epoch_sums[5];
    int64_t epoch_steps;
    int64_t epoch_skipped;     /* of those, skipped by the loss scaler (no grad norm in the sum) */
    rf_loss_scaler scaler;     /* fp16's loss scale (scale 1 in other precisions) */
} rf_train_state;

/* ema may be NULL (EMA off). */
rf_status rf_train_state_save(const rf_train_state *st, const rf_params *params, const rf_adamw *opt, const rf_ema *ema,
                              const char *path);
/* Restores the counters and the slabs (weights included); the parameter layout must be the
 * one the file was written for (same model), else RF_ERR_FORMAT. */
rf_status rf_train_state_load(rf_train_state *st, rf_params *params, rf_adamw *opt, rf_ema *ema, const char *path);

#endif
