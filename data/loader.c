/* loader.c — workers claim (batch, position) tasks in order from a ring of
 * staging slots; batch g lives in slot g % prefetch and may start filling
 * once the caller released batch g - prefetch. One mutex guards the task
 * cursor and slot states (held for microseconds per image); decoding and
 * resampling run unlocked into memory only that task touches. */
#include "data/loader.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/status.h"
#include "core/philox.h"
#include "data/augment.h"
#include "data/image.h"

typedef enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_HELD } slot_state;

typedef struct slot {
    slot_state state;
    int64_t batch;   /* global batch number it holds */
    int done;        /* images finished */
    size_t *images;  /* [batch_size] image indices */
    float *pixels;   /* [batch_size][3][max][max] */
    float *boxes;    /* [batch_size][max_targets][4] */
    int64_t *labels; /* [batch_size][max_targets] */
    rf_target *targets;
    rf_batch batch_view;
} slot;

typedef struct worker_scratch {
    rf_resampler resampler;
    float *xyxy;       /* [max_targets][4] */
    size_t *kept_from; /* [max_targets] */
} worker_scratch;

struct rf_loader {
    const rf_dataset *ds;
    const rf_dataset_split *split;
    rf_loader_config cfg;
    size_t image_count, batches_per_epoch;
    int64_t total_batches; /* -1: unbounded */
    int max_size;
    size_t max_targets;

    pthread_mutex_t lock;
    pthread_cond_t work_cond;  /* workers: a slot freed, or closing */
    pthread_cond_t ready_cond; /* caller: a batch completed, or a failure */
    slot *slots;
    int64_t fill_batch;   /* next batch whose images are handed out */
    int fill_position;    /* next image within it */
    int64_t next_batch;   /* next batch the caller receives */
    int64_t order_epoch;  /* the epoch `order` belongs to */
    size_t *order;        /* that epoch's image order */
    bool closing;
    rf_status failure;
    char failure_message[2048];

    pthread_t *threads;
    int thread_count;
};

static int64_t epoch_of(const rf_loader *l, int64_t batch) {
    return l->cfg.first_epoch + batch / (int64_t)l->batches_per_epoch;
}

static int batch_images(const rf_loader *l, int64_t batch) {
    size_t b = (size_t)(batch % (int64_t)l->batches_per_epoch), start = b * (size_t)l->cfg.batch_size;
    size_t n = l->image_count - start;
    return (int)(n < (size_t)l->cfg.batch_size ? n : (size_t)l->cfg.batch_size);
}

/* The image order of an epoch: Fisher-Yates on the epoch's shuffle stream. */
static void make_order(rf_loader *l, int64_t epoch) {
    for (size_t i = 0; i < l->image_count; i++) l->order[i] = i;
    if (l->cfg.shuffle) {
        rf_philox_stream rng;
        rf_philox_stream_init(&rng, l->cfg.seed, 0, (uint32_t)epoch, RF_RNG_TAG_SHUFFLE);
        for (size_t i = l->image_count - 1; i > 0; i--) {
            size_t j = rf_philox_next_below(&rng, (uint32_t)(i + 1));
            size_t t = l->order[i];
            l->order[i] = l->order[j];
            l->order[j] = t;
        }
    }
    l->order_epoch = epoch;
}

/* Called with the lock held when a worker starts a batch in a free slot. */
static void begin_batch(rf_loader *l, slot *s, int64_t batch) {
    int64_t epoch = epoch_of(l, batch), index = batch % (int64_t)l->batches_per_epoch;
    if (epoch != l->order_epoch) make_order(l, epoch);
    int n = batch_images(l, batch);
    size_t start = (size_t)index * (size_t)l->cfg.batch_size;
    for (int i = 0; i < n; i++) s->images[i] = l->order[start + (size_t)i];
    int size = l->cfg.sizes[0];
    if (l->cfg.size_count > 1) {
        rf_philox_stream rng;
        rf_philox_stream_init(&rng, l->cfg.seed, (uint32_t)index, (uint32_t)epoch, RF_RNG_TAG_SCALE);
        size = l->cfg.sizes[rf_philox_next_below(&rng, (uint32_t)l->cfg.size_count)];
    }
    s->state = SLOT_FILLING;
    s->batch = batch;
    s->done = 0;
    s->batch_view = (rf_batch){.epoch = epoch, .index = index, .size = n, .height = size, .width = size,
                               .pixels = s->pixels, .targets = s->targets,
                               .last_in_epoch = index + 1 == (int64_t)l->batches_per_epoch};
    if (l->cfg.shard_count > 0) {
        int64_t k = index % l->cfg.shard_count;
        s->batch_view.skipped = k < l->cfg.shard_first || k >= l->cfg.shard_first + l->cfg.shard_span;
    }
}

