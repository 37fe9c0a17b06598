/* onnx_export.c — RF-DETR's inference forward pass (model/backbone.c,
 * model/decoder.c with one query group) emitted as ONNX nodes.
 *
 * Every step below mirrors the forward pass it names, in the same order and
 * with the same constants, so the graph under ONNX Runtime gives the C
 * forward's numbers up to float rounding. Parameters become initializers
 * under their official names and shapes; a linear is MatMul by the
 * Transpose of its (out, in) weight plus the bias (the Transpose of a
 * constant is folded by every runtime at load). Values computed from the
 * parameters alone — the position table at the export resolution, the CLS
 * token plus its position, the proposal boxes of the feature grid, the sine
 * embedding's frequencies — are computed here once, as RF-DETR's exporter
 * does, and stored as constants.
 *
 * Shapes: N is the batch (fixed, or symbolic: every Reshape then puts -1
 * on the one axis that contains N, and Expand takes N from the input's
 * Shape). */
#include "export/onnx_export.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "export/onnx_writer.h"
#include "model/layers.h"

#define VIT_EPS 1e-6f  /* DINOv2's layer_norm_eps (backbone.c) */
#define PROJ_EPS 1e-6f /* the projector's LayerNorm (backbone.c) */
#define DEC_EPS 1e-5f  /* decoder and enc_output norms (decoder.c) */

typedef struct exporter {
    ox_graph *g;
    rfdetr_model *m;
    int batch;                /* 0: symbolic */
    const char *input;
    const char *batch_size;   /* (1) int64: N, computed once from the input when symbolic */
    /* Parameters already in the graph, so each is stored once. */
    const rf_tensor **params;
    const char **param_names;
    int param_count, param_cap;
    rf_status status;         /* first failure other than the graph's own */
} exporter;

typedef const char *val;      /* a value's name in the graph */

/* ---- nodes ------------------------------------------------------------------------------------------ */

static val op1(exporter *e, const char *op, val a) { return ox_node(e->g, op, (val[]){a}, 1, NULL, 0); }
static val op2(exporter *e, const char *op, val a, val b) { return ox_node(e->g, op, (val[]){a, b}, 2, NULL, 0); }

static val reshape_n(exporter *e, val x, int n, const int64_t *dims) {
    return op2(e, "Reshape", x, ox_const_ints(e->g, n, dims));
}
#define RESHAPE(e, x, ...) reshape_n((e), (x), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})
#define TRANSPOSE(e, x, ...) ox_node((e)->g, "Transpose", (val[]){(x)}, 1, OX_ATTRS(OX_INTS("perm", __VA_ARGS__)))

static val slice(exporter *e, val x, int64_t axis, int64_t start, int64_t end) {
    ox_graph *g = e->g;
    return ox_node(g, "Slice", (val[]){x, OX_I64S(g, start), OX_I64S(g, end), OX_I64S(g, axis)}, 4, NULL, 0);
}

static val concat(exporter *e, const val *xs, int n, int64_t axis) {
    return ox_node(e->g, "Concat", xs, n, OX_ATTRS(OX_INT("axis", axis)));
}

static val mul_scalar(exporter *e, val x, float s) { return op2(e, "Mul", x, ox_const_float(e->g, s)); }

/* (1) int64 holding N * mult: a constant, or the input's batch times mult. */
static val batch_times(exporter *e, int64_t mult) {
    if (e->batch > 0) return OX_I64S(e->g, e->batch * mult);
    if (!e->batch_size) {
        e->batch_size = slice(e, op1(e, "Shape", e->input), 0, 0, 1);
    }
    return mult == 1 ? e->batch_size : op2(e, "Mul", e->batch_size, OX_I64S(e->g, mult));
}

/* x broadcast to (N * mult, tail...). */
static val expand_batch(exporter *e, val x, int64_t mult, int n_tail, const int64_t *tail) {
    val shape = concat(e, (val[]){batch_times(e, mult), ox_const_ints(e->g, n_tail, tail)}, 2, 0);
    return op2(e, "Expand", x, shape);
}

/* ---- parameters ------------------------------------------------------------------------------------- */

