/* trainer.c — see trainer.h. */
#include "train/trainer.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/profile.h"
#include "backend/status.h"
#include "core/fileio.h"
#include "core/ops.h"
#include "core/optim.h"
#include "data/augment.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "eval/coco_eval.h"
#include "model/criterion.h"
#include "model/model.h"
#include "train/comm.h"
#include "train/evaluate.h"
#include "train/replicas.h"
#include "train/run_config.h"
#include "train/run_files.h"
#include "train/schedule.h"
#include "train/train_state.h"

void rf_train_config_defaults(rf_train_config *c) {
    memset(c, 0, sizeof *c);
    c->data = "shapes";
    c->size = "tiny";
    c->device = "cpu";
    c->out_dir = NULL; /* the next free runs/train, runs/train2, ... */
    c->epochs = 10;
    c->batch = 8;
    c->grad_accum = 1;
    c->multi_scale = false;
    c->lr = 4e-4;
    c->lr_encoder = 6e-4;
    c->lr_vit_layer_decay = 0.8;
    c->lr_component_decay = 0.7;
    c->weight_decay = 1e-4;
    c->warmup_steps = 100;
    c->cosine = false;
    c->lr_drop = 100;
    c->min_factor = 0.0;
    c->clip_max_norm = 0.1;
    c->ema = true;
    c->ema_decay = 0.993;
    c->ema_tau = 100;
    c->seed = 42;
    c->threads = 2;
    c->eval_batch = 8;
    c->comm_timeout = 60;
}

/* Seconds any device or rank may keep the others waiting before the first
 * epoch is done (see rf_train_with_hook). */
#define WARMUP_TIMEOUT 900.0

/* ---- the trainer's state -------------------------------------------------------------- */

typedef struct trainer {
    const rf_train_config *cfg;
    rf_dataset *ds;
    /* Replica 0's: the one device of a single-device run, the first of a list. */
    rf_device *dev;
    rfdetr_model *model;
    rf_adamw *opt;
    rf_ema *ema;
    rf_ctx *ctx;   /* forward / backward, reset every micro-batch */
    rf_ctx *stage; /* the images of one optimizer step */
    rf_comm *comm;       /* the processes of the run (one without MPI) */
    rf_replicas *reps;   /* every device's replica (train/replicas.h) */
    bool writer;         /* this process writes the run directory (MPI rank 0) */
    bool multi_rank;
    bool stop_agreed;    /* some rank was asked to stop: every rank stops at this step */
    rf_train_step_hook hook;
    void *hook_user;
    rf_criterion_config crit;
    rf_schedule sched;
    rf_train_state st; /* what a checkpoint carries to resume */
    int sizes[RF_LOADER_MAX_SIZES], size_count;
    int64_t batches_per_epoch;
    char path[4200];
    char dir[4096];            /* the run directory (chosen here when the config names none) */
    char created_from[4096];   /* the topmost directory this call created ("": none) */
    bool started_here;         /* this call wrote run.json for a new run */
    bool has_state;            /* resuming from a training state (else from the start) */
    int64_t split_images[3];
    rf_run_log log;
    int64_t last_saved_epoch; /* epochs in the newest checkpoint.safetensors on disk (-1: none) */
    rf_step_profile steps;    /* --profile: device traffic per optimizer step */
    /* For the ETA, which includes the evaluations still to come. */
    const char *eval_pass;           /* "evaluating the regular model on valid", ... */
    double eval_seconds;             /* spent evaluating in this session */
    int64_t eval_images;             /* images evaluated in this session */
} trainer;

static void notify(const trainer *t, rf_train_event event, const char *message) {
    if (!t->cfg->progress) return;
    rf_train_progress p = {.event = event, .epoch = t->st.epoch, .epochs = t->cfg->epochs, .message = message,
                           .global_step = t->st.step};
    t->cfg->progress(t->cfg->progress_user, &p);
}

