/* evaluate.h — COCO evaluation of a model on a dataset split, on the model's
 * device: batches from the loader (square resize only), the forward pass
 * without gradients, RF-DETR's post-processing (top num_select per image,
 * boxes in original pixels) and the evaluator (eval/coco_eval.h). Used by
 * the trainer every epoch and by `rfdetr eval --weights`. */
#ifndef RFDETR_TRAIN_EVALUATE_H
#define RFDETR_TRAIN_EVALUATE_H

#include "core/tensor.h"
#include "data/dataset.h"
#include "eval/coco_eval.h"
#include "model/model.h"

/* Called after each batch with the images evaluated so far and in all. */
typedef void (*rf_evaluate_progress_fn)(void *user, int64_t images_done, int64_t images_total);

/* ctx: a context on the model's device (reset per batch; its gradient
 * recording is switched off meanwhile). max_dets NULL: pycocotools'
 * 1/10/100. progress may be NULL. */
rf_status rf_evaluate_model(rfdetr_model *model, rf_ctx *ctx, const rf_dataset *ds, rf_split split, int batch,
                            int threads, const int max_dets[3], rf_evaluate_progress_fn progress, void *progress_user,
                            rf_coco_eval_result **result);

/* One batch of images already in ctx on the model's device (ctx records no
 * gradients): the forward pass, post-processing, and its COCO detections
 * (ids[i] the image ids, hw[i] their original height and width) appended to
 * *dets, grown as needed, *count updated. The trainer's evaluation split
 * across devices runs exactly this per batch, so its detections are those
 * of one device. */
rf_status rf_evaluate_batch(rfdetr_model *model, rf_ctx *ctx, rf_tensor *images, const int (*hw)[2],
                            const int64_t *ids, rf_coco_detection **dets, size_t *count);

#endif