static void record_failure(rf_loader *l, rf_status status, const char *message) {
    if (l->failure == RF_OK) {
        l->failure = status;
        snprintf(l->failure_message, sizeof l->failure_message, "%s", message);
    }
    pthread_cond_broadcast(&l->ready_cond);
    pthread_cond_broadcast(&l->work_cond);
}

static bool stop_requested(const rf_loader *l) { return l->cfg.stop && *l->cfg.stop; }

/* Decodes, augments and stores image `position` of the slot's batch. */
static rf_status fill_image(rf_loader *l, slot *s, int position, worker_scratch *w) {
    const rf_dataset_split *sp = l->split;
    const rf_coco_dataset *c = sp->coco;
    const rf_batch *b = &s->batch_view;
    size_t index = s->images[position];
    char path[8192];
    RF_TRY(rf_dataset_image_path(l->ds, l->cfg.split, index, path, sizeof path));
    rf_image img;
    RF_TRY(rf_image_load(path, &img));
    rf_augment_plan plan;
    if (l->cfg.augment) {
        rf_philox_stream rng;
        rf_philox_stream_init(&rng, l->cfg.seed, (uint32_t)index, (uint32_t)b->epoch, RF_RNG_TAG_AUGMENT);
        rf_augment_plan_train(&rng, img.width, img.height, &plan);
    } else {
        rf_augment_plan_eval(img.width, img.height, &plan);
    }
    size_t plane = (size_t)b->width * (size_t)b->height;
    rf_status st = rf_image_resample_normalized(&img, &plan.region, b->width, b->height, &w->resampler,
                                                s->pixels + (size_t)position * 3 * plane);
    if (st == RF_OK) {
        size_t first = sp->target_start[index], n = sp->target_start[index + 1] - first;
        for (size_t k = 0; k < n; k++) {
            const double *bb = c->annotations[sp->target_index[first + k]].bbox;
            float *o = w->xyxy + 4 * k;
            o[0] = (float)bb[0], o[1] = (float)bb[1];
            o[2] = (float)(bb[0] + bb[2]), o[3] = (float)(bb[1] + bb[3]);
        }
        float *boxes = s->boxes + (size_t)position * l->max_targets * 4;
        int64_t *labels = s->labels + (size_t)position * l->max_targets;
        size_t kept = rf_augment_boxes(&plan, img.width, img.height, w->xyxy, n, boxes, w->kept_from);
        for (size_t k = 0; k < kept; k++) labels[k] = c->annotations[sp->target_index[first + w->kept_from[k]]].category_id;
        s->targets[position] = (rf_target){.image_id = c->images[index].id, .image_index = index,
                                           .orig_width = img.width, .orig_height = img.height, .count = kept,
                                           .boxes = boxes, .labels = labels};
    }
    rf_image_free(&img);
    return st;
}

static void *worker_main(void *arg) {
    rf_loader *l = arg;
    worker_scratch w = {0};
    size_t mt = l->max_targets ? l->max_targets : 1;
    w.xyxy = malloc(mt * 4 * sizeof *w.xyxy);
    w.kept_from = malloc(mt * sizeof *w.kept_from);
    pthread_mutex_lock(&l->lock);
    if (!w.xyxy || !w.kept_from) record_failure(l, RF_ERR_OUT_OF_MEMORY, "loader: out of host memory");
    for (;;) {
        if (l->closing || l->failure != RF_OK) break;
        if (stop_requested(l)) {
            record_failure(l, RF_ERR_INTERRUPTED, "loader: stopped on request");
            break;
        }
        if (l->total_batches >= 0 && l->fill_batch >= l->total_batches) {
            pthread_cond_wait(&l->work_cond, &l->lock); /* all handed out: wait for close */
            continue;
        }
        slot *s = &l->slots[l->fill_batch % l->cfg.prefetch];
        if (l->fill_position == 0) {
            if (s->state != SLOT_FREE) {
                pthread_cond_wait(&l->work_cond, &l->lock);
                continue;
            }
            begin_batch(l, s, l->fill_batch);
            if (s->batch_view.skipped) {
                s->done = s->batch_view.size;
                l->fill_batch++;
                pthread_cond_broadcast(&l->ready_cond);
                continue;
            }
        }
        int position = l->fill_position++;
        if (l->fill_position == s->batch_view.size) {
            l->fill_batch++;
            l->fill_position = 0;
        }
        pthread_mutex_unlock(&l->lock);
        rf_status st = fill_image(l, s, position, &w);
        pthread_mutex_lock(&l->lock);
        if (st != RF_OK) {
            record_failure(l, st, rf_last_error());
            break;
        }
        if (++s->done == s->batch_view.size) pthread_cond_broadcast(&l->ready_cond);
    }
    pthread_mutex_unlock(&l->lock);
    rf_resampler_free(&w.resampler);
    free(w.xyxy);
    free(w.kept_from);
    return NULL;
}

