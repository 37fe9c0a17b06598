/* api.c — the public model, prediction and evaluation calls of rfdetr.h,
 * thin wrappers over model/, data/, eval/ and train/: the command line uses
 * them, and so can any C program embedding the library. */
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "core/tensor.h"
#include "data/coco.h"
#include "data/dataset.h"
#include "data/image.h"
#include "eval/coco_eval.h"
#include "model/model.h"
#include "rfdetr.h"
#include "train/evaluate.h"

struct rf_model {
    rfdetr_model *m;
    rf_ctx *ctx; /* on the model's device, reset per call */
};

static rf_status wrap(rfdetr_model *m, rf_model **out) {
    rf_model *w = calloc(1, sizeof *w);
    rf_status s = w ? rf_ctx_create(m->device, 0, &w->ctx) : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    if (s != RF_OK) {
        free(w);
        rfdetr_model_free(m);
        return s;
    }
    w->m = m;
    *out = w;
    return RF_OK;
}

rf_status rf_model_open_with(rf_device *device, const char *weights_path, const char *size_hint, int resolution,
                             rf_model **out) {
    if (!device || !weights_path || !out) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_model_open: NULL argument");
    *out = NULL;
    rfdetr_model *m = NULL;
    RF_TRY(rfdetr_model_open(device, weights_path, size_hint, resolution, &m));
    return wrap(m, out);
}

rf_status rf_model_open(rf_device *device, const char *weights_path, rf_model **out) {
    return rf_model_open_with(device, weights_path, NULL, 0, out);
}

const char *rf_model_describe(const rf_model *model, char *buf, size_t size) {
    return rfdetr_config_describe(&model->m->cfg, buf, size);
}

rf_status rf_model_new(rf_device *device, const char *size, int num_classes, int resolution, uint64_t seed,
                       rf_model **out) {
    if (!device || !size || !out) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_model_new: NULL argument");
    *out = NULL;
    rfdetr_config cfg;
    RF_TRY(rfdetr_config_preset(size, &cfg));
    if (resolution > 0) RF_TRY(rfdetr_config_set_resolution(&cfg, resolution));
    if (num_classes > 0) cfg.num_classes = num_classes;
    rfdetr_model *m = NULL;
    RF_TRY(rfdetr_model_create(device, &cfg, seed, &m));
    return wrap(m, out);
}

rf_status rf_model_save(const rf_model *model, const char *path) { return rfdetr_model_save(model->m, path); }

void rf_model_free(rf_model *model) {
    if (!model) return;
    rf_ctx_free(model->ctx);
    rfdetr_model_free(model->m);
    free(model);
}

const char *rf_model_size(const rf_model *model) { return model->m->cfg.size; }
int rf_model_num_classes(const rf_model *model) { return model->m->cfg.num_classes; }
int rf_model_resolution(const rf_model *model) { return model->m->cfg.resolution; }
const char *rf_model_class_name(const rf_model *model, int class_id) { return rfdetr_model_class_name(model->m, class_id); }

void rf_detections_free(rf_detection *detections) { free(detections); }

