/* loader.h — the prefetching loader: background threads decode and augment
 * images into host staging batches while the caller (the trainer) computes,
 * and hand them over in order.
 *
 *   rf_loader_config cfg;
 *   rf_loader_config_train(&cfg, 8, 384, seed);      // or _eval
 *   rf_loader *l;  rf_loader_open(ds, &cfg, &l);
 *   const rf_batch *b;
 *   while (rf_loader_next(l, &b) == RF_OK && b) {
 *       upload b->pixels ([size, 3, height, width] floats) and b->targets;
 *       rf_loader_release(l, b);                      // frees the slot for prefetching
 *       ...compute...
 *   }
 *   rf_loader_close(l);                               // safe at any time, joins the threads
 *
 * Batch g of the run holds the images at positions g*B .. g*B+B-1 of its
 * epoch's order; every random choice (the order of each epoch, each image's
 * flip / crop, each batch's square size) comes from Philox streams keyed by
 * the seed and named by epoch, image and batch, so the batches are the same
 * bytes for a seed whatever the thread count or timing, and a run resumed at
 * epoch e sees what the uninterrupted run saw.
 *
 * Shutdown: rf_loader_close stops and joins the workers wherever they are.
 * A failure in a worker (say a corrupt JPEG) is returned by rf_loader_next
 * with the worker's message, naming the file; later calls return it again.
 * With cfg.stop set (a flag a SIGINT handler raises), workers stop at the
 * next image and rf_loader_next returns RF_ERR_INTERRUPTED within ~20 ms.
 * Workers block every signal, so Ctrl-C reaches the caller's thread.
 */
#ifndef RFDETR_DATA_LOADER_H
#define RFDETR_DATA_LOADER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "rfdetr.h"

#define RF_LOADER_MAX_SIZES 16

typedef struct rf_loader_config {
    rf_split split;
    int batch_size;
    int sizes[RF_LOADER_MAX_SIZES]; /* square sides; each batch picks one (multi-scale) */
    int size_count;
    bool augment;   /* RF-DETR's training augmentation; false: square resize only */
    bool shuffle;   /* a new order every epoch */
    bool drop_last; /* drop the last, incomplete batch of an epoch */
    uint64_t seed;
    int64_t first_epoch; /* epoch number of the first batch (resuming) */
    int64_t epochs;      /* epochs to produce; 0 = until closed */
    int threads;         /* decoding threads, >= 1 */
    int prefetch;        /* staging batches, >= 2 (one the caller holds, one filling) */
    const volatile sig_atomic_t *stop; /* optional: nonzero asks everything to stop */
    /* Sharding (data-parallel ranks): with shard_count > 0 only the batches
     * whose index in the epoch, modulo shard_count, lies in [shard_first,
     * shard_first + shard_span) are decoded; the others come in order too,
     * marked skipped, without pixels or targets. */
    int shard_count, shard_first, shard_span;
} rf_loader_config;

/* Training: the split "train", shuffled, augmented, incomplete batch dropped,
 * one square size (set sizes / size_count for multi-scale), 2 threads,
 * 3 staging batches, epochs unbounded. */
void rf_loader_config_train(rf_loader_config *cfg, int batch_size, int size, uint64_t seed);
/* Evaluation: the given split in file order, square resize only, every
 * image (last batch smaller), one epoch. */
void rf_loader_config_eval(rf_loader_config *cfg, rf_split split, int batch_size, int size);

typedef struct rf_target {
    int64_t image_id;              /* the annotation file's id */
    size_t image_index;            /* index in the split's images[] */
    int orig_width, orig_height;   /* decoded size, for mapping predictions back */
    size_t count;                  /* boxes (crowd regions and emptied boxes excluded) */
    const float *boxes;            /* count x [cx, cy, w, h], normalised to [0, 1] */
    const int64_t *labels;         /* count category ids */
} rf_target;

typedef struct rf_batch {
    int64_t epoch;
    int64_t index;         /* batch number within the epoch */
    bool last_in_epoch;
    bool skipped;          /* outside this loader's shard: size and square side only */
    int size;              /* images in this batch (< batch_size only for a last, kept batch) */
    int height, width;     /* the square side chosen for this batch */
    const float *pixels;   /* [size][3][height][width], (v/255 - mean) / std, RGB */
    const rf_target *targets; /* [size] */
} rf_batch;

typedef struct rf_loader rf_loader;

/* Checks the config against the dataset (the split must be loaded) and
 * starts the threads. The dataset must outlive the loader. */
rf_status rf_loader_open(const rf_dataset *ds, const rf_loader_config *cfg, rf_loader **out);
/* Waits for the next batch in order; *batch is NULL once every epoch asked
 * for has been delivered. The batch stays valid until released. */
rf_status rf_loader_next(rf_loader *l, const rf_batch **batch);
/* Returns a batch's staging memory for prefetching. */
void rf_loader_release(rf_loader *l, const rf_batch *batch);
size_t rf_loader_batches_per_epoch(const rf_loader *l);
void rf_loader_close(rf_loader *l);

#endif /* RFDETR_DATA_LOADER_H */