static const char *run_path(trainer *t, const char *name) {
    snprintf(t->path, sizeof t->path, "%s/%s", t->dir, name);
    return t->path;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- set-up ------------------------------------------------------------------------------ */

static rf_status open_data(trainer *t) {
    char dir[4096];
    int generated = 0;
    RF_TRY(rf_dataset_resolve_dir(t->cfg->data, dir, sizeof dir, &generated));
    if (generated) {
        char msg[4200];
        snprintf(msg, sizeof msg, "generated the built-in shapes dataset in %s (reused by later runs)", dir);
        notify(t, RF_TRAIN_MESSAGE, msg);
    }
    unsigned splits = RF_SPLIT_BIT(RF_SPLIT_TRAIN) | RF_SPLIT_BIT(RF_SPLIT_VALID);
    RF_TRY(rf_dataset_open(dir, splits, &t->ds));
    if (t->ds->splits[RF_SPLIT_TEST].present) {
        /* Reopen with the test split so its problems surface now, not after training. */
        rf_dataset_free(t->ds);
        t->ds = NULL;
        RF_TRY(rf_dataset_open(dir, splits | RF_SPLIT_BIT(RF_SPLIT_TEST), &t->ds));
    }
    return RF_OK;
}

/* The model as the run's configuration makes it. Its starting weights:
 * those named by the config, unless a training state will replace them. */
static rf_status build_model(trainer *t) {
    const rf_train_config *c = t->cfg;
    /* The dataset's checks refuse larger ids; this keeps the casts below exact. */
    if (t->ds->num_classes < 0 || t->ds->num_classes > RF_MAX_CLASSES)
        return RF_ERROR(RF_ERR_FORMAT, "%s: class ids up to %lld, above the %d classes a model may have",
                        c->data, (long long)t->ds->num_classes - 1, RF_MAX_CLASSES);
    rfdetr_config mc;
    RF_TRY(rfdetr_config_preset(c->size, &mc));
    if (c->resolution > 0) RF_TRY(rfdetr_config_set_resolution(&mc, c->resolution));
    mc.num_classes = (int)t->ds->num_classes;
    RF_TRY(rfdetr_model_create(t->dev, &mc, c->seed, &t->model));
    if (c->weights && !t->has_state) {
        rfdetr_load_report report;
        RF_TRY(rfdetr_model_load_weights(t->model, c->weights, &report));
        char msg[256];
        snprintf(msg, sizeof msg, "loaded %d tensors from %s (%d adapted to this model)", report.loaded, c->weights,
                 report.adapted);
        notify(t, RF_TRAIN_MESSAGE, msg);
    } else if (strcmp(mc.size, "tiny") != 0) {
        /* The official sizes are made to be fine-tuned from pretrained
         * weights; from random ones their loss climbs for hundreds of steps
         * and they need far longer than the recipe's epochs. */
        char msg[512];
        snprintf(msg, sizeof msg,
                 "warning: training %s from random weights, not fine-tuning: without pretrained weights it needs "
                 "far more data and epochs. rfdetr.c downloads nothing: fetch the official rf-detr-%s.pth (URL in "
                 "README.md, \"Fine-tuning\") and pass --weights rf-detr-%s.pth",
                 mc.size, mc.size, mc.size);
        notify(t, RF_TRAIN_MESSAGE, msg);
    }
    /* Class names by id travel with every checkpoint. */
    const rf_coco_dataset *train = t->ds->splits[RF_SPLIT_TRAIN].coco;
    if (train && train->category_count) {
        int count = (int)t->ds->num_classes;
        const char **names = calloc((size_t)count, sizeof *names);
        if (!names) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        for (size_t i = 0; i < train->category_count; i++)
            if (train->categories[i].id >= 0 && train->categories[i].id < count)
                names[train->categories[i].id] = train->categories[i].name;
        rf_status s = rfdetr_model_set_class_names(t->model, names, count);
        free(names);
        RF_TRY(s);
    }
    return RF_OK;
}

static rf_status build_optimizer_for(const rf_train_config *c, rfdetr_model *model, rf_adamw **opt, rf_ema **ema) {
    const rfdetr_config *mc = &model->cfg;
    rf_adamw_config ac = rf_adamw_default_config();
    ac.lr = (float)c->lr;
    ac.weight_decay = (float)c->weight_decay;
    RF_TRY(rf_adamw_create(model->params, &ac, opt));
    rf_group_rules rules = {c->lr, c->lr_encoder, c->lr_vit_layer_decay, c->lr_component_decay, c->weight_decay,
                            mc->out_feature_indexes[mc->num_taps - 1] + 1};
    rf_params *p = model->params;
    for (size_t i = 0; i < p->count; i++) {
        rf_param_group g = rf_param_group_for(p->tensors[i]->name, &rules);
        RF_TRY(rf_adamw_set_group(*opt, p->tensors[i], (float)g.lr, (float)g.weight_decay));
    }
    if (c->ema) RF_TRY(rf_ema_create(p, c->ema_decay, c->ema_tau, ema));
    return RF_OK;
}

static rf_status build_optimizer(trainer *t) { return build_optimizer_for(t->cfg, t->model, &t->opt, &t->ema); }

/* Replicas 1..: the model and optimizer of replica 0 on another device (its
 * weights and state are copied from replica 0 afterwards). */
static rf_status setup_replica(rf_replica *r, void *arg) {
    trainer *t = arg;
    r->ctx->precision = t->cfg->precision;
    if (r->model) return RF_OK;
    RF_TRY(rfdetr_model_create(r->dev, &t->model->cfg, t->cfg->seed, &r->model));
    return build_optimizer_for(t->cfg, r->model, &r->opt, &r->ema);
}

/* ---- one optimizer step ------------------------------------------------------------------- */

typedef struct staged_batch {
    rf_tensor *images;         /* (n, 3, h, w) in the stage context */
    int n;
    rf_match_target targets[64];
    float *boxes;              /* all boxes of the batch */
    int32_t *labels;
} staged_batch;

static void staged_free(staged_batch *b) {
    free(b->boxes);
    free(b->labels);
    memset(b, 0, sizeof *b);
}

/* Uploads a loader batch and copies its targets, so the slot can go back. */
static rf_status stage_batch(rf_ctx *stage, int num_classes, const rf_batch *lb, staged_batch *sb) {
    memset(sb, 0, sizeof *sb);
    if (lb->size > 64) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "batch of %d images: at most 64 per micro-batch", lb->size);
    sb->n = lb->size;
    sb->images = rf_ctx_from_host(stage, RF_F32, 4, (int64_t[]){lb->size, 3, lb->height, lb->width}, lb->pixels);
    if (!sb->images) return rf_ctx_status(stage);
    size_t total = 0;
    for (int i = 0; i < lb->size; i++) total += lb->targets[i].count;
    sb->boxes = malloc((total * 4 + 1) * sizeof *sb->boxes);
    sb->labels = malloc((total + 1) * sizeof *sb->labels);
    if (!sb->boxes || !sb->labels) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    size_t at = 0;
    for (int i = 0; i < lb->size; i++) {
        const rf_target *tg = &lb->targets[i];
        memcpy(sb->boxes + at * 4, tg->boxes, tg->count * 4 * sizeof(float));
        for (size_t k = 0; k < tg->count; k++) {
            int64_t label = tg->labels[k];
            if (label < 0 || label >= num_classes)
                return RF_ERROR(RF_ERR_FORMAT, "image %lld: class id %lld is outside the model's %d classes",
                                (long long)tg->image_id, (long long)label, num_classes);
            sb->labels[at + k] = (int32_t)label;
        }
        sb->targets[i] = (rf_match_target){(int)tg->count, sb->boxes + at * 4, sb->labels + at};
        at += tg->count;
    }
    return RF_OK;
}

typedef struct step_result {
    double loss;      /* weighted total, averaged over micro-batches' sum */
    double terms[3];  /* final head's ce, bbox, giou */
    double grad_norm;
    bool skipped;     /* fp16: the gradients overflowed, the loss scale was halved */
    double loss_scale; /* the step's (before any halving) */
    int images;
} step_result;

/* What one micro-batch reports: loss, its final head's ce, bbox and giou,
 * and its image count; summed over the step in micro-batch order. */
enum { MICRO_VALUES = 5 };

