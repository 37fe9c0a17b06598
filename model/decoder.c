/* decoder.c — two-stage query selection, the decoder and the heads
 * (RF-DETR's transformer.py and lwdetr.py), and the whole forward pass.
 *
 * Two-stage: every memory position is a proposal box (its cell centre,
 * 0.05 wide; positions whose box is not inside (0.01, 0.99) are zeroed, as
 * gen_encoder_output_proposals does). Each query group g has its own
 * enc_output linear + LayerNorm, class head and box MLP; the top
 * min(num_queries, h*w) positions by best class logit become that group's
 * proposals (boxes refined by the box MLP with reparametrisation). Their
 * boxes, detached, anchor the decoder's reference boxes together with the
 * learned refpoint_embed (again reparametrised); learned query_feat rows are
 * the initial targets.
 *
 * Decoder layers are post-norm: self-attention (q = k = target + query_pos,
 * v = target) inside each query group, deformable cross-attention into the
 * memory around the reference boxes (one level, `dec_points` points per
 * head), FFN with ReLU. With lite_refpoint_refine the reference boxes and
 * query_pos (an MLP of their sine embedding) stay fixed across layers. Each
 * layer's output, through the shared final LayerNorm, feeds the class head
 * and the box MLP (deltas against the reference boxes). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "model/layers.h"

#define DEC_EPS 1e-5f /* nn.LayerNorm's default: decoder and enc_output norms */

/* ---- shared helpers (layers.h) ----------------------------------------------------------------- */

rf_tensor *rfdetr_apply_mlp(rf_ctx *ctx, rf_tensor *x, const rfdetr_mlp *mlp) {
    for (int i = 0; i < mlp->layers; i++) {
        x = rfdetr_apply_linear(ctx, x, mlp->l[i]);
        if (i < mlp->layers - 1) x = rf_relu(ctx, x);
    }
    return x;
}

rf_tensor *rfdetr_box_reparam(rf_ctx *ctx, rf_tensor *delta, rf_tensor *ref) {
    rf_tensor *ref_wh = rf_slice(ctx, ref, -1, 2, 4);
    rf_tensor *xy = rf_add(ctx, rf_mul(ctx, rf_slice(ctx, delta, -1, 0, 2), ref_wh), rf_slice(ctx, ref, -1, 0, 2));
    rf_tensor *wh = rf_mul(ctx, rf_exp(ctx, rf_slice(ctx, delta, -1, 2, 4)), ref_wh);
    return rf_concat(ctx, (rf_tensor *[]){xy, wh}, 2, -1);
}

rf_tensor *rfdetr_expand_batch(rf_ctx *ctx, rf_tensor *t, int64_t batch) {
    if (!t || ctx->status != RF_OK) return NULL;
    int64_t shape[RF_MAX_DIMS];
    if (t->ndim + 1 > RF_MAX_DIMS) return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "expand_batch: rank %d", t->ndim);
    shape[0] = batch;
    for (int i = 0; i < t->ndim; i++) shape[i + 1] = t->shape[i];
    /* zeros + t broadcasts t and, in the backward pass, sums its gradient. */
    return rf_add(ctx, rf_ctx_zeros(ctx, RF_F32, t->ndim + 1, shape), t);
}

rf_tensor *rfdetr_concat_many(rf_ctx *ctx, rf_tensor *const *xs, int n, int dim) {
    if (n == 1) return xs[0];
    if (n <= RF_NODE_MAX_INPUTS) return rf_concat(ctx, xs, n, dim);
    rf_tensor *parts[RF_NODE_MAX_INPUTS];
    int chunk = (n + RF_NODE_MAX_INPUTS - 1) / RF_NODE_MAX_INPUTS, k = 0;
    for (int i = 0; i < n; i += chunk) parts[k++] = rfdetr_concat_many(ctx, xs + i, n - i < chunk ? n - i : chunk, dim);
    return rf_concat(ctx, parts, k, dim);
}

/* ---- sine embedding of reference boxes ---------------------------------------------------------------- */

/* gen_sineembed_for_position(boxes, d/2) as one linear map and a sine:
 * output column o belongs to coordinate (y, x, w, h)[o / (d/2)] and
 * frequency j = o % (d/2) with dim_t = 10000^(2 floor(j/2) / (d/2)); even j
 * take sin(2 pi c / dim_t), odd j cos = sin(. + pi/2). */
