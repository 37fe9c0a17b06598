/* test_model.c — RF-DETR's forward pass against the rfdetr package
 * (issue 6), on every device, and the model's configuration, weight import
 * and export, post-processing and bad inputs.
 *
 *   test_model                 the checked-in micro reference (tests/fixtures/
 *                              model: RF-DETR's own modules at a small size,
 *                              made by tests/model_reference.py), everything
 *                              else that needs no Python
 *   test_model --python SIZE   makes the reference of SIZE (nano, tiny, ...)
 *                              with the rfdetr package and checks it; skipped
 *                              (77) where torch or rfdetr cannot be imported
 *   test_model --ref DIR NAME  checks DIR/NAME.safetensors + NAME_io.safetensors
 *
 * The criterion of the issue: logits and boxes of every decoder layer and of
 * the encoder proposals within 1e-4 max-abs of PyTorch (fp32), in eval and
 * in train mode (all query groups). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/status.h"
#include "core/ops.h"
#include "core/fileio.h"
#include "core/safetensors.h"
#include "core/weights.h"
#include "model/model.h"
#include "test_util.h"

#define PARITY_TOL 1e-4

static const char *source_dir(void) {
    const char *s = getenv("RFDETR_SOURCE_DIR");
    return s && *s ? s : ".";
}

static const char *scratch_dir(void) {
    static char dir[512];
    if (!dir[0]) {
        const char *b = getenv("RFDETR_BUILD_DIR");
        snprintf(dir, sizeof dir, "%s/test_model_tmp", b && *b ? b : "/tmp");
        mkdir(dir, 0755);
    }
    return dir;
}

/* ---- configuration ----------------------------------------------------------------------------- */

static void test_config(void) {
    rfdetr_config c;
    for (int i = 0; rfdetr_size_names[i]; i++) {
        CHECK_OK(rfdetr_config_preset(rfdetr_size_names[i], &c));
        CHECK_OK(rfdetr_config_check(&c));
    }
    CHECK_STATUS(rfdetr_config_preset("huge", &c), RF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(rf_last_error(), "unknown model size 'huge'") && strstr(rf_last_error(), "nano"), "%s",
          rf_last_error());
    /* nano: global blocks 3, 6, 9 (0-based), taps after 3/6/9/12 blocks. */
    CHECK_OK(rfdetr_config_preset("nano", &c));
    int globals = 0;
    for (int i = 0; i < 12; i++) globals += rfdetr_config_block_is_global(&c, i) ? 1 << i : 0;
    CHECK(globals == ((1 << 3) | (1 << 6) | (1 << 9)), "nano global blocks mask %x", globals);
    CHECK(rfdetr_config_blocks_used(&c) == 12, "nano runs %d blocks", rfdetr_config_blocks_used(&c));
    CHECK_OK(rfdetr_config_preset("base", &c));
    globals = 0;
    for (int i = 0; i < 12; i++) globals += rfdetr_config_block_is_global(&c, i) ? 1 << i : 0;
    CHECK(globals == ((1 << 2) | (1 << 5) | (1 << 8) | (1 << 11)), "base global blocks mask %x", globals);
    CHECK(rfdetr_config_blocks_used(&c) == 11, "base runs %d blocks", rfdetr_config_blocks_used(&c));
    /* The resolution rule, stated in the message. */
    CHECK_OK(rfdetr_config_preset("nano", &c));
    CHECK_STATUS(rfdetr_config_set_resolution(&c, 400), RF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(rf_last_error(), "multiple of patch size x windows = 16 x 2 = 32"), "%s", rf_last_error());
    CHECK(strstr(rf_last_error(), "384 or 416"), "%s", rf_last_error());
    CHECK_OK(rfdetr_config_preset("nano", &c));
    CHECK_OK(rfdetr_config_set_resolution(&c, 512));
    CHECK(c.pos_embed_size == 32, "nano at 512 has a %d position grid (RF-DETR: 32)", c.pos_embed_size);
    CHECK_OK(rfdetr_config_preset("base", &c));
    CHECK_OK(rfdetr_config_set_resolution(&c, 448));
    CHECK(c.pos_embed_size == 37, "base keeps DINOv2's 37 grid, got %d", c.pos_embed_size);
    CHECK_STATUS(rfdetr_config_set_resolution(&c, 450), RF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(rf_last_error(), "14 x 4 = 56"), "%s", rf_last_error());
    CHECK_STATUS(rfdetr_config_check_input(&c, 0, 0), RF_ERR_INVALID_ARGUMENT);
}

/* ---- reading a reference ---------------------------------------------------------------------------- */

typedef struct reference {
    rf_safetensors *io;
    char weights[1024];
} reference;

static float *read_io(reference *r, const char *name, int64_t *shape, int *ndim) {
    int i = rf_safetensors_find(r->io, name);
    if (i < 0) return NULL;
    rf_tensor_info info;
    rf_safetensors_info_at(r->io, i, &info);
    float *v = malloc(sizeof *v * (size_t)info.numel);
    if (!v || rf_safetensors_get_f32(r->io, name, v, (size_t)info.numel) != RF_OK) {
        free(v);
        return NULL;
    }
    for (int k = 0; k < info.ndim; k++) shape[k] = info.shape[k];
    *ndim = info.ndim;
    return v;
}

/* max |a - b| of a device tensor against the reference entry, -1 on a
 * shape mismatch or missing entry. */
