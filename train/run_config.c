/* run_config.c — see run_config.h. */
#include "train/run_config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "backend/status.h"
#include "core/fileio.h"
#include "core/json_writer.h"

#define RUN_FORMAT "rfdetr.c run 1"

static const char *const run_files[] = {
    RF_RUN_CONFIG_FILE,
    RF_RUN_STATE_FILE,
    "checkpoint.safetensors",
    "checkpoint_best_regular.safetensors",
    "checkpoint_best_ema.safetensors",
    "checkpoint_best_total.safetensors",
    "log.jsonl",
    "results.json",
    "metrics_plot.png",
};
enum { RUN_FILE_COUNT = sizeof run_files / sizeof run_files[0] };
static const char *const split_keys[3] = {"train", "valid", "test"};

/* ---- the fields -------------------------------------------------------------------- */

typedef enum kind { K_STRING, K_INT, K_I64, K_U64, K_DOUBLE, K_BOOL, K_SCHEDULE, K_PRECISION } kind;

typedef struct field {
    const char *key;  /* in run.json */
    const char *flag; /* the command line's name for it */
    kind kind;
    size_t offset;    /* in rf_train_config */
    bool may_change;  /* when resuming */
} field;

#define AT(member) offsetof(rf_train_config, member)
static const field fields[] = {
    {"data", "--data", K_STRING, AT(data), false},
    {"model", "--model", K_STRING, AT(size), false},
    {"weights", "--weights", K_STRING, AT(weights), false},
    {"device", "--device", K_STRING, AT(device_request), true},
    {"epochs", "--epochs", K_INT, AT(epochs), true},
    {"max_steps", "--max-steps", K_I64, AT(max_steps), true},
    {"threads", "--threads", K_INT, AT(threads), true},
    {"batch", "--batch", K_INT, AT(batch), false},
    {"grad_accum", "--grad-accum", K_INT, AT(grad_accum), false},
    {"resolution", "--resolution", K_INT, AT(resolution), false},
    {"multi_scale", "--multi-scale", K_BOOL, AT(multi_scale), false},
    {"lr", "--lr", K_DOUBLE, AT(lr), false},
    {"lr_encoder", "--lr-encoder", K_DOUBLE, AT(lr_encoder), false},
    {"lr_vit_layer_decay", "lr_vit_layer_decay", K_DOUBLE, AT(lr_vit_layer_decay), false},
    {"lr_component_decay", "lr_component_decay", K_DOUBLE, AT(lr_component_decay), false},
    {"weight_decay", "--weight-decay", K_DOUBLE, AT(weight_decay), false},
    {"warmup_steps", "--warmup-steps", K_I64, AT(warmup_steps), false},
    {"schedule", "--schedule", K_SCHEDULE, AT(cosine), false},
    {"lr_drop", "--lr-drop", K_INT, AT(lr_drop), false},
    {"min_factor", "min_factor", K_DOUBLE, AT(min_factor), false},
    {"clip", "--clip", K_DOUBLE, AT(clip_max_norm), false},
    {"ema", "--no-ema", K_BOOL, AT(ema), false},
    {"ema_decay", "--ema-decay", K_DOUBLE, AT(ema_decay), false},
    {"ema_tau", "--ema-tau", K_DOUBLE, AT(ema_tau), false},
    {"seed", "--seed", K_U64, AT(seed), false},
    {"patience", "--patience", K_INT, AT(patience), false},
    {"min_delta", "--min-delta", K_DOUBLE, AT(min_delta), false},
    {"eval_batch", "--eval-batch", K_INT, AT(eval_batch), false},
    {"precision", "--precision", K_PRECISION, AT(precision), false},
};
#undef AT
enum { FIELD_COUNT = sizeof fields / sizeof fields[0] };

#define MEMBER(cfg, f, type) (*(type *)((char *)(cfg) + (f)->offset))
#define CMEMBER(cfg, f, type) (*(const type *)((const char *)(cfg) + (f)->offset))

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

void rf_run_config_normalize_path(const char *path, char *out, size_t size) {
    char resolved[PATH_MAX];
    if (!path || !*path) {
        snprintf(out, size, "%s", "");
        return;
    }
    if (strcmp(path, "shapes") != 0 && realpath(path, resolved))
        snprintf(out, size, "%s", resolved);
    else
        snprintf(out, size, "%s", path);
}