static rf_status micro_batch(trainer *t, rf_replica *rep, staged_batch *sb, double num_boxes, double *values) {
    rf_ctx_reset(rep->ctx);
    rfdetr_outputs out;
    RF_TRY(rfdetr_model_forward(rep->model, rep->ctx, sb->images, true, &out));
    rf_head_output heads[RFDETR_MAX_DEC_LAYERS + 1];
    int n = 0;
    /* Final layer first (its terms are the ones logged as loss_ce etc.),
     * then the auxiliary layers, then the encoder proposals. */
    heads[n++] = (rf_head_output){out.logits[out.layers - 1], out.boxes[out.layers - 1]};
    for (int l = 0; l < out.layers - 1; l++) heads[n++] = (rf_head_output){out.logits[l], out.boxes[l]};
    heads[n++] = (rf_head_output){out.enc_logits, out.enc_boxes};
    rf_loss_terms terms[RFDETR_MAX_DEC_LAYERS + 1];
    rf_tensor *loss = rf_criterion(rep->ctx, &t->crit, heads, n, out.groups, sb->targets, sb->n, num_boxes, terms);
    if (!loss) return rf_ctx_status(rep->ctx);
    float value = 0;
    RF_TRY(rf_tensor_download(loss, &value));
    if (!isfinite(value))
        return RF_ERROR(RF_ERR_NUMERIC, "the loss is %s at step %" PRId64 " (epoch %" PRId64 ")%s",
                        isnan(value) ? "NaN" : "infinite", t->st.step + 1, t->st.epoch + 1,
                        t->cfg->precision == RF_PRECISION_F16
                            ? " in fp16, whose products hold magnitudes up to 65504 (the loss scale acts on "
                              "gradients only): bf16 keeps f32's range"
                            : "");
    /* fp16: the gradients carry the loss scale until the step divides it out. */
    if (t->st.scaler.scale != 1.0) loss = rf_scale(rep->ctx, loss, (float)t->st.scaler.scale);
    RF_TRY(rf_backward(rep->ctx, loss, NULL));
    values[0] = value;
    values[1] = terms[0].loss_ce;
    values[2] = terms[0].loss_bbox;
    values[3] = terms[0].loss_giou;
    values[4] = sb->n;
    return RF_OK;
}

typedef struct round_job {
    trainer *t;
    staged_batch *batches; /* the step's, by micro-batch */
    double *values;        /* [micro-batch][MICRO_VALUES] */
    int round, replicas;
    bool summing;
    double num_boxes;
} round_job;

/* Micro-batch round * D + g on global replica g. */
static rf_status run_round(rf_replica *r, void *arg) {
    round_job *job = arg;
    int j = job->round * job->replicas + r->global;
    RF_TRY(rf_replica_begin_micro_batch(r, job->summing));
    RF_TRY(micro_batch(job->t, r, &job->batches[j], job->num_boxes, job->values + (size_t)j * MICRO_VALUES));
    return rf_replica_end_micro_batch(r, job->summing);
}

/* Pulls grad_accum x devices batches (fewer at the end of an epoch): batch j
 * trains on replica j % D, the gradients are summed in j order (see
 * replicas.h), and every replica steps. *epoch_done tells the epoch ended. */
static rf_status optimizer_step(trainer *t, rf_loader *loader, step_result *r, bool *epoch_done) {
    memset(r, 0, sizeof *r);
    *epoch_done = false;
    int replicas = rf_replicas_global_count(t->reps), per_step = t->cfg->grad_accum * replicas;
    for (int i = 0; i < rf_replicas_count(t->reps); i++) rf_ctx_reset(rf_replicas_at(t->reps, i)->stage);
    staged_batch *batches = calloc((size_t)per_step, sizeof *batches);
    double *values = calloc((size_t)per_step * MICRO_VALUES, sizeof *values);
    if (!batches || !values) {
        free(batches);
        free(values);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    int count = 0;
    rf_status s = RF_OK;
    int64_t agreed[2] = {0, 0}; /* boxes of this rank's micro-batches, stop requests */
    while (count < per_step) {
        const rf_batch *lb = NULL;
        s = rf_loader_next(loader, &lb);
        if (s != RF_OK || !lb) break;
        bool last = lb->last_in_epoch;
        rf_replica *owner = rf_replicas_owner(t->reps, count % replicas);
        if (owner) s = stage_batch(owner->stage, t->model->cfg.num_classes, lb, &batches[count]);
        rf_loader_release(loader, lb);
        if (s != RF_OK) break;
        for (int i = 0; i < batches[count].n; i++) agreed[0] += batches[count].targets[i].count;
        count++;
        t->st.batches_done++;
        if (last) {
            *epoch_done = true;
            break;
        }
    }
    /* RF-DETR divides by the targets of the whole step, summed over the
     * devices, times the groups. Ranks agree on it, and on stopping. */
    if (s == RF_OK && t->multi_rank) {
        agreed[1] = t->cfg->stop && *t->cfg->stop;
        s = rf_replicas_sum_i64(t->reps, agreed, 2, t->st.step);
        if (s == RF_OK && agreed[1] > 0) {
            t->stop_agreed = true;
            s = RF_ERROR(RF_ERR_INTERRUPTED, "stopped by a signal");
        }
    }
    double num_boxes = (double)agreed[0] * t->model->cfg.group_detr;
    bool summing = per_step > 1;
    for (int round = 0; s == RF_OK && round * replicas < count; round++) {
        int active = count - round * replicas < replicas ? count - round * replicas : replicas;
        round_job job = {t, batches, values, round, replicas, summing, num_boxes};
        s = rf_replicas_run(t->reps, run_round, &job, active, t->st.step);
        if (s == RF_OK && summing) s = rf_replicas_sum_round(t->reps, round, active, t->st.step);
    }
    for (int i = 0; i < count; i++) staged_free(&batches[i]);
    free(batches);
    if (s == RF_OK && count > 0) s = rf_replicas_share_values(t->reps, values, count, MICRO_VALUES, t->st.step);
    for (int j = 0; s == RF_OK && j < count; j++) {
        const double *v = values + (size_t)j * MICRO_VALUES;
        r->loss += v[0];
        r->terms[0] += v[1];
        r->terms[1] += v[2];
        r->terms[2] += v[3];
        r->images += (int)v[4];
    }
    free(values);
    RF_TRY(s);
    if (count == 0) {
        *epoch_done = true;
        return RF_OK;
    }
    if (summing) RF_TRY(rf_replicas_share_sum(t->reps, t->st.step));
    if (t->hook) RF_TRY(t->hook(t->hook_user, t->reps, RF_TRAIN_HOOK_BEFORE_STEP));
    double factor = rf_lr_factor(&t->sched, t->st.step);
    r->loss_scale = t->st.scaler.scale;
    RF_TRY(rf_replicas_step(t->reps, (float)factor, t->cfg->clip_max_norm, r->loss_scale, t->st.step, &r->grad_norm,
                            &r->skipped));
    /* A skipped step still counts: the schedule and the epoch go on, as
     * with GradScaler (AdamW's own count and the EMA do not). */
    t->st.step++;
    if (t->cfg->precision == RF_PRECISION_F16) {
        rf_status given_up = rf_loss_scaler_update(&t->st.scaler, r->skipped);
        if (given_up != RF_OK) return rf_error_prefix(given_up, "at step %" PRId64 ": ", t->st.step);
    }
    if (r->skipped) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "step %" PRId64 ": fp16 gradients overflowed at loss scale %g; step skipped, loss scale now %g", t->st.step,
                 r->loss_scale, t->st.scaler.scale);
        notify(t, RF_TRAIN_MESSAGE, msg);
    }
    return RF_OK;
}