static float *download(exporter *e, const rf_tensor *t) {
    int64_t n = rf_tensor_numel(t);
    float *host = malloc(sizeof *host * (size_t)(n > 0 ? n : 1));
    if (!host) {
        if (e->status == RF_OK) e->status = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "ONNX export: out of host memory");
        return NULL;
    }
    rf_status s = rf_tensor_download(t, host);
    if (s != RF_OK) {
        if (e->status == RF_OK) e->status = s;
        free(host);
        return NULL;
    }
    return host;
}

static val param(exporter *e, const rf_tensor *t) {
    for (int i = 0; i < e->param_count; i++)
        if (e->params[i] == t) return e->param_names[i];
    if (e->param_count == e->param_cap) {
        int cap = e->param_cap ? 2 * e->param_cap : 256;
        const rf_tensor **p = realloc(e->params, sizeof *p * (size_t)cap);
        const char **n = p ? realloc(e->param_names, sizeof *n * (size_t)cap) : NULL;
        if (p) e->params = p;
        if (n) e->param_names = n;
        if (!p || !n) {
            if (e->status == RF_OK) e->status = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "ONNX export: out of host memory");
            return "";
        }
        e->param_cap = cap;
    }
    float *host = download(e, t);
    if (!host) return "";
    val name = ox_initializer(e->g, t->name, OX_FLOAT, t->ndim, t->shape, host);
    free(host);
    e->params[e->param_count] = t;
    e->param_names[e->param_count++] = name;
    return name;
}

/* ---- layers (model/layers.h) -------------------------------------------------------------------------- */

/* x @ W^T + b; `out` names the result (NULL: generated). */
static val linear_to(exporter *e, val x, rfdetr_linear l, const char *out) {
    val y = op2(e, "MatMul", x, TRANSPOSE(e, param(e, l.w), 1, 0));
    if (!l.b) return y;
    if (out) ox_name_next_output(e->g, out);
    return op2(e, "Add", y, param(e, l.b));
}
static val linear(exporter *e, val x, rfdetr_linear l) { return linear_to(e, x, l, NULL); }

static val layernorm(exporter *e, val x, rfdetr_norm n, float eps) {
    return ox_node(e->g, "LayerNormalization", (val[]){x, param(e, n.w), param(e, n.b)}, 3,
                   OX_ATTRS(OX_INT("axis", -1), OX_FLT("epsilon", eps)));
}

/* LayerNorm over the channels of (N, C, H, W). */
static val channel_layernorm(exporter *e, val x, rfdetr_norm n, float eps) {
    return TRANSPOSE(e, layernorm(e, TRANSPOSE(e, x, 0, 2, 3, 1), n, eps), 0, 3, 1, 2);
}

static val mlp(exporter *e, val x, const rfdetr_mlp *m) {
    for (int i = 0; i < m->layers; i++) {
        x = linear(e, x, m->l[i]);
        if (i < m->layers - 1) x = op1(e, "Relu", x);
    }
    return x;
}

/* rfdetr_box_reparam: centre + delta_xy * wh, wh * exp(delta_wh). */
static val box_reparam_to(exporter *e, val delta, val ref, const char *out) {
    val ref_wh = slice(e, ref, -1, 2, 4);
    val xy = op2(e, "Add", op2(e, "Mul", slice(e, delta, -1, 0, 2), ref_wh), slice(e, ref, -1, 0, 2));
    val wh = op2(e, "Mul", op1(e, "Exp", slice(e, delta, -1, 2, 4)), ref_wh);
    if (out) ox_name_next_output(e->g, out);
    return concat(e, (val[]){xy, wh}, 2, -1);
}

/* GELU in erf form, as torch.onnx writes nn.GELU at opset 17. */
static val gelu(exporter *e, val x) {
    val erf = op1(e, "Erf", op2(e, "Div", x, ox_const_float(e->g, (float)M_SQRT2)));
    return mul_scalar(e, op2(e, "Mul", x, op2(e, "Add", erf, ox_const_float(e->g, 1.0f))), 0.5f);
}