/* The value as run.json and the messages show it. Doubles: the shortest
 * text that reads back to the same double. */
static void format_value(const rf_train_config *cfg, const field *f, char *out, size_t size) {
    switch (f->kind) {
    case K_STRING: {
        const char *s = CMEMBER(cfg, f, const char *);
        if (f->offset == offsetof(rf_train_config, device_request) && !s) s = cfg->device;
        snprintf(out, size, "%s", s && *s ? s : "none");
        break;
    }
    case K_INT: snprintf(out, size, "%d", CMEMBER(cfg, f, int)); break;
    case K_I64: snprintf(out, size, "%" PRId64, CMEMBER(cfg, f, int64_t)); break;
    case K_U64: snprintf(out, size, "%" PRIu64, CMEMBER(cfg, f, uint64_t)); break;
    case K_BOOL: snprintf(out, size, "%s", CMEMBER(cfg, f, bool) ? "on" : "off"); break;
    case K_SCHEDULE: snprintf(out, size, "%s", CMEMBER(cfg, f, bool) ? "cosine" : "step"); break;
    case K_PRECISION: snprintf(out, size, "%s", rf_precision_name(CMEMBER(cfg, f, rf_precision))); break;
    case K_DOUBLE: {
        double v = CMEMBER(cfg, f, double);
        for (int digits = 1; digits <= 17; digits++) {
            snprintf(out, size, "%.*g", digits, v);
            if (strtod(out, NULL) == v) break;
        }
        break;
    }
    }
}

/* Strings compare as run.json records them (absolute paths). */
static bool same_value(const rf_train_config *a, const rf_train_config *b, const field *f) {
    switch (f->kind) {
    case K_STRING: {
        char x[PATH_MAX + 1], y[PATH_MAX + 1];
        const char *sa = CMEMBER(a, f, const char *), *sb = CMEMBER(b, f, const char *);
        if (f->offset == offsetof(rf_train_config, device_request)) {
            if (!sa) sa = a->device;
            if (!sb) sb = b->device;
        }
        rf_run_config_normalize_path(sa, x, sizeof x);
        rf_run_config_normalize_path(sb, y, sizeof y);
        return strcmp(x, y) == 0;
    }
    case K_INT: return CMEMBER(a, f, int) == CMEMBER(b, f, int);
    case K_I64: return CMEMBER(a, f, int64_t) == CMEMBER(b, f, int64_t);
    case K_U64: return CMEMBER(a, f, uint64_t) == CMEMBER(b, f, uint64_t);
    case K_BOOL:
    case K_SCHEDULE: return CMEMBER(a, f, bool) == CMEMBER(b, f, bool);
    case K_PRECISION: return CMEMBER(a, f, rf_precision) == CMEMBER(b, f, rf_precision);
    case K_DOUBLE: return CMEMBER(a, f, double) == CMEMBER(b, f, double);
    }
    return false;
}

static bool is_temporary(const char *name);

/* A temporary file of `file` in dir: an atomic write killed before its rename. */
static bool has_temporary(const char *dir, const char *file) {
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d && !found && (e = readdir(d));)
        found = is_temporary(e->d_name) && !strncmp(e->d_name, file, strlen(file)) &&
                !strncmp(e->d_name + strlen(file), ".tmp.", 5);
    if (d) closedir(d);
    return found;
}

/* ---- run.json ------------------------------------------------------------------------ */