rf_status rf_model_predict(rf_model *model, const rf_image_rgb8 *images, int count, float threshold,
                           rf_detection **out, size_t *n_out) {
    if (!model || (!images && count) || count < 0 || !out || !n_out)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_model_predict: bad arguments");
    *out = NULL;
    *n_out = 0;
    if (count == 0) return RF_OK;
    rfdetr_model *m = model->m;
    int R = m->cfg.resolution;
    size_t plane = (size_t)R * R * 3;
    float *pixels = malloc(sizeof *pixels * plane * (size_t)count);
    int (*hw)[2] = malloc(sizeof *hw * (size_t)count);
    rfdetr_detection *det = malloc(sizeof *det * (size_t)count * (size_t)m->cfg.num_select);
    rf_resampler scratch = {0};
    rf_status s = pixels && hw && det ? RF_OK : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for %d images", count);
    for (int i = 0; i < count && s == RF_OK; i++) {
        if (!images[i].rgb || images[i].width < 1 || images[i].height < 1) {
            s = RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_model_predict: image %d is empty (%d x %d)", i, images[i].width,
                         images[i].height);
            break;
        }
        /* The training pipeline's square resize and normalisation. */
        rf_image view = {images[i].width, images[i].height, (uint8_t *)images[i].rgb};
        rf_resample_region whole = {0, 0, view.width, view.height, false};
        s = rf_image_resample_normalized(&view, &whole, R, R, &scratch, pixels + plane * (size_t)i);
        hw[i][0] = view.height;
        hw[i][1] = view.width;
    }
    rf_resampler_free(&scratch);
    int k = 0;
    if (s == RF_OK) {
        rf_ctx *ctx = model->ctx;
        rf_ctx_reset(ctx);
        bool was = rf_ctx_set_grad(ctx, false);
        rf_tensor *x = rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){count, 3, R, R}, pixels);
        rfdetr_outputs o;
        s = x ? rfdetr_model_forward(m, ctx, x, false, &o) : rf_ctx_status(ctx);
        if (s == RF_OK)
            s = rfdetr_postprocess(ctx, o.logits[o.layers - 1], o.boxes[o.layers - 1], (const int(*)[2])hw,
                                   m->cfg.num_select, det, &k);
        rf_ctx_set_grad(ctx, was);
    }
    rf_detection *res = NULL;
    size_t n = 0;
    if (s == RF_OK) {
        res = malloc(sizeof *res * ((size_t)count * (size_t)k + 1));
        if (!res) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    for (int i = 0; i < count && s == RF_OK; i++)
        for (int j = 0; j < k; j++) {
            const rfdetr_detection *d = &det[(size_t)i * k + j];
            /* RF-DETR keeps scores above the threshold; 0 keeps every top-k detection. */
            if (threshold > 0 && !(d->score > threshold)) continue;
            res[n++] = (rf_detection){i, d->label, d->score, {d->box[0], d->box[1], d->box[2], d->box[3]}};
        }
    free(pixels);
    free(hw);
    free(det);
    if (s != RF_OK) {
        free(res);
        return s;
    }
    *out = res;
    *n_out = n;
    return RF_OK;
}

rf_status rf_evaluate_files(const char *gt_json, const char *detections_json, const int max_dets[3], double stats[12]) {
    rf_coco_dataset *gt = NULL;
    rf_coco_detection *dets = NULL;
    size_t count = 0;
    rf_coco_eval_result *r = NULL;
    RF_TRY(rf_coco_load(gt_json, &gt));
    rf_status s = rf_coco_load_detections(detections_json, gt, &dets, &count);
    rf_coco_eval_params params;
    rf_coco_eval_params_default(&params);
    if (max_dets) memcpy(params.max_dets, max_dets, sizeof params.max_dets);
    if (s == RF_OK) s = rf_coco_evaluate(gt, dets, count, &params, &r);
    if (s == RF_OK) memcpy(stats, r->stats, sizeof r->stats);
    rf_coco_eval_result_free(r);
    free(dets);
    rf_coco_free(gt);
    return s;
}

rf_status rf_model_evaluate(rf_model *model, const char *data, const char *split_name, const int max_dets[3],
                            double stats[12]) {
    rf_split split;
    RF_TRY(rf_split_parse(split_name, &split));
    char dir[4096];
    RF_TRY(rf_dataset_resolve_dir(data, dir, sizeof dir, NULL));
    rf_dataset *ds = NULL;
    RF_TRY(rf_dataset_open(dir, RF_SPLIT_BIT(split), &ds));
    rf_coco_eval_result *r = NULL;
    rf_status s = rf_evaluate_model(model->m, model->ctx, ds, split, 8, 2, max_dets, NULL, NULL, &r);
    if (s == RF_OK) memcpy(stats, r->stats, sizeof r->stats);
    rf_coco_eval_result_free(r);
    rf_dataset_free(ds);
    return s;
}
