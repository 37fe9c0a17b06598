/* replicas.h — data-parallel training: one model replica per device, each
 * driven by its own host thread, over one or several processes (comm.h).
 *
 * The contract is bitwise: a run on D devices (over any number of ranks)
 * with micro-batches of B images and K micro-batches per step equals one
 * device with K x D micro-batches per step. What makes it hold:
 *   - micro-batch j of a step goes to replica j % D (replicas numbered
 *     rank by rank, in each rank's --device order); all of a step's
 *     micro-batches share the step's box count (RF-DETR's normaliser);
 *   - whenever a step has more than one micro-batch — on one device with
 *     grad-accum too — each micro-batch's gradient is computed from zero,
 *     downloaded, and the gradients are summed on the host in j order
 *     (((g0 + g1) + g2) + ...), then uploaded to every replica: the same
 *     float additions in the same order whichever device or rank computed
 *     each term. Across ranks each rank sums one slice of the elements
 *     (a personalised exchange) and the slices are gathered back;
 *   - every replica then applies the same AdamW step and EMA update to
 *     the same weights. When the replicas run different kernels (mixed
 *     backends or device models, which round differently) replica 0 alone
 *     steps and its weights and EMA are copied to the others instead, so
 *     replicas never drift;
 *   - evaluation: batch i of the split goes to replica i % D, and the
 *     detections are added to the one COCO evaluation in batch order.
 * Every wait is bounded by the timeout: a device or rank that fails or
 * hangs stops the run with a message naming it and the step. */
#ifndef RFDETR_TRAIN_REPLICAS_H
#define RFDETR_TRAIN_REPLICAS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/optim.h"
#include "core/tensor.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "eval/coco_eval.h"
#include "model/model.h"
#include "train/comm.h"
#include "train/evaluate.h"

#define RF_MAX_LOCAL_DEVICES 16

/* Splits a device list ("opencl:0,opencl:1") into canonical names, each
 * checked as strictly as one --device name; a device named twice (also as
 * "cpu" and "cpu:0") is refused. With MPI the list may hold one group per
 * rank of a machine, separated by '/' ("cuda:0/cuda:1": the machine's first
 * rank takes cuda:0, its second cuda:1); local_rank / local_size pick the
 * group (one group: every rank takes it). */
rf_status rf_device_list_parse(const char *list, int local_rank, int local_size, char names[][32], int max,
                               int *count);

typedef struct rf_replica {
    int local, global;     /* index in this process, in the whole run */
    rf_device *dev;
    rfdetr_model *model;
    rf_adamw *opt;
    rf_ema *ema;
    rf_ctx *ctx;           /* forward / backward, reset every micro-batch */
    rf_ctx *stage;         /* the images of one step */
    float *grads;          /* host copy of its latest micro-batch gradient */
    double busy_seconds, waited_seconds; /* in jobs, and waiting for the others, since the last report */
    /* the current job */
    rf_status status;
    char error[1024];
    struct rf_replicas *group;
} rf_replica;

typedef struct rf_replicas rf_replicas;

/* The work done on one replica (on its own thread); a failure's message is
 * carried back to the caller with the device's name. */
typedef rf_status (*rf_replica_job)(rf_replica *r, void *arg);

/* Replica 0 is the caller's (device, model, optimizer, EMA: already built,
 * restored when resuming); the others are opened on the rest of `names`
 * and made by `setup`, which must build a model on r->dev and its
 * optimizer and EMA the way replica 0's were. Then every replica in every
 * rank takes global replica 0's weights, optimizer moments and EMA. comm
 * (NULL: one process) must outlive the group. */
rf_status rf_replicas_create(char names[][32], int count, const rf_device_options *options, rf_replica *first,
                             rf_replica_job setup, void *setup_arg, rf_comm *comm, double timeout_seconds,
                             rf_replicas **out);
/* Changes the bound of every later wait for a device or rank (the run
 * starts with a longer one while drivers compile their kernels). */
void rf_replicas_set_timeout(rf_replicas *g, double timeout_seconds);
/* Joins the threads and frees replicas 1.., not replica 0's objects; true
 * when done. False when a device hung: its thread is left running and
 * nothing is freed (nor may the caller free replica 0's objects). */
bool rf_replicas_free(rf_replicas *g);