/* softmax(q * scale @ k^T) @ v on q (n, H, Lq, D), k_t (n, H, D, Lk), v (n, H, Lk, D). */
static val attention(exporter *e, val q, val k_t, val v, float scale) {
    val scores = op2(e, "MatMul", mul_scalar(e, q, scale), k_t);
    val p = ox_node(e->g, "Softmax", (val[]){scores}, 1, OX_ATTRS(OX_INT("axis", -1)));
    return op2(e, "MatMul", p, v);
}

/* ---- backbone (backbone.c) ---------------------------------------------------------------------------- */

/* vit_attention on x (n, T, C): separate q, k, v projections (the official tensors). */
static val vit_attention(exporter *e, const rfdetr_vit_block *k, val x, int64_t T, int64_t C, int heads) {
    int64_t D = C / heads;
    val q = TRANSPOSE(e, RESHAPE(e, linear(e, x, k->query), -1, T, heads, D), 0, 2, 1, 3);
    val kt = TRANSPOSE(e, RESHAPE(e, linear(e, x, k->key), -1, T, heads, D), 0, 2, 3, 1);
    val v = TRANSPOSE(e, RESHAPE(e, linear(e, x, k->value), -1, T, heads, D), 0, 2, 1, 3);
    val o = attention(e, q, kt, v, (float)(1.0 / sqrt((double)D)));
    o = RESHAPE(e, TRANSPOSE(e, o, 0, 2, 1, 3), -1, T, C);
    return linear(e, o, k->dense);
}

static val vit_block(exporter *e, const rfdetr_vit_block *k, val x, int64_t T, int64_t C, int heads, int64_t windows2,
                     bool global) {
    val h = layernorm(e, x, k->norm1, VIT_EPS);
    if (global && windows2 > 1) {
        h = RESHAPE(e, h, -1, windows2 * T, C);
        h = RESHAPE(e, vit_attention(e, k, h, windows2 * T, C, heads), -1, T, C);
    } else {
        h = vit_attention(e, k, h, T, C, heads);
    }
    x = op2(e, "Add", x, op2(e, "Mul", h, param(e, k->ls1)));
    h = linear(e, gelu(e, linear(e, layernorm(e, x, k->norm2, VIT_EPS), k->fc1)), k->fc2);
    return op2(e, "Add", x, op2(e, "Mul", h, param(e, k->ls2)));
}

/* tap_to_map: (N * W^2, 1 + t, C) -> (N, C, gh, gw). */
static val tap_to_map(exporter *e, val x, int64_t gh, int64_t gw, int64_t W, int64_t C) {
    val patches = slice(e, x, 1, 1, INT64_MAX);
    val grid;
    if (W > 1) {
        grid = RESHAPE(e, patches, -1, W, W, gh / W, gw / W, C);
        grid = RESHAPE(e, TRANSPOSE(e, grid, 0, 1, 3, 2, 4, 5), -1, gh, gw, C);
    } else {
        grid = RESHAPE(e, patches, -1, gh, gw, C);
    }
    return TRANSPOSE(e, grid, 0, 3, 1, 2);
}

static val convx(exporter *e, const rfdetr_convx *cx, val x) {
    int64_t k = cx->conv->shape[2], p = k / 2;
    val y = ox_node(e->g, "Conv", (val[]){x, param(e, cx->conv)}, 2,
                    OX_ATTRS(OX_INTS("kernel_shape", k, k), OX_INTS("pads", p, p, p, p), OX_INTS("strides", 1, 1)));
    y = channel_layernorm(e, y, cx->bn, PROJ_EPS);
    return op2(e, "Mul", y, op1(e, "Sigmoid", y)); /* SiLU */
}

static val projector(exporter *e, val feats) {
    rfdetr_model *m = e->m;
    int64_t half = m->cfg.hidden_dim / 2;
    ox_graph_set_scope(e->g, "/backbone/projector");
    val y = convx(e, &m->c2f_cv1, feats);
    val pieces[2 + RFDETR_MAX_PROJECTOR_BLOCKS];
    int n = 0;
    pieces[n++] = slice(e, y, 1, 0, half);
    pieces[n++] = slice(e, y, 1, half, 2 * half);
    val cur = pieces[1];
    for (int i = 0; i < m->cfg.projector_blocks; i++) {
        cur = convx(e, &m->c2f_m[i][1], convx(e, &m->c2f_m[i][0], cur));
        pieces[n++] = cur;
    }
    y = convx(e, &m->c2f_cv2, concat(e, pieces, n, 1));
    return channel_layernorm(e, y, m->proj_norm, PROJ_EPS);
}