/* ---- evaluation -------------------------------------------------------------------------- */

static void on_eval_batch(void *user, int64_t done, int64_t total) {
    const trainer *t = user;
    if (!t->cfg->progress) return;
    rf_train_progress p = {.event = RF_TRAIN_EVAL_PROGRESS, .epoch = t->st.epoch, .epochs = t->cfg->epochs,
                           .global_step = t->st.step, .message = t->eval_pass, .eval_images_done = done,
                           .eval_images_total = total};
    t->cfg->progress(t->cfg->progress_user, &p);
}

/* RF-DETR evaluates during training with maxDets 1 / 10 / 500. */
static const int train_max_dets[3] = {1, 10, 500};

/* For the ETA: the evaluation's time per image so far. */
static void count_evaluation(trainer *t, rf_split split, double start) {
    t->eval_seconds += now_seconds() - start;
    t->eval_images += (int64_t)t->ds->splits[split].coco->image_count;
}

/* Valid, every epoch: spread over the devices (and ranks). */
static rf_status evaluate(trainer *t, rf_coco_eval_result **result) {
    double start = now_seconds();
    rf_status s = rf_replicas_evaluate(t->reps, t->ds, RF_SPLIT_VALID, t->cfg->eval_batch, t->cfg->threads,
                                       train_max_dets, on_eval_batch, t, t->st.step - 1, result);
    if (s == RF_OK) count_evaluation(t, RF_SPLIT_VALID, start);
    return s;
}

/* Seconds of evaluation left: the valid passes of this and every later
 * epoch (regular and EMA), and the test pass at the end. Per image as
 * measured once an evaluation has run; before, a third of a training
 * image's time (a forward pass without the backward). */
static double evaluation_seconds_left(const trainer *t, double train_seconds_per_image) {
    double per_image = t->eval_images > 0 ? t->eval_seconds / (double)t->eval_images : train_seconds_per_image / 3;
    const rf_coco_dataset *valid = t->ds->splits[RF_SPLIT_VALID].coco, *test = t->ds->splits[RF_SPLIT_TEST].coco;
    double images = (double)(t->cfg->epochs - t->st.epoch) * (valid ? (double)valid->image_count : 0) * (t->ema ? 2 : 1);
    if (test) images += (double)test->image_count;
    return per_image * images;
}

/* Evaluates the EMA weights by swapping them in (no copy) and back. */
static rf_status evaluate_ema(trainer *t, rf_coco_eval_result **result) {
    RF_TRY(rf_replicas_swap_ema(t->reps));
    rf_status s = evaluate(t, result);
    rf_status back = rf_replicas_swap_ema(t->reps);
    return s != RF_OK ? s : back;
}

/* Only the writer (rank 0) writes; every rank keeps the same state. */
static rf_status save_weights(trainer *t, const char *name, bool ema) {
    if (!t->writer) return RF_OK;
    if (ema) RF_TRY(rf_ema_swap(t->ema));
    rf_status s = rfdetr_model_save(t->model, run_path(t, name));
    if (ema) {
        rf_status back = rf_ema_swap(t->ema);
        if (s == RF_OK) s = back;
    }
    return s;
}

/* ---- the loop -------------------------------------------------------------------------------- */

static rf_status end_of_epoch(trainer *t, const double *loss_sums, int64_t steps, double epoch_seconds,
                              bool *stop_early) {
    const rf_train_config *c = t->cfg;
    t->eval_pass = "evaluating the regular model on valid";
    notify(t, RF_TRAIN_EVALUATING, t->eval_pass);
    rf_coco_eval_result *reg = NULL, *ema = NULL;
    RF_TRY(evaluate(t, &reg));
    rf_status s = RF_OK;
    if (t->ema) {
        t->eval_pass = "evaluating the EMA model on valid";
        notify(t, RF_TRAIN_EVALUATING, t->eval_pass);
        s = evaluate_ema(t, &ema);
    }
    double reg_map = reg->stats[0], ema_map = ema ? ema->stats[0] : -1;
    /* Every epoch: the latest weights, then the bests. The first epoch is
     * always the best so far, so all files exist after it. */
    if (s == RF_OK) s = save_weights(t, "checkpoint.safetensors", false);
    if (s == RF_OK) t->last_saved_epoch = t->st.epoch + 1;
    bool first = t->st.epochs_evaluated == 0;
    if (s == RF_OK && (first || reg_map > t->st.best_regular)) {
        t->st.best_regular = reg_map;
        s = save_weights(t, "checkpoint_best_regular.safetensors", false);
    }
    if (s == RF_OK && ema && (first || ema_map > t->st.best_ema)) {
        t->st.best_ema = ema_map;
        s = save_weights(t, "checkpoint_best_ema.safetensors", true);
    }
    double total = ema_map > reg_map ? ema_map : reg_map;
    bool total_from_ema = ema && ema_map > reg_map;
    if (s == RF_OK && (first || total > t->st.best_total)) {
        t->st.best_total = total;
        t->st.best_total_is_ema = total_from_ema;
        memcpy(t->st.best_total_stats, total_from_ema ? ema->stats : reg->stats, sizeof t->st.best_total_stats);
        s = save_weights(t, "checkpoint_best_total.safetensors", total_from_ema);
        if (s == RF_OK && t->writer) s = rf_run_write_results(&t->log, total_from_ema ? ema : reg, "valid");
    }
    /* Early stopping on max(regular, EMA) mAP. */
    if (first || total > t->st.best_for_patience + c->min_delta) {
        t->st.best_for_patience = total;
        t->st.epochs_without_improvement = 0;
    } else {
        t->st.epochs_without_improvement++;
    }
    *stop_early = c->patience > 0 && t->st.epochs_without_improvement >= c->patience;
    t->st.epochs_evaluated++;
    t->st.epoch++;
    t->st.batches_done = 0;
    double sums_copy[5];
    memcpy(sums_copy, loss_sums, sizeof sums_copy);
    loss_sums = sums_copy;
    memset(t->st.epoch_sums, 0, sizeof t->st.epoch_sums);
    t->st.epoch_steps = 0;
    int64_t skipped = t->st.epoch_skipped, stepped = steps - skipped;
    t->st.epoch_skipped = 0;
    if (s == RF_OK) {
        rf_run_epoch rec = {.epoch = t->st.epoch - 1, .step = t->st.step, .seconds = epoch_seconds,
                            .train_loss = steps ? loss_sums[0] / steps : NAN,
                            .loss_ce = steps ? loss_sums[1] / steps : NAN,
                            .loss_bbox = steps ? loss_sums[2] / steps : NAN,
                            .loss_giou = steps ? loss_sums[3] / steps : NAN,
                            .grad_norm = stepped ? loss_sums[4] / stepped : NAN,
                            .lr = c->lr * rf_lr_factor(&t->sched, t->st.step > 0 ? t->st.step - 1 : 0),
                            .n_parameters = rfdetr_model_param_count(t->model),
                            .loss_scale = c->precision == RF_PRECISION_F16 ? t->st.scaler.scale : 0,
                            .skipped_steps = skipped};
        memcpy(rec.stats, reg->stats, sizeof rec.stats);
        rec.has_ema = ema != NULL;
        if (ema) memcpy(rec.ema_stats, ema->stats, sizeof rec.ema_stats);
        if (t->writer) s = rf_run_log_append(&t->log, &rec);
    }
    char waits[1024];
    if (s == RF_OK && *rf_replicas_wait_report(t->reps, waits, sizeof waits)) notify(t, RF_TRAIN_MESSAGE, waits);
    if (s == RF_OK && t->writer) s = rf_train_state_save(&t->st, t->model->params, t->opt, t->ema, run_path(t, "training_state.safetensors"));
    if (s == RF_OK && c->progress) {
        rf_train_progress p = {.event = RF_TRAIN_EPOCH_DONE, .epoch = t->st.epoch - 1, .epochs = c->epochs,
                               .global_step = t->st.step, .stats = reg->stats, .ema_stats = ema ? ema->stats : NULL,
                               .loss = steps ? loss_sums[0] / steps : NAN};
        c->progress(c->progress_user, &p);
    }
    rf_coco_eval_result_free(reg);
    rf_coco_eval_result_free(ema);
    return s;
}