static double compare(reference *r, const char *name, rf_tensor *t) {
    int64_t shape[8];
    int ndim;
    float *want = read_io(r, name, shape, &ndim);
    if (!want || !t) {
        free(want);
        fprintf(stderr, "  %s: %s\n", name, want ? "no output" : "not in the reference");
        return -1;
    }
    bool same = ndim == t->ndim;
    for (int i = 0; same && i < ndim; i++) same = shape[i] == t->shape[i];
    if (!same) {
        char s[96];
        fprintf(stderr, "  %s: shape %s differs from the reference's\n", name, rf_shape_str(t, s, sizeof s));
        free(want);
        return -1;
    }
    int64_t n = rf_tensor_numel(t);
    float *got = malloc(sizeof *got * (size_t)n);
    double worst = 0;
    if (!got || rf_tensor_download(t, got) != RF_OK) worst = -1;
    for (int64_t i = 0; worst >= 0 && i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
    free(got);
    free(want);
    return worst;
}

static bool open_reference(reference *r, const char *dir, const char *name) {
    char io[1024];
    snprintf(r->weights, sizeof r->weights, "%s/%s.safetensors", dir, name);
    snprintf(io, sizeof io, "%s/%s_io.safetensors", dir, name);
    rf_status s = rf_safetensors_open(io, &r->io);
    CHECK(s == RF_OK, "opening %s: %s", io, rf_last_error());
    return s == RF_OK;
}

/* ---- parity ------------------------------------------------------------------------------------------ */

typedef struct parity_result {
    double eval_worst, train_worst, feature_worst;
    int eval_compared, eval_skipped, train_compared, train_skipped;
} parity_result;

/* A reference entry and our tensor of the same shape, both on the host. */
typedef struct pair {
    float *ref, *got;
    int64_t shape[3];
} pair;

static bool load_pair(reference *r, const char *name, rf_tensor *t, pair *p) {
    int ndim;
    p->got = NULL;
    p->ref = read_io(r, name, p->shape, &ndim);
    bool ok = p->ref && t && ndim == 3 && t->ndim == 3;
    for (int i = 0; ok && i < 3; i++) ok = p->shape[i] == t->shape[i];
    if (ok) {
        p->got = malloc(sizeof *p->got * (size_t)rf_tensor_numel(t));
        ok = p->got && rf_tensor_download(t, p->got) == RF_OK;
    }
    CHECK(ok, "%s: missing, or its shape differs from the reference's", name);
    return ok;
}

static void free_pair(pair *p) {
    free(p->ref);
    free(p->got);
}

/* max |got - ref| over rows [r0, r1) of image b; a row of `other` may be
 * compared instead (row_map). */
static double rows_diff(const pair *p, int64_t b, int64_t r0, int64_t r1) {
    int64_t cols = p->shape[2];
    double worst = 0;
    for (int64_t i = b * p->shape[1] * cols + r0 * cols; i < b * p->shape[1] * cols + r1 * cols; i++) {
        double d = fabs((double)p->got[i] - (double)p->ref[i]);
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

static double row_vs_row(const pair *p, int64_t b, int64_t mine, int64_t theirs) {
    int64_t cols = p->shape[2];
    const float *g = p->got + (b * p->shape[1] + mine) * cols, *r = p->ref + (b * p->shape[1] + theirs) * cols;
    double worst = 0;
    for (int64_t c = 0; c < cols; c++) {
        double d = fabs((double)g[c] - (double)r[c]);
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

static float row_max(const float *v, int64_t cols) {
    float m = v[0];
    for (int64_t c = 1; c < cols; c++) m = v[c] > m ? v[c] : m;
    return m;
}

/* Compares the outputs image by image and query group by query group. Two
 * proposals whose scores differ by rounding alone may be selected in either
 * order (or either one of them at the k-th place); the decoder's queries of
 * that group then differ legitimately. Such a group is recognised (every
 * row that differs matches another reference row whose score is within
 * 1e-4 of its own, or lies at the selection boundary) and skipped; any
 * other difference fails. Returns the worst difference over the groups
 * compared; *skipped counts the others. */
static double check_outputs(reference *r, const char *prefix, const rfdetr_outputs *o, const char *device,
                            int *compared, int *skipped) {
    char name[96];
    pair enc_l, enc_b, lay_l[RFDETR_MAX_DEC_LAYERS], lay_b[RFDETR_MAX_DEC_LAYERS];
    bool ok = true;
    snprintf(name, sizeof name, "%senc_logits", prefix);
    ok = load_pair(r, name, o->enc_logits, &enc_l) && ok;
    snprintf(name, sizeof name, "%senc_boxes", prefix);
    ok = load_pair(r, name, o->enc_boxes, &enc_b) && ok;
    for (int l = 0; l < o->layers; l++) {
        char aux[32] = "";
        if (l < o->layers - 1) snprintf(aux, sizeof aux, "aux%d.", l);
        snprintf(name, sizeof name, "%s%slogits", prefix, aux);
        ok = load_pair(r, name, o->logits[l], &lay_l[l]) && ok;
        snprintf(name, sizeof name, "%s%sboxes", prefix, aux);
        ok = load_pair(r, name, o->boxes[l], &lay_b[l]) && ok;
    }
    double worst = ok ? 0 : INFINITY;
    *compared = *skipped = 0;
    int64_t k = o->enc_queries / o->groups, Q = o->queries / o->groups, C = o->classes;
    for (int64_t b = 0; ok && b < o->batch; b++)
        for (int g = 0; g < o->groups; g++) {
            double enc = fmax(rows_diff(&enc_l, b, g * k, (g + 1) * k), rows_diff(&enc_b, b, g * k, (g + 1) * k));
            if (enc > PARITY_TOL) {
                /* Near-tie selection, or a real difference? */
                const float *ref_rows = enc_l.ref + (b * enc_l.shape[1] + g * k) * C;
                float kth = row_max(ref_rows + (k - 1) * C, C);
                bool explained = true;
                for (int64_t i = 0; i < k && explained; i++) {
                    if (fmax(row_vs_row(&enc_l, b, g * k + i, g * k + i), row_vs_row(&enc_b, b, g * k + i, g * k + i)) <=
                        PARITY_TOL)
                        continue;
                    float si = row_max(ref_rows + i * C, C);
                    bool found = fabsf(si - kth) <= 1e-4f; /* at the boundary: the other may be unselected */
                    for (int64_t j = 0; j < k && !found; j++)
                        found = fabsf(row_max(ref_rows + j * C, C) - si) <= 1e-4f &&
                                fmax(row_vs_row(&enc_l, b, g * k + i, g * k + j),
                                     row_vs_row(&enc_b, b, g * k + i, g * k + j)) <= PARITY_TOL;
                    explained = found;
                }
                CHECK(explained, "%s %s image %lld group %d: proposals differ by %g beyond a near-tie reordering",
                      device, prefix, (long long)b, g, enc);
                if (!explained) worst = fmax(worst, enc);
                (*skipped)++;
                continue;
            }
            double dec = 0;
            for (int l = 0; l < o->layers; l++)
                dec = fmax(dec, fmax(rows_diff(&lay_l[l], b, g * Q, (g + 1) * Q), rows_diff(&lay_b[l], b, g * Q, (g + 1) * Q)));
            CHECK(dec <= PARITY_TOL, "%s %s image %lld group %d: decoder outputs max-abs %g", device, prefix,
                  (long long)b, g, dec);
            worst = fmax(worst, fmax(enc, dec));
            (*compared)++;
        }
    free_pair(&enc_l);
    free_pair(&enc_b);
    for (int l = 0; l < o->layers; l++) {
        free_pair(&lay_l[l]);
        free_pair(&lay_b[l]);
    }
    return worst;
}

static void parity_on(reference *r, const char *device_name, bool train, parity_result *res) {
    rf_device *dev;
    CHECK_OK(rf_device_open(device_name, &dev));
    if (!dev) return;
    rfdetr_model *m = NULL;
    CHECK_OK(rfdetr_model_open(dev, r->weights, NULL, 0, &m));
    rf_ctx *ctx = NULL;
    if (m) CHECK_OK(rf_ctx_create(dev, 0, &ctx));
    int64_t shape[8];
    int ndim;
    float *images = read_io(r, "images", shape, &ndim);
    CHECK(images && ndim == 4, "the reference has no images");
    if (m && ctx && images) {
        rf_ctx_set_grad(ctx, false);
        rf_tensor *x = rf_ctx_from_host(ctx, RF_F32, 4, shape, images);
        rfdetr_outputs o;
        CHECK_OK(rfdetr_model_forward(m, ctx, x, false, &o));
        if (rf_ctx_status(ctx) == RF_OK) {
            res->eval_worst = check_outputs(r, "eval.", &o, device_name, &res->eval_compared, &res->eval_skipped);
            double f = 0;
            char name[32];
            for (int i = 0; i < o.num_taps; i++) {
                snprintf(name, sizeof name, "eval.tap%d", i);
                double e = compare(r, name, o.taps[i]);
                f = e < 0 || e > f ? (e < 0 ? INFINITY : e) : f;
            }
            double e = compare(r, "eval.memory", o.memory);
            f = e < 0 || e > f ? (e < 0 ? INFINITY : e) : f;
            res->feature_worst = f;
            CHECK(f <= PARITY_TOL * 10, "%s features max-abs %g", device_name, f);
        }
        if (train && rf_safetensors_find(r->io, "train.logits") >= 0) {
            rf_ctx_reset(ctx);
            rf_ctx_set_grad(ctx, false);
            x = rf_ctx_from_host(ctx, RF_F32, 4, shape, images);
            CHECK_OK(rfdetr_model_forward(m, ctx, x, true, &o));
            if (rf_ctx_status(ctx) == RF_OK) {
                CHECK(o.groups == m->cfg.group_detr, "train mode has %d groups", o.groups);
                res->train_worst =
                    check_outputs(r, "train.", &o, device_name, &res->train_compared, &res->train_skipped);
            }
        }
    }
    free(images);
    rf_ctx_free(ctx);
    rfdetr_model_free(m);
    rf_device_close(dev);
}

static void check_reference(const char *dir, const char *name, bool train, bool strict) {
    reference r = {0};
    if (!open_reference(&r, dir, name)) return;
    /* The file's keys are exactly the model's parameters. */
    rf_device *cpu;
    CHECK_OK(rf_device_open("cpu", &cpu));
    rfdetr_config cfg;
    CHECK_OK(rfdetr_config_from_weights(r.weights, NULL, &cfg));
    rfdetr_config preset;
    if (strcmp(cfg.size, "micro") != 0 && rfdetr_config_preset(cfg.size, &preset) == RF_OK) {
        CHECK(rfdetr_config_equal(&cfg, &preset), "%s: the rfdetr package's %s configuration differs from our preset",
              name, cfg.size);
    }
    rfdetr_model *m = NULL;
    CHECK_OK(rfdetr_model_create(cpu, &cfg, 1, &m));
    if (m) {
        rfdetr_load_report rep;
        CHECK_OK(rfdetr_model_load_weights(m, r.weights, &rep));
        CHECK(rep.loaded == (int)m->params->count && rep.adapted == 0 && rep.missing == 0 && rep.unexpected == 0 &&
                  rep.mismatched == 0,
              "%s: loaded %d of %zu (adapted %d, missing %d, unexpected %d, mis-shaped %d)", name, rep.loaded,
              m->params->count, rep.adapted, rep.missing, rep.unexpected, rep.mismatched);
        printf("%s: %zu parameter tensors, %lld values, key list identical to the rfdetr package's\n", name,
               m->params->count, (long long)rfdetr_model_param_count(m));
    }
    rfdetr_model_free(m);
    rf_device_close(cpu);

    char devices[8][32];
    int n = test_device_names(devices, 8);
    for (int i = 0; i < n; i++) {
        parity_result res = {-1, -1, -1, 0, 0, 0, 0};
        parity_on(&r, devices[i], train, &res);
        printf("%s parity on %-9s max-abs eval %.3g (%d image x group compared, %d near-tie), train %.3g (%d, %d), "
               "features %.3g\n",
               name, devices[i], res.eval_worst, res.eval_compared, res.eval_skipped, res.train_worst,
               res.train_compared, res.train_skipped, res.feature_worst);
        CHECK(res.eval_compared > 0 && (!train || res.train_compared > 0), "%s on %s: nothing compared", name,
              devices[i]);
        CHECK(!strict || (res.eval_skipped == 0 && res.train_skipped == 0),
              "%s on %s: the checked-in reference has no near ties, yet %d/%d groups were skipped", name, devices[i],
              res.eval_skipped, res.train_skipped);
    }
    rf_safetensors_close(r.io);
}

/* ---- weights: export, bad files, adaptation --------------------------------------------------------- */

static bool write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}


/* A safetensors file starts with its header length, whose first byte may be
 * 0x80 (a pickle's magic) or whose first two 'P' 'K' (a ZIP's): the reader
 * must still see safetensors (it once did not: 1 file in ~256). */
static bool write_padded(const char *path, int pad, uint64_t *header) {
    rf_safetensors_writer *wr;
    float v = 1.5f;
    if (rf_safetensors_writer_create(&wr) != RF_OK) return false;
    rf_safetensors_writer_add(wr, "x", RF_FILE_F32, 1, (int64_t[]){1}, &v);
    char *text = malloc((size_t)pad + 1);
    memset(text, 'a', (size_t)pad);
    text[pad] = 0;
    rf_safetensors_writer_set_metadata(wr, "pad", text);
    free(text);
    rf_status s = rf_safetensors_writer_save(wr, path);
    rf_safetensors_writer_free(wr);
    unsigned char head[8] = {0};
    FILE *f = fopen(path, "rb");
    if (f) {
        if (fread(head, 1, 8, f) != 8) s = RF_ERR_IO;
        fclose(f);
    }
    *header = 0;
    for (int i = 7; i >= 0; i--) *header = *header << 8 | head[i];
    return s == RF_OK && f;
}

static void test_weights_magic(void) {
    /* header length mod 256 == 0x80, and mod 65536 == 0x4B50 ("PK") */
    const uint64_t modulus[2] = {256, 65536}, residue[2] = {0x80, 0x4B50};
    char path[1024];
    for (int w = 0; w < 2; w++) {
        snprintf(path, sizeof path, "%s/magic%d.safetensors", scratch_dir(), w);
        uint64_t base;
        bool made = write_padded(path, 0, &base);
        uint64_t target = base - base % modulus[w] + residue[w];
        if (target < base) target += modulus[w];
        uint64_t h = 0;
        for (int pad = (int)(target - base) - 8; made && pad <= (int)(target - base) + 8; pad++) {
            if (pad < 0) continue;
            made = write_padded(path, pad, &h);
            if (h == target) break;
        }
        CHECK(made && h == target, "could not make a safetensors header of %llu bytes", (unsigned long long)target);
        rf_weights *wt = NULL;
        CHECK_OK(rf_weights_open(path, &wt));
        CHECK(wt && strcmp(rf_weights_format(wt), "safetensors") == 0, "a safetensors file whose length reads %llx",
              (unsigned long long)target);
        float got = 0;
        if (wt) CHECK_OK(rf_weights_read_f32(wt, "x", &got, 1));
        CHECK(got == 1.5f, "value %g", got);
        rf_weights_close(wt);
    }
}

static void test_weights(void) {
    char fixture[1024], path[1024];
    snprintf(fixture, sizeof fixture, "%s/tests/fixtures/model/micro.safetensors", source_dir());
    rf_device *cpu;
    CHECK_OK(rf_device_open("cpu", &cpu));
    rfdetr_model *m = NULL;
    CHECK_OK(rfdetr_model_open(cpu, fixture, NULL, 0, &m));
    if (!m) return;
    CHECK(m->class_name_count == 5 && strcmp(rfdetr_model_class_name(m, 4), "class_4") == 0,
          "class names from the file: %d", m->class_name_count);
    /* Save, reopen: same configuration, same values, names kept. */
    snprintf(path, sizeof path, "%s/micro_saved.safetensors", scratch_dir());
    CHECK_OK(rfdetr_model_save(m, path));
    rfdetr_model *again = NULL;
    CHECK_OK(rfdetr_model_open(cpu, path, NULL, 0, &again));
    if (again) {
        CHECK(rfdetr_config_equal(&m->cfg, &again->cfg), "configuration survives saving");
        size_t bytes = (size_t)m->params->total * 4;
        float *a = malloc(bytes), *b = malloc(bytes);
        CHECK_OK(rf_buffer_download(m->params->values, 0, a, bytes));
        CHECK_OK(rf_buffer_download(again->params->values, 0, b, bytes));
        CHECK(memcmp(a, b, bytes) == 0, "values survive saving");
        CHECK(again->class_name_count == 5 && strcmp(rfdetr_model_class_name(again, 2), "class_2") == 0,
              "class names survive saving");
        free(a);
        free(b);
    }
    rfdetr_model_free(again);

    /* A truncated and a corrupt copy: clear errors, no crash. */
    size_t n = 0;
    unsigned char *bytes = NULL;
    rf_read_file(fixture, (char **)&bytes, &n);
    CHECK(bytes != NULL, "reading %s", fixture);
    if (bytes) {
        snprintf(path, sizeof path, "%s/truncated.safetensors", scratch_dir());
        write_bytes(path, bytes, n / 2);
        rfdetr_model *bad = NULL;
        rf_status s = rfdetr_model_open(cpu, path, NULL, 0, &bad);
        CHECK(s == RF_ERR_FORMAT && !bad, "truncated file: %s %s", rf_status_name(s), rf_last_error());
        CHECK(s != RF_OK && strstr(rf_last_error(), "truncated.safetensors"), "the message names the file: %s",
              rf_last_error());
        s = rfdetr_model_load_weights(m, path, NULL);
        CHECK(s == RF_ERR_FORMAT, "truncated file into a model: %s", rf_status_name(s));
        memset(bytes + 8, 'x', 16); /* the JSON header */
        snprintf(path, sizeof path, "%s/corrupt.safetensors", scratch_dir());
        write_bytes(path, bytes, n);
        s = rfdetr_model_open(cpu, path, NULL, 0, &bad);
        CHECK(s == RF_ERR_FORMAT && !bad, "corrupt file: %s %s", rf_status_name(s), rf_last_error());
        snprintf(path, sizeof path, "%s/garbage.pth", scratch_dir());
        write_bytes(path, "PK\x03\x04garbage", 11);
        s = rfdetr_model_open(cpu, path, NULL, 0, &bad);
        CHECK(s != RF_OK && !bad, "garbage .pth: %s %s", rf_status_name(s), rf_last_error());
        s = rfdetr_model_open(cpu, "/nonexistent/w.safetensors", NULL, 0, &bad);
        CHECK(s == RF_ERR_IO && !bad, "missing file: %s %s", rf_status_name(s), rf_last_error());
        free(bytes);
    }
    /* The wrong model: micro's weights into tiny. Names reported, model untouched. */
    rfdetr_config tiny;
    rfdetr_config_preset("tiny", &tiny);
    rfdetr_model *t = NULL;
    CHECK_OK(rfdetr_model_create(cpu, &tiny, 3, &t));
    if (t) {
        float before, after;
        rf_tensor *probe = rf_params_find(t->params, "class_embed.bias");
        rf_buffer_download(probe->buffer, probe->offset * 4, &before, 4);
        rfdetr_load_report rep;
        rf_status s = rfdetr_model_load_weights(t, fixture, &rep);
        CHECK(s == RF_ERR_FORMAT, "wrong model: %s", rf_status_name(s));
        CHECK(strstr(rf_last_error(), "does not fit the tiny model") && strstr(rf_last_error(), "mis-shaped"), "%s",
              rf_last_error());
        CHECK(rep.mismatched > 0 && rep.unexpected > 0, "mismatched %d unexpected %d", rep.mismatched, rep.unexpected);
        rf_buffer_download(probe->buffer, probe->offset * 4, &after, 4);
        CHECK(before == after, "a failed load leaves the model untouched");
        printf("wrong-model message: %.300s...\n", rf_last_error());
    }
    rfdetr_model_free(t);

    /* RF-DETR's adaptations: another class count (rows tiled) and a smaller
     * position grid (interpolated) load; the class head repeats its rows. */
    rfdetr_config cfg = m->cfg;
    cfg.num_classes = 7;
    cfg.pos_embed_size = 6;
    rfdetr_model *adapted = NULL;
    CHECK_OK(rfdetr_model_create(cpu, &cfg, 5, &adapted));
    if (adapted) {
        rfdetr_load_report rep;
        CHECK_OK(rfdetr_model_load_weights(adapted, fixture, &rep));
        int groups = cfg.group_detr;
        CHECK(rep.adapted == 2 * (1 + groups) + 1, "adapted %d tensors (class heads and positions)", rep.adapted);
        rf_tensor *a = rf_params_find(adapted->params, "class_embed.bias");
        rf_tensor *b = rf_params_find(m->params, "class_embed.bias");
        float va[7], vb[5];
        rf_tensor_download(a, va);
        rf_tensor_download(b, vb);
        CHECK(va[5] == vb[0] && va[6] == vb[1] && va[4] == vb[4], "class rows tiled as reinitialize_detection_head");
        /* The adapted model still runs. */
        rf_ctx *ctx;
        CHECK_OK(rf_ctx_create(cpu, 0, &ctx));
        rf_ctx_set_grad(ctx, false);
        float *img = calloc(3 * 64 * 64, sizeof *img);
        rfdetr_outputs o;
        CHECK_OK(rfdetr_model_forward(adapted, ctx, rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){1, 3, 64, 64}, img),
                                      false, &o));
        CHECK(o.classes == 7, "7 classes out");
        free(img);
        rf_ctx_free(ctx);
    }
    rfdetr_model_free(adapted);
    rfdetr_model_free(m);
    rf_device_close(cpu);
}

/* ---- forward on bad inputs, post-processing ---------------------------------------------------------- */

static void test_forward_and_postprocess(void) {
    rf_device *cpu;
    CHECK_OK(rf_device_open("cpu", &cpu));
    char fixture[1024];
    snprintf(fixture, sizeof fixture, "%s/tests/fixtures/model/micro.safetensors", source_dir());
    rfdetr_model *m = NULL;
    CHECK_OK(rfdetr_model_open(cpu, fixture, NULL, 0, &m));
    rf_ctx *ctx = NULL;
    CHECK_OK(rf_ctx_create(cpu, 0, &ctx));
    if (!m || !ctx) return;
    rf_ctx_set_grad(ctx, false);
    /* An input that breaks the resolution rule. */
    float *img = calloc(2 * 3 * 96 * 96, sizeof *img);
    for (int i = 0; i < 2 * 3 * 96 * 96; i++) img[i] = (float)sin(i * 0.37);
    rfdetr_outputs o;
    rf_status s = rfdetr_model_forward(m, ctx, rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){1, 3, 72, 64}, img), false, &o);
    CHECK(s == RF_ERR_INVALID_ARGUMENT && strstr(rf_last_error(), "multiple of patch size x windows = 8 x 2 = 16"),
          "bad input size: %s", rf_last_error());
    s = rfdetr_model_forward(m, ctx, rf_ctx_from_host(ctx, RF_F32, 3, (int64_t[]){3, 64, 64}, img), false, &o);
    CHECK(s == RF_ERR_INVALID_ARGUMENT, "rank-3 images: %s", rf_status_name(s));
    /* Another allowed size runs (positions interpolated to 6 x 6). */
    rf_ctx_reset(ctx);
    rf_ctx_set_grad(ctx, false);
    CHECK_OK(rfdetr_model_forward(m, ctx, rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){2, 3, 96, 96}, img), false, &o));
    /* A non-square input (positions interpolated to 4 x 6, proposals on that grid). */
    rf_ctx_reset(ctx);
    rf_ctx_set_grad(ctx, false);
    CHECK_OK(rfdetr_model_forward(m, ctx, rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){1, 3, 32, 48}, img), false, &o));
    CHECK(o.memory && o.memory->shape[2] == 4 && o.memory->shape[3] == 6 && o.queries == 12, "non-square memory");
    /* Fewer positions (2 x 2) than queries (12): 4 proposals, the other
     * queries keep their learned boxes (RF-DETR's rule). */
    rf_ctx_reset(ctx);
    rf_ctx_set_grad(ctx, false);
    CHECK_OK(rfdetr_model_forward(m, ctx, rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){1, 3, 16, 16}, img), false, &o));
    CHECK(o.enc_queries == 4 && o.queries == 12, "tiny input: %lld proposals, %lld queries", (long long)o.enc_queries,
          (long long)o.queries);
    rf_ctx_reset(ctx);
    rf_ctx_set_grad(ctx, false);
    CHECK_OK(rfdetr_model_forward(m, ctx, rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){2, 3, 96, 96}, img), false, &o));
    /* Post-processing: k = num_select, sorted, labels < C, boxes inside the image. */
    int k = 0;
    int hw[2][2] = {{480, 640}, {100, 50}};
    rfdetr_detection *det = calloc(2 * 20, sizeof *det);
    CHECK_OK(rfdetr_postprocess(ctx, o.logits[o.layers - 1], o.boxes[o.layers - 1], (const int(*)[2])hw, 20, det, &k));
    CHECK(k == 20, "k %d", k);
    bool sorted = true, inside = true, labels = true;
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < k; i++) {
            rfdetr_detection *d = &det[b * k + i];
            if (i && d->score > det[b * k + i - 1].score) sorted = false;
            if (d->label < 0 || d->label >= 5) labels = false;
            if (d->box[0] < 0 || d->box[2] > hw[b][1] || d->box[1] < 0 || d->box[3] > hw[b][0] || d->box[0] > d->box[2])
                inside = false;
        }
    CHECK(sorted && inside && labels, "post-process: sorted %d inside %d labels %d", sorted, inside, labels);
    /* Against a host computation of the same thing. */
    int64_t Q = o.queries, C = o.classes;
    float *lg = malloc(sizeof *lg * (size_t)(2 * Q * C)), *bx = malloc(sizeof *bx * (size_t)(2 * Q * 4));
    rf_tensor_download(o.logits[o.layers - 1], lg);
    rf_tensor_download(o.boxes[o.layers - 1], bx);
    float best = -1;
    int64_t best_i = 0;
    for (int64_t i = 0; i < Q * C; i++) {
        float p = 1.0f / (1.0f + expf(-lg[i]));
        if (p > best) best = p, best_i = i;
    }
    CHECK(fabsf(best - det[0].score) < 1e-6f && det[0].label == (int)(best_i % C), "top detection %g/%d vs %g/%lld",
          det[0].score, det[0].label, best, (long long)(best_i % C));
    const float *b0 = bx + (best_i / C) * 4;
    float x0 = (b0[0] - 0.5f * b0[2]) * 640;
    x0 = x0 < 0 ? 0 : (x0 > 640 ? 640 : x0);
    CHECK(fabsf(x0 - det[0].box[0]) < 1e-3f, "top box x0 %g vs %g", det[0].box[0], x0);
    free(lg);
    free(bx);
    free(det);
    free(img);
    rf_ctx_free(ctx);
    rfdetr_model_free(m);

    /* A model on one device, a context on another: an error, no migration. */
    char devices[8][32];
    int n = test_device_names(devices, 8);
    if (n > 1) {
        rf_device *other;
        CHECK_OK(rf_device_open(devices[1], &other));
        rfdetr_config tiny;
        rfdetr_config_preset("tiny", &tiny);
        rfdetr_model *t = NULL;
        CHECK_OK(rfdetr_model_create(cpu, &tiny, 0, &t));
        rf_ctx *octx = NULL;
        CHECK_OK(rf_ctx_create(other, 0, &octx));
        if (t && octx) {
            float *z = calloc(3 * 192 * 192, sizeof *z);
            s = rfdetr_model_forward(t, octx, rf_ctx_from_host(octx, RF_F32, 4, (int64_t[]){1, 3, 192, 192}, z), false, &o);
            CHECK(s == RF_ERR_DEVICE_MISMATCH, "model on cpu, context on %s: %s", devices[1], rf_status_name(s));
            free(z);
        }
        rf_ctx_free(octx);
        rfdetr_model_free(t);
        rf_device_close(other);
    }
    rf_device_close(cpu);
}

