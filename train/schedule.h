/* schedule.h — RF-DETR's optimizer parameter groups and lr schedule (see
 * schedule.c for the rules and their sources). */
#ifndef RFDETR_TRAIN_SCHEDULE_H
#define RFDETR_TRAIN_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rf_group_rules {
    double lr, lr_encoder, lr_vit_layer_decay, lr_component_decay, weight_decay;
    int num_layers; /* last tapped backbone stage + 1 */
} rf_group_rules;

typedef struct rf_param_group {
    double lr, weight_decay;
} rf_param_group;

rf_param_group rf_param_group_for(const char *name, const rf_group_rules *rules);

typedef struct rf_schedule {
    int64_t warmup_steps, total_steps, steps_per_epoch;
    bool cosine;
    int lr_drop;
    double min_factor;
} rf_schedule;

/* The factor every group's lr is multiplied by at optimizer step `step`. */
double rf_lr_factor(const rf_schedule *s, int64_t step);

#endif