void rfdetr_sine_embed_weights(int64_t d, float *w, float *phase) {
    int64_t half = d / 2, out = 2 * d;
    memset(w, 0, sizeof *w * (size_t)(out * 4));
    static const int coord[4] = {1, 0, 2, 3};
    for (int64_t o = 0; o < out; o++) {
        int64_t j = o % half;
        float dim_t = powf(10000.0f, (float)(2 * (j / 2)) / (float)half);
        w[o * 4 + coord[o / half]] = (float)(2.0 * M_PI) / dim_t;
        phase[o] = (j % 2) ? (float)(M_PI / 2) : 0.0f;
    }
}

/* The map above as constants on the context's device: W (2d, 4), phase (2d). */
static void sine_embed_constants(rf_ctx *ctx, int64_t d, rf_tensor **w_out, rf_tensor **phase_out) {
    int64_t out = 2 * d;
    float *w = rf_ctx_host_alloc(ctx, sizeof *w * (size_t)(out * 4 + out));
    if (!w) return;
    float *phase = w + out * 4;
    rfdetr_sine_embed_weights(d, w, phase);
    *w_out = rf_ctx_from_host(ctx, RF_F32, 2, (int64_t[]){out, 4}, w);
    *phase_out = rf_ctx_from_host(ctx, RF_F32, 1, (int64_t[]){out}, phase);
}

/* ---- two-stage proposals ------------------------------------------------------------------------- */

bool rfdetr_encoder_proposals(int64_t h, int64_t w, float *props, float *valid) {
    bool all_valid = true;
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            float box[4] = {(float)(((double)x + 0.5) / (double)w), (float)(((double)y + 0.5) / (double)h), 0.05f, 0.05f};
            bool ok = true;
            for (int c = 0; c < 4; c++) ok = ok && box[c] > 0.01f && box[c] < 0.99f;
            valid[y * w + x] = ok ? 1.0f : 0.0f;
            all_valid = all_valid && ok;
            for (int c = 0; c < 4; c++) props[(y * w + x) * 4 + c] = ok ? box[c] : 0.0f;
        }
    return all_valid;
}

typedef struct two_stage {
    rf_tensor *refs;       /* (B, G*k, 4), detached: the decoder's anchors */
    rf_tensor *logits;     /* (B, G*k, K) */
    rf_tensor *boxes;      /* (B, G*k, 4) */
    int64_t k;
} two_stage;

static two_stage select_proposals(rfdetr_model *m, rf_ctx *ctx, rf_tensor *memory, int64_t h, int64_t w, int groups) {
    two_stage ts = {0};
    int64_t B = memory->shape[0], HW = h * w;
    /* The proposal of each position, replicated per image for the gather. */
    float *props = rf_ctx_host_alloc(ctx, sizeof *props * (size_t)(B * HW * 4));
    float *valid = rf_ctx_host_alloc(ctx, sizeof *valid * (size_t)HW);
    if (!props || !valid) return ts;
    bool all_valid = rfdetr_encoder_proposals(h, w, props, valid);
    for (int64_t b = 1; b < B; b++) memcpy(props + b * HW * 4, props, sizeof *props * (size_t)(HW * 4));
    rf_tensor *proposals = rf_ctx_from_host(ctx, RF_F32, 3, (int64_t[]){B, HW, 4}, props);
    rf_tensor *out_memory = memory;
    if (!all_valid) out_memory = rf_mul(ctx, memory, rf_ctx_from_host(ctx, RF_F32, 2, (int64_t[]){HW, 1}, valid));

    int64_t k = m->cfg.num_queries < HW ? m->cfg.num_queries : HW;
    rf_tensor **parts = rf_ctx_host_alloc(ctx, sizeof *parts * (size_t)groups * 3);
    if (!parts) return ts;
    for (int g = 0; g < groups && ctx->status == RF_OK; g++) {
        rf_tensor *om = rfdetr_apply_norm(ctx, rfdetr_apply_linear(ctx, out_memory, m->enc_output[g]),
                                          m->enc_output_norm[g], DEC_EPS);         /* (B, HW, d) */
        rf_tensor *cls = rfdetr_apply_linear(ctx, om, m->enc_class[g]);            /* (B, HW, K) */
        rf_tensor *idx = NULL;
        rf_topk(ctx, rf_max_last(ctx, cls, NULL), k, &idx);                        /* (B, k) */
        rf_tensor *tgt = rf_gather_rows(ctx, om, idx);                               /* (B, k, d) */
        rf_tensor *anchor = rf_gather_rows(ctx, proposals, idx);                     /* (B, k, 4) */
        parts[g] = rfdetr_box_reparam(ctx, rfdetr_apply_mlp(ctx, tgt, &m->enc_bbox[g]), anchor);
        parts[groups + g] = rf_gather_rows(ctx, cls, idx);
    }
    if (ctx->status != RF_OK) return ts;
    ts.boxes = rfdetr_concat_many(ctx, parts, groups, 1);
    ts.logits = rfdetr_concat_many(ctx, parts + groups, groups, 1);
    ts.refs = rf_ctx_view_of(ctx, ts.boxes); /* detached: no gradient into the proposals */
    ts.k = k;
    return ts;
}