static rf_status train_loop(trainer *t, rf_train_summary *summary) {
    const rf_train_config *c = t->cfg;
    rf_loader_config lc;
    rf_loader_config_train(&lc, c->batch, t->model->cfg.resolution, c->seed);
    memcpy(lc.sizes, t->sizes, sizeof lc.sizes);
    lc.size_count = t->size_count;
    lc.threads = c->threads;
    lc.first_epoch = t->st.epoch;
    lc.epochs = c->epochs - t->st.epoch;
    /* Ranks stop together at a step they agree on, never inside the loader. */
    lc.stop = t->multi_rank ? NULL : c->stop;
    rf_replicas_shard_loader(t->reps, &lc);
    if (lc.epochs <= 0) return RF_OK;
    rf_loader *loader = NULL;
    RF_TRY(rf_loader_open(t->ds, &lc, &loader));
    rf_status s = RF_OK;
    /* A run interrupted mid-epoch resumes after the batches it consumed. */
    for (int64_t i = 0; i < t->st.batches_done && s == RF_OK; i++) {
        const rf_batch *lb = NULL;
        s = rf_loader_next(loader, &lb);
        if (lb) rf_loader_release(loader, lb);
    }
    double t_start = now_seconds();
    int64_t steps_at_start = t->st.step;
    int per_step = c->grad_accum * rf_replicas_global_count(t->reps); /* loader batches per optimizer step */
    while (s == RF_OK && t->st.epoch < c->epochs) {
        /* Continue the sums of an epoch resumed mid-way. */
        double *sums = t->st.epoch_sums;
        double epoch_start = now_seconds();
        bool epoch_done = false;
        while (s == RF_OK && !epoch_done) {
            if (!t->multi_rank && c->stop && *c->stop) {
                summary->interrupted = true;
                break;
            }
            if (c->max_steps > 0 && t->st.step >= c->max_steps) break;
            step_result r;
            int64_t batches_before = t->st.batches_done;
            rf_device_counters before, after;
            rf_device_get_counters(t->dev, &before);
            s = optimizer_step(t, loader, &r, &epoch_done);
            rf_device_get_counters(t->dev, &after);
            if (s == RF_OK && c->profile) {
                rf_ctx *ctx0 = rf_replicas_at(t->reps, 0)->ctx;
                rf_step_profile_add(&t->steps, &before, &after, rf_ctx_arena_peak_bytes(ctx0), rf_ctx_saved_bytes(ctx0));
            }
            if (s == RF_ERR_INTERRUPTED && (t->stop_agreed || (c->stop && *c->stop))) {
                /* Ctrl-C while the loader was filling the step: nothing was
                 * computed yet; the step restarts on --resume. */
                t->st.batches_done = batches_before;
                for (int i = 0; i < rf_replicas_count(t->reps); i++)
                    rf_params_zero_grad(rf_replicas_at(t->reps, i)->model->params);
                summary->interrupted = true;
                s = RF_OK;
                break;
            }
            if (s != RF_OK || r.images == 0) break;
            if (t->hook) s = t->hook(t->hook_user, t->reps, RF_TRAIN_HOOK_AFTER_STEP);
            if (s != RF_OK) break;
            sums[0] += r.loss;
            sums[1] += r.terms[0];
            sums[2] += r.terms[1];
            sums[3] += r.terms[2];
            if (r.skipped) t->st.epoch_skipped++;
            else sums[4] += r.grad_norm;
            t->st.epoch_steps++;
            if (c->progress) {
                double elapsed = now_seconds() - t_start, training = elapsed - t->eval_seconds;
                int64_t done = t->st.step - steps_at_start;
                int64_t remaining = t->sched.total_steps - t->st.step;
                double images_done = (double)done * c->batch * per_step;
                double eta = done > 0 ? training / done * (double)remaining +
                                            evaluation_seconds_left(t, training / images_done)
                                      : 0;
                rf_train_progress p = {.event = RF_TRAIN_STEP, .epoch = t->st.epoch, .epochs = c->epochs,
                                       .step_in_epoch = (t->st.batches_done + per_step - 1) / per_step,
                                       .steps_per_epoch = t->sched.steps_per_epoch, .global_step = t->st.step,
                                       .total_steps = t->sched.total_steps, .loss = r.loss,
                                       .lr = c->lr * rf_lr_factor(&t->sched, t->st.step - 1), .grad_norm = r.grad_norm,
                                       .loss_scale = r.loss_scale, .step_skipped = r.skipped,
                                       .images_per_second = training > 0 ? images_done / training : 0,
                                       .eta_seconds = eta};
                c->progress(c->progress_user, &p);
            }
        }
        if (s != RF_OK) break;
        if (summary->interrupted) {
            /* Leave a resumable state at this step; nothing half-written. */
            s = save_weights(t, "checkpoint.safetensors", false);
            if (s == RF_OK && t->writer) s = rf_train_state_save(&t->st, t->model->params, t->opt, t->ema, run_path(t, "training_state.safetensors"));
            /* Every rank returns once the writer has saved: a rank that exited
             * first would make mpirun end the job during the write. */
            int64_t saved = 0;
            if (s == RF_OK && t->multi_rank) s = rf_comm_sum_i64(t->comm, &saved, 1, "saving the interrupted run");
            if (s == RF_OK) s = RF_ERROR(RF_ERR_INTERRUPTED, "interrupted at step %" PRId64 "; resume with --resume %s",
                                         t->st.step, t->dir);
            break;
        }
        bool stop_early = false;
        s = end_of_epoch(t, sums, t->st.epoch_steps, now_seconds() - epoch_start, &stop_early);
        rf_replicas_set_timeout(t->reps, c->comm_timeout > 0 ? c->comm_timeout : 60); /* warmed up */
        if (s == RF_OK && stop_early) {
            summary->stopped_early = true;
            notify(t, RF_TRAIN_MESSAGE, "early stopping: no improvement for --patience epochs");
            break;
        }
        if (c->max_steps > 0 && t->st.step >= c->max_steps) break;
    }
    rf_loader_close(loader);
    return s;
}

