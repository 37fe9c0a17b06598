/* train_state.c — see train_state.h. Counters travel as "__metadata__"
 * strings (exact: doubles at %.17g), slabs (weights, AdamW moments, EMA)
 * as 1-D f32 tensors. */
#include "train/train_state.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "core/safetensors.h"

#define LAYOUT_KEY "rfdetr.train.slab_elements"

static rf_status download_slab(const rf_buffer *b, float **out) {
    *out = malloc(b->bytes ? b->bytes : 1);
    if (!*out) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory saving the training state");
    return rf_buffer_download(b, 0, *out, b->bytes);
}

static void put_i64(rf_safetensors_writer *w, const char *key, int64_t v, rf_status *s) {
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, v);
    if (*s == RF_OK) *s = rf_safetensors_writer_set_metadata(w, key, text);
}

static void put_f64(rf_safetensors_writer *w, const char *key, double v, rf_status *s) {
    char text[40];
    snprintf(text, sizeof text, "%.17g", v);
    if (*s == RF_OK) *s = rf_safetensors_writer_set_metadata(w, key, text);
}

rf_status rf_train_state_save(const rf_train_state *st, const rf_params *params, const rf_adamw *opt, const rf_ema *ema,
                              const char *path) {
    rf_safetensors_writer *w = NULL;
    RF_TRY(rf_safetensors_writer_create(&w));
    float *values = NULL, *m = NULL, *v = NULL, *e = NULL;
    rf_status s = download_slab(params->values, &values);
    if (s == RF_OK) s = download_slab(params->adam_m, &m);
    if (s == RF_OK) s = download_slab(params->adam_v, &v);
    if (s == RF_OK && ema) s = download_slab(rf_ema_values(ema), &e);
    int64_t n = (int64_t)(params->adam_m->bytes / sizeof(float));
    if (s == RF_OK) s = rf_safetensors_writer_add(w, "params.values", RF_FILE_F32, 1, &n, values);
    if (s == RF_OK) s = rf_safetensors_writer_add(w, "adamw.exp_avg", RF_FILE_F32, 1, &n, m);
    if (s == RF_OK) s = rf_safetensors_writer_add(w, "adamw.exp_avg_sq", RF_FILE_F32, 1, &n, v);
    if (s == RF_OK && ema) s = rf_safetensors_writer_add(w, "ema.values", RF_FILE_F32, 1, &n, e);
    put_i64(w, LAYOUT_KEY, n, &s);
    put_i64(w, "rfdetr.train.epoch", st->epoch, &s);
    put_i64(w, "rfdetr.train.step", st->step, &s);
    put_i64(w, "rfdetr.train.batches_done", st->batches_done, &s);
    put_i64(w, "rfdetr.train.epochs_evaluated", st->epochs_evaluated, &s);
    put_i64(w, "rfdetr.train.epochs_without_improvement", st->epochs_without_improvement, &s);
    put_i64(w, "rfdetr.train.best_total_is_ema", st->best_total_is_ema, &s);
    put_i64(w, "rfdetr.train.adamw_steps", rf_adamw_step_count(opt), &s);
    put_i64(w, "rfdetr.train.ema_updates", ema ? rf_ema_updates(ema) : 0, &s);
    put_f64(w, "rfdetr.train.best_regular", st->best_regular, &s);
    put_f64(w, "rfdetr.train.best_ema", st->best_ema, &s);
    put_f64(w, "rfdetr.train.best_total", st->best_total, &s);
    put_f64(w, "rfdetr.train.best_for_patience", st->best_for_patience, &s);
    put_i64(w, "rfdetr.train.epoch_steps", st->epoch_steps, &s);
    put_i64(w, "rfdetr.train.epoch_skipped", st->epoch_skipped, &s);
    put_f64(w, "rfdetr.train.loss_scale", st->scaler.scale, &s);
    put_i64(w, "rfdetr.train.loss_scale_good_steps", st->scaler.good_steps, &s);
    put_i64(w, "rfdetr.train.skipped_steps", st->scaler.skipped, &s);
    for (int i = 0; i < 5; i++) {
        char key[64];
        snprintf(key, sizeof key, "rfdetr.train.epoch_sums.%d", i);
        put_f64(w, key, st->epoch_sums[i], &s);
    }
    for (int i = 0; i < 12; i++) {
        char key[64];
        snprintf(key, sizeof key, "rfdetr.train.best_total_stats.%d", i);
        put_f64(w, key, st->best_total_stats[i], &s);
    }
    if (s == RF_OK) s = rf_safetensors_writer_save(w, path);
    rf_safetensors_writer_free(w);
    free(values);
    free(m);
    free(v);
    free(e);
    return s;
}

static rf_status get_i64(const rf_safetensors *f, const char *path, const char *key, int64_t *out) {
    const char *text = rf_safetensors_metadata(f, key);
    char *end = NULL;
    if (!text) return RF_ERROR(RF_ERR_FORMAT, "%s: missing metadata %s", path, key);
    *out = strtoll(text, &end, 10);
    if (!*text || *end) return RF_ERROR(RF_ERR_FORMAT, "%s: metadata %s is not an integer: %s", path, key, text);
    return RF_OK;
}

static rf_status get_f64(const rf_safetensors *f, const char *path, const char *key, double *out) {
    const char *text = rf_safetensors_metadata(f, key);
    char *end = NULL;
    if (!text) return RF_ERROR(RF_ERR_FORMAT, "%s: missing metadata %s", path, key);
    *out = strtod(text, &end);
    if (!*text || *end) return RF_ERROR(RF_ERR_FORMAT, "%s: metadata %s is not a number: %s", path, key, text);
    return RF_OK;
}