int rf_replicas_count(const rf_replicas *g);         /* in this process */
int rf_replicas_global_count(const rf_replicas *g);  /* in the run */
/* A loader decodes only this process's batches (batch i belongs to global
 * replica i % D) when the run spans several processes. */
void rf_replicas_shard_loader(const rf_replicas *g, rf_loader_config *lc);
rf_replica *rf_replicas_at(rf_replicas *g, int local);
/* The local replica that is global replica `global`, or NULL. */
rf_replica *rf_replicas_owner(rf_replicas *g, int global);
/* True where this process writes the run (rank 0). */
bool rf_replicas_writer(const rf_replicas *g);
/* "opencl:0, opencl:1 on rank 1, ..." for the start message. */
const char *rf_replicas_describe(const rf_replicas *g, char *buf, size_t size);

/* Runs job on every local replica whose global index is below
 * active_global, each on its own thread, and waits (bounded): the first
 * failure is returned as "device NAME (replica i[, rank r]) at step S:
 * message". */
rf_status rf_replicas_run(rf_replicas *g, rf_replica_job job, void *arg, int active_global, int64_t step);

/* ---- one optimizer step ---------------------------------------------------------- */
/* Before a micro-batch of a step that sums gradients: zero the replica's. */
rf_status rf_replica_begin_micro_batch(rf_replica *r, bool summing);
/* After it: download the gradient for the sum. */
rf_status rf_replica_end_micro_batch(rf_replica *r, bool summing);
/* Adds round `round`'s micro-batch gradients (global replicas
 * 0..active_global-1, micro-batches round*D + g) to the running sum, in
 * order; the first round starts the sum. */
rf_status rf_replicas_sum_round(rf_replicas *g, int round, int active_global, int64_t step);
/* Gives every replica the summed gradient. */
rf_status rf_replicas_share_sum(rf_replicas *g, int64_t step);
/* Clipping, AdamW with lr_factor, zeroed gradients, EMA update on every
 * replica (or on replica 0 and copied); *grad_norm: before clipping. The
 * gradients carry loss_scale (rf_adamw_step_clipped): with one other than
 * 1, a non-finite norm skips the step on every replica (*skipped). */
rf_status rf_replicas_step(rf_replicas *g, float lr_factor, double clip_max_norm, double loss_scale, int64_t step,
                           double *grad_norm, bool *skipped);
/* Every rank gets every other's per-micro-batch numbers: values[j * width ..]
 * for micro-batch j (count of them) is filled on entry by the rank owning
 * j's replica, and everywhere on return. */
rf_status rf_replicas_share_values(rf_replicas *g, double *values, int count, int width, int64_t step);
/* Integer sums over the ranks (box counts, stop flags). */
rf_status rf_replicas_sum_i64(rf_replicas *g, int64_t *values, int count, int64_t step);
/* Swaps every replica's EMA weights in or out (rf_ema_swap). */
rf_status rf_replicas_swap_ema(rf_replicas *g);

/* ---- evaluation --------------------------------------------------------------------- */
/* COCO evaluation of the replicas' models on a split, batches spread over
 * the replicas (and ranks), detections merged in batch order: the numbers
 * of rf_evaluate_model on one device. progress (may be NULL): after each
 * round of batches, with the images of every rank done so far. step: the
 * steps taken (messages). */
rf_status rf_replicas_evaluate(rf_replicas *g, const rf_dataset *ds, rf_split split, int batch, int threads,
                               const int max_dets[3], rf_evaluate_progress_fn progress, void *progress_user,
                               int64_t step, rf_coco_eval_result **result);

/* Compares every local replica's weights and EMA with replica 0's, byte for
 * byte: *differing gets how many replicas differ (0: none). For tests. */
rf_status rf_replicas_compare(rf_replicas *g, int *differing);
/* True when the replicas run different kernels, so replica 0 alone steps
 * and the others copy its weights. */
bool rf_replicas_copy_mode(const rf_replicas *g);

/* Seconds spent summing and sharing gradients (and copying weights in
 * copy mode) since the last wait report. */
double rf_replicas_exchange_seconds(const rf_replicas *g);

/* "opencl:0 waited 1.2 s, opencl:1 0.1 s; exchanges 0.4 s" since the last
 * call (counters restart); "" for one device in one process. */
const char *rf_replicas_wait_report(rf_replicas *g, char *buf, size_t size);

#endif
