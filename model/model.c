/* model.c — registering RF-DETR's parameters under their official names,
 * initialising them as RF-DETR does, and freeing the model. */
#include "model/model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "core/ops.h"
#include "core/random.h"

/* ---- registration ------------------------------------------------------------------------------ */

typedef struct builder {
    rf_params *params;
    bool failed;
} builder;

static rf_tensor *add(builder *b, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static rf_tensor *add(builder *b, int ndim, const int64_t *shape, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    rf_tensor *t = b->failed ? NULL : rf_params_add(b->params, name, ndim, shape);
    if (!t) b->failed = true;
    return t;
}

#define SHAPE(...) (sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), ((int64_t[]){__VA_ARGS__})

static rfdetr_linear add_linear(builder *b, int64_t in, int64_t out, bool bias, const char *prefix) {
    rfdetr_linear l = {add(b, SHAPE(out, in), "%s.weight", prefix), NULL};
    if (bias) l.b = add(b, SHAPE(out), "%s.bias", prefix);
    return l;
}

static rfdetr_norm add_norm(builder *b, int64_t c, const char *prefix) {
    rfdetr_norm n = {add(b, SHAPE(c), "%s.weight", prefix), add(b, SHAPE(c), "%s.bias", prefix)};
    return n;
}

static rfdetr_mlp add_mlp(builder *b, int64_t in, int64_t hidden, int64_t out, int layers, const char *prefix) {
    rfdetr_mlp m = {.layers = layers};
    char name[320];
    for (int i = 0; i < layers; i++) {
        snprintf(name, sizeof name, "%s.layers.%d", prefix, i);
        m.l[i] = add_linear(b, i == 0 ? in : hidden, i == layers - 1 ? out : hidden, true, name);
    }
    return m;
}

static rfdetr_convx add_convx(builder *b, int64_t in, int64_t out, int k, const char *prefix) {
    rfdetr_convx c;
    c.conv = add(b, SHAPE(out, in, k, k), "%s.conv.weight", prefix);
    char name[320];
    snprintf(name, sizeof name, "%s.bn", prefix);
    c.bn = add_norm(b, out, name);
    return c;
}

static void register_backbone(rfdetr_model *m, builder *b) {
    const rfdetr_config *c = &m->cfg;
    const int64_t C = c->vit_width, P = c->pos_embed_size, p = c->patch_size;
    const char *enc = "backbone.0.encoder.encoder";
    char name[256];
    m->cls_token = add(b, SHAPE(1, 1, C), "%s.embeddings.cls_token", enc);
    m->mask_token = add(b, SHAPE(1, C), "%s.embeddings.mask_token", enc);
    m->pos_embed = add(b, SHAPE(1, 1 + P * P, C), "%s.embeddings.position_embeddings", enc);
    m->patch.w = add(b, SHAPE(C, 3, p, p), "%s.embeddings.patch_embeddings.projection.weight", enc);
    m->patch.b = add(b, SHAPE(C), "%s.embeddings.patch_embeddings.projection.bias", enc);
    for (int i = 0; i < c->vit_depth; i++) {
        rfdetr_vit_block *k = &m->blocks[i];
        char pre[192];
        snprintf(pre, sizeof pre, "%s.encoder.layer.%d", enc, i);
        snprintf(name, sizeof name, "%s.norm1", pre);
        k->norm1 = add_norm(b, C, name);
        /* Weights first, then biases, so each triple is contiguous in the slab. */
        k->query.w = add(b, SHAPE(C, C), "%s.attention.attention.query.weight", pre);
        k->key.w = add(b, SHAPE(C, C), "%s.attention.attention.key.weight", pre);
        k->value.w = add(b, SHAPE(C, C), "%s.attention.attention.value.weight", pre);
        k->query.b = add(b, SHAPE(C), "%s.attention.attention.query.bias", pre);
        k->key.b = add(b, SHAPE(C), "%s.attention.attention.key.bias", pre);
        k->value.b = add(b, SHAPE(C), "%s.attention.attention.value.bias", pre);
        snprintf(name, sizeof name, "%s.attention.output.dense", pre);
        k->dense = add_linear(b, C, C, true, name);
        k->ls1 = add(b, SHAPE(C), "%s.layer_scale1.lambda1", pre);
        snprintf(name, sizeof name, "%s.norm2", pre);
        k->norm2 = add_norm(b, C, name);
        snprintf(name, sizeof name, "%s.mlp.fc1", pre);
        k->fc1 = add_linear(b, C, C * c->vit_mlp_ratio, true, name);
        snprintf(name, sizeof name, "%s.mlp.fc2", pre);
        k->fc2 = add_linear(b, C * c->vit_mlp_ratio, C, true, name);
        k->ls2 = add(b, SHAPE(C), "%s.layer_scale2.lambda1", pre);
    }
    snprintf(name, sizeof name, "%s.layernorm", enc);
    m->vit_norm = add_norm(b, C, name);

    /* MultiScaleProjector with the single P4 level: stages.0.0 is C2f(taps x
     * C -> hidden, n = projector_blocks), stages.0.1 its LayerNorm. */
    const int64_t d = c->hidden_dim, half = d / 2;
    const char *st = "backbone.0.projector.stages.0";
    snprintf(name, sizeof name, "%s.0.cv1", st);
    m->c2f_cv1 = add_convx(b, C * c->num_taps, 2 * half, 1, name);
    snprintf(name, sizeof name, "%s.0.cv2", st);
    m->c2f_cv2 = add_convx(b, (2 + c->projector_blocks) * half, d, 1, name);
    for (int i = 0; i < c->projector_blocks; i++)
        for (int j = 0; j < 2; j++) {
            snprintf(name, sizeof name, "%s.0.m.%d.cv%d", st, i, j + 1);
            m->c2f_m[i][j] = add_convx(b, half, half, 3, name);
        }
    snprintf(name, sizeof name, "%s.1", st);
    m->proj_norm = add_norm(b, d, name);
}

static void register_transformer(rfdetr_model *m, builder *b) {
    const rfdetr_config *c = &m->cfg;
    const int64_t d = c->hidden_dim, G = c->group_detr, Q = c->num_queries, K = c->num_classes;
    const int64_t heads_levels_points = (int64_t)c->ca_heads * c->dec_points; /* one feature level */
    char name[256];
    for (int i = 0; i < c->dec_layers; i++) {
        rfdetr_dec_layer *l = &m->dec[i];
        char pre[128];
        snprintf(pre, sizeof pre, "transformer.decoder.layers.%d", i);
        l->in_proj_w = add(b, SHAPE(3 * d, d), "%s.self_attn.in_proj_weight", pre);
        l->in_proj_b = add(b, SHAPE(3 * d), "%s.self_attn.in_proj_bias", pre);
        snprintf(name, sizeof name, "%s.self_attn.out_proj", pre);
        l->out_proj = add_linear(b, d, d, true, name);
        snprintf(name, sizeof name, "%s.norm1", pre);
        l->norm1 = add_norm(b, d, name);
        snprintf(name, sizeof name, "%s.cross_attn.sampling_offsets", pre);
        l->sampling_offsets = add_linear(b, d, heads_levels_points * 2, true, name);
        snprintf(name, sizeof name, "%s.cross_attn.attention_weights", pre);
        l->attention_weights = add_linear(b, d, heads_levels_points, true, name);
        snprintf(name, sizeof name, "%s.cross_attn.value_proj", pre);
        l->value_proj = add_linear(b, d, d, true, name);
        snprintf(name, sizeof name, "%s.cross_attn.output_proj", pre);
        l->output_proj = add_linear(b, d, d, true, name);
        snprintf(name, sizeof name, "%s.linear1", pre);
        l->linear1 = add_linear(b, d, c->ffn_dim, true, name);
        snprintf(name, sizeof name, "%s.linear2", pre);
        l->linear2 = add_linear(b, c->ffn_dim, d, true, name);
        snprintf(name, sizeof name, "%s.norm2", pre);
        l->norm2 = add_norm(b, d, name);
        snprintf(name, sizeof name, "%s.norm3", pre);
        l->norm3 = add_norm(b, d, name);
    }
    m->dec_norm = add_norm(b, d, "transformer.decoder.norm");
    m->ref_point_head = add_mlp(b, 2 * d, d, d, 2, "transformer.decoder.ref_point_head");
    for (int g = 0; g < G; g++) {
        snprintf(name, sizeof name, "transformer.enc_output.%d", g);
        m->enc_output[g] = add_linear(b, d, d, true, name);
        snprintf(name, sizeof name, "transformer.enc_output_norm.%d", g);
        m->enc_output_norm[g] = add_norm(b, d, name);
        snprintf(name, sizeof name, "transformer.enc_out_bbox_embed.%d", g);
        m->enc_bbox[g] = add_mlp(b, d, d, 4, 3, name);
        snprintf(name, sizeof name, "transformer.enc_out_class_embed.%d", g);
        m->enc_class[g] = add_linear(b, d, K, true, name);
    }
    m->class_embed = add_linear(b, d, K, true, "class_embed");
    m->bbox_embed = add_mlp(b, d, d, 4, 3, "bbox_embed");
    m->refpoint_embed = add(b, SHAPE(Q * G, 4), "refpoint_embed.weight");
    m->query_feat = add(b, SHAPE(Q * G, d), "query_feat.weight");
}

/* The (3C, C) and (3C) views over a block's query/key/value tensors when
 * they lie back to back in the slab; their gradients alias the slab's too,
 * so the fused GEMM's backward accumulates into the official tensors. */
static rf_tensor *fused_view(const rf_tensor *first, const rf_tensor *second, const rf_tensor *third) {
    int64_t n = rf_tensor_numel(first);
    if (second->offset != first->offset + (size_t)n || third->offset != second->offset + (size_t)n) return NULL;
    rf_tensor *v = calloc(1, sizeof *v), *g = calloc(1, sizeof *g);
    if (!v || !g) {
        free(v);
        free(g);
        return NULL;
    }
    *v = *first;
    v->shape[0] *= 3;
    v->name = NULL;
    *g = *first->grad;
    g->shape[0] *= 3;
    v->grad = g;
    return v;
}

static void free_fused(rf_tensor *t) {
    if (!t) return;
    free(t->grad);
    free(t);
}

/* ---- initialisation (as RF-DETR's constructors leave the model) ------------------------------- */

static void init_linear_default(rf_ctx *ctx, rfdetr_linear l) { rf_init_linear(ctx, l.w, l.b); }

/* torch's default bias bound, when the weight was re-initialised by
 * something else (Xavier) after nn.Linear's own reset. */
static void init_bias_default(rf_ctx *ctx, rfdetr_linear l) {
    if (!l.b) return;
    float bound = (float)(1.0 / sqrt((double)l.w->shape[1]));
    rf_rand_uniform(ctx, l.b, -bound, bound);
}

static void init_norm(rf_ctx *ctx, rfdetr_norm n) {
    rf_init_constant(ctx, n.w, 1.0f);
    rf_init_constant(ctx, n.b, 0.0f);
}

static void init_trunc_linear(rf_ctx *ctx, rfdetr_linear l) {
    rf_init_trunc_normal(ctx, l.w, 0.02f);
    if (l.b) rf_init_constant(ctx, l.b, 0.0f);
}

/* Copies every tensor of `src` over `dst` (same shapes): RF-DETR deep-copies
 * the decoder's heads into each group's encoder heads. */
static void copy_tensor(rf_ctx *ctx, rf_tensor *dst, const rf_tensor *src) {
    if (ctx->status != RF_OK) return;
    rf_status s = rf_buffer_copy(dst->buffer, dst->offset * 4, src->buffer, src->offset * 4,
                                 (size_t)rf_tensor_numel(src) * 4);
    if (s != RF_OK) rf_ctx_fail_last(ctx, s);
}

static void init_sampling_offsets_bias(rf_ctx *ctx, const rfdetr_config *c, rf_tensor *bias) {
    /* MSDeformAttn._reset_parameters: head h looks along angle 2 pi h / H,
     * scaled so the larger coordinate is 1, point i at (i + 1) times that. */
    int H = c->ca_heads, P = c->dec_points;
    float *v = malloc(sizeof *v * (size_t)H * P * 2);
    if (!v) {
        rf_ctx_fail(ctx, RF_ERR_OUT_OF_MEMORY, "out of host memory");
        return;
    }
    for (int h = 0; h < H; h++) {
        double theta = (double)h * (2.0 * M_PI / H);
        float gx = (float)cos(theta), gy = (float)sin(theta);
        float mx = fmaxf(fabsf(gx), fabsf(gy));
        for (int p = 0; p < P; p++) {
            v[(h * P + p) * 2 + 0] = gx / mx * (float)(p + 1);
            v[(h * P + p) * 2 + 1] = gy / mx * (float)(p + 1);
        }
    }
    if (ctx->status == RF_OK) rf_op_ok(ctx, rf_tensor_upload(bias, v));
    free(v);
}

static rf_status init_params(rfdetr_model *m, uint64_t seed) {
    const rfdetr_config *c = &m->cfg;
    rf_ctx *ctx;
    RF_TRY(rf_ctx_create(m->device, (size_t)1 << 20, &ctx));
    rf_ctx_set_seed(ctx, seed);
    /* Backbone: Hugging Face's _init_weights for DINOv2. */
    rf_init_trunc_normal(ctx, m->cls_token, 0.02f);
    rf_init_constant(ctx, m->mask_token, 0.0f);
    rf_init_trunc_normal(ctx, m->pos_embed, 0.02f);
    init_trunc_linear(ctx, m->patch);
    for (int i = 0; i < c->vit_depth; i++) {
        rfdetr_vit_block *k = &m->blocks[i];
        init_norm(ctx, k->norm1);
        init_norm(ctx, k->norm2);
        init_trunc_linear(ctx, k->query);
        init_trunc_linear(ctx, k->key);
        init_trunc_linear(ctx, k->value);
        init_trunc_linear(ctx, k->dense);
        init_trunc_linear(ctx, k->fc1);
        init_trunc_linear(ctx, k->fc2);
        rf_init_constant(ctx, k->ls1, 1.0f); /* layerscale_value */
        rf_init_constant(ctx, k->ls2, 1.0f);
    }
    init_norm(ctx, m->vit_norm);
    /* Projector: nn.Conv2d's default, LayerNorms ones / zeros. */
    rfdetr_convx *convs[2 + 2 * RFDETR_MAX_PROJECTOR_BLOCKS];
    int nconv = 0;
    convs[nconv++] = &m->c2f_cv1;
    convs[nconv++] = &m->c2f_cv2;
    for (int i = 0; i < c->projector_blocks; i++) {
        convs[nconv++] = &m->c2f_m[i][0];
        convs[nconv++] = &m->c2f_m[i][1];
    }
    for (int i = 0; i < nconv; i++) {
        rf_init_linear(ctx, convs[i]->conv, NULL);
        init_norm(ctx, convs[i]->bn);
    }
    init_norm(ctx, m->proj_norm);
    /* Transformer: nn.Linear defaults, then Transformer._reset_parameters
     * (Xavier on every matrix) and MSDeformAttn._reset_parameters. */
    for (int i = 0; i < c->dec_layers; i++) {
        rfdetr_dec_layer *l = &m->dec[i];
        rf_init_xavier_uniform(ctx, l->in_proj_w, 1.0f);
        rf_init_constant(ctx, l->in_proj_b, 0.0f); /* nn.MultiheadAttention's own reset */
        rf_init_xavier_uniform(ctx, l->out_proj.w, 1.0f);
        rf_init_constant(ctx, l->out_proj.b, 0.0f);
        init_norm(ctx, l->norm1);
        init_norm(ctx, l->norm2);
        init_norm(ctx, l->norm3);
        rf_init_constant(ctx, l->sampling_offsets.w, 0.0f);
        init_sampling_offsets_bias(ctx, c, l->sampling_offsets.b);
        rf_init_constant(ctx, l->attention_weights.w, 0.0f);
        rf_init_constant(ctx, l->attention_weights.b, 0.0f);
        rf_init_xavier_uniform(ctx, l->value_proj.w, 1.0f);
        rf_init_constant(ctx, l->value_proj.b, 0.0f);
        rf_init_xavier_uniform(ctx, l->output_proj.w, 1.0f);
        rf_init_constant(ctx, l->output_proj.b, 0.0f);
        rf_init_xavier_uniform(ctx, l->linear1.w, 1.0f);
        init_bias_default(ctx, l->linear1);
        rf_init_xavier_uniform(ctx, l->linear2.w, 1.0f);
        init_bias_default(ctx, l->linear2);
    }
    init_norm(ctx, m->dec_norm);
    for (int i = 0; i < m->ref_point_head.layers; i++) {
        rf_init_xavier_uniform(ctx, m->ref_point_head.l[i].w, 1.0f);
        init_bias_default(ctx, m->ref_point_head.l[i]);
    }
    for (int g = 0; g < c->group_detr; g++) {
        rf_init_xavier_uniform(ctx, m->enc_output[g].w, 1.0f);
        init_bias_default(ctx, m->enc_output[g]);
        init_norm(ctx, m->enc_output_norm[g]);
    }
    /* LWDETR: the heads. prior_prob 0.01 for the focal-style class bias. */
    init_linear_default(ctx, m->class_embed);
    rf_init_constant(ctx, m->class_embed.b, (float)-log((1.0 - 0.01) / 0.01));
    for (int i = 0; i < m->bbox_embed.layers; i++) init_linear_default(ctx, m->bbox_embed.l[i]);
    rfdetr_linear last = m->bbox_embed.l[m->bbox_embed.layers - 1];
    rf_init_constant(ctx, last.w, 0.0f);
    rf_init_constant(ctx, last.b, 0.0f);
    rf_init_constant(ctx, m->refpoint_embed, 0.0f);
    rf_rand_normal(ctx, m->query_feat, 0.0f, 1.0f); /* nn.Embedding */
    for (int g = 0; g < c->group_detr; g++) {
        copy_tensor(ctx, m->enc_class[g].w, m->class_embed.w);
        copy_tensor(ctx, m->enc_class[g].b, m->class_embed.b);
        for (int i = 0; i < m->bbox_embed.layers; i++) {
            copy_tensor(ctx, m->enc_bbox[g].l[i].w, m->bbox_embed.l[i].w);
            copy_tensor(ctx, m->enc_bbox[g].l[i].b, m->bbox_embed.l[i].b);
        }
    }
    rf_status s = rf_ctx_status(ctx);
    if (s != RF_OK) s = RF_ERROR(s, "initialising the model: %s", ctx->message);
    rf_ctx_free(ctx);
    return s;
}

/* ---- create / free ---------------------------------------------------------------------------- */

/* init: false leaves every parameter zero (a load fills them next). */
static rf_status model_create(rf_device *device, const rfdetr_config *config, uint64_t seed, bool init,
                              rfdetr_model **out) {
    *out = NULL;
    if (!device || !config) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rfdetr_model_create: device and config required");
    RF_TRY(rfdetr_config_check(config));
    rfdetr_model *m = calloc(1, sizeof *m);
    if (!m) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for the model");
    m->cfg = *config;
    m->device = device;
    size_t G = (size_t)config->group_detr;
    m->enc_output = calloc(G, sizeof *m->enc_output);
    m->enc_output_norm = calloc(G, sizeof *m->enc_output_norm);
    m->enc_class = calloc(G, sizeof *m->enc_class);
    m->enc_bbox = calloc(G, sizeof *m->enc_bbox);
    rf_status s = RF_OK;
    if (!m->enc_output || !m->enc_output_norm || !m->enc_class || !m->enc_bbox)
        s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for the model");
    if (s == RF_OK) s = rf_params_create(device, &m->params);
    if (s == RF_OK) {
        builder b = {m->params, false};
        register_transformer(m, &b);
        register_backbone(m, &b);
        if (b.failed) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory registering parameters");
    }
    if (s == RF_OK) {
        s = rf_params_finalize(m->params);
        if (s != RF_OK)
            s = rf_error_prefix(s, "allocating %.1f MB of parameters on %s: ", (double)m->params->total * 8 / 1e6,
                                device->info.name);
    }
    if (s == RF_OK) {
        for (int i = 0; i < config->vit_depth; i++) {
            rfdetr_vit_block *k = &m->blocks[i];
            k->qkv.w = fused_view(k->query.w, k->key.w, k->value.w);
            k->qkv.b = fused_view(k->query.b, k->key.b, k->value.b);
            if (!k->qkv.w || !k->qkv.b) {
                free_fused(k->qkv.w);
                free_fused(k->qkv.b);
                k->qkv.w = k->qkv.b = NULL;
            }
        }
        if (init) s = init_params(m, seed);
    }
    if (s != RF_OK) {
        rfdetr_model_free(m);
        return s;
    }
    *out = m;
    return RF_OK;
}

rf_status rfdetr_model_create(rf_device *device, const rfdetr_config *config, uint64_t seed, rfdetr_model **out) {
    return model_create(device, config, seed, true, out);
}

rf_status rfdetr_model_create_for_load(rf_device *device, const rfdetr_config *config, rfdetr_model **out) {
    return model_create(device, config, 0, false, out);
}

void rfdetr_model_free(rfdetr_model *m) {
    if (!m) return;
    for (int i = 0; i < m->cfg.vit_depth && i < RFDETR_MAX_VIT_DEPTH; i++) {
        free_fused(m->blocks[i].qkv.w);
        free_fused(m->blocks[i].qkv.b);
    }
    rf_params_free(m->params);
    free(m->enc_output);
    free(m->enc_output_norm);
    free(m->enc_class);
    free(m->enc_bbox);
    rfdetr_model_set_class_names(m, NULL, 0);
    free(m);
}

int64_t rfdetr_model_param_count(const rfdetr_model *m) {
    int64_t n = 0;
    for (size_t i = 0; i < m->params->count; i++) n += rf_tensor_numel(m->params->tensors[i]);
    return n;
}

rf_status rfdetr_model_set_class_names(rfdetr_model *m, const char *const *names, int count) {
    for (int i = 0; i < m->class_name_count; i++) free(m->class_names[i]);
    free(m->class_names);
    m->class_names = NULL;
    m->class_name_count = 0;
    if (!names || count <= 0) return RF_OK;
    m->class_names = calloc((size_t)count, sizeof *m->class_names);
    if (!m->class_names) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for class names");
    m->class_name_count = count;
    for (int i = 0; i < count; i++) {
        m->class_names[i] = strdup(names[i] ? names[i] : "");
        if (!m->class_names[i]) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for class names");
    }
    return RF_OK;
}

const char *rfdetr_model_class_name(const rfdetr_model *m, int id) {
    if (id >= 0 && id < m->class_name_count && m->class_names[id][0]) return m->class_names[id];
    if (m->cfg.num_classes == 91) return rfdetr_coco_class_name(id);
    return NULL;
}