/* The position table at the export grid, computed by the forward pass's own code. */
static float *positions_at(exporter *e, int64_t gh, int64_t gw) {
    rf_ctx *ctx = NULL;
    rf_status s = rf_ctx_create(e->m->device, 0, &ctx);
    float *host = NULL;
    if (s == RF_OK) {
        rf_tensor *t = rf_contiguous(ctx, rfdetr_patch_positions(e->m, ctx, gh, gw)); /* (1, gh, gw, C) */
        s = rf_ctx_status(ctx);
        if (s == RF_OK) host = download(e, t);
        rf_ctx_free(ctx);
    }
    if (s != RF_OK && e->status == RF_OK) e->status = s;
    return host;
}

static val backbone(exporter *e) {
    rfdetr_model *m = e->m;
    const rfdetr_config *c = &m->cfg;
    int64_t C = c->vit_width, W = c->num_windows, p = c->patch_size;
    int64_t gh = c->resolution / p, gw = c->resolution / p, t = (gh / W) * (gw / W), T = 1 + t;
    ox_graph *g = e->g;
    ox_graph_set_scope(g, "/backbone/embeddings");
    val x = ox_node(g, "Conv", (val[]){e->input, param(e, m->patch.w), param(e, m->patch.b)}, 3,
                    OX_ATTRS(OX_INTS("kernel_shape", p, p), OX_INTS("strides", p, p))); /* (N, C, gh, gw) */
    float *pos = positions_at(e, gh, gw);
    float *cls = download(e, m->cls_token), *pos0 = download(e, m->pos_embed);
    val pos_table = "", cls_pos = "";
    if (pos && cls && pos0) {
        for (int64_t i = 0; i < C; i++) cls[i] += pos0[i]; /* cls_token + position 0, as rf_add computes it */
        char name[256];
        snprintf(name, sizeof name, "%s/grid_%lldx%lld", m->pos_embed->name, (long long)gh, (long long)gw);
        pos_table = ox_initializer(g, name, OX_FLOAT, 4, (int64_t[]){1, gh, gw, C}, pos);
        snprintf(name, sizeof name, "%s/plus_position_0", m->cls_token->name);
        cls_pos = ox_initializer(g, name, OX_FLOAT, 3, (int64_t[]){1, 1, C}, cls);
    }
    free(pos);
    free(cls);
    free(pos0);
    x = op2(e, "Add", TRANSPOSE(e, x, 0, 2, 3, 1), pos_table); /* (N, gh, gw, C) */
    if (W > 1) {                                                /* rf_window_partition */
        x = RESHAPE(e, x, -1, W, gh / W, W, gw / W, C);
        x = RESHAPE(e, TRANSPOSE(e, x, 0, 1, 3, 2, 4, 5), -1, t, C);
    } else {
        x = RESHAPE(e, x, -1, t, C);
    }
    val cls_rows = expand_batch(e, cls_pos, W * W, 2, (int64_t[]){1, C});
    x = concat(e, (val[]){cls_rows, x}, 2, 1); /* (N * W^2, 1 + t, C) */

    val taps[RFDETR_MAX_TAPS];
    int used = rfdetr_config_blocks_used(c), tap = 0;
    for (int i = 0; i < used; i++) {
        ox_graph_set_scope(g, "/backbone/encoder/layer.%d", i);
        x = vit_block(e, &m->blocks[i], x, T, C, c->vit_heads, W * W, rfdetr_config_block_is_global(c, i));
        if (tap < c->num_taps && c->out_feature_indexes[tap] == i + 1) {
            ox_graph_set_scope(g, "/backbone/tap.%d", tap);
            taps[tap++] = tap_to_map(e, layernorm(e, x, m->vit_norm, VIT_EPS), gh, gw, W, C);
        }
    }
    val feats = c->num_taps == 1 ? taps[0] : concat(e, taps, c->num_taps, 1);
    return projector(e, feats);
}