static rf_status upload_slab(const rf_safetensors *f, const char *path, const char *name, rf_buffer *b) {
    size_t n = b->bytes / sizeof(float);
    float *host = malloc(b->bytes ? b->bytes : 1);
    if (!host) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory reading %s", path);
    rf_status s = rf_safetensors_get_f32(f, name, host, n);
    if (s == RF_OK) s = rf_buffer_upload(b, 0, host, b->bytes);
    free(host);
    return s;
}

rf_status rf_train_state_load(rf_train_state *st, rf_params *params, rf_adamw *opt, rf_ema *ema, const char *path) {
    rf_safetensors *f = NULL;
    RF_TRY(rf_safetensors_open(path, &f));
    int64_t layout = 0, adam_steps = 0, ema_updates = 0, is_ema = 0;
    rf_train_state r = {0};
    rf_status s = get_i64(f, path, LAYOUT_KEY, &layout);
    if (s == RF_OK && layout != (int64_t)(params->adam_m->bytes / sizeof(float)))
        s = RF_ERROR(RF_ERR_FORMAT, "%s was written for a model with %" PRId64 " slab elements, this one has %zu", path,
                     layout, params->adam_m->bytes / sizeof(float));
    if (s == RF_OK) s = get_i64(f, path, "rfdetr.train.epoch", &r.epoch);
    if (s == RF_OK) s = get_i64(f, path, "rfdetr.train.step", &r.step);
    if (s == RF_OK) s = get_i64(f, path, "rfdetr.train.batches_done", &r.batches_done);
    if (s == RF_OK) s = get_i64(f, path, "rfdetr.train.epochs_evaluated", &r.epochs_evaluated);
    if (s == RF_OK) s = get_i64(f, path, "rfdetr.train.epochs_without_improvement", &r.epochs_without_improvement);
    if (s == RF_OK) s = get_i64(f, path, "rfdetr.train.best_total_is_ema", &is_ema);
    if (s == RF_OK) s = get_i64(f, path, "rfdetr.train.adamw_steps", &adam_steps);
    if (s == RF_OK) s = get_i64(f, path, "rfdetr.train.ema_updates", &ema_updates);
    if (s == RF_OK) s = get_f64(f, path, "rfdetr.train.best_regular", &r.best_regular);
    if (s == RF_OK) s = get_f64(f, path, "rfdetr.train.best_ema", &r.best_ema);
    if (s == RF_OK) s = get_f64(f, path, "rfdetr.train.best_total", &r.best_total);
    if (s == RF_OK) s = get_f64(f, path, "rfdetr.train.best_for_patience", &r.best_for_patience);
    for (int i = 0; i < 12 && s == RF_OK; i++) {
        char key[64];
        snprintf(key, sizeof key, "rfdetr.train.best_total_stats.%d", i);
        s = get_f64(f, path, key, &r.best_total_stats[i]);
    }
    if (s == RF_OK) s = get_i64(f, path, "rfdetr.train.epoch_steps", &r.epoch_steps);
    /* States from before loss scaling existed: f32 runs, which never skip. */
    r.scaler = (rf_loss_scaler){.scale = 1};
    if (s == RF_OK && rf_safetensors_metadata(f, "rfdetr.train.loss_scale")) {
        s = get_f64(f, path, "rfdetr.train.loss_scale", &r.scaler.scale);
        if (s == RF_OK) s = get_i64(f, path, "rfdetr.train.loss_scale_good_steps", &r.scaler.good_steps);
        if (s == RF_OK) s = get_i64(f, path, "rfdetr.train.skipped_steps", &r.scaler.skipped);
        if (s == RF_OK) s = get_i64(f, path, "rfdetr.train.epoch_skipped", &r.epoch_skipped);
        /* A power of two in fp16's reach, counts that fit the run: anything else is a damaged file. */
        int exponent = 0;
        if (s == RF_OK && (!(r.scaler.scale >= RF_LOSS_SCALE_MIN && r.scaler.scale <= 0x1p100) ||
                           frexp(r.scaler.scale, &exponent) != 0.5 || r.scaler.good_steps < 0 ||
                           r.scaler.skipped < 0 || r.epoch_skipped < 0 || r.epoch_skipped > r.epoch_steps))
            s = RF_ERROR(RF_ERR_FORMAT, "%s: loss scale %g (%" PRId64 " good steps, %" PRId64 " skipped) is not one "
                         "training writes", path, r.scaler.scale, r.scaler.good_steps, r.scaler.skipped);
    }
    for (int i = 0; i < 5 && s == RF_OK; i++) {
        char key[64];
        snprintf(key, sizeof key, "rfdetr.train.epoch_sums.%d", i);
        s = get_f64(f, path, key, &r.epoch_sums[i]);
    }
    if (s == RF_OK) s = upload_slab(f, path, "params.values", params->values);
    if (s == RF_OK) s = upload_slab(f, path, "adamw.exp_avg", params->adam_m);
    if (s == RF_OK) s = upload_slab(f, path, "adamw.exp_avg_sq", params->adam_v);
    if (s == RF_OK && ema) {
        if (rf_safetensors_find(f, "ema.values") < 0)
            s = RF_ERROR(RF_ERR_FORMAT, "%s has no EMA weights but this run keeps an EMA", path);
        else
            s = upload_slab(f, path, "ema.values", rf_ema_values(ema));
    }
    rf_safetensors_close(f);
    if (s != RF_OK) return s;
    r.best_total_is_ema = is_ema != 0;
    rf_adamw_set_step_count(opt, adam_steps);
    if (ema) rf_ema_set_updates(ema, ema_updates);
    *st = r;
    return RF_OK;
}
