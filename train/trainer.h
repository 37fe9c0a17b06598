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
 * Every file is written atomically. After the last epoch the test split, if
 * any, is evaluated with the best total model.
 *
 * The library prints nothing: progress reaches the caller through
 * `progress`. Nothing here reads the environment or selects a device other
 * than the one named. */
#ifndef RFDETR_TRAIN_TRAINER_H
#define RFDETR_TRAIN_TRAINER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "rfdetr.h"

#define RF_TRAIN_STATS 12

typedef enum rf_train_event {
    RF_TRAIN_STARTED = 0, /* message: what is being trained where */
    RF_TRAIN_STEP,        /* after each optimizer step */
    RF_TRAIN_EVALUATING,  /* before an evaluation pass (message names it) */
    RF_TRAIN_EPOCH_DONE,  /* stats / ema_stats filled */
    RF_TRAIN_MESSAGE,     /* a notice (message), e.g. a checkpoint written */
} rf_train_event;

typedef struct rf_train_progress {
    rf_train_event event;
    int64_t epoch, epochs;          /* 0-based epoch, total epochs */
    int64_t step_in_epoch, steps_per_epoch;
    int64_t global_step, total_steps;
    double loss, lr, grad_norm;
    double images_per_second, eta_seconds;
    const double *stats, *ema_stats; /* 12 COCO stats each (EPOCH_DONE) */
    const char *message;
} rf_train_progress;

typedef void (*rf_train_progress_fn)(void *user, const rf_train_progress *p);

typedef struct rf_train_config {
    const char *data;          /* "shapes" (built-in, generated on first use) or a dataset directory */
    const char *size;          /* tiny, nano, small, medium, base */
    const char *device;        /* canonical device name: cpu, opencl:N, cuda:N */
    const char *out_dir;       /* run directory, created if needed */
    const char *weights;       /* optional: start from these weights (.pth / .safetensors) */
    bool resume;               /* continue the run in out_dir from its training state */
    int epochs, batch, grad_accum;
    int resolution;            /* 0: the size's own */
    bool multi_scale;          /* RF-DETR's square multi-scale sizes per batch */
    double lr, lr_encoder, lr_vit_layer_decay, lr_component_decay, weight_decay;
    int64_t warmup_steps;      /* linear warm-up in optimizer steps */
    bool cosine;               /* cosine to min_factor (else RF-DETR's step: x0.1 after lr_drop epochs) */
    int lr_drop;
    double min_factor;
    double clip_max_norm;      /* global L2 norm; 0 disables */
    bool ema;
    double ema_decay, ema_tau;
    uint64_t seed;
    int patience;              /* early stopping epochs without improvement; 0 disables */
    double min_delta;
    int64_t max_steps;         /* stop after this many optimizer steps (0: no cap) */
    int threads;               /* loader threads */
    int eval_batch;
    uint64_t device_memory_limit; /* bytes of device memory the run may hold; 0: the device's own limits */
    const volatile sig_atomic_t *stop; /* set by a SIGINT handler: stop at a safe point */
    rf_train_progress_fn progress;
    void *progress_user;
} rf_train_config;

/* RF-DETR's defaults (lr 1e-4, encoder 1.5e-4, layer decay 0.8, component
 * decay 0.7, weight decay 1e-4, clip 0.1, EMA 0.993 / tau 100, step schedule
 * dropping at epoch 100) for the tiny model on the built-in shapes dataset:
 * the recipe issue 7 states (batch 8, lr 4e-4, 100 warm-up steps). */
void rf_train_config_defaults(rf_train_config *cfg);

typedef struct rf_train_summary {
    int64_t epochs_run, steps;
    double best_regular_map, best_ema_map;   /* AP@[.50:.95] of the bests */
    double best_regular_map50, best_ema_map50;
    double best_total_stats[RF_TRAIN_STATS]; /* of the best total model on valid */
    bool best_total_is_ema;
    bool has_test;
    double test_stats[RF_TRAIN_STATS];       /* best total on the test split */
    bool stopped_early, interrupted;
    double seconds;
} rf_train_summary;

rf_status rf_train(const rf_train_config *cfg, rf_train_summary *summary);

#endif
