/* weights_io.c — loading parameters by their official names (official
 * .pth checkpoints and our safetensors), saving them with the configuration,
 * and recognising the configuration of a file.
 *
 * Loading is two passes: first every parameter is matched with the file
 * (name and shape, or one of RF-DETR's adaptations), and only when nothing
 * is missing, unexpected or mis-shaped are values read and uploaded, so a
 * failed load leaves the model as it was. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "core/ops_vision.h"
#include "core/safetensors.h"
#include "core/weights.h"
#include "model/model.h"
#include "model/package_checkpoint.h"

/* ---- matching ------------------------------------------------------------------------------------- */

typedef enum plan_kind { PLAN_LOAD, PLAN_TILE_ROWS, PLAN_QUERY_ROWS, PLAN_POSITIONS } plan_kind;

typedef struct plan {
    rf_tensor *param;
    plan_kind kind;
    rf_tensor_info info; /* the file's tensor */
} plan;

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* RF-DETR's class heads: class_embed and every group's enc_out_class_embed. */
static bool is_class_head(const char *name) {
    return strncmp(name, "class_embed.", 12) == 0 || strncmp(name, "transformer.enc_out_class_embed.", 32) == 0;
}

static bool is_query_table(const char *name) {
    return strcmp(name, "refpoint_embed.weight") == 0 || strcmp(name, "query_feat.weight") == 0;
}

static bool same_shape(const rf_tensor *t, const rf_tensor_info *info) {
    if (t->ndim != info->ndim) return false;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] != info->shape[i]) return false;
    return true;
}

static bool same_trailing(const rf_tensor *t, const rf_tensor_info *info) {
    if (t->ndim != info->ndim || t->ndim < 1) return false;
    for (int i = 1; i < t->ndim; i++)
        if (t->shape[i] != info->shape[i]) return false;
    return true;
}

static int64_t isqrt64(int64_t n) {
    int64_t r = (int64_t)sqrt((double)n);
    while (r * r > n) r--;
    while ((r + 1) * (r + 1) <= n) r++;
    return r;
}

/* How (if at all) the file's tensor can fill the parameter. */
static bool choose_plan(const rfdetr_model *m, rf_tensor *t, const rf_tensor_info *info, plan_kind *kind) {
    if (!rf_file_dtype_is_float(info->dtype)) return false;
    if (same_shape(t, info)) {
        *kind = PLAN_LOAD;
        return true;
    }
    if (is_class_head(t->name) && same_trailing(t, info) && info->shape[0] > 0) {
        *kind = PLAN_TILE_ROWS;
        return true;
    }
    if (is_query_table(t->name) && same_trailing(t, info) && info->shape[0] > t->shape[0]) {
        *kind = PLAN_QUERY_ROWS;
        return true;
    }
    if (ends_with(t->name, "embeddings.position_embeddings") && info->ndim == 3 && info->shape[0] == 1 &&
        info->shape[2] == t->shape[2] && info->shape[1] > 1) {
        int64_t n = info->shape[1] - 1, s = isqrt64(n);
        if (s * s == n) {
            *kind = PLAN_POSITIONS;
            return true;
        }
    }
    (void)m;
    return false;
}

/* A bounded list of names for messages: "a, b, c and 4 more". */
typedef struct name_list {
    char text[1024];
    int count;
} name_list;