rf_status rf_run_config_save(const rf_train_config *cfg, const int64_t split_images[3], int devices, const char *dir) {
    char *path = join(dir, RF_RUN_CONFIG_FILE);
    if (!path) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    rf_atomic_file af;
    rf_status s = rf_atomic_file_open(&af, path);
    free(path);
    RF_TRY(s);
    rf_json_writer w;
    rf_json_init(&w, af.f, true);
    rf_json_begin_object(&w);
    rf_json_key(&w, "format");
    rf_json_string(&w, RUN_FORMAT);
    for (int i = 0; i < FIELD_COUNT; i++) {
        const field *f = &fields[i];
        rf_json_key(&w, f->key);
        switch (f->kind) {
        case K_STRING: {
            char value[PATH_MAX + 1];
            const char *v = CMEMBER(cfg, f, const char *);
            if (f->offset == offsetof(rf_train_config, device_request) && !v) v = cfg->device;
            if (!v || !*v) {
                rf_json_null(&w);
                break;
            }
            if (f->offset == offsetof(rf_train_config, data) || f->offset == offsetof(rf_train_config, weights))
                rf_run_config_normalize_path(v, value, sizeof value);
            else
                snprintf(value, sizeof value, "%s", v);
            rf_json_string(&w, value);
            break;
        }
        case K_INT: rf_json_int(&w, CMEMBER(cfg, f, int)); break;
        case K_I64: rf_json_int(&w, CMEMBER(cfg, f, int64_t)); break;
        case K_U64: rf_json_uint(&w, CMEMBER(cfg, f, uint64_t)); break;
        case K_BOOL: rf_json_bool(&w, CMEMBER(cfg, f, bool)); break;
        case K_SCHEDULE: rf_json_string(&w, CMEMBER(cfg, f, bool) ? "cosine" : "step"); break;
        case K_PRECISION: rf_json_string(&w, rf_precision_name(CMEMBER(cfg, f, rf_precision))); break;
        case K_DOUBLE: rf_json_double(&w, CMEMBER(cfg, f, double)); break;
        }
    }
    rf_json_key(&w, "split_images");
    rf_json_begin_object(&w);
    for (int i = 0; i < 3; i++)
        if (split_images[i] >= 0) rf_json_key(&w, split_keys[i]), rf_json_int(&w, split_images[i]);
    rf_json_end_object(&w);
    rf_json_key(&w, "devices");
    rf_json_int(&w, devices);
    rf_json_end_object(&w);
    fputc('\n', af.f);
    return rf_atomic_file_commit(&af);
}

static rf_status bad(const char *path, const char *key, const char *what) {
    return RF_ERROR(RF_ERR_FORMAT, "%s: \"%s\" %s", path, key, what);
}

static rf_status read_number(const char *path, const char *key, yajl_val v, bool integer, bool unsigned_, void *out) {
    if (!YAJL_IS_NUMBER(v)) return bad(path, key, "is not a number");
    const char *text = v->u.number.r;
    char *end = NULL;
    errno = 0;
    if (!integer) {
        *(double *)out = strtod(text, &end);
    } else if (unsigned_) {
        if (text[0] == '-') return bad(path, key, "is negative");
        *(uint64_t *)out = strtoull(text, &end, 10);
    } else {
        *(int64_t *)out = strtoll(text, &end, 10);
    }
    if (errno || !end || *end) return bad(path, key, integer ? "is not an integer in range" : "is not a number");
    return RF_OK;
}

static rf_status read_field(const char *path, yajl_val root, const field *f, rf_train_run *run) {
    const char *keys[] = {f->key, NULL};
    yajl_val v = yajl_tree_get(root, keys, yajl_t_any);
    rf_train_config *cfg = &run->cfg;
    if (!v && f->kind == K_PRECISION) { /* runs from before precision existed trained in f32 */
        MEMBER(cfg, f, rf_precision) = RF_PRECISION_F32;
        return RF_OK;
    }
    if (!v) return bad(path, f->key, "is missing");
    switch (f->kind) {
    case K_STRING: {
        char *buffer;
        size_t size;
        switch (f->offset) {
        case offsetof(rf_train_config, data): buffer = run->data, size = sizeof run->data; break;
        case offsetof(rf_train_config, size): buffer = run->size, size = sizeof run->size; break;
        case offsetof(rf_train_config, weights): buffer = run->weights, size = sizeof run->weights; break;
        default: buffer = run->device, size = sizeof run->device; break;
        }
        if (YAJL_IS_NULL(v)) {
            MEMBER(cfg, f, const char *) = NULL;
            return RF_OK;
        }
        const char *text = YAJL_GET_STRING(v);
        if (!text) return bad(path, f->key, "is not a string");
        if (strlen(text) >= size) return bad(path, f->key, "is too long");
        snprintf(buffer, size, "%s", text);
        MEMBER(cfg, f, const char *) = buffer;
        return RF_OK;
    }
    case K_BOOL:
        if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v)) return bad(path, f->key, "is not true or false");
        MEMBER(cfg, f, bool) = YAJL_IS_TRUE(v);
        return RF_OK;
    case K_SCHEDULE: {
        const char *s = YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "";
        if (strcmp(s, "step") && strcmp(s, "cosine")) return bad(path, f->key, "is not \"step\" or \"cosine\"");
        MEMBER(cfg, f, bool) = strcmp(s, "cosine") == 0;
        return RF_OK;
    }
    case K_PRECISION: {
        rf_precision p;
        if (!YAJL_IS_STRING(v) || rf_precision_parse(YAJL_GET_STRING(v), &p) != RF_OK)
            return bad(path, f->key, "is not \"f32\", \"bf16\" or \"fp16\"");
        MEMBER(cfg, f, rf_precision) = p;
        return RF_OK;
    }
    case K_DOUBLE: return read_number(path, f->key, v, false, false, &MEMBER(cfg, f, double));
    case K_U64: return read_number(path, f->key, v, true, true, &MEMBER(cfg, f, uint64_t));
    case K_I64: return read_number(path, f->key, v, true, false, &MEMBER(cfg, f, int64_t));
    case K_INT: {
        int64_t x = 0;
        RF_TRY(read_number(path, f->key, v, true, false, &x));
        if (x < INT_MIN || x > INT_MAX) return bad(path, f->key, "is out of range");
        MEMBER(cfg, f, int) = (int)x;
        return RF_OK;
    }
    }
    return RF_OK;
}