/* Every preset builds with the official parameter count, and a random tiny
 * model runs forward and backward (the trainer's path). */
static void test_create(void) {
    rf_device *cpu;
    CHECK_OK(rf_device_open("cpu", &cpu));
    rfdetr_config c;
    rfdetr_config_preset("nano", &c);
    rfdetr_model *m = NULL;
    CHECK_OK(rfdetr_model_create(cpu, &c, 0, &m));
    if (m) {
        /* rfdetr 1.11 RFDETRNano(pretrain_weights=None): 30,467,298 values in 465 float tensors. */
        CHECK(rfdetr_model_param_count(m) == 30467298, "nano has %lld values", (long long)rfdetr_model_param_count(m));
        CHECK(m->params->count == 465, "nano has %zu tensors", m->params->count);
        rf_tensor *b = rf_params_find(m->params, "transformer.enc_out_class_embed.12.bias");
        float v[91];
        CHECK(b && rf_tensor_download(b, v) == RF_OK && fabsf(v[0] + 4.59512f) < 1e-4f, "class bias prior %g", v[0]);
        rf_tensor *off = rf_params_find(m->params, "transformer.decoder.layers.1.cross_attn.sampling_offsets.bias");
        float o[64];
        CHECK(off && rf_tensor_download(off, o) == RF_OK && o[0] == 1 && o[1] == 0 && o[2] == 2 && o[3] == 0 &&
                  o[4] == 1 && fabsf(o[5] - 0.41421356f) < 1e-6f,
              "sampling offset grid %g %g %g %g %g %g", o[0], o[1], o[2], o[3], o[4], o[5]);
    }
    rfdetr_model_free(m);
    rfdetr_config_preset("tiny", &c);
    CHECK_OK(rfdetr_model_create(cpu, &c, 7, &m));
    rf_ctx *ctx = NULL;
    CHECK_OK(rf_ctx_create(cpu, 0, &ctx));
    if (m && ctx) {
        float *img = calloc(2 * 3 * 192 * 192, sizeof *img);
        for (int i = 0; i < 2 * 3 * 192 * 192; i++) img[i] = (float)cos(i * 0.011);
        rfdetr_outputs o;
        CHECK_OK(rfdetr_model_forward(m, ctx, rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){2, 3, 192, 192}, img), true, &o));
        CHECK(o.groups == 4 && o.queries == 200 && o.enc_queries == 200 && o.classes == 3, "tiny train outputs %d %lld",
              o.groups, (long long)o.queries);
        /* A scalar of every output, backward: gradients reach the whole model. */
        rf_tensor *loss = rf_sum_all(ctx, o.logits[0]);
        loss = rf_add(ctx, loss, rf_sum_all(ctx, o.boxes[0]));
        loss = rf_add(ctx, loss, rf_sum_all(ctx, o.enc_logits));
        loss = rf_add(ctx, loss, rf_sum_all(ctx, o.enc_boxes));
        CHECK_OK(rf_backward(ctx, loss, NULL));
        int zero = 0;
        const char *first_zero = NULL;
        for (size_t i = 0; i < m->params->count; i++) {
            rf_tensor *p = m->params->tensors[i];
            int64_t n = rf_tensor_numel(p);
            float *g = malloc(sizeof *g * (size_t)n);
            rf_tensor_download(p->grad, g);
            double s = 0;
            for (int64_t j = 0; j < n; j++) s += fabs(g[j]);
            free(g);
            /* mask_token is unused (as in RF-DETR), and the box MLPs' last
             * layers start at zero, which stops the gradient of the layers
             * before them at initialisation (as in RF-DETR). */
            bool blocked = strstr(p->name, "bbox_embed") && !strstr(p->name, ".layers.2.");
            if (s == 0 && !strstr(p->name, "mask_token") && !blocked) {
                zero++;
                if (!first_zero) first_zero = p->name;
            }
        }
        CHECK(zero == 0, "%d parameters get no gradient, e.g. %s", zero, first_zero ? first_zero : "");
        free(img);
    }
    rf_ctx_free(ctx);
    rfdetr_model_free(m);
    rf_device_close(cpu);
}