static void list_add(name_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void list_add(name_list *l, const char *fmt, ...) {
    if (l->count++ >= 4) return;
    size_t n = strlen(l->text);
    if (n) n += (size_t)snprintf(l->text + n, sizeof l->text - n, ", ");
    va_list ap;
    va_start(ap, fmt);
    if (n < sizeof l->text) vsnprintf(l->text + n, sizeof l->text - n, fmt, ap);
    va_end(ap);
}

static const char *list_text(name_list *l, char *buf, size_t size) {
    if (l->count > 4)
        snprintf(buf, size, "%s and %d more", l->text, l->count - 4);
    else
        snprintf(buf, size, "%s", l->text);
    return buf;
}

/* ---- adaptations ------------------------------------------------------------------------------------ */

/* reinitialize_detection_head: rows repeated then cut (row i = file row i mod n). */
static void tile_rows(const float *src, int64_t src_rows, float *dst, int64_t dst_rows, int64_t cols) {
    for (int64_t r = 0; r < dst_rows; r++) memcpy(dst + r * cols, src + (r % src_rows) * cols, sizeof *dst * (size_t)cols);
}

/* _slice_query_param_per_group, with the file's queries per group guessed
 * from the row counts (.pth args are not read): the model's own count when
 * it divides the file's rows (fewer groups: keep the first), else the
 * model's group count (fewer queries per group: keep each group's first),
 * else the first rows (RF-DETR's legacy fallback). */
static void slice_query_rows(const rfdetr_config *c, const float *src, int64_t src_rows, float *dst, int64_t cols) {
    int64_t Q = c->num_queries, G = c->group_detr;
    if (src_rows % Q == 0 || src_rows % G != 0 || src_rows / G < Q) {
        memcpy(dst, src, sizeof *dst * (size_t)(Q * G * cols));
        return;
    }
    int64_t src_q = src_rows / G;
    for (int64_t g = 0; g < G; g++) memcpy(dst + g * Q * cols, src + g * src_q * cols, sizeof *dst * (size_t)(Q * cols));
}

/* interpolate_position_embeddings: the patch table (P x P x C) resized
 * bicubic + antialias to the model's grid; the CLS row kept. */
static rf_status resize_positions(const float *src, int64_t src_side, float *dst, int64_t dst_side, int64_t C) {
    double *mh = malloc(sizeof *mh * (size_t)(dst_side * src_side));
    double *tmp = malloc(sizeof *tmp * (size_t)(dst_side * src_side * C));
    if (!mh || !tmp) {
        free(mh);
        free(tmp);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory interpolating position embeddings");
    }
    rf_bicubic_aa_matrix(src_side, dst_side, 0, mh); /* square: one matrix for both axes */
    memcpy(dst, src, sizeof *dst * (size_t)C);      /* CLS */
    const float *grid = src + C;
    /* rows: tmp[i][x][c] = sum_y mh[i][y] grid[y][x][c] */
    for (int64_t i = 0; i < dst_side; i++)
        for (int64_t x = 0; x < src_side; x++)
            for (int64_t ch = 0; ch < C; ch++) {
                double acc = 0;
                for (int64_t y = 0; y < src_side; y++) acc += mh[i * src_side + y] * grid[(y * src_side + x) * C + ch];
                tmp[(i * src_side + x) * C + ch] = acc;
            }
    float *out = dst + C;
    for (int64_t i = 0; i < dst_side; i++)
        for (int64_t j = 0; j < dst_side; j++)
            for (int64_t ch = 0; ch < C; ch++) {
                double acc = 0;
                for (int64_t x = 0; x < src_side; x++) acc += mh[j * src_side + x] * tmp[(i * src_side + x) * C + ch];
                out[(i * dst_side + j) * C + ch] = (float)acc;
            }
    free(mh);
    free(tmp);
    return RF_OK;
}

/* ---- loading ----------------------------------------------------------------------------------------- */

rf_status rfdetr_model_load_weights(rfdetr_model *m, const char *path, rfdetr_load_report *report) {
    rfdetr_load_report local;
    if (!report) report = &local;
    memset(report, 0, sizeof *report);
    rf_weights *w;
    rf_status s = rf_weights_open(path, &w);
    if (s != RF_OK) return s;
    int file_count = rf_weights_count(w);
    size_t nparams = m->params->count;
    plan *plans = calloc(nparams, sizeof *plans);
    unsigned char *used = calloc((size_t)(file_count > 0 ? file_count : 1), 1);
    if (!plans || !used) {
        free(plans);
        free(used);
        rf_weights_close(w);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory loading %s", path);
    }
    name_list missing = {{0}, 0}, mismatched = {{0}, 0}, unexpected = {{0}, 0};
    size_t biggest = 0;
    for (size_t i = 0; i < nparams; i++) {
        rf_tensor *t = m->params->tensors[i];
        plans[i].param = t;
        int idx = rf_weights_find(w, t->name);
        if (idx < 0) {
            report->missing++;
            list_add(&missing, "%s", t->name);
            continue;
        }
        used[idx] = 1;
        rf_weights_info_at(w, idx, &plans[i].info);
        if (!choose_plan(m, t, &plans[i].info, &plans[i].kind)) {
            char a[64], b[64];
            report->mismatched++;
            list_add(&mismatched, "%s (file %s %s, model %s)", t->name, rf_file_dtype_name(plans[i].info.dtype),
                     rf_shape_string(plans[i].info.ndim, plans[i].info.shape, a, sizeof a),
                     rf_shape_string(t->ndim, t->shape, b, sizeof b));
            plans[i].param = NULL;
            continue;
        }
        size_t need = (size_t)plans[i].info.numel;
        if ((size_t)rf_tensor_numel(t) > need) need = (size_t)rf_tensor_numel(t);
        if (need > biggest) biggest = need;
    }
    for (int i = 0; i < file_count; i++) {
        if (used[i]) continue;
        rf_tensor_info info;
        rf_weights_info_at(w, i, &info);
        /* Buffers with nothing in them (rfdetr 1.11's empty _kp_active_mask of
         * detection models) carry no parameter. */
        if (info.numel == 0 && !rf_file_dtype_is_float(info.dtype)) {
            report->ignored++;
            continue;
        }
        report->unexpected++;
        list_add(&unexpected, "%s", info.name);
    }
    if (report->missing || report->unexpected || report->mismatched) {
        char cfgtext[64], a[1200], b[1200], c[1200];
        snprintf(cfgtext, sizeof cfgtext, "%s", m->cfg.size[0] ? m->cfg.size : "configured");
        s = RF_ERROR(RF_ERR_FORMAT,
                     "%s does not fit the %s model (%d tensors in the file, %zu parameters): %d missing%s%s%s, "
                     "%d unexpected%s%s%s, %d mis-shaped%s%s%s",
                     path, cfgtext, file_count, nparams, report->missing, missing.count ? " (" : "",
                     list_text(&missing, a, sizeof a), missing.count ? ")" : "", report->unexpected,
                     unexpected.count ? " (" : "", list_text(&unexpected, b, sizeof b), unexpected.count ? ")" : "",
                     report->mismatched, mismatched.count ? " (" : "", list_text(&mismatched, c, sizeof c),
                     mismatched.count ? ")" : "");
        free(plans);
        free(used);
        rf_weights_close(w);
        return s;
    }
    float *src = malloc(sizeof *src * (biggest ? biggest : 1));
    float *dst = malloc(sizeof *dst * (biggest ? biggest : 1));
    if (!src || !dst) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory loading %s", path);
    for (size_t i = 0; i < nparams && s == RF_OK; i++) {
        plan *p = &plans[i];
        rf_tensor *t = p->param;
        int64_t n = rf_tensor_numel(t);
        s = rf_weights_read_f32(w, t->name, src, (size_t)p->info.numel);
        if (s != RF_OK) break;
        const float *values = src;
        int64_t cols = n / t->shape[0];
        switch (p->kind) {
        case PLAN_LOAD: break;
        case PLAN_TILE_ROWS: tile_rows(src, p->info.shape[0], dst, t->shape[0], cols), values = dst; break;
        case PLAN_QUERY_ROWS: slice_query_rows(&m->cfg, src, p->info.shape[0], dst, cols), values = dst; break;
        case PLAN_POSITIONS:
            s = resize_positions(src, isqrt64(p->info.shape[1] - 1), dst, m->cfg.pos_embed_size, t->shape[2]);
            values = dst;
            break;
        }
        if (s == RF_OK) s = rf_tensor_upload(t, values);
        if (s == RF_OK) {
            report->loaded++;
            if (p->kind != PLAN_LOAD) report->adapted++;
        }
    }
    if (s != RF_OK) s = rf_error_prefix(s, "loading %s: ", path);
    free(src);
    free(dst);
    free(plans);
    free(used);
    rf_weights_close(w);
    return s;
}

/* ---- the configuration of a file --------------------------------------------------------------------- */

static const char *st_meta(void *user, const char *key) { return rf_safetensors_metadata(user, key); }

/* Our metadata, when the file is a safetensors file that has it. */
static rf_status read_metadata(const char *path, rfdetr_config *cfg, bool *found, char ***names, int *name_count);

static int64_t shape_of(rf_weights *w, const char *name, int dim) {
    int i = rf_weights_find(w, name);
    if (i < 0) return -1;
    rf_tensor_info info;
    if (rf_weights_info_at(w, i, &info) != RF_OK || dim >= info.ndim) return -1;
    return info.shape[dim];
}

static int count_indexed(rf_weights *w, const char *fmt) {
    char name[256];
    int n = 0;
    for (;; n++) {
        snprintf(name, sizeof name, fmt, n);
        if (rf_weights_find(w, name) < 0) return n;
    }
}

/* One tensor the configuration implies, present with exactly this shape. */
static rf_status expect_tensor(rf_weights *w, const char *path, const char *name, int ndim, const int64_t *shape) {
    int k = rf_weights_find(w, name);
    rf_tensor_info info;
    char want[96], got[96];
    rf_shape_string(ndim, shape, want, sizeof want);
    if (k < 0 || rf_weights_info_at(w, k, &info) != RF_OK)
        return RF_ERROR(RF_ERR_FORMAT, "%s: its configuration needs tensor %s %s, which the file lacks", path, name,
                        want);
    bool same = info.ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = info.shape[d] == shape[d];
    if (!same)
        return RF_ERROR(RF_ERR_FORMAT, "%s: its configuration needs tensor %s %s, but the file's is %s", path, name,
                        want, rf_shape_string(info.ndim, info.shape, got, sizeof got));
    return RF_OK;
}

/* A configuration read from the file's metadata is only a claim (713 bytes
 * can claim a million classes), so before anything is allocated from it,
 * the tensors that carry each of its sizes must be in the file with the
 * shapes it implies: the class head, the patch embedding, and every ViT
 * block's and decoder layer's largest matrices. A safetensors file holds
 * its tensors' bytes, so the model can then be no larger than the file. */
static rf_status check_shapes_fit(rf_weights *w, const rfdetr_config *c, const char *path) {
    const char *enc = "backbone.0.encoder.encoder";
    const int64_t C = c->vit_width, d = c->hidden_dim;
    char name[256];
    RF_TRY(expect_tensor(w, path, "class_embed.weight", 2, (int64_t[]){c->num_classes, d}));
    RF_TRY(expect_tensor(w, path, "class_embed.bias", 1, (int64_t[]){c->num_classes}));
    snprintf(name, sizeof name, "%s.embeddings.patch_embeddings.projection.weight", enc);
    RF_TRY(expect_tensor(w, path, name, 4, (int64_t[]){C, 3, c->patch_size, c->patch_size}));
    for (int i = 0; i < c->vit_depth; i++) {
        snprintf(name, sizeof name, "%s.encoder.layer.%d.attention.attention.query.weight", enc, i);
        RF_TRY(expect_tensor(w, path, name, 2, (int64_t[]){C, C}));
        snprintf(name, sizeof name, "%s.encoder.layer.%d.mlp.fc1.weight", enc, i);
        RF_TRY(expect_tensor(w, path, name, 2, (int64_t[]){C * c->vit_mlp_ratio, C}));
    }
    for (int i = 0; i < c->dec_layers; i++) {
        snprintf(name, sizeof name, "transformer.decoder.layers.%d.self_attn.in_proj_weight", i);
        RF_TRY(expect_tensor(w, path, name, 2, (int64_t[]){3 * d, d}));
        snprintf(name, sizeof name, "transformer.decoder.layers.%d.linear1.weight", i);
        RF_TRY(expect_tensor(w, path, name, 2, (int64_t[]){c->ffn_dim, d}));
    }
    snprintf(name, sizeof name, "transformer.decoder.layers.%d.linear1.weight", c->dec_layers);
    if (rf_weights_find(w, name) >= 0)
        return RF_ERROR(RF_ERR_FORMAT, "%s: its configuration has %d decoder layers but the file holds more", path,
                        c->dec_layers);
    return RF_OK;
}

/* The preset whose architecture the tensors have. The position table is
 * left out: it follows the resolution the checkpoint was trained at
 * (nano at 416 px has 26 x 26 positions, not 24 x 24), and the presets
 * differ elsewhere (patch, decoder depth, widths). NULL when none fits. */
static const char *size_of_tensors(int64_t patch, int64_t width, int depth, int dec_layers, int64_t hidden) {
    for (int i = 0; rfdetr_size_names[i]; i++) {
        rfdetr_config c;
        rfdetr_config_preset(rfdetr_size_names[i], &c);
        if (c.patch_size == patch && c.dec_layers == dec_layers && c.vit_width == width && c.vit_depth == depth &&
            c.hidden_dim == hidden)
            return rfdetr_size_names[i];
    }
    return NULL;
}

rf_status rfdetr_config_from_weights(const char *path, const char *size_hint, rfdetr_config *out) {
    bool found = false;
    bool hinted = size_hint && *size_hint;
    RF_TRY(read_metadata(path, out, &found, NULL, NULL));
    if (found) {
        /* Our own file: its configuration is exact, and a size that
         * contradicts it is a mistake, not an override. */
        if (hinted && strcmp(size_hint, out->size) != 0)
            return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "--model %s does not match %s, a %s model (its own configuration)",
                            size_hint, path, out->size[0] ? out->size : "custom");
        rf_weights *w;
        RF_TRY(rf_weights_open(path, &w));
        rf_status s = check_shapes_fit(w, out, path);
        rf_weights_close(w);
        return s;
    }
    rfdetr_package_info pkg;
    RF_TRY(rfdetr_package_info_read(path, &pkg));
    rfdetr_package_info_free(&pkg); /* only the numbers are used here */
    rf_weights *w;
    RF_TRY(rf_weights_open(path, &w));
    const char *enc = "backbone.0.encoder.encoder";
    char name[256];
    snprintf(name, sizeof name, "%s.embeddings.patch_embeddings.projection.weight", enc);
    int64_t patch = shape_of(w, name, 2), width = shape_of(w, name, 0);
    snprintf(name, sizeof name, "%s.embeddings.position_embeddings", enc);
    int64_t positions = shape_of(w, name, 1);
    snprintf(name, sizeof name, "%s.encoder.layer.%%d.norm1.weight", enc);
    int depth = count_indexed(w, name);
    int dec_layers = count_indexed(w, "transformer.decoder.layers.%d.norm1.weight");
    int64_t classes = shape_of(w, "class_embed.bias", 0), hidden = shape_of(w, "class_embed.weight", 1);
    int64_t query_rows = shape_of(w, "refpoint_embed.weight", 0);
    rf_weights_close(w);
    if (patch < 0 || positions < 2 || classes < 1 || query_rows < 1 || dec_layers < 1)
        return RF_ERROR(RF_ERR_FORMAT,
                        "%s is not an RF-DETR checkpoint: it lacks the backbone's patch embedding, position table, "
                        "decoder layers or heads",
                        path);
    int64_t side = isqrt64(positions - 1);
    /* The size: the package's model_name, else the tensors; --model only
     * where neither tells, and refused where it contradicts them. */
    const char *size = NULL, *said_by = NULL;
    if (pkg.model_name[0]) {
        if (!pkg.size[0])
            return RF_ERROR(RF_ERR_FORMAT,
                            "%s was made for the rfdetr package's %s, which rfdetr.c does not build (it builds "
                            "RFDETRNano, RFDETRSmall, RFDETRMedium, RFDETRBase)",
                            path, pkg.model_name);
        size = pkg.size;
        said_by = "its model_name";
    } else if ((size = size_of_tensors(patch, width, depth, dec_layers, hidden))) {
        said_by = "its tensors";
    }
    if (hinted && size && strcmp(size_hint, size) != 0)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "--model %s does not match %s: %s say%s it is %s%s%s%s", size_hint, path,
                        said_by, strcmp(said_by, "its tensors") == 0 ? "" : "s", size, pkg.model_name[0] ? " (" : "",
                        pkg.model_name, pkg.model_name[0] ? ")" : "");
    if (!size) size = hinted ? size_hint : NULL;
    if (!size)
        return RF_ERROR(RF_ERR_FORMAT,
                        "%s: cannot tell which RF-DETR size this is (patch %lld, %lldx%lld positions, ViT %lld x "
                        "%d, hidden %lld, %d decoder layers); name it (tiny, nano, small, medium, base)",
                        path, (long long)patch, (long long)side, (long long)side, (long long)width, depth,
                        (long long)hidden, dec_layers);
    rfdetr_config c;
    RF_TRY(rfdetr_config_preset(size, &c));
    /* The resolution it was trained at: as the package recorded it, else
     * from the position table where the size's table follows the
     * resolution (every size but base, whose 37 x 37 table is DINOv2's). */
    int resolution = pkg.resolution;
    if (!resolution && c.pos_embed_size * c.patch_size == c.resolution) resolution = (int)side * c.patch_size;
    if (resolution && resolution != c.resolution) {
        rf_status s = rfdetr_config_set_resolution(&c, resolution);
        if (s != RF_OK)
            return rf_error_prefix(s, "%s: the resolution %d of %s: ", path, resolution,
                                   pkg.resolution_from ? pkg.resolution_from : "its position table");
    }
    /* The table itself is the file's, interpolated to the input grid at run
     * time as the package does when they differ. */
    c.pos_embed_size = (int)side;
    /* RF-DETR takes the class count from the checkpoint when the user did not
     * set one, and keeps the queries' group structure when it can. */
    if (classes > RF_MAX_CLASSES)
        return RF_ERROR(RF_ERR_FORMAT, "%s: class head of %lld classes, more than the %d this build allows", path,
                        (long long)classes, RF_MAX_CLASSES);
    c.num_classes = (int)classes;
    if (query_rows != (int64_t)c.num_queries * c.group_detr && query_rows % c.num_queries == 0 &&
        query_rows / c.num_queries <= INT32_MAX)
        c.group_detr = (int)(query_rows / c.num_queries);
    rf_status s = rfdetr_config_check(&c);
    if (s != RF_OK) return rf_error_prefix(RF_ERR_FORMAT, "%s: ", path);
    *out = c;
    return RF_OK;
}