void rf_loader_config_train(rf_loader_config *cfg, int batch_size, int size, uint64_t seed) {
    *cfg = (rf_loader_config){.split = RF_SPLIT_TRAIN, .batch_size = batch_size, .sizes = {size}, .size_count = 1,
                              .augment = true, .shuffle = true, .drop_last = true, .seed = seed, .epochs = 0,
                              .threads = 2, .prefetch = 3};
}

void rf_loader_config_eval(rf_loader_config *cfg, rf_split split, int batch_size, int size) {
    *cfg = (rf_loader_config){.split = split, .batch_size = batch_size, .sizes = {size}, .size_count = 1,
                              .epochs = 1, .threads = 2, .prefetch = 3};
}

static rf_status check_config(const rf_dataset *ds, const rf_loader_config *c) {
    if (c->split < 0 || c->split >= RF_SPLIT_COUNT)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "loader: split %d out of range", (int)c->split);
    if (!ds->splits[c->split].coco)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "loader: the %s split of %s is not loaded", rf_split_name(c->split),
                        ds->root);
    if (c->batch_size < 1 || c->batch_size > 65536)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "loader: batch size %d out of range 1..65536", c->batch_size);
    if (c->size_count < 1 || c->size_count > RF_LOADER_MAX_SIZES)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "loader: %d square sizes given (1..%d)", c->size_count,
                        RF_LOADER_MAX_SIZES);
    for (int i = 0; i < c->size_count; i++)
        if (c->sizes[i] < 8 || c->sizes[i] > 8192)
            return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "loader: square size %d out of range 8..8192", c->sizes[i]);
    if (c->threads < 1 || c->threads > 256)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "loader: %d threads (1..256)", c->threads);
    if (c->shard_count < 0 || (c->shard_count > 0 && (c->shard_first < 0 || c->shard_span < 1 ||
                                                      c->shard_first + c->shard_span > c->shard_count)))
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "loader: shard %d + %d of %d", c->shard_first, c->shard_span,
                        c->shard_count);
    if (c->prefetch < 2 || c->prefetch > 64)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "loader: prefetch %d (2..64)", c->prefetch);
    if (c->epochs < 0 || c->first_epoch < 0 || c->first_epoch > 0xFFFFFFFFll)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "loader: epochs %lld from %lld out of range", (long long)c->epochs,
                        (long long)c->first_epoch);
    size_t n = ds->splits[c->split].coco->image_count;
    if (n == 0) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "loader: the %s split has no images", rf_split_name(c->split));
    if (n > 0xFFFFFFFFu) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "loader: more than 2^32 images");
    if (c->drop_last && n < (size_t)c->batch_size)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                        "loader: the %s split has %zu images, fewer than one batch of %d (lower the batch size)",
                        rf_split_name(c->split), n, c->batch_size);
    return RF_OK;
}

static void free_loader(rf_loader *l) {
    if (l->slots)
        for (int i = 0; i < l->cfg.prefetch; i++) {
            free(l->slots[i].images);
            free(l->slots[i].pixels);
            free(l->slots[i].boxes);
            free(l->slots[i].labels);
            free(l->slots[i].targets);
        }
    free(l->slots);
    free(l->order);
    free(l->threads);
    free(l);
}