/* ---- transformer (decoder.c) ------------------------------------------------------------------------- */

typedef struct dec_values {
    val query_pos;      /* (N, Q, d) */
    val ref_xy, ref_wh; /* (N, Q, 1, 1, 2): centres; half sizes over the point count */
    val memory;         /* (N, HW, d) */
    int64_t Q, d, h, w;
} dec_values;

static val self_attention(exporter *e, const rfdetr_dec_layer *l, const dec_values *dv, val tgt, int heads) {
    int64_t Q = dv->Q, d = dv->d, dh = d / heads;
    val w_t = TRANSPOSE(e, param(e, l->in_proj_w), 1, 0); /* (d, 3d): rows [q; k; v] as columns */
    val b = param(e, l->in_proj_b);
    val qk = op2(e, "Add", op2(e, "MatMul", op2(e, "Add", tgt, dv->query_pos), slice(e, w_t, 1, 0, 2 * d)),
                 slice(e, b, 0, 0, 2 * d)); /* (N, Q, 2d) */
    val v = op2(e, "Add", op2(e, "MatMul", tgt, slice(e, w_t, 1, 2 * d, 3 * d)), slice(e, b, 0, 2 * d, 3 * d));
    val q = TRANSPOSE(e, RESHAPE(e, slice(e, qk, 2, 0, d), -1, Q, heads, dh), 0, 2, 1, 3);
    val kt = TRANSPOSE(e, RESHAPE(e, slice(e, qk, 2, d, 2 * d), -1, Q, heads, dh), 0, 2, 3, 1);
    val vv = TRANSPOSE(e, RESHAPE(e, v, -1, Q, heads, dh), 0, 2, 1, 3);
    val o = attention(e, q, kt, vv, (float)(1.0 / sqrt((double)dh)));
    o = RESHAPE(e, TRANSPOSE(e, o, 0, 2, 1, 3), -1, Q, d);
    return linear(e, o, l->out_proj);
}

/* Deformable attention with one level: bilinear samples of the value map
 * (GridSample, zero padding, align_corners 0, exactly rf_deform_attn's
 * sampling) weighted by the softmax of the attention weights. */
static val cross_attention(exporter *e, const rfdetr_dec_layer *l, const dec_values *dv, val query, int heads,
                           int points) {
    int64_t Q = dv->Q, d = dv->d, dh = d / heads, h = dv->h, w = dv->w;
    val value = RESHAPE(e, linear(e, dv->memory, l->value_proj), -1, h, w, heads, dh);
    value = RESHAPE(e, TRANSPOSE(e, value, 0, 3, 4, 1, 2), -1, dh, h, w); /* (N * heads, dh, h, w) */
    val off = RESHAPE(e, linear(e, query, l->sampling_offsets), -1, Q, heads, points, 2);
    val aw = RESHAPE(e, linear(e, query, l->attention_weights), -1, Q, heads, points);
    aw = ox_node(e->g, "Softmax", (val[]){aw}, 1, OX_ATTRS(OX_INT("axis", -1)));
    aw = RESHAPE(e, TRANSPOSE(e, aw, 0, 2, 1, 3), -1, 1, Q, points); /* (N * heads, 1, Q, P) */
    val loc = op2(e, "Add", op2(e, "Mul", off, dv->ref_wh), dv->ref_xy); /* (N, Q, heads, P, 2) in [0, 1] */
    val grid = op2(e, "Sub", mul_scalar(e, loc, 2.0f), ox_const_float(e->g, 1.0f));
    grid = RESHAPE(e, TRANSPOSE(e, grid, 0, 2, 1, 3, 4), -1, Q, points, 2); /* (N * heads, Q, P, 2) */
    val sampled = ox_node(e->g, "GridSample", (val[]){value, grid}, 2,
                          OX_ATTRS(OX_INT("align_corners", 0), OX_STR("mode", "bilinear"),
                                      OX_STR("padding_mode", "zeros"))); /* (N * heads, dh, Q, P) */
    val o = ox_node(e->g, "ReduceSum", (val[]){op2(e, "Mul", sampled, aw), OX_I64S(e->g, -1)}, 2,
                    OX_ATTRS(OX_INT("keepdims", 0))); /* (N * heads, dh, Q) */
    o = TRANSPOSE(e, RESHAPE(e, o, -1, d, Q), 0, 2, 1);  /* (N, Q, d) */
    return linear(e, o, l->output_proj);
}