/* ---- class names as JSON -------------------------------------------------------------------------------- */

/* Parses a JSON array of strings (the "rfdetr.class_names" entry). */
static rf_status parse_names(const char *json, char ***out, int *count) {
    *out = NULL;
    *count = 0;
    const char *p = json;
    while (isspace((unsigned char)*p)) p++;
    if (*p++ != '[') return RF_ERROR(RF_ERR_FORMAT, "rfdetr.class_names is not a JSON array of strings");
    int cap = 0, n = 0;
    char **names = NULL;
    rf_status s = RF_OK;
    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        if (*p == ']' && n == 0) break;
        if (*p != '"') {
            s = RF_ERROR(RF_ERR_FORMAT, "rfdetr.class_names is not a JSON array of strings");
            break;
        }
        p++;
        size_t len = 0, capn = strlen(p) + 1;
        char *name = malloc(capn);
        if (!name) {
            s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for class names");
            break;
        }
        while (*p && *p != '"') {
            char ch = *p++;
            if (ch == '\\') {
                char e = *p++;
                switch (e) {
                case 'n': ch = '\n'; break;
                case 't': ch = '\t'; break;
                case 'r': ch = '\r'; break;
                case 'b': ch = '\b'; break;
                case 'f': ch = '\f'; break;
                case 'u': {
                    unsigned v = 0;
                    for (int i = 0; i < 4 && isxdigit((unsigned char)*p); i++, p++)
                        v = v * 16 + (unsigned)(isdigit((unsigned char)*p) ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10));
                    /* UTF-8 of a BMP code point (surrogate pairs kept as written). */
                    if (v < 0x80) {
                        ch = (char)v;
                    } else if (v < 0x800) {
                        name[len++] = (char)(0xC0 | (v >> 6));
                        ch = (char)(0x80 | (v & 0x3F));
                    } else {
                        name[len++] = (char)(0xE0 | (v >> 12));
                        name[len++] = (char)(0x80 | ((v >> 6) & 0x3F));
                        ch = (char)(0x80 | (v & 0x3F));
                    }
                    break;
                }
                case 0: p--; ch = 0; break;
                default: ch = e; break;
                }
                if (!ch) break;
            }
            name[len++] = ch;
        }
        name[len] = 0;
        if (*p != '"') {
            free(name);
            s = RF_ERROR(RF_ERR_FORMAT, "rfdetr.class_names has an unterminated string");
            break;
        }
        p++;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, sizeof *grown * (size_t)cap);
            if (!grown) {
                free(name);
                s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for class names");
                break;
            }
            names = grown;
        }
        names[n++] = name;
        while (isspace((unsigned char)*p)) p++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ']') break;
        s = RF_ERROR(RF_ERR_FORMAT, "rfdetr.class_names is not a JSON array of strings");
        break;
    }
    if (s != RF_OK) {
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
        return s;
    }
    *out = names;
    *count = n;
    return RF_OK;
}

