/* run_config.h — the run directory as the run: its configuration
 * (run.json), which directories hold a run, and the clean-ups that make a
 * directory killed at any moment resumable.
 *
 * run.json holds every option that changes the result (data path, model,
 * weights, schedule, seed, ...), the options that may change when resuming
 * (device as the user gave it, epochs, max_steps, threads), the image
 * count of each split, so a resume notices a dataset that changed, and the
 * number of devices. It is
 * written atomically when the run starts and rewritten when a resume
 * changes one of the options that may change. */
#ifndef RFDETR_TRAIN_RUN_CONFIG_H
#define RFDETR_TRAIN_RUN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "rfdetr.h"

#define RF_RUN_CONFIG_FILE "run.json"
#define RF_RUN_STATE_FILE "training_state.safetensors"

/* split_images: train, valid, test image counts; -1 for a split the
 * dataset does not have. devices: the replicas the run trains on, over
 * every rank (each step takes grad-accum x devices micro-batches, so a
 * resume needs as many); a run.json without it (written before several
 * devices existed) loads as 1. */
rf_status rf_run_config_save(const rf_train_config *cfg, const int64_t split_images[3], int devices, const char *dir);
rf_status rf_run_config_load(const char *dir, rf_train_run *run, int64_t split_images[3], int *devices);

/* Compares a resume's configuration with the saved one. A difference in a
 * field that changes the result: RF_ERR_INVALID_ARGUMENT naming the option
 * and both values. Differences in the fields that may change are listed in
 * `changes` (one line each, "" when none) for the caller to log. */
rf_status rf_run_config_check(const rf_train_config *cfg, const rf_train_run *saved, const char *dir, char *changes,
                              size_t size);
/* The dataset's split sizes against the saved ones: a changed dataset
 * cannot continue the run exactly (RF_ERR_INVALID_ARGUMENT). */
rf_status rf_run_config_check_splits(const int64_t split_images[3], const int64_t saved_split_images[3],
                                     const char *dir);

/* The absolute path of a dataset or weights argument as run.json records
 * it ("shapes" and paths that do not resolve stay as given). */
void rf_run_config_normalize_path(const char *path, char *out, size_t size);

/* True when dir holds a run: run.json, a training state, a checkpoint or
 * log.jsonl (runs written before run.json existed count too). */
bool rf_run_dir_holds_run(const char *dir);
/* Removes the temporary files an interrupted atomic write leaves
 * (<file>.tmp.<pid> beside each of the run's files). */
rf_status rf_run_dir_remove_temporaries(const char *dir);
/* Removes every file of the run in dir (for overwrite, and for a failed
 * first start); other files are left alone. */
rf_status rf_run_dir_remove_run(const char *dir);

#endif