rf_status rf_loader_open(const rf_dataset *ds, const rf_loader_config *cfg, rf_loader **out) {
    *out = NULL;
    if (!ds || !cfg) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "loader: no dataset or config");
    RF_TRY(check_config(ds, cfg));
    rf_loader *l = calloc(1, sizeof *l);
    if (!l) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    l->ds = ds;
    l->split = &ds->splits[cfg->split];
    l->cfg = *cfg;
    l->image_count = l->split->coco->image_count;
    size_t B = (size_t)cfg->batch_size;
    l->batches_per_epoch = cfg->drop_last ? l->image_count / B : (l->image_count + B - 1) / B;
    l->total_batches = cfg->epochs > 0 ? cfg->epochs * (int64_t)l->batches_per_epoch : -1;
    l->max_targets = l->split->max_targets;
    for (int i = 0; i < cfg->size_count; i++)
        if (cfg->sizes[i] > l->max_size) l->max_size = cfg->sizes[i];
    l->order = malloc(l->image_count * sizeof *l->order);
    l->slots = calloc((size_t)cfg->prefetch, sizeof *l->slots);
    l->threads = calloc((size_t)cfg->threads, sizeof *l->threads);
    bool ok = l->order && l->slots && l->threads;
    size_t mt = l->max_targets ? l->max_targets : 1, px = (size_t)3 * l->max_size * l->max_size;
    for (int i = 0; ok && i < cfg->prefetch; i++) {
        slot *s = &l->slots[i];
        s->images = malloc(B * sizeof *s->images);
        s->pixels = malloc(B * px * sizeof *s->pixels);
        s->boxes = malloc(B * mt * 4 * sizeof *s->boxes);
        s->labels = malloc(B * mt * sizeof *s->labels);
        s->targets = calloc(B, sizeof *s->targets);
        ok = s->images && s->pixels && s->boxes && s->labels && s->targets;
    }
    if (!ok) {
        free_loader(l);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "loader: out of host memory for %d staging batches of %zu x %d x %d",
                        cfg->prefetch, B, l->max_size, l->max_size);
    }
    l->order_epoch = -1;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->work_cond, NULL);
    pthread_cond_init(&l->ready_cond, NULL);
    /* Workers inherit a mask blocking every signal: SIGINT goes to the caller. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (; l->thread_count < cfg->threads; l->thread_count++)
        if (pthread_create(&l->threads[l->thread_count], NULL, worker_main, l) != 0) break;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (l->thread_count == 0) {
        rf_loader_close(l);
        return RF_ERROR(RF_ERR_BACKEND, "loader: cannot start a thread: %s", strerror(errno));
    }
    *out = l;
    return RF_OK;
}

rf_status rf_loader_next(rf_loader *l, const rf_batch **batch) {
    *batch = NULL;
    if (!l) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "loader: closed");
    pthread_mutex_lock(&l->lock);
    rf_status status = RF_OK;
    for (;;) {
        if (l->failure != RF_OK) {
            status = RF_ERROR(l->failure, "%s", l->failure_message);
            break;
        }
        if (stop_requested(l)) {
            record_failure(l, RF_ERR_INTERRUPTED, "loader: stopped on request");
            continue;
        }
        if (l->total_batches >= 0 && l->next_batch >= l->total_batches) break;
        slot *s = &l->slots[l->next_batch % l->cfg.prefetch];
        if (s->state == SLOT_FILLING && s->batch == l->next_batch && s->done == s->batch_view.size) {
            s->state = SLOT_HELD;
            l->next_batch++;
            *batch = &s->batch_view;
            break;
        }
        if (s->state == SLOT_HELD) {
            status = RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                              "loader: all %d staging batches are held; release one before asking for the next",
                              l->cfg.prefetch);
            break;
        }
        /* A timed wait so a stop flag raised by a signal handler is seen. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 20 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&l->ready_cond, &l->lock, &until);
    }
    pthread_mutex_unlock(&l->lock);
    return status;
}

void rf_loader_release(rf_loader *l, const rf_batch *batch) {
    if (!l || !batch) return;
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < l->cfg.prefetch; i++)
        if (&l->slots[i].batch_view == batch && l->slots[i].state == SLOT_HELD) {
            l->slots[i].state = SLOT_FREE;
            pthread_cond_broadcast(&l->work_cond);
        }
    pthread_mutex_unlock(&l->lock);
}

size_t rf_loader_batches_per_epoch(const rf_loader *l) { return l ? l->batches_per_epoch : 0; }

void rf_loader_close(rf_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->lock);
    l->closing = true;
    pthread_cond_broadcast(&l->work_cond);
    pthread_cond_broadcast(&l->ready_cond);
    pthread_mutex_unlock(&l->lock);
    for (int i = 0; i < l->thread_count; i++) pthread_join(l->threads[i], NULL);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->work_cond);
    pthread_cond_destroy(&l->ready_cond);
    free_loader(l);
}