/* ---- decoder ------------------------------------------------------------------------------------- */

typedef struct dec_consts {
    rf_tensor *query_pos;  /* (B, R, d) */
    rf_tensor *ref_xy;     /* (B, R, 1, 1, 1, 2) reference centres */
    rf_tensor *ref_wh;     /* (B, R, 1, 1, 1, 2) half sizes over the point count */
    int64_t level_hw[1][2];
    int groups;
} dec_consts;

static rf_tensor *self_attention(rf_ctx *ctx, const rfdetr_dec_layer *l, rf_tensor *tgt, rf_tensor *pos, int groups,
                                 int heads) {
    int64_t B = tgt->shape[0], R = tgt->shape[1], d = tgt->shape[2], Q = R / groups, dh = d / heads;
    /* in_proj rows: [q; k; v]. q and k see target + query_pos, v the target. */
    rf_tensor *qk = rf_linear(ctx, rf_add(ctx, tgt, pos), rf_slice(ctx, l->in_proj_w, 0, 0, 2 * d),
                              rf_slice(ctx, l->in_proj_b, 0, 0, 2 * d));                    /* (B, R, 2d) */
    rf_tensor *v = rf_linear(ctx, tgt, rf_slice(ctx, l->in_proj_w, 0, 2 * d, 3 * d),
                             rf_slice(ctx, l->in_proj_b, 0, 2 * d, 3 * d));                  /* (B, R, d) */
    /* Groups attend separately (Group DETR): (B, G*Q, .) -> (B*G, Q, .). */
    int64_t split[4] = {B * groups, Q, heads, dh};
    int perm[4] = {0, 2, 1, 3};
    rf_tensor *q = rf_permute(ctx, rf_reshape(ctx, rf_slice(ctx, qk, 2, 0, d), 4, split), perm);
    rf_tensor *k = rf_permute(ctx, rf_reshape(ctx, rf_slice(ctx, qk, 2, d, 2 * d), 4, split), perm);
    rf_tensor *vv = rf_permute(ctx, rf_reshape(ctx, v, 4, split), perm);
    rf_tensor *o = rf_attention(ctx, q, k, vv, NULL, (float)(1.0 / sqrt((double)dh)));    /* (B*G, H, Q, dh) */
    o = rf_reshape(ctx, rf_permute(ctx, o, perm), 3, (int64_t[]){B, R, d});
    return rfdetr_apply_linear(ctx, o, l->out_proj);
}

static rf_tensor *cross_attention(rf_ctx *ctx, const rfdetr_dec_layer *l, const dec_consts *dc, rf_tensor *query,
                                  rf_tensor *memory, int heads, int points) {
    int64_t B = query->shape[0], R = query->shape[1], d = query->shape[2], HW = memory->shape[1];
    rf_tensor *value = rf_reshape(ctx, rfdetr_apply_linear(ctx, memory, l->value_proj), 4,
                                  (int64_t[]){B, HW, heads, d / heads});
    rf_tensor *off = rf_reshape(ctx, rfdetr_apply_linear(ctx, query, l->sampling_offsets), 6,
                                (int64_t[]){B, R, heads, 1, points, 2});
    rf_tensor *aw = rf_reshape(ctx, rfdetr_apply_linear(ctx, query, l->attention_weights), 4,
                               (int64_t[]){B, R, heads, points});
    aw = rf_reshape(ctx, rf_softmax(ctx, aw, NULL), 5, (int64_t[]){B, R, heads, 1, points});
    /* Box references: centre + offset / points * wh * 0.5. */
    rf_tensor *loc = rf_add(ctx, rf_mul(ctx, off, dc->ref_wh), dc->ref_xy);
    rf_tensor *o = rf_deform_attn(ctx, value, dc->level_hw, 1, loc, aw); /* (B, R, d) */
    return rfdetr_apply_linear(ctx, o, l->output_proj);
}