/* One forward and backward of a tiny model on ctx's device; every
 * parameter's gradient to `grads`, the activations kept for backward to
 * *kept. Memory given back before backward is overwritten with NaN. */
static bool tiny_step(rfdetr_model *m, rf_device *dev, bool keep, rf_precision precision, float *grads, size_t *kept) {
    rf_ctx *ctx = NULL;
    if (rf_ctx_create(dev, 0, &ctx) != RF_OK) return false;
    ctx->keep_activations = keep;
    ctx->precision = precision;
    float *img = malloc(sizeof *img * 2 * 3 * 192 * 192);
    for (int i = 0; img && i < 2 * 3 * 192 * 192; i++) img[i] = (float)cos(i * 0.011);
    rf_params *p = m->params;
    bool ok = img && rf_buffer_fill_u32(p->grads, 0, (size_t)p->total, 0) == RF_OK;
    rfdetr_outputs o;
    ok = ok && rfdetr_model_forward(m, ctx, rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){2, 3, 192, 192}, img), true, &o) == RF_OK;
    rf_tensor *loss = ok ? rf_sum_all(ctx, o.logits[0]) : NULL;
    loss = rf_add(ctx, loss, rf_sum_all(ctx, o.boxes[0]));
    loss = rf_add(ctx, loss, rf_sum_all(ctx, rf_mul(ctx, o.enc_logits, o.enc_logits)));
    loss = rf_add(ctx, loss, rf_sum_all(ctx, o.enc_boxes));
    for (int64_t n = 1 << 12; loss && n <= 1 << 20; n *= 2) { /* into the holes, smallest first */
        rf_tensor *junk = rf_ctx_tensor(ctx, RF_F32, 1, &n);
        ok = ok && junk && rf_buffer_fill_f32(junk->buffer, junk->offset * 4, (size_t)n, NAN) == RF_OK;
    }
    ok = ok && loss && rf_backward(ctx, loss, NULL) == RF_OK;
    ok = ok && rf_buffer_download(p->grads, 0, grads, (size_t)p->total * sizeof *grads) == RF_OK;
    *kept = rf_ctx_saved_bytes(ctx);
    if (!ok) fprintf(stderr, "tiny step: %s\n", rf_last_error());
    free(img);
    rf_ctx_free(ctx);
    return ok;
}