rf_status rf_run_config_load(const char *dir, rf_train_run *run, int64_t split_images[3], int *devices) {
    memset(run, 0, sizeof *run);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: no such run directory", dir);
    char *path = join(dir, RF_RUN_CONFIG_FILE), *text = NULL;
    if (!path) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    size_t length = 0;
    if (!rf_file_exists(path)) {
        rf_status s = has_temporary(dir, RF_RUN_CONFIG_FILE)
                          ? RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: the run was stopped before it started (its %s was "
                                     "never completed): start it again with the same command", dir, RF_RUN_CONFIG_FILE)
                          : RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s holds no run to resume (no %s; runs started before "
                                     "rfdetr.c saved it cannot be resumed)", dir, RF_RUN_CONFIG_FILE);
        free(path);
        return s;
    }
    /* run.json is a few hundred bytes; anything large is not ours. */
    if (stat(path, &st) == 0 && st.st_size > (1 << 20)) {
        rf_status s = RF_ERROR(RF_ERR_FORMAT, "%s: %lld bytes is not a run configuration", path, (long long)st.st_size);
        free(path);
        return s;
    }
    rf_status s = rf_read_file(path, &text, &length);
    char error[256] = "";
    yajl_val root = s == RF_OK ? yajl_tree_parse(text, error, sizeof error) : NULL;
    if (s == RF_OK && !YAJL_IS_OBJECT(root)) s = RF_ERROR(RF_ERR_FORMAT, "%s: not a run configuration: %s", path, error);
    if (s == RF_OK) {
        const char *keys[] = {"format", NULL};
        const char *format = YAJL_GET_STRING(yajl_tree_get(root, keys, yajl_t_string));
        if (!format || strcmp(format, RUN_FORMAT) != 0)
            s = RF_ERROR(RF_ERR_FORMAT, "%s: \"format\" is not \"%s\"", path, RUN_FORMAT);
    }
    rf_train_config_defaults(&run->cfg);
    for (int i = 0; i < FIELD_COUNT && s == RF_OK; i++) s = read_field(path, root, &fields[i], run);
    for (int i = 0; i < 3 && s == RF_OK; i++) {
        const char *keys[] = {"split_images", split_keys[i], NULL};
        yajl_val v = yajl_tree_get(root, keys, yajl_t_any);
        split_images[i] = -1;
        if (v) s = read_number(path, split_keys[i], v, true, false, &split_images[i]);
    }
    if (s == RF_OK) {
        const char *keys[] = {"devices", NULL};
        yajl_val v = yajl_tree_get(root, keys, yajl_t_any);
        int64_t count = 1;
        if (v) s = read_number(path, "devices", v, true, false, &count);
        if (s == RF_OK && (count < 1 || count > INT_MAX)) s = bad(path, "devices", "is out of range");
        if (devices) *devices = (int)count;
    }
    if (s == RF_OK && (!run->cfg.data || !run->cfg.size))
        s = RF_ERROR(RF_ERR_FORMAT, "%s: \"data\" and \"model\" must be given", path);
    if (s == RF_OK && strlen(dir) >= sizeof run->out_dir) s = RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
    if (s == RF_OK) {
        snprintf(run->out_dir, sizeof run->out_dir, "%s", dir);
        run->cfg.out_dir = run->out_dir;
        run->cfg.device = run->cfg.device_request;
        run->cfg.resume = true;
    }
    yajl_tree_free(root);
    free(text);
    free(path);
    return s;
}