static rf_status read_metadata(const char *path, rfdetr_config *cfg, bool *found, char ***names, int *name_count) {
    *found = false;
    if (names) *names = NULL;
    if (name_count) *name_count = 0;
    /* Only safetensors files carry metadata; the weights reader tells formats apart. */
    rf_weights *w;
    RF_TRY(rf_weights_open(path, &w));
    bool is_st = strcmp(rf_weights_format(w), "safetensors") == 0;
    rf_weights_close(w);
    if (!is_st) return RF_OK;
    rf_safetensors *st;
    RF_TRY(rf_safetensors_open(path, &st));
    rf_status s = rfdetr_config_from_metadata(st_meta, st, cfg, found);
    if (s != RF_OK) s = rf_error_prefix(s, "%s: ", path);
    const char *json = rf_safetensors_metadata(st, "rfdetr.class_names");
    if (s == RF_OK && json && names) s = parse_names(json, names, name_count);
    rf_safetensors_close(st);
    return s;
}

rf_status rfdetr_model_open(rf_device *device, const char *path, const char *size_hint, int resolution,
                            rfdetr_model **out) {
    *out = NULL;
    rfdetr_config cfg;
    RF_TRY(rfdetr_config_from_weights(path, size_hint, &cfg));
    if (resolution > 0) RF_TRY(rfdetr_config_set_resolution(&cfg, resolution));
    rfdetr_model *m;
    RF_TRY(rfdetr_model_create_for_load(device, &cfg, &m));
    rf_status s = rfdetr_model_load_weights(m, path, NULL);
    char **names = NULL;
    int n = 0;
    bool found;
    rfdetr_config ignored;
    if (s == RF_OK) s = read_metadata(path, &ignored, &found, &names, &n);
    if (s == RF_OK && n) s = rfdetr_model_set_class_names(m, (const char *const *)names, n);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    /* A checkpoint of the rfdetr package names its classes in its args. */
    rfdetr_package_info pkg = {0};
    if (s == RF_OK && !found) s = rfdetr_package_info_read(path, &pkg);
    if (s == RF_OK && pkg.class_name_count)
        s = rfdetr_model_set_class_names(m, (const char *const *)pkg.class_names, pkg.class_name_count);
    rfdetr_package_info_free(&pkg);
    if (s != RF_OK) {
        rfdetr_model_free(m);
        return s;
    }
    *out = m;
    return RF_OK;
}

