/* trainer.h — `rfdetr train` as a library call: RF-DETR's training recipe on
 * the one device the caller names.
 *
 * Per optimizer step: grad_accum micro-batches from the prefetching loader,
 * each uploaded, run forward with every query group, scored by the
 * criterion (final, auxiliary and encoder heads) and differentiated; then
 * global-norm clipping, AdamW with RF-DETR's parameter groups and schedule,
 * and the EMA update. Per epoch: COCO evaluation of the regular and the EMA
 * model on `valid`, log.jsonl, results.json, metrics_plot.png, and the
 * checkpoints — checkpoint.safetensors and the training state every epoch,
 * checkpoint_best_{regular,ema,total}.safetensors whenever they improve (the
 * first epoch always does, so all exist after one epoch even at AP 0).
 * Every file is written atomically, the training state last: it carries the
 * weights too and is the epoch's commit point, so a run killed at any
 * moment resumes exactly (docs/train.md). The run directory is the run:
 * run.json holds its options (train/run_config.h), a resume must agree
 * with them. After the last epoch the test split, if any, is evaluated
 * with the best total model.
 *
 * The library prints nothing: progress reaches the caller through
 * `progress`. Nothing here reads the environment or selects a device other
 * than the one named. */
#ifndef RFDETR_TRAIN_TRAINER_H
#define RFDETR_TRAIN_TRAINER_H

#include "rfdetr.h" /* the configuration, progress and summary types are public */

struct rf_replicas;
/* rf_train with a function called twice per optimizer step with the run's
 * replicas (train/replicas.h), for tests that inspect them or inject
 * faults: once the step's gradients are complete, before the optimizer
 * uses them, and after the step. A non-OK return stops the run with that
 * status. */
typedef enum rf_train_hook_point { RF_TRAIN_HOOK_BEFORE_STEP, RF_TRAIN_HOOK_AFTER_STEP } rf_train_hook_point;
typedef rf_status (*rf_train_step_hook)(void *user, struct rf_replicas *replicas, rf_train_hook_point point);
rf_status rf_train_with_hook(const rf_train_config *cfg, rf_train_summary *summary, rf_train_step_hook hook,
                             void *hook_user);

#endif
