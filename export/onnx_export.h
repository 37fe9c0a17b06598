/* onnx_export.h — RF-DETR as an ONNX graph with the interface RF-DETR's own
 * exporter writes (rfdetr 1.11, rfdetr/export: LWDETR.forward_export traced
 * by torch.onnx.export at opset 17), so pipelines built on the official
 * export take our models unchanged:
 *
 *   input   "input"  (N, 3, H, W) f32, ImageNet-normalised RGB
 *   output  "dets"   (N, Q, 4) f32, boxes (cx, cy, w, h) normalised to the input
 *   output  "labels" (N, Q, C) f32, class logits (no sigmoid)
 *
 * Q is num_queries (one query group: the inference path), C the class
 * head's width; the outputs are the last decoder layer's. N is fixed or the
 * symbolic "batch". The graph mirrors model/'s forward pass layer by layer
 * (same configuration, same official parameter names as initializers):
 * windowed ViT with global blocks, C2f projector with channel LayerNorm,
 * two-stage top-k query selection, decoder with deformable attention
 * through GridSample, the heads. Ops: opset 17's LayerNormalization, GELU
 * as Erf, GridSample, TopK, GatherND. */
#ifndef RFDETR_EXPORT_ONNX_EXPORT_H
#define RFDETR_EXPORT_ONNX_EXPORT_H

#include "model/model.h"

#define RFDETR_ONNX_OPSET 17

typedef struct rfdetr_onnx_info {
    int nodes;          /* graph nodes written */
    int64_t queries;    /* Q */
    int64_t classes;    /* C */
} rfdetr_onnx_info;

/* Writes m (at its configured resolution) to path, atomically. batch > 0
 * fixes N; batch 0 makes it the symbolic dimension "batch". The model must
 * live on a device whose tensors can be downloaded (any). info may be NULL. */
rf_status rfdetr_export_onnx(rfdetr_model *m, const char *path, int batch, rfdetr_onnx_info *info);

#endif /* RFDETR_EXPORT_ONNX_EXPORT_H */
