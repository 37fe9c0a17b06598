/* backbone.c — the windowed DINOv2-style ViT and the multi-scale projector
 * (RF-DETR's backbone/dinov2_with_windowed_attn.py and projector.py).
 *
 * Tokens: the patch embedding of the whole image plus the position table
 * (interpolated bicubic + antialias when the patch grid is not the table's
 * own), then, with W x W windows, each window's patches become a sequence
 * of their own led by a copy of the CLS token (CLS + its position), so a
 * batch of B images is B * W^2 sequences of 1 + (h/W)(w/W) tokens. Windowed
 * blocks attend within a sequence; global blocks attend over all sequences
 * of an image at once (every window's CLS included), as RF-DETR's
 * run_full_attention view does. A tapped stage goes through the final
 * LayerNorm, drops the CLS tokens and is reassembled into (B, C, h, w).
 *
 * The projector (single P4 level) is C2f: a 1x1 ConvX to 2 x (hidden/2),
 * split in halves, `projector_blocks` bottlenecks of two 3x3 ConvX (no
 * shortcut) chained on the second half, all pieces concatenated, a 1x1
 * ConvX to hidden; then a channel LayerNorm. ConvX = conv without bias,
 * channel LayerNorm (eps 1e-6), SiLU. */
#include <math.h>

#include "model/layers.h"

#define VIT_EPS 1e-6f  /* DINOv2's layer_norm_eps */
#define PROJ_EPS 1e-6f /* the projector's LayerNorm */

/* Multi-head self-attention of one ViT block on x (N, T, C). */
static rf_tensor *vit_attention(rf_ctx *ctx, const rfdetr_vit_block *k, rf_tensor *x, int heads) {
    int64_t n = x->shape[0], t = x->shape[1], c = x->shape[2], d = c / heads;
    rf_tensor *q, *kk, *v;
    if (k->qkv.w) {
        rf_tensor *qkv = rfdetr_apply_linear(ctx, x, k->qkv);          /* (N, T, 3C) */
        qkv = rf_reshape(ctx, qkv, 5, (int64_t[]){n, t, 3, heads, d});
        qkv = rf_permute(ctx, qkv, (int[]){2, 0, 3, 1, 4});             /* (3, N, H, T, D) */
        q = rf_reshape(ctx, rf_slice(ctx, qkv, 0, 0, 1), 4, (int64_t[]){n, heads, t, d});
        kk = rf_reshape(ctx, rf_slice(ctx, qkv, 0, 1, 2), 4, (int64_t[]){n, heads, t, d});
        v = rf_reshape(ctx, rf_slice(ctx, qkv, 0, 2, 3), 4, (int64_t[]){n, heads, t, d});
    } else {
        int perm[4] = {0, 2, 1, 3};
        int64_t split[4] = {n, t, heads, d};
        q = rf_permute(ctx, rf_reshape(ctx, rfdetr_apply_linear(ctx, x, k->query), 4, split), perm);
        kk = rf_permute(ctx, rf_reshape(ctx, rfdetr_apply_linear(ctx, x, k->key), 4, split), perm);
        v = rf_permute(ctx, rf_reshape(ctx, rfdetr_apply_linear(ctx, x, k->value), 4, split), perm);
    }
    rf_tensor *o = rf_attention(ctx, q, kk, v, NULL, (float)(1.0 / sqrt((double)d))); /* (N, H, T, D) */
    o = rf_permute(ctx, o, (int[]){0, 2, 1, 3});
    o = rf_reshape(ctx, o, 3, (int64_t[]){n, t, c});
    return rfdetr_apply_linear(ctx, o, k->dense);
}

/* One block on x (B * W^2, T, C); `global` attends over each image's W^2
 * sequences together. */
static rf_tensor *vit_block(rf_ctx *ctx, const rfdetr_vit_block *k, rf_tensor *x, int heads, int64_t windows2,
                            bool global) {
    int64_t n = x->shape[0], t = x->shape[1], c = x->shape[2];
    /* The layer norms' and GELU's outputs are read only by the next linear:
     * they go back to the arena once it has run, and backward recomputes
     * them. The norm runs on the global view itself so that the q/k/v
     * linear reads its output as written, not through a reshape. */
    rf_tensor *seq = global && windows2 > 1 ? rf_reshape(ctx, x, 3, (int64_t[]){n / windows2, windows2 * t, c}) : x;
    rf_tensor *normed = rfdetr_apply_norm(ctx, seq, k->norm1, VIT_EPS);
    rf_tensor *h = vit_attention(ctx, k, normed, heads);
    rf_drop_recompute(ctx, normed);
    if (global && windows2 > 1) h = rf_reshape(ctx, h, 3, (int64_t[]){n, t, c});
    x = rf_add(ctx, x, rf_mul(ctx, h, k->ls1));
    normed = rfdetr_apply_norm(ctx, x, k->norm2, VIT_EPS);
    h = rfdetr_apply_linear(ctx, normed, k->fc1);
    rf_drop_recompute(ctx, normed);
    rf_tensor *act = rf_gelu(ctx, h);
    h = rfdetr_apply_linear(ctx, act, k->fc2);
    rf_drop_recompute(ctx, act);
    return rf_add(ctx, x, rf_mul(ctx, h, k->ls2));
}

rf_tensor *rfdetr_patch_positions(rfdetr_model *m, rf_ctx *ctx, int64_t gh, int64_t gw) {
    int64_t P = m->cfg.pos_embed_size, C = m->cfg.vit_width;
    rf_tensor *table = rf_slice(ctx, m->pos_embed, 1, 1, 1 + P * P);
    table = rf_reshape(ctx, table, 4, (int64_t[]){1, P, P, C});
    if (gh == P && gw == P) return table;
    /* DINOv2's interpolate_pos_encoding: bicubic, antialias, explicit size. */
    rf_tensor *chw = rf_permute(ctx, table, (int[]){0, 3, 1, 2});
    rf_tensor *resized = rf_resize_bicubic_aa(ctx, chw, gh, gw); /* (1, C, gh, gw) */
    return rf_permute(ctx, resized, (int[]){0, 2, 3, 1});
}