/* Activations given back before backward (rf_release_since: what no
 * backward reads, at once) change no gradient bit in f32, on every device,
 * and bf16 gradients stay within bf16's rounding of the kept run's. (Tiny
 * at batch 2 has no activation of the 1 MiB the model stashes.) */
static void test_release_same_gradients(void) {
    char names[16][32];
    int n_dev = test_device_names(names, 16);
    rfdetr_config c;
    rfdetr_config_preset("tiny", &c);
    for (int d = 0; d < n_dev; d++) {
        rf_device *dev = NULL;
        rfdetr_model *m = NULL;
        CHECK_OK(rf_device_open(names[d], &dev));
        if (dev) CHECK_OK(rfdetr_model_create(dev, &c, 7, &m));
        float *kept = m ? malloc(sizeof *kept * (size_t)m->params->total) : NULL;
        float *released = m ? malloc(sizeof *released * (size_t)m->params->total) : NULL;
        size_t kept_bytes = 0, released_bytes = 0;
        for (int bf16 = 0; kept && released && bf16 < 2; bf16++) {
            rf_precision pr = bf16 ? RF_PRECISION_BF16 : RF_PRECISION_F32;
            bool ok = tiny_step(m, dev, true, pr, kept, &kept_bytes) && tiny_step(m, dev, false, pr, released, &released_bytes);
            CHECK(ok, "%s: %s", names[d], rf_last_error());
            if (!ok) break;
            int64_t differ = 0, far = 0;
            double scale = 0;
            for (int64_t i = 0; i < m->params->total; i++) scale = fmax(scale, fabs(kept[i]));
            for (int64_t i = 0; i < m->params->total; i++) {
                differ += memcmp(&kept[i], &released[i], sizeof *kept) != 0;
                far += !(fabs(kept[i] - released[i]) <= 0.02 * scale); /* NaN counts */
            }
            if (!bf16)
                CHECK(differ == 0, "%s: %lld gradient values differ when activations are released", names[d],
                      (long long)differ);
            else
                CHECK(far == 0, "%s: %lld bf16 gradient values stray from the kept run's", names[d], (long long)far);
            CHECK(released_bytes < kept_bytes * 0.95, "%s %s: %.1f MB kept for backward against %.1f",
                  names[d], bf16 ? "bf16" : "f32", released_bytes / 1e6, kept_bytes / 1e6);
        }
        free(kept);
        free(released);
        rfdetr_model_free(m);
        rf_device_close(dev);
    }
}