static rf_tensor *decoder_layer(rf_ctx *ctx, const rfdetr_config *c, const rfdetr_dec_layer *l, const dec_consts *dc,
                                rf_tensor *tgt, rf_tensor *memory) {
    size_t mark = ctx->tape_len;
    rf_tensor *sa = self_attention(ctx, l, tgt, dc->query_pos, dc->groups, c->sa_heads);
    tgt = rfdetr_apply_norm(ctx, rf_add(ctx, tgt, sa), l->norm1, DEC_EPS);
    rf_tensor *ca = cross_attention(ctx, l, dc, rf_add(ctx, tgt, dc->query_pos), memory, c->ca_heads, c->dec_points);
    tgt = rfdetr_apply_norm(ctx, rf_add(ctx, tgt, ca), l->norm2, DEC_EPS);
    /* Done with the attentions' activations before the FFN's wide ones
     * (the step's peak is here otherwise). */
    rf_release_since(ctx, mark, &tgt, 1, STASH_MIN_BYTES);
    rf_tensor *act = rf_relu(ctx, rfdetr_apply_linear(ctx, tgt, l->linear1));
    rf_tensor *ffn = rfdetr_apply_linear(ctx, act, l->linear2);
    rf_drop_recompute(ctx, act); /* read by linear2 alone: backward recomputes it */
    return rfdetr_apply_norm(ctx, rf_add(ctx, tgt, ffn), l->norm3, DEC_EPS);
}

void rfdetr_transformer_forward(rfdetr_model *m, rf_ctx *ctx, rf_tensor *memory_map, bool training,
                                rfdetr_outputs *out) {
    const rfdetr_config *c = &m->cfg;
    if (!memory_map || ctx->status != RF_OK) return;
    int64_t B = memory_map->shape[0], d = memory_map->shape[1], h = memory_map->shape[2], w = memory_map->shape[3];
    int groups = training ? c->group_detr : 1;
    /* (B, d, h, w) -> (B, h*w, d) */
    rf_tensor *memory = rf_reshape(ctx, rf_permute(ctx, memory_map, (int[]){0, 2, 3, 1}), 3, (int64_t[]){B, h * w, d});

    two_stage ts = select_proposals(m, ctx, memory, h, w, groups);
    if (ctx->status != RF_OK) return;
    out->enc_queries = groups * ts.k;
    out->enc_logits = ts.logits;
    out->enc_boxes = ts.boxes;

    /* Learned queries of the groups in use, anchored on the proposals. */
    int64_t R = (int64_t)groups * c->num_queries, ts_len = groups * ts.k;
    rf_tensor *rp = rf_slice(ctx, m->refpoint_embed, 0, 0, R);
    rf_tensor *qf = rf_slice(ctx, m->query_feat, 0, 0, R);
    rf_tensor *ref = rfdetr_box_reparam(ctx, rf_slice(ctx, rp, 0, 0, ts_len), ts.refs);   /* (B, ts_len, 4) */
    if (R > ts_len) /* fewer positions than queries: the rest keep their learned boxes, as RF-DETR does */
        ref = rf_concat(ctx, (rf_tensor *[]){ref, rfdetr_expand_batch(ctx, rf_slice(ctx, rp, 0, ts_len, R), B)}, 2, 1);
    rf_tensor *tgt = rfdetr_expand_batch(ctx, qf, B);                                      /* (B, R, d) */

    dec_consts dc = {.groups = groups, .level_hw = {{h, w}}};
    rf_tensor *sine_w = NULL, *sine_phase = NULL;
    sine_embed_constants(ctx, d, &sine_w, &sine_phase);
    rf_tensor *sine = rf_sin(ctx, rf_linear(ctx, ref, sine_w, sine_phase));                /* (B, R, 2d) */
    dc.query_pos = rfdetr_apply_mlp(ctx, sine, &m->ref_point_head);                         /* (B, R, d) */
    int64_t ref6[6] = {B, R, 1, 1, 1, 2};
    dc.ref_xy = rf_reshape(ctx, rf_slice(ctx, ref, 2, 0, 2), 6, ref6);
    dc.ref_wh = rf_reshape(ctx, rf_scale(ctx, rf_slice(ctx, ref, 2, 2, 4), 0.5f / (float)c->dec_points), 6, ref6);

    out->layers = c->dec_layers;
    out->groups = groups;
    out->batch = B;
    out->queries = R;
    out->classes = c->num_classes;
    out->reference = ref;
    size_t mark = ctx->tape_len;
    for (int i = 0; i < c->dec_layers && ctx->status == RF_OK; i++) {
        size_t layer_mark = ctx->tape_len;
        tgt = decoder_layer(ctx, c, &m->dec[i], &dc, tgt, memory);
        /* Done with what this layer, the one before and its heads made
         * (rf_release_since), but for the output and the heads' outputs. */
        rf_tensor *keep[3] = {tgt, i > 0 ? out->logits[i - 1] : NULL, i > 0 ? out->boxes[i - 1] : NULL};
        rf_release_since(ctx, mark, keep, 3, STASH_MIN_BYTES);
        mark = layer_mark;
        rf_tensor *hs = rfdetr_apply_norm(ctx, tgt, m->dec_norm, DEC_EPS);
        out->logits[i] = rfdetr_apply_linear(ctx, hs, m->class_embed);
        out->boxes[i] = rfdetr_box_reparam(ctx, rfdetr_apply_mlp(ctx, hs, &m->bbox_embed), ref);
    }
}