rf_status rf_train_run_load(const char *dir, rf_train_run *run) {
    int64_t splits[3];
    return rf_run_config_load(dir, run, splits, NULL);
}

rf_status rf_run_config_check(const rf_train_config *cfg, const rf_train_run *saved, const char *dir, char *changes,
                              size_t size) {
    size_t used = 0;
    if (size) changes[0] = '\0';
    for (int i = 0; i < FIELD_COUNT; i++) {
        const field *f = &fields[i];
        if (same_value(cfg, &saved->cfg, f)) continue;
        char now[PATH_MAX + 1], then[PATH_MAX + 1];
        format_value(cfg, f, now, sizeof now);
        format_value(&saved->cfg, f, then, sizeof then);
        if (!f->may_change)
            return RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                            "%s %s conflicts with the run's %s %s (%s/%s); only --device, --epochs, --max-steps and "
                            "--threads may change when resuming",
                            f->flag, now, f->flag, then, dir, RF_RUN_CONFIG_FILE);
        if (used < size) {
            int n = snprintf(changes + used, size - used, "%s%s: %s when the run started, now %s", used ? "\n" : "",
                             f->flag, then, now);
            if (n > 0) used += (size_t)n;
        }
    }
    return RF_OK;
}

rf_status rf_run_config_check_splits(const int64_t split_images[3], const int64_t saved_split_images[3],
                                     const char *dir) {
    for (int i = 0; i < 3; i++)
        if (split_images[i] != saved_split_images[i])
            return RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                            "the dataset changed since the run started: its %s split has %" PRId64
                            " images, the run's had %" PRId64 " (%s/%s; -1: no such split)",
                            split_keys[i], split_images[i], saved_split_images[i], dir, RF_RUN_CONFIG_FILE);
    return RF_OK;
}

/* ---- the directory ------------------------------------------------------------------------ */

bool rf_run_dir_holds_run(const char *dir) {
    for (int i = 0; i < RUN_FILE_COUNT; i++) {
        if (!strcmp(run_files[i], "results.json") || !strcmp(run_files[i], "metrics_plot.png")) continue;
        char *path = join(dir, run_files[i]);
        bool exists = path && rf_file_exists(path);
        free(path);
        if (exists) return true;
    }
    return false;
}

/* <run file>.tmp.<digits>: what rf_atomic_file leaves when killed. */
static bool is_temporary(const char *name) {
    for (int i = 0; i < RUN_FILE_COUNT; i++) {
        size_t n = strlen(run_files[i]);
        if (strncmp(name, run_files[i], n) || strncmp(name + n, ".tmp.", 5)) continue;
        const char *digits = name + n + 5;
        if (!*digits) return false;
        for (const char *c = digits; *c; c++)
            if (*c < '0' || *c > '9') return false;
        return true;
    }
    return false;
}

static rf_status remove_file(const char *dir, const char *name) {
    char *path = join(dir, name);
    if (!path) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    rf_status s = RF_OK;
    if (unlink(path) != 0 && errno != ENOENT) s = RF_ERROR(RF_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    free(path);
    return s;
}

rf_status rf_run_dir_remove_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return RF_ERROR(RF_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    /* Collect first: removing while reading a directory may skip entries. */
    char (*names)[256] = NULL;
    size_t count = 0, cap = 0;
    rf_status s = RF_OK;
    for (struct dirent *e; (e = readdir(d));) {
        if (!is_temporary(e->d_name) || strlen(e->d_name) >= 256) continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            void *grown = realloc(names, cap * sizeof *names);
            if (!grown) {
                s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
                break;
            }
            names = grown;
        }
        snprintf(names[count++], 256, "%s", e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < count && s == RF_OK; i++) s = remove_file(dir, names[i]);
    free(names);
    return s;
}

rf_status rf_run_dir_remove_run(const char *dir) {
    RF_TRY(rf_run_dir_remove_temporaries(dir));
    /* The state first: a directory without it is no longer resumable, so a
     * crash part-way never leaves a mix that looks like a run. */
    RF_TRY(remove_file(dir, RF_RUN_STATE_FILE));
    for (int i = 0; i < RUN_FILE_COUNT; i++) RF_TRY(remove_file(dir, run_files[i]));
    return RF_OK;
}