static val decoder_layer(exporter *e, const rfdetr_dec_layer *l, const dec_values *dv, val tgt) {
    const rfdetr_config *c = &e->m->cfg;
    val sa = self_attention(e, l, dv, tgt, c->sa_heads);
    tgt = layernorm(e, op2(e, "Add", tgt, sa), l->norm1, DEC_EPS);
    val ca = cross_attention(e, l, dv, op2(e, "Add", tgt, dv->query_pos), c->ca_heads, c->dec_points);
    tgt = layernorm(e, op2(e, "Add", tgt, ca), l->norm2, DEC_EPS);
    val ffn = linear(e, op1(e, "Relu", linear(e, tgt, l->linear1)), l->linear2);
    return layernorm(e, op2(e, "Add", tgt, ffn), l->norm3, DEC_EPS);
}

static void transformer(exporter *e, val memory_map) {
    rfdetr_model *m = e->m;
    const rfdetr_config *c = &m->cfg;
    ox_graph *g = e->g;
    int64_t d = c->hidden_dim, h = c->resolution / c->patch_size, w = h, HW = h * w, Q = c->num_queries;
    int64_t k = Q < HW ? Q : HW;
    dec_values dv = {.Q = Q, .d = d, .h = h, .w = w};

    /* Two-stage proposals of group 0 (select_proposals). */
    ox_graph_set_scope(g, "/transformer/two_stage");
    dv.memory = RESHAPE(e, TRANSPOSE(e, memory_map, 0, 2, 3, 1), -1, HW, d);
    float *props = malloc(sizeof *props * (size_t)(HW * 5));
    if (!props) {
        if (e->status == RF_OK) e->status = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "ONNX export: out of host memory");
        return;
    }
    float *valid = props + HW * 4;
    bool all_valid = rfdetr_encoder_proposals(h, w, props, valid);
    val proposals = ox_initializer(g, NULL, OX_FLOAT, 2, (int64_t[]){HW, 4}, props);
    val out_memory = all_valid ? dv.memory
                               : op2(e, "Mul", dv.memory, ox_initializer(g, NULL, OX_FLOAT, 2, (int64_t[]){HW, 1}, valid));
    free(props);
    val om = layernorm(e, linear(e, out_memory, m->enc_output[0]), m->enc_output_norm[0], DEC_EPS); /* (N, HW, d) */
    val cls = linear(e, om, m->enc_class[0]);                                                        /* (N, HW, K) */
    val best = ox_node(g, "ReduceMax", (val[]){cls}, 1, OX_ATTRS(OX_INTS("axes", -1), OX_INT("keepdims", 0)));
    val topk[2];
    /* Ties go to the lower index, as rf_topk breaks them. */
    ox_node_multi(g, "TopK", (val[]){best, OX_I64S(g, k)}, 2,
                  OX_ATTRS(OX_INT("axis", -1), OX_INT("largest", 1), OX_INT("sorted", 1)), topk, 2);
    val idx = topk[1]; /* (N, k) int64 */
    val tgt_ts = ox_node(g, "GatherND", (val[]){om, RESHAPE(e, idx, -1, k, 1)}, 2,
                         OX_ATTRS(OX_INT("batch_dims", 1)));                        /* (N, k, d) */
    val anchor = ox_node(g, "Gather", (val[]){proposals, idx}, 2, OX_ATTRS(OX_INT("axis", 0))); /* (N, k, 4) */
    val ts_boxes = box_reparam_to(e, mlp(e, tgt_ts, &m->enc_bbox[0]), anchor, NULL);

    /* Reference boxes and targets of the queries. */
    ox_graph_set_scope(g, "/transformer/queries");
    val rp = param(e, m->refpoint_embed), qf = param(e, m->query_feat);
    val ref = box_reparam_to(e, slice(e, rp, 0, 0, k), ts_boxes, NULL); /* (N, k, 4) */
    if (Q > k) /* fewer positions than queries: the rest keep their learned boxes */
        ref = concat(e, (val[]){ref, expand_batch(e, slice(e, rp, 0, k, Q), 1, 2, (int64_t[]){Q - k, 4})}, 2, 1);
    val tgt = expand_batch(e, slice(e, qf, 0, 0, Q), 1, 2, (int64_t[]){Q, d}); /* (N, Q, d) */

    float *sine = malloc(sizeof *sine * (size_t)(2 * d * 4 * 2 + 2 * d));
    if (!sine) {
        if (e->status == RF_OK) e->status = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "ONNX export: out of host memory");
        return;
    }
    float *sine_w = sine, *sine_wt = sine + 2 * d * 4, *phase = sine + 2 * d * 4 * 2;
    rfdetr_sine_embed_weights(d, sine_w, phase);
    for (int64_t o = 0; o < 2 * d; o++)
        for (int j = 0; j < 4; j++) sine_wt[j * 2 * d + o] = sine_w[o * 4 + j];
    val sine_arg = op2(e, "Add", op2(e, "MatMul", ref, ox_initializer(g, NULL, OX_FLOAT, 2, (int64_t[]){4, 2 * d}, sine_wt)),
                       ox_initializer(g, NULL, OX_FLOAT, 1, (int64_t[]){2 * d}, phase));
    free(sine);
    dv.query_pos = mlp(e, op1(e, "Sin", sine_arg), &m->ref_point_head); /* (N, Q, d) */
    dv.ref_xy = RESHAPE(e, slice(e, ref, 2, 0, 2), -1, Q, 1, 1, 2);
    dv.ref_wh = RESHAPE(e, mul_scalar(e, slice(e, ref, 2, 2, 4), 0.5f / (float)c->dec_points), -1, Q, 1, 1, 2);

    for (int i = 0; i < c->dec_layers; i++) {
        ox_graph_set_scope(g, "/transformer/decoder/layer.%d", i);
        tgt = decoder_layer(e, &m->dec[i], &dv, tgt);
    }
    /* The heads on the last layer only: the exported interface. */
    ox_graph_set_scope(g, "/heads");
    val hs = layernorm(e, tgt, m->dec_norm, DEC_EPS);
    linear_to(e, hs, m->class_embed, "labels");
    box_reparam_to(e, mlp(e, hs, &m->bbox_embed), ref, "dets");
}