/* x (B * W^2, 1 + t, C) after the final LayerNorm -> (B, C, gh, gw). */
static rf_tensor *tap_to_map(rf_ctx *ctx, rf_tensor *x, int64_t batch, int64_t gh, int64_t gw, int64_t windows) {
    int64_t c = x->shape[2];
    rf_tensor *patches = rf_slice(ctx, x, 1, 1, x->shape[1]); /* drop the CLS token(s) */
    rf_tensor *grid;
    if (windows > 1)
        grid = rf_window_reverse(ctx, patches, batch, gh, gw, windows, windows); /* (B, gh, gw, C) */
    else
        grid = rf_reshape(ctx, patches, 4, (int64_t[]){batch, gh, gw, c});
    return rf_contiguous(ctx, rf_permute(ctx, grid, (int[]){0, 3, 1, 2}));
}

static rf_tensor *apply_convx(rf_ctx *ctx, const rfdetr_convx *cx, rf_tensor *x) {
    int k = (int)cx->conv->shape[2];
    rf_tensor *y = rf_conv2d(ctx, x, cx->conv, NULL, 1, k / 2);
    y = rf_channel_layernorm(ctx, y, cx->bn.w, cx->bn.b, PROJ_EPS);
    return rf_silu(ctx, y);
}

static rf_tensor *projector(rfdetr_model *m, rf_ctx *ctx, rf_tensor *feats) {
    const rfdetr_config *c = &m->cfg;
    int64_t half = c->hidden_dim / 2;
    rf_tensor *y = apply_convx(ctx, &m->c2f_cv1, feats);
    rf_tensor *pieces[2 + RFDETR_MAX_PROJECTOR_BLOCKS];
    int n = 0;
    pieces[n++] = rf_slice(ctx, y, 1, 0, half);
    pieces[n++] = rf_slice(ctx, y, 1, half, 2 * half);
    rf_tensor *cur = pieces[1];
    for (int i = 0; i < c->projector_blocks; i++) {
        cur = apply_convx(ctx, &m->c2f_m[i][1], apply_convx(ctx, &m->c2f_m[i][0], cur));
        pieces[n++] = cur;
    }
    y = apply_convx(ctx, &m->c2f_cv2, rfdetr_concat_many(ctx, pieces, n, 1));
    return rf_channel_layernorm(ctx, y, m->proj_norm.w, m->proj_norm.b, PROJ_EPS);
}

rf_tensor *rfdetr_backbone_forward(rfdetr_model *m, rf_ctx *ctx, rf_tensor *images, rfdetr_outputs *out) {
    const rfdetr_config *c = &m->cfg;
    if (ctx->status != RF_OK) return NULL;
    int64_t B = images->shape[0], C = c->vit_width, W = c->num_windows;
    size_t mark = ctx->tape_len; /* what the next rf_release_since looks at */
    /* Patch embedding: (B, C, gh, gw) -> tokens (B, gh, gw, C) plus positions. */
    rf_tensor *x = rf_conv2d(ctx, images, m->patch.w, m->patch.b, c->patch_size, 0);
    if (!x) return NULL;
    int64_t gh = x->shape[2], gw = x->shape[3];
    x = rf_add(ctx, rf_permute(ctx, x, (int[]){0, 2, 3, 1}), rfdetr_patch_positions(m, ctx, gh, gw));
    rf_tensor *cls = rf_add(ctx, m->cls_token, rf_slice(ctx, m->pos_embed, 1, 0, 1)); /* (1, 1, C) */
    int64_t seqs = B * W * W;
    rf_tensor *patches = W > 1 ? rf_window_partition(ctx, x, W, W) : rf_reshape(ctx, x, 3, (int64_t[]){B, gh * gw, C});
    rf_tensor *parts[2] = {rfdetr_expand_batch(ctx, rf_reshape(ctx, cls, 2, (int64_t[]){1, C}), seqs), patches};
    x = rf_concat(ctx, parts, 2, 1); /* (B * W^2, 1 + t, C) */

    int used = rfdetr_config_blocks_used(c), tap = 0;
    out->num_taps = c->num_taps;
    for (int i = 0; i < used && ctx->status == RF_OK; i++) {
        size_t block_mark = ctx->tape_len;
        x = vit_block(ctx, &m->blocks[i], x, c->vit_heads, W * W, rfdetr_config_block_is_global(c, i));
        if (tap < c->num_taps && c->out_feature_indexes[tap] == i + 1) {
            rf_tensor *normed = rfdetr_apply_norm(ctx, x, m->vit_norm, VIT_EPS);
            out->taps[tap++] = tap_to_map(ctx, normed, B, gh, gw, W);
        }
        /* The forward pass is done with what this block and the one
         * before made (that one's output was this one's input), but for
         * the output and the taps (read after the loop): what backward
         * never reads goes back, the rest is stashed in bf16 products. */
        rf_tensor *keep[1 + RFDETR_MAX_TAPS] = {x};
        for (int j = 0; j < tap; j++) keep[1 + j] = out->taps[j];
        rf_release_since(ctx, mark, keep, 1 + tap, STASH_MIN_BYTES);
        mark = block_mark;
    }
    if (ctx->status != RF_OK) return NULL;
    rf_tensor *feats = rfdetr_concat_many(ctx, out->taps, c->num_taps, 1);
    return projector(m, ctx, feats);
}