/* ---- the run directory -------------------------------------------------------------------- */

/* Before any work: a resume needs a run to continue, a new run a place
 * that holds none (unless overwrite). Nothing is created yet. */
static rf_status check_run_dir(trainer *t, rf_train_run *saved, int64_t saved_splits[3], int *saved_devices) {
    const rf_train_config *c = t->cfg;
    if (c->resume && c->overwrite)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "--resume continues a run and --overwrite replaces it: give one");
    if (c->resume && !c->out_dir) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "--resume needs the run directory");
    if (c->out_dir && strlen(c->out_dir) >= sizeof t->dir - 64)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: path too long", c->out_dir);
    if (c->out_dir) snprintf(t->dir, sizeof t->dir, "%s", c->out_dir);
    if (c->resume) return rf_run_config_load(c->out_dir, saved, saved_splits, saved_devices);
    /* Under MPI rank 0 alone creates the run: another rank that looked
     * after it had begun would see a run there and refuse its own. */
    if (t->writer && c->out_dir && !c->overwrite && rf_run_dir_holds_run(c->out_dir))
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                        "%s holds a run already: --resume %s continues it, --overwrite replaces it, or give another "
                        "--out (without --out each run gets the next free runs/train, runs/train2, ...)",
                        c->out_dir, c->out_dir);
    return RF_OK;
}

/* mkdir -p that remembers the topmost directory it made, so a failed
 * start can take it away again. */
static rf_status make_dirs_noting(trainer *t, const char *path) {
    char *p = strdup(path);
    if (!p) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    rf_status s = RF_OK;
    for (char *c = p + 1;; c++) {
        if (*c && *c != '/') continue;
        char saved = *c;
        *c = '\0';
        if (mkdir(p, 0777) == 0) {
            if (!t->created_from[0]) snprintf(t->created_from, sizeof t->created_from, "%s", p);
        } else if (errno != EEXIST) {
            s = RF_ERROR(RF_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
        }
        *c = saved;
        if (!saved || s != RF_OK) break;
    }
    free(p);
    return s;
}

/* Creates the directory of a new run (the next free runs/trainN when none
 * is named: mkdir decides, so two runs starting together never share
 * one), or empties the one overwrite names; then writes run.json. */
static rf_status start_run_dir(trainer *t) {
    const rf_train_config *c = t->cfg;
    if (!c->out_dir) {
        RF_TRY(make_dirs_noting(t, "runs"));
        for (int n = 1;; n++) {
            if (n == 1)
                snprintf(t->dir, sizeof t->dir, "runs/train");
            else
                snprintf(t->dir, sizeof t->dir, "runs/train%d", n);
            if (mkdir(t->dir, 0777) == 0) {
                if (!t->created_from[0]) snprintf(t->created_from, sizeof t->created_from, "%s", t->dir);
                break;
            }
            if (errno != EEXIST || n >= 1000000)
                return RF_ERROR(RF_ERR_IO, "%s: cannot create directory: %s", t->dir, strerror(errno));
        }
    } else {
        RF_TRY(make_dirs_noting(t, t->dir));
        /* What an earlier start killed before its run.json left. */
        RF_TRY(rf_run_dir_remove_temporaries(t->dir));
        if (rf_run_dir_holds_run(t->dir)) {
            if (!c->overwrite)
                return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s holds a run already: --resume %s continues it, "
                                "--overwrite replaces it", t->dir, t->dir);
            char msg[4200];
            snprintf(msg, sizeof msg, "--overwrite: removing the run in %s (checkpoints, state, logs)", t->dir);
            notify(t, RF_TRAIN_MESSAGE, msg);
            RF_TRY(rf_run_dir_remove_run(t->dir));
        }
    }
    t->started_here = true;
    return rf_run_config_save(c, t->split_images, rf_replicas_global_count(t->reps), t->dir);
}

/* After a failure before any training state: the run never existed, so
 * nothing of it stays (files, then the directories this call made). */
static void remove_failed_start(trainer *t) {
    if (!t->started_here || rf_file_exists(run_path(t, RF_RUN_STATE_FILE))) return;
    if (rf_run_dir_remove_run(t->dir) != RF_OK) return;
    if (!t->created_from[0]) return;
    char path[4096];
    snprintf(path, sizeof path, "%s", t->dir);
    for (;;) {
        if (rmdir(path) != 0) return;
        if (!strcmp(path, t->created_from)) return;
        char *slash = strrchr(path, '/');
        if (!slash || slash == path) return;
        *slash = '\0';
    }
}

static void count_split_images(trainer *t) {
    const rf_split splits[3] = {RF_SPLIT_TRAIN, RF_SPLIT_VALID, RF_SPLIT_TEST};
    for (int i = 0; i < 3; i++) {
        const rf_dataset_split *sp = &t->ds->splits[splits[i]];
        t->split_images[i] = sp->present && sp->coco ? (int64_t)sp->coco->image_count : -1;
    }
}

rf_status rf_train(const rf_train_config *cfg, rf_train_summary *summary) {
    return rf_train_with_hook(cfg, summary, NULL, NULL);
}