/* ---- the whole model -------------------------------------------------------------------------------- */

rf_status rfdetr_model_forward(rfdetr_model *m, rf_ctx *ctx, rf_tensor *images, bool training, rfdetr_outputs *out) {
    memset(out, 0, sizeof *out);
    if (ctx->status != RF_OK) return ctx->status;
    if (ctx->device != m->device)
        return RF_ERROR(RF_ERR_DEVICE_MISMATCH, "rfdetr_model_forward: the model lives on %s, the context on %s",
                        m->device->info.name, ctx->device->info.name);
    if (!images || images->ndim != 4 || images->shape[1] != 3 || images->shape[0] < 1) {
        char s[96] = "NULL";
        if (images) rf_shape_str(images, s, sizeof s);
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rfdetr_model_forward: images must be (B, 3, H, W), got %s", s);
    }
    if (images->device != m->device)
        return RF_ERROR(RF_ERR_DEVICE_MISMATCH, "rfdetr_model_forward: the images live on %s, the model on %s",
                        images->device->info.name, m->device->info.name);
    RF_TRY(rfdetr_config_check_input(&m->cfg, (int)images->shape[2], (int)images->shape[3]));
    size_t mark = ctx->tape_len;
    rf_tensor *memory = rfdetr_backbone_forward(m, ctx, images, out);
    out->memory = memory;
    rfdetr_transformer_forward(m, ctx, memory, training, out);
    /* Done with what the blocks did not release themselves (the
     * projector, the proposals, the heads), but for the outputs. */
    rf_tensor *keep[2 * RFDETR_MAX_DEC_LAYERS + RFDETR_MAX_TAPS + 4] = {out->enc_logits, out->enc_boxes, out->memory,
                                                                         out->reference};
    int n_keep = 4;
    for (int i = 0; i < out->layers; i++) keep[n_keep++] = out->logits[i], keep[n_keep++] = out->boxes[i];
    for (int i = 0; i < out->num_taps; i++) keep[n_keep++] = out->taps[i];
    rf_release_since(ctx, mark, keep, n_keep, STASH_MIN_BYTES);
    rf_status s = rf_ctx_status(ctx);
    if (s != RF_OK) return RF_ERROR(s, "RF-DETR forward on %s: %s", m->device->info.name, ctx->message);
    return RF_OK;
}
