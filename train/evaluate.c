/* evaluate.c — see evaluate.h. */
#include "train/evaluate.h"

#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "data/loader.h"

rf_status rf_evaluate_batch(rfdetr_model *model, rf_ctx *ctx, rf_tensor *images, const int (*hw)[2],
                            const int64_t *ids, rf_coco_detection **dets, size_t *count) {
    int n = (int)images->shape[0], num_select = model->cfg.num_select;
    rfdetr_outputs out;
    RF_TRY(rfdetr_model_forward(model, ctx, images, false, &out));
    int64_t per = out.queries * out.classes < num_select ? out.queries * out.classes : num_select;
    rfdetr_detection *raw = malloc((size_t)(n * per + 1) * sizeof *raw);
    rf_coco_detection *grown = realloc(*dets, (*count + (size_t)(n * per) + 1) * sizeof *grown);
    if (grown) *dets = grown;
    rf_status s = raw && grown ? RF_OK : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    int k = 0;
    if (s == RF_OK)
        s = rfdetr_postprocess(ctx, out.logits[out.layers - 1], out.boxes[out.layers - 1], hw, num_select, raw, &k);
    for (int i = 0; s == RF_OK && i < n; i++)
        for (int j = 0; j < k; j++) {
            const rfdetr_detection *d = &raw[(size_t)i * k + j];
            /* A query whose learned reference box has a negative side
             * (RF-DETR trains such raw refpoint_embed rows when an image
             * has fewer proposals than queries) gives corners in the
             * wrong order: an empty box, a false positive, as
             * pycocotools counts it. */
            double w = d->box[2] - d->box[0], h = d->box[3] - d->box[1];
            (*dets)[(*count)++] = (rf_coco_detection){ids[i], d->label, {d->box[0], d->box[1], w > 0 ? w : 0, h > 0 ? h : 0},
                                                      d->score};
        }
    free(raw);
    return s;
}

rf_status rf_evaluate_model(rfdetr_model *model, rf_ctx *ctx, const rf_dataset *ds, rf_split split, int batch,
                            int threads, const int max_dets[3], rf_evaluate_progress_fn progress, void *progress_user,
                            rf_coco_eval_result **result) {
    *result = NULL;
    const rf_coco_dataset *gt = ds->splits[split].coco;
    rf_loader_config lc;
    rf_loader_config_eval(&lc, split, batch, model->cfg.resolution);
    lc.threads = threads;
    /* No stop flag here: an evaluation always completes (Ctrl-C is honoured
     * between training steps), so an interrupted run never stands between
     * an epoch's training and its checkpoints. */
    rf_loader *loader = NULL;
    rf_coco_evaluator *ev = NULL;
    rf_coco_eval_params ep;
    rf_coco_eval_params_default(&ep);
    if (max_dets) memcpy(ep.max_dets, max_dets, sizeof ep.max_dets);
    if (!gt) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "evaluation: the %s split is not loaded", rf_split_name(split));
    RF_TRY(rf_loader_open(ds, &lc, &loader));
    rf_status s = rf_coco_evaluator_create(gt, &ep, &ev);
    rf_coco_detection *coco = NULL;
    bool was = rf_ctx_set_grad(ctx, false);
    int64_t images_done = 0, images_total = (int64_t)gt->image_count;
    while (s == RF_OK) {
        const rf_batch *lb = NULL;
        s = rf_loader_next(loader, &lb);
        if (s != RF_OK || !lb) break;
        rf_ctx_reset(ctx);
        int n = lb->size;
        rf_tensor *images = rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){n, 3, lb->height, lb->width}, lb->pixels);
        int (*hw)[2] = malloc((size_t)n * sizeof *hw);
        int64_t *ids = malloc((size_t)n * sizeof *ids);
        for (int i = 0; hw && ids && i < n; i++) {
            hw[i][0] = lb->targets[i].orig_height;
            hw[i][1] = lb->targets[i].orig_width;
            ids[i] = lb->targets[i].image_id;
        }
        rf_loader_release(loader, lb);
        size_t m = 0;
        s = !images ? rf_ctx_status(ctx)
            : !hw || !ids ? RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory")
                          : rf_evaluate_batch(model, ctx, images, (const int(*)[2])hw, ids, &coco, &m);
        if (s == RF_OK) s = rf_coco_evaluator_add(ev, coco, m);
        images_done += n;
        if (s == RF_OK && progress) progress(progress_user, images_done, images_total);
        free(hw);
        free(ids);
    }
    rf_ctx_set_grad(ctx, was);
    if (s == RF_OK) s = rf_coco_evaluator_compute(ev, result);
    free(coco);
    rf_coco_evaluator_free(ev);
    rf_loader_close(loader);
    return s;
}