rf_status rf_train_with_hook(const rf_train_config *cfg, rf_train_summary *summary, rf_train_step_hook hook,
                             void *hook_user) {
    memset(summary, 0, sizeof *summary);
    if (cfg->epochs < 1 || cfg->batch < 1 || cfg->grad_accum < 1 || cfg->grad_accum > 64)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "train: need epochs >= 1, batch >= 1 and 1 <= grad_accum <= 64");
    if ((unsigned)cfg->precision >= RF_PRECISION_COUNT)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "train: precision %d is not one of f32, bf16, fp16", (int)cfg->precision);
    if (cfg->mpi && !rf_comm_initialized())
        return RF_ERROR(rf_mpi_built() ? RF_ERR_INVALID_ARGUMENT : RF_ERR_UNSUPPORTED,
                        rf_mpi_built() ? "train: mpi is set but MPI is not initialised (rf_mpi_init)"
                                                 : "train: this build has no MPI (install libopenmpi-dev and rebuild)");
    double started = now_seconds();
    trainer t = {.cfg = cfg, .crit = rf_criterion_defaults(), .last_saved_epoch = -1, .hook = hook,
                 .hook_user = hook_user};
    char names[RF_MAX_LOCAL_DEVICES][32];
    int name_count = 0;
    /* Until the first epoch is done (kernels compiled for training and for
     * evaluation, which can take minutes on a cold driver cache) a device or
     * rank is waited for at least WARMUP_TIMEOUT; then --comm-timeout. */
    double timeout = cfg->comm_timeout > 0 ? cfg->comm_timeout : 60;
    double warmup = timeout > WARMUP_TIMEOUT ? timeout : WARMUP_TIMEOUT;
    rf_train_run *saved = calloc(1, sizeof *saved);
    int64_t saved_splits[3] = {-1, -1, -1};
    int saved_devices = 1;
    char changes[2048] = "";
    rf_status s = saved ? rf_comm_open(cfg->mpi, warmup, &t.comm) : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    if (s == RF_OK) {
        t.writer = rf_comm_rank(t.comm) == 0;
        t.multi_rank = rf_comm_size(t.comm) > 1;
        s = rf_device_list_parse(cfg->device, rf_comm_local_rank(t.comm), rf_comm_local_size(t.comm), names,
                                 RF_MAX_LOCAL_DEVICES, &name_count);
    }
    if (s == RF_OK) s = check_run_dir(&t, saved, saved_splits, &saved_devices);
    if (s == RF_OK && cfg->resume) s = rf_run_config_check(cfg, saved, t.dir, changes, sizeof changes);
    free(saved);
    /* Rank 0 first: it may generate the shapes dataset the others read. */
    if (s == RF_OK && t.writer) s = open_data(&t);
    if (s == RF_OK && t.multi_rank) {
        int64_t ready = 0;
        s = rf_comm_sum_i64(t.comm, &ready, 1, "opening the dataset");
    }
    if (s == RF_OK && !t.writer) s = open_data(&t);
    if (s == RF_OK) {
        count_split_images(&t);
        if (cfg->resume) s = rf_run_config_check_splits(t.split_images, saved_splits, t.dir);
    }
    rf_device_options opts = {.memory_limit_bytes = cfg->device_memory_limit, .cpu_threads = cfg->cpu_threads};
    if (s == RF_OK) s = rf_device_open_with(names[0], &opts, &t.dev);
    if (s == RF_OK && cfg->profile) s = rf_device_set_profiling(t.dev, true);
    /* No state yet (killed before the first one): the run starts over. */
    t.has_state = cfg->resume && rf_file_exists(run_path(&t, RF_RUN_STATE_FILE));
    if (s == RF_OK) s = build_model(&t);
    if (s == RF_OK) s = build_optimizer(&t);
    if (s == RF_OK && cfg->resume && t.writer) s = rf_run_dir_remove_temporaries(t.dir);
    if (s == RF_OK && t.has_state) {
        s = rf_train_state_load(&t.st, t.model->params, t.opt, t.ema, run_path(&t, RF_RUN_STATE_FILE));
        t.last_saved_epoch = t.st.epoch;
        if (s == RF_OK && cfg->precision != RF_PRECISION_F16 && (t.st.scaler.scale != 1.0 || t.st.scaler.skipped))
            s = RF_ERROR(RF_ERR_FORMAT, "%s: loss scale %g in a run that trains in %s", run_path(&t, RF_RUN_STATE_FILE),
                         t.st.scaler.scale, rf_precision_name(cfg->precision));
        if (s == RF_OK && cfg->epochs < t.st.epoch)
            s = RF_ERROR(RF_ERR_INVALID_ARGUMENT, "--epochs %d: the run in %s has completed %" PRId64 " epochs already",
                         cfg->epochs, t.dir, t.st.epoch);
    }
    if (s == RF_OK && !t.has_state)
        t.st.scaler = cfg->precision == RF_PRECISION_F16 ? rf_loss_scaler_start() : (rf_loss_scaler){.scale = 1};
    if (s == RF_OK) s = rf_ctx_create(t.dev, 0, &t.ctx);
    if (s == RF_OK) s = rf_ctx_create(t.dev, 0, &t.stage);
    if (s == RF_OK) t.ctx->precision = cfg->precision;
    if (s == RF_OK) {
        rf_replica first = {.dev = t.dev, .model = t.model, .opt = t.opt, .ema = t.ema, .ctx = t.ctx, .stage = t.stage};
        s = rf_replicas_create(names, name_count, &opts, &first, setup_replica, &t, t.comm, warmup, &t.reps);
    }
    int per_step = cfg->grad_accum * (t.reps ? rf_replicas_global_count(t.reps) : 1);
    /* A step takes grad-accum x devices micro-batches: on another number of
     * devices the run would go on as another recipe, not "as if it had not
     * stopped". */
    if (s == RF_OK && cfg->resume && rf_replicas_global_count(t.reps) != saved_devices)
        s = RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                     "--device %s gives %d device%s, but the run in %s trains on %d (each step takes batch x "
                     "grad-accum x devices images): resume it on %d devices",
                     cfg->device, rf_replicas_global_count(t.reps), rf_replicas_global_count(t.reps) == 1 ? "" : "s",
                     t.dir, saved_devices, saved_devices);
    if (s == RF_OK) {
        const rfdetr_config *mc = &t.model->cfg;
        t.size_count = cfg->multi_scale ? rf_multi_scale_sizes(mc->resolution, mc->patch_size, mc->num_windows, true,
                                                               t.sizes, RF_LOADER_MAX_SIZES)
                                        : 0;
        if (t.size_count <= 0) {
            t.sizes[0] = mc->resolution;
            t.size_count = 1;
        }
        /* batches per epoch with drop_last, as the loader makes them */
        size_t images = t.ds->splits[RF_SPLIT_TRAIN].coco->image_count;
        t.batches_per_epoch = (int64_t)(images / (size_t)cfg->batch);
        if (t.batches_per_epoch == 0)
            s = RF_ERROR(RF_ERR_INVALID_ARGUMENT, "the train split has %zu images, fewer than one batch of %d", images,
                         cfg->batch);
        t.sched = (rf_schedule){.warmup_steps = cfg->warmup_steps,
                                .steps_per_epoch = (t.batches_per_epoch + per_step - 1) / per_step,
                                .cosine = cfg->cosine, .lr_drop = cfg->lr_drop, .min_factor = cfg->min_factor};
        t.sched.total_steps = t.sched.steps_per_epoch * cfg->epochs;
        if (cfg->max_steps > 0 && cfg->max_steps < t.sched.total_steps) t.sched.total_steps = cfg->max_steps;
    }
    /* Everything is ready: only now does the run directory change, and
     * only on the writer; the other ranks learn its name from it. */
    if (s == RF_OK && t.writer) {
        if (!cfg->resume) {
            s = start_run_dir(&t);
        } else {
            char msg[4400];
            snprintf(msg, sizeof msg, "resuming the run in %s %s", t.dir,
                     t.has_state ? "from its training state" : "from the start (it has no training state yet)");
            notify(&t, RF_TRAIN_MESSAGE, msg);
            /* The options that may change are logged, and kept for the next resume. */
            for (char *line = strtok(changes, "\n"); line; line = strtok(NULL, "\n")) notify(&t, RF_TRAIN_MESSAGE, line);
            if (changes[0]) s = rf_run_config_save(cfg, t.split_images, saved_devices, t.dir);
        }
    }
    if (s == RF_OK && t.multi_rank) s = rf_comm_broadcast(t.comm, t.dir, sizeof t.dir, 0, "starting the run directory");
    if (s == RF_OK && t.writer) s = rf_run_log_open(&t.log, t.dir, cfg->resume, t.st.epoch);
    if (s == RF_OK) {
        char msg[4800];
        char where[384];
        if (rf_replicas_global_count(t.reps) == 1)
            snprintf(where, sizeof where, "%s (%s)", t.dev->info.name, t.dev->info.description);
        else
            rf_replicas_describe(t.reps, where, sizeof where);
        snprintf(msg, sizeof msg, "training %s (%" PRId64 " parameters, %d classes) on %s for %d epochs of %" PRId64
                 " steps, batch %d x %d x %d device%s, %s products, into %s",
                 t.model->cfg.size, rfdetr_model_param_count(t.model), t.model->cfg.num_classes, where, cfg->epochs,
                 t.sched.steps_per_epoch, cfg->batch, cfg->grad_accum, rf_replicas_global_count(t.reps),
                 rf_replicas_global_count(t.reps) == 1 ? "" : "s", rf_precision_name(cfg->precision), t.dir);
        notify(&t, RF_TRAIN_STARTED, msg);
        s = train_loop(&t, summary);
        if (cfg->profile) {
            rf_device_profile_print(t.dev, stderr);
            rf_step_profile_print(&t.steps, t.dev->info.name, stderr);
        }
    }
    /* The test split, with the best total model, by the writer on its first device. */
    if (s == RF_OK && t.writer && t.ds->splits[RF_SPLIT_TEST].present && t.st.epochs_evaluated > 0) {
        t.eval_pass = "evaluating the best total model on test";
        notify(&t, RF_TRAIN_EVALUATING, t.eval_pass);
        rfdetr_model *best = NULL;
        rf_coco_eval_result *test = NULL;
        s = rfdetr_model_open(t.dev, run_path(&t, "checkpoint_best_total.safetensors"), NULL, 0, &best);
        double start = now_seconds();
        if (s == RF_OK)
            s = rf_evaluate_model(best, t.ctx, t.ds, RF_SPLIT_TEST, cfg->eval_batch, cfg->threads, train_max_dets,
                                  on_eval_batch, &t, &test);
        if (s == RF_OK) count_evaluation(&t, RF_SPLIT_TEST, start);
        if (s == RF_OK) {
            summary->has_test = true;
            memcpy(summary->test_stats, test->stats, sizeof summary->test_stats);
            s = rf_run_write_results(&t.log, test, "test");
        }
        rf_coco_eval_result_free(test);
        rfdetr_model_free(best);
    }
    summary->epochs_run = t.st.epoch;
    summary->steps = t.st.step;
    summary->skipped_steps = t.st.scaler.skipped;
    summary->loss_scale = t.st.scaler.scale;
    summary->best_regular_map = t.st.best_regular;
    summary->best_ema_map = t.st.best_ema;
    memcpy(summary->best_total_stats, t.st.best_total_stats, sizeof summary->best_total_stats);
    summary->best_total_is_ema = t.st.best_total_is_ema;
    /* The best AP50 of either model over the run (the log covers resumed epochs too). */
    for (size_t i = 0; i < t.log.count; i++) {
        const rf_run_epoch *e = &t.log.epochs[i];
        if (e->stats[1] > summary->best_regular_map50) summary->best_regular_map50 = e->stats[1];
        if (e->has_ema && e->ema_stats[1] > summary->best_ema_map50) summary->best_ema_map50 = e->ema_stats[1];
    }
    summary->seconds = now_seconds() - started;
    if (s != RF_OK && s != RF_ERR_INTERRUPTED && t.last_saved_epoch > 0) {
        /* Name the last good checkpoint after the cause. */
        char msg[4096];
        snprintf(msg, sizeof msg, "%.3000s; the last good checkpoint is %.900s/checkpoint.safetensors (epoch %" PRId64 ")",
                 rf_last_error(), t.dir, t.last_saved_epoch);
        rf_error_set(s, __FILE__, __LINE__, "%s", msg);
    }
    if (s != RF_OK && s != RF_ERR_INTERRUPTED) remove_failed_start(&t);
    snprintf(summary->out_dir, sizeof summary->out_dir, "%s", t.dir);
    rf_run_log_close(&t.log);
    if (!rf_replicas_free(t.reps)) return s; /* a device hangs: its thread may still use replica 0 */
    rf_comm_free(t.comm);
    rf_ctx_free(t.ctx);
    rf_ctx_free(t.stage);
    rf_ema_free(t.ema);
    rf_adamw_free(t.opt);
    rfdetr_model_free(t.model);
    rf_device_close(t.dev);
    rf_dataset_free(t.ds);
    return s;
}