static int run_python(const char *size) {
    char out[600], cmd[2048];
    snprintf(out, sizeof out, "%s/ref_%s", scratch_dir(), size);
    snprintf(cmd, sizeof cmd, "python3 %s/tests/model_reference.py --size %s --out %s --batch 2 --pth", source_dir(), size,
             out);
    printf("%s\n", cmd);
    fflush(stdout);
    int rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc)) return 1;
    if (WEXITSTATUS(rc) == TEST_SKIP_CODE) {
        return test_skip("test_model --python", "python3 cannot import torch and rfdetr (tests/model_reference.py builds the reference)",
                         TEST_ENABLE_RFDETR);
    }
    if (WEXITSTATUS(rc) != 0) {
        fprintf(stderr, "model_reference.py failed (%d)\n", WEXITSTATUS(rc));
        return 1;
    }
    check_reference(out, size, true, false);
    /* The same weights as an official .pth: no metadata, so the size is
     * recognised from the tensors; the empty _kp_active_mask is skipped. */
    reference r = {0};
    if (open_reference(&r, out, size)) {
        snprintf(r.weights, sizeof r.weights, "%s/%s.pth", out, size);
        rfdetr_config cfg, preset;
        CHECK_OK(rfdetr_config_from_weights(r.weights, NULL, &cfg));
        if (rfdetr_config_preset(size, &preset) == RF_OK && strcmp(size, "tiny") != 0)
            CHECK(rfdetr_config_equal(&cfg, &preset) && strcmp(cfg.size, size) == 0, "%s.pth recognised as %s", size,
                  cfg.size);
        parity_result res = {-1, -1, -1, 0, 0, 0, 0};
        parity_on(&r, "cpu", false, &res);
        printf("%s.pth parity on cpu       max-abs eval %.3g (%d compared, %d near-tie)\n", size, res.eval_worst,
               res.eval_compared, res.eval_skipped);
        CHECK(res.eval_compared > 0, "nothing compared from the .pth");
        rf_safetensors_close(r.io);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "--python") == 0) {
        int rc = run_python(argv[2]);
        if (rc) return rc;
        return test_finish("test_model --python");
    }
    if (argc >= 4 && strcmp(argv[1], "--ref") == 0) {
        check_reference(argv[2], argv[3], true, false);
        return test_finish("test_model --ref");
    }
    test_config();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/model", source_dir());
    check_reference(dir, "micro", true, true);
    test_weights_magic();
    test_weights();
    test_forward_and_postprocess();
    test_create();
    test_release_same_gradients();
    return test_finish("test_model");
}