/* ---- the model ---------------------------------------------------------------------------------------- */

rf_status rfdetr_export_onnx(rfdetr_model *m, const char *path, int batch, rfdetr_onnx_info *info) {
    const rfdetr_config *c = &m->cfg;
    if (batch < 0) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "ONNX export: batch %d (0 = dynamic, else positive)", batch);
    RF_TRY(rfdetr_config_check(c));
    exporter e = {.m = m, .batch = batch, .input = "input"};
    e.g = ox_graph_create("rfdetr");
    if (!e.g) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "ONNX export: out of host memory");
    int64_t n = batch > 0 ? batch : -1, res = c->resolution, Q = c->num_queries, K = c->num_classes;
    ox_graph_input(e.g, "input", OX_FLOAT, 4, (int64_t[]){n, 3, res, res}, "batch");
    transformer(&e, backbone(&e));
    ox_graph_output(e.g, "dets", OX_FLOAT, 3, (int64_t[]){n, Q, 4}, "batch");
    ox_graph_output(e.g, "labels", OX_FLOAT, 3, (int64_t[]){n, Q, K}, "batch");
    rf_status s = e.status;
    if (s == RF_OK && ox_graph_status(e.g) != RF_OK)
        s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "ONNX export: out of host memory while building the graph");
    if (s == RF_OK) s = ox_graph_write(e.g, path, RFDETR_ONNX_OPSET, "rfdetr.c", "1");
    if (s == RF_OK && info) *info = (rfdetr_onnx_info){.nodes = ox_graph_node_count(e.g), .queries = Q, .classes = K};
    ox_graph_free(e.g);
    free(e.params);
    free(e.param_names);
    return s;
}