/* ---- saving ------------------------------------------------------------------------------------------------ */

static rf_status writer_meta(void *user, const char *key, const char *value) {
    return rf_safetensors_writer_set_metadata(user, key, value);
}

static char *names_json(const rfdetr_model *m) {
    size_t cap = 2;
    for (int i = 0; i < m->class_name_count; i++) cap += 6 * strlen(m->class_names[i]) + 4;
    char *out = malloc(cap), *p = out;
    if (!out) return NULL;
    *p++ = '[';
    for (int i = 0; i < m->class_name_count; i++) {
        if (i) *p++ = ',';
        *p++ = '"';
        for (const unsigned char *s = (const unsigned char *)m->class_names[i]; *s; s++) {
            if (*s == '"' || *s == '\\') {
                *p++ = '\\';
                *p++ = (char)*s;
            } else if (*s < 0x20) {
                p += sprintf(p, "\\u%04x", *s);
            } else {
                *p++ = (char)*s;
            }
        }
        *p++ = '"';
    }
    *p++ = ']';
    *p = 0;
    return out;
}

rf_status rfdetr_model_save(const rfdetr_model *m, const char *path) {
    const rf_params *p = m->params;
    float *host = malloc(sizeof *host * (size_t)(p->total > 0 ? p->total : 1));
    if (!host) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory saving %s", path);
    rf_status s = rf_buffer_download(p->values, 0, host, (size_t)p->total * sizeof *host);
    rf_safetensors_writer *w = NULL;
    if (s == RF_OK) s = rf_safetensors_writer_create(&w);
    for (size_t i = 0; i < p->count && s == RF_OK; i++) {
        const rf_tensor *t = p->tensors[i];
        s = rf_safetensors_writer_add(w, t->name, RF_FILE_F32, t->ndim, t->shape, host + t->offset);
    }
    if (s == RF_OK) s = rfdetr_config_to_metadata(&m->cfg, writer_meta, w);
    if (s == RF_OK && m->class_name_count) {
        char *json = names_json(m);
        s = json ? rf_safetensors_writer_set_metadata(w, "rfdetr.class_names", json)
                 : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory saving %s", path);
        free(json);
    }
    if (s == RF_OK) s = rf_safetensors_writer_save(w, path);
    rf_safetensors_writer_free(w);
    free(host);
    return s;
}
