/* postprocess.c — RF-DETR's PostProcess (models/postprocess.py): scores,
 * the top (query, class) pairs and their boxes in original image pixels;
 * and COCO's class names for official checkpoints. */
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "core/ops.h"
#include "core/ops_vision.h"
#include "model/model.h"

rf_status rfdetr_postprocess(rf_ctx *ctx, rf_tensor *logits, rf_tensor *boxes, const int (*image_hw)[2],
                             int num_select, rfdetr_detection *out, int *k_out) {
    if (ctx->status != RF_OK) return ctx->status;
    if (!logits || !boxes || logits->ndim != 3 || boxes->ndim != 3 || boxes->shape[2] != 4 ||
        boxes->shape[0] != logits->shape[0] || boxes->shape[1] != logits->shape[1] || num_select < 1)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                        "rfdetr_postprocess: needs logits (B, Q, C), boxes (B, Q, 4) and num_select >= 1");
    int64_t B = logits->shape[0], Q = logits->shape[1], C = logits->shape[2];
    int64_t k = num_select < Q * C ? num_select : Q * C;
    /* On the device: sigmoid, flatten queries x classes, stable top-k. */
    bool was = rf_ctx_set_grad(ctx, false);
    rf_tensor *prob = rf_reshape(ctx, rf_sigmoid(ctx, logits), 2, (int64_t[]){B, Q * C});
    rf_tensor *idx = NULL;
    rf_tensor *scores = rf_topk(ctx, prob, k, &idx);
    rf_tensor *cboxes = rf_contiguous(ctx, boxes);
    rf_ctx_set_grad(ctx, was);
    if (ctx->status != RF_OK) return RF_ERROR(ctx->status, "post-processing: %s", ctx->message);
    /* On the host: the k selections and the (few) boxes they point at. */
    size_t nsel = (size_t)(B * k), nbox = (size_t)(B * Q * 4);
    float *host_scores = malloc(sizeof *host_scores * nsel);
    int32_t *host_idx = malloc(sizeof *host_idx * nsel);
    float *host_boxes = malloc(sizeof *host_boxes * nbox);
    rf_status s = RF_OK;
    if (!host_scores || !host_idx || !host_boxes) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory post-processing");
    if (s == RF_OK) s = rf_tensor_download(scores, host_scores);
    if (s == RF_OK) s = rf_tensor_download(idx, host_idx);
    if (s == RF_OK) s = rf_tensor_download(cboxes, host_boxes);
    for (int64_t b = 0; b < B && s == RF_OK; b++) {
        float img_h = (float)image_hw[b][0], img_w = (float)image_hw[b][1];
        float scale[4] = {img_w, img_h, img_w, img_h};
        for (int64_t i = 0; i < k; i++) {
            int32_t flat = host_idx[b * k + i];
            int64_t q = flat / C;
            const float *bx = host_boxes + (b * Q + q) * 4;
            rfdetr_detection *d = &out[b * k + i];
            d->score = host_scores[b * k + i];
            d->label = (int)(flat % C);
            /* box_cxcywh_to_xyxy, scaled, clamp_min(0) then clamp(max=size). */
            float xyxy[4] = {bx[0] - 0.5f * bx[2], bx[1] - 0.5f * bx[3], bx[0] + 0.5f * bx[2], bx[1] + 0.5f * bx[3]};
            for (int c = 0; c < 4; c++) {
                float v = xyxy[c] * scale[c];
                v = v < 0.0f ? 0.0f : v;
                d->box[c] = v > scale[c] ? scale[c] : v;
            }
        }
    }
    free(host_scores);
    free(host_idx);
    free(host_boxes);
    if (s == RF_OK && k_out) *k_out = (int)k;
    return s;
}

/* RF-DETR's COCO_CLASSES (rfdetr/assets/coco_classes.py): the 80 COCO
 * categories at their original ids 1..90. */
static const char *const coco_names[91] = {
    NULL, "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", NULL, "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", NULL, "backpack", "umbrella", NULL, NULL, "handbag", "tie", "suitcase",
    "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", NULL, "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", NULL, "dining table", NULL, NULL, "toilet", NULL, "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", NULL, "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
};

const char *rfdetr_coco_class_name(int id) { return id >= 0 && id < 91 ? coco_names[id] : NULL; }
