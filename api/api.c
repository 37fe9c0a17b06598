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

rf_status rf_model_set_precision(rf_model *model, rf_precision precision) {
    if (!model) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_model_set_precision: NULL model");
    if (precision < RF_PRECISION_F32 || precision >= RF_PRECISION_COUNT)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_model_set_precision: unknown precision %d", (int)precision);
    model->ctx->precision = precision;
    return RF_OK;
}

rf_status rf_image_read(const char *path, rf_image_rgb8 *out) {
    if (!path || !out) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_image_read: NULL argument");
    *out = (rf_image_rgb8){NULL, 0, 0};
    rf_image img;
    RF_TRY(rf_image_load(path, &img));
    *out = (rf_image_rgb8){img.rgb, img.width, img.height};
    return RF_OK;
}

void rf_image_rgb8_free(rf_image_rgb8 *image) {
    if (!image) return;
    rf_image img = {image->width, image->height, (uint8_t *)image->rgb};
    rf_image_free(&img);
    *image = (rf_image_rgb8){NULL, 0, 0};
}

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

/* The public result owns the evaluator's (class names included). */
typedef struct eval_result_owner {
    rf_eval_result pub; /* first: the pointer callers hold */
    rf_coco_eval_result *internal;
    rf_eval_class *classes;
    char *annotations;
} eval_result_owner;

void rf_eval_result_free(rf_eval_result *result) {
    eval_result_owner *o = (eval_result_owner *)result;
    if (!o) return;
    rf_coco_eval_result_free(o->internal);
    free(o->classes);
    free(o->annotations);
    free(o);
}

/* Takes ownership of r. */
static rf_status publish(rf_coco_eval_result *r, const char *annotations, rf_eval_result **out) {
    eval_result_owner *o = calloc(1, sizeof *o);
    if (o) {
        o->internal = r;
        o->classes = calloc(r->class_count + 1, sizeof *o->classes);
        o->annotations = strdup(annotations);
    }
    if (!o || !o->classes || !o->annotations) {
        if (o) o->internal = r, rf_eval_result_free(&o->pub);
        else rf_coco_eval_result_free(r);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    rf_eval_result *p = &o->pub;
    memcpy(p->stats, r->stats, sizeof p->stats);
    memcpy(p->max_dets, r->max_dets, sizeof p->max_dets);
    p->annotations = o->annotations;
    p->images = r->image_count;
    p->categories = r->category_count;
    p->gt_boxes = r->gt_count;
    p->detections = r->detection_count;
    p->f1_threshold = r->f1_threshold;
    p->precision = r->precision;
    p->recall = r->recall;
    p->f1 = r->f1;
    for (size_t k = 0; k < r->class_count; k++) {
        const rf_coco_class_result *c = &r->classes[k];
        o->classes[k] = (rf_eval_class){c->category_id, c->name,      c->gt_count,  c->detection_count, c->ap,
                                        c->ap50,        c->precision, c->recall,    c->f1};
    }
    p->class_count = r->class_count;
    p->classes = o->classes;
    *out = p;
    return RF_OK;
}

/* max_dets from the options (all 0: pycocotools' 1, 10, 100; the evaluator
 * checks them), and the options' ranges. */
static rf_status eval_options(const rf_eval_options *o, int max_dets[3]) {
    static const int defaults[3] = {1, 10, 100};
    bool given = o && (o->max_dets[0] || o->max_dets[1] || o->max_dets[2]);
    memcpy(max_dets, given ? o->max_dets : defaults, sizeof defaults);
    if (o && (o->batch < 0 || o->threads < 0 || o->batch > 4096 || o->threads > 1024))
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "evaluation options: batch %d (0..4096), threads %d (0..1024)",
                        o->batch, o->threads);
    return RF_OK;
}

rf_status rf_evaluate_files_with(const char *gt_json, const char *detections_json, const rf_eval_options *options,
                                 rf_eval_result **out) {
    if (!gt_json || !detections_json || !out)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_evaluate_files: NULL argument");
    *out = NULL;
    rf_coco_eval_params params;
    rf_coco_eval_params_default(&params);
    RF_TRY(eval_options(options, params.max_dets));
    if (options) params.threads = options->threads;
    rf_coco_dataset *gt = NULL;
    rf_coco_detection *dets = NULL;
    size_t count = 0;
    rf_coco_eval_result *r = NULL;
    RF_TRY(rf_coco_load(gt_json, &gt));
    rf_status s = rf_coco_load_detections(detections_json, gt, &dets, &count);
    if (s == RF_OK) s = rf_coco_evaluate(gt, dets, count, &params, &r);
    if (s == RF_OK) s = publish(r, gt_json, out);
    free(dets);
    rf_coco_free(gt);
    return s;
}

rf_status rf_evaluate_files(const char *gt_json, const char *detections_json, const int max_dets[3], double stats[12]) {
    rf_eval_options o = {{0}};
    if (max_dets) memcpy(o.max_dets, max_dets, sizeof o.max_dets);
    rf_eval_result *r = NULL;
    RF_TRY(rf_evaluate_files_with(gt_json, detections_json, &o, &r));
    memcpy(stats, r->stats, sizeof r->stats);
    rf_eval_result_free(r);
    return RF_OK;
}

rf_status rf_model_evaluate_with(rf_model *model, const char *data, const char *split_name,
                                 const rf_eval_options *options, rf_eval_result **out) {
    if (!model || !data || !split_name || !out)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_model_evaluate: NULL argument");
    *out = NULL;
    int max_dets[3];
    RF_TRY(eval_options(options, max_dets));
    int batch = options && options->batch ? options->batch : 8, threads = options && options->threads ? options->threads : 2;
    rf_split split;
    RF_TRY(rf_split_parse(split_name, &split));
    char dir[4096];
    RF_TRY(rf_dataset_resolve_dir(data, dir, sizeof dir, NULL));
    rf_dataset *ds = NULL;
    RF_TRY(rf_dataset_open(dir, RF_SPLIT_BIT(split), &ds));
    rf_coco_eval_result *r = NULL;
    rf_status s = rf_evaluate_model(model->m, model->ctx, ds, split, batch, threads, max_dets,
                                    options ? options->progress : NULL, options ? options->progress_user : NULL, &r);
    if (s == RF_OK) s = publish(r, ds->splits[split].annotations, out);
    rf_dataset_free(ds);
    return s;
}

rf_status rf_model_evaluate(rf_model *model, const char *data, const char *split_name, const int max_dets[3],
                            double stats[12]) {
    rf_eval_options o = {{0}};
    if (max_dets) memcpy(o.max_dets, max_dets, sizeof o.max_dets);
    rf_eval_result *r = NULL;
    RF_TRY(rf_model_evaluate_with(model, data, split_name, &o, &r));
    memcpy(stats, r->stats, sizeof r->stats);
    rf_eval_result_free(r);
    return RF_OK;
}
