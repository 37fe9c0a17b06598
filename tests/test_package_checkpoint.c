/* test_package_checkpoint.c — checkpoints laid out as the rfdetr Python
 * package saves them are read with their own configuration.
 *
 * A nano model at 416 px (not nano's 384) with random weights is written
 * here, without torch (tests/pth_writer.h), three ways:
 *   ptl.pth     rfdetr >= 1.7: 'model', 'args' dict with class_names,
 *               'model_name' "RFDETRNano", 'model_config' dict (resolution 416)
 *   legacy.pth  older releases and the released weights: 'model' and an
 *               argparse.Namespace 'args' (resolution 416, class_names)
 *   bare.pth    'model' alone: the position table (26 x 26) tells 416 px
 * Each, opened with no size or resolution given, must be nano at 416 px
 * with the package's class names and predict exactly what the same weights
 * predict from our own safetensors file saved at 416 px — what the package
 * does, since it runs a checkpoint at model_config's resolution (where the
 * rfdetr package is installed, tests/fixtures/package_config.py checks
 * that it reads ptl.pth as RFDETRNano at 416 px with these class names).
 * A size that contradicts the checkpoint is refused naming both; a
 * resolution is an override.
 *
 * `test_package_checkpoint tiny` runs the same checks on the tiny model at
 * 256 px (not tiny's 192; no model_name, which names official sizes only):
 * the same reading code, cheap enough for the sanitizer build. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/draw.h"
#include "model/model.h"
#include "pth_writer.h"
#include "test_util.h"

static char tmp[] = "/tmp/rfdetr_test_package_ckpt_XXXXXX";
/* The size under test, the resolution it was "trained" at (not the size's
 * own), and the package's class for it (NULL: none, only args). */
static const char *model_size = "nano", *model_name = "RFDETRNano";
static int resolution = 416, own_resolution = 384;
static const char *const class_names[] = {"cat", "dog", "bird"};

typedef enum layout { LAYOUT_PTL, LAYOUT_LEGACY, LAYOUT_BARE } layout;

static void emit_class_names(pth_writer *w) {
    pw_empty_list(w);
    pw_mark(w);
    for (int i = 0; i < 3; i++) pw_str(w, class_names[i]);
    pw_appends(w);
}

/* The model's parameters as the package's checkpoint of that layout. */
static bool write_checkpoint(const rfdetr_model *m, const float *host, const char *path, layout how) {
    pth_writer w;
    if (!pw_open(&w, path)) return false;
    pw_empty_dict(&w);
    pw_mark(&w);
    pw_str(&w, "model");
    pw_empty_dict(&w);
    pw_mark(&w);
    for (size_t i = 0; i < m->params->count; i++) {
        const rf_tensor *t = m->params->tensors[i];
        pw_str(&w, t->name);
        pw_tensor(&w, host + t->offset, t->ndim, t->shape);
    }
    pw_setitems(&w);
    if (how == LAYOUT_PTL) {
        pw_str(&w, "args");
        pw_empty_dict(&w);
        pw_mark(&w);
        pw_str(&w, "resolution"), pw_int(&w, resolution);
        pw_str(&w, "num_classes"), pw_int(&w, 3);
        pw_str(&w, "class_names"), emit_class_names(&w);
        pw_str(&w, "pretrain_weights"), pw_none(&w);
        pw_setitems(&w);
        if (model_name) pw_str(&w, "model_name"), pw_str(&w, model_name);
        pw_str(&w, "model_config");
        pw_empty_dict(&w);
        pw_mark(&w);
        pw_str(&w, "resolution"), pw_int(&w, resolution);
        pw_str(&w, "num_classes"), pw_int(&w, 3);
        pw_str(&w, "patch_size"), pw_int(&w, 16);
        pw_str(&w, "positional_encoding_size"), pw_int(&w, resolution / 16);
        pw_str(&w, "device"), pw_str(&w, "cuda");
        pw_setitems(&w);
        pw_str(&w, "rfdetr_version"), pw_str(&w, "1.11.2");
    } else if (how == LAYOUT_LEGACY) {
        pw_str(&w, "args");
        pw_object_begin(&w, "argparse", "Namespace");
        pw_str(&w, "num_classes"), pw_int(&w, 3);
        pw_str(&w, "class_names"), emit_class_names(&w);
        pw_str(&w, "resolution"), pw_int(&w, resolution);
        char weights_name[64];
        snprintf(weights_name, sizeof weights_name, "rf-detr-%s.pth", model_size);
        pw_str(&w, "pretrain_weights"), pw_str(&w, weights_name);
        pw_str(&w, "multi_scale"), pw_bool(&w, true);
        pw_object_end(&w);
        pw_str(&w, "epoch"), pw_int(&w, 11);
    }
    pw_setitems(&w);
    return pw_close(&w);
}

/* A deterministic picture, not square, so the resize matters. */
static uint8_t *picture(int width, int height) {
    uint8_t *rgb = malloc((size_t)width * height * 3);
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            uint8_t *p = rgb + ((size_t)y * width + x) * 3;
            p[0] = (uint8_t)(x * 255 / width);
            p[1] = (uint8_t)(y * 255 / height);
            p[2] = (uint8_t)(((x / 40) + (y / 40)) % 2 ? 220 : 30);
        }
    return rgb;
}

typedef struct detections {
    rf_detection *d;
    size_t n;
} detections;

static detections predict(rf_model *m, const rf_image_rgb8 *image) {
    detections r = {NULL, 0};
    CHECK_OK(rf_model_predict(m, image, 1, 0.0f, &r.d, &r.n));
    return r;
}

static bool same_detections(detections a, detections b) {
    if (a.n != b.n) return false;
    for (size_t i = 0; i < a.n; i++)
        if (a.d[i].class_id != b.d[i].class_id || a.d[i].score != b.d[i].score ||
            memcmp(a.d[i].box, b.d[i].box, sizeof a.d[i].box) != 0)
            return false;
    return true;
}

static int run(const char *cmd, char *out, size_t size) {
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    while (fgetc(p) != EOF) {
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "tiny") == 0) model_size = "tiny", model_name = NULL, resolution = 256, own_resolution = 192;
    if (!mkdtemp(tmp)) return 1;
    rf_device *dev = NULL;
    CHECK_OK(rf_device_open("cpu", &dev));
    if (!dev) return 1;

    rfdetr_config cfg;
    CHECK_OK(rfdetr_config_preset(model_size, &cfg));
    CHECK_OK(rfdetr_config_set_resolution(&cfg, resolution));
    cfg.num_classes = 4; /* the package's num_classes 3, plus one */
    rfdetr_model *made = NULL;
    CHECK_OK(rfdetr_model_create(dev, &cfg, 1234, &made));
    if (!made) return 1;
    char ours[600];
    snprintf(ours, sizeof ours, "%s/ours.safetensors", tmp);
    CHECK_OK(rfdetr_model_save(made, ours));
    float *host = malloc(sizeof *host * (size_t)made->params->total);
    CHECK_OK(rf_buffer_download(made->params->values, 0, host, (size_t)made->params->total * sizeof *host));

    int width = 333, height = 250;
    uint8_t *rgb = picture(width, height);
    rf_image_rgb8 image = {rgb, width, height};
    rf_model *reference = NULL;
    CHECK_OK(rf_model_open(dev, ours, &reference));
    detections want = reference ? predict(reference, &image) : (detections){NULL, 0};
    CHECK(want.n > 0, "the reference model predicts");
    char message[2048], cmd[4096], out[16384];

    /* package_reads: what rfdetr 1.11's RFDETR.from_checkpoint makes of the
     * file (class, resolution, classes, names). It ignores args.resolution
     * where there is no model_config and runs an old checkpoint at the
     * class default, 384 px, interpolating the table the model was trained
     * with; we run it at the resolution it was trained at, and
     * --resolution 384 gives the package's choice. */
    static const struct {
        layout how;
        const char *file;
        bool named;
        const char *package_reads;
    } layouts[] = {{LAYOUT_PTL, "ptl.pth", true, "RFDETRNano 416 3 cat,dog,bird"},
                   {LAYOUT_LEGACY, "legacy.pth", true, "RFDETRNano 384 3 cat,dog,bird"},
                   {LAYOUT_BARE, "bare.pth", false, NULL}};
    bool oracle = strcmp(model_size, "nano") == 0; /* the package has no tiny */
    for (int k = 0; k < 3; k++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", tmp, layouts[k].file);
        CHECK(write_checkpoint(made, host, path, layouts[k].how), "writing %s", path);
        rf_model *m = NULL;
        CHECK_OK(rf_model_open(dev, path, &m));
        if (!m) continue;
        CHECK(strcmp(rf_model_size(m), model_size) == 0 && rf_model_resolution(m) == resolution && rf_model_num_classes(m) == 4,
              "%s: %s at %d px, %d classes; want %s at %d px, 4", layouts[k].file, rf_model_size(m),
              rf_model_resolution(m), rf_model_num_classes(m), model_size, resolution);
        if (layouts[k].named) {
            const char *name = rf_model_class_name(m, 1);
            CHECK(name && strcmp(name, "dog") == 0, "%s: class 1 is '%s', want the package's 'dog'", layouts[k].file,
                  name ? name : "(none)");
        }
        detections got = predict(m, &image);
        CHECK(same_detections(got, want), "%s: %zu detections differ from the same weights at %d px (%zu)",
              layouts[k].file, got.n, resolution, want.n);
        rf_detections_free(got.d);
        rf_model_free(m);

        /* A size that agrees is accepted (and no longer means the size's own resolution). */
        m = NULL;
        CHECK_OK(rf_model_open_with(dev, path, model_size, 0, &m));
        if (m) CHECK(rf_model_resolution(m) == resolution, "%s with %s: %d px", layouts[k].file, model_size, rf_model_resolution(m));
        rf_model_free(m);
        /* One that contradicts it is refused, naming both. */
        m = NULL;
        rf_status s = rf_model_open_with(dev, path, "small", 0, &m);
        snprintf(message, sizeof message, "%s", rf_last_error());
        CHECK(s == RF_ERR_INVALID_ARGUMENT && !m && strstr(message, "--model small") && strstr(message, model_size),
              "%s with small: %s", layouts[k].file, message);
        rf_model_free(m);
        /* A resolution overrides the checkpoint's. */
        m = NULL;
        CHECK_OK(rf_model_open_with(dev, path, NULL, own_resolution, &m));
        if (m) CHECK(rf_model_resolution(m) == own_resolution, "%s at --resolution %d: %d px", layouts[k].file,
                     own_resolution, rf_model_resolution(m));
        rf_model_free(m);

        if (oracle && layouts[k].package_reads) {
            /* The package itself as the oracle, where it is installed: the
             * files are laid out as it reads them. */
            const char *src = getenv("RFDETR_SOURCE_DIR");
            snprintf(cmd, sizeof cmd, "python3 '%s/tests/fixtures/package_config.py' %s", src ? src : ".", path);
            int rc = run(cmd, out, sizeof out);
            if (rc == TEST_SKIP_CODE)
                test_skip_part("test_package_checkpoint", "the rfdetr package's own reading", "python3 cannot import rfdetr",
                               TEST_ENABLE_RFDETR);
            else
                CHECK(rc == 0 && strstr(out, layouts[k].package_reads), "%s: the rfdetr package reads it as (exit %d):\n%s",
                      layouts[k].file, rc, out);
        }
        if (layouts[k].how == LAYOUT_PTL) {
            /* Through the command line, with no size flags. */
            const char *build = getenv("RFDETR_BUILD_DIR");
            char png[700];
            snprintf(png, sizeof png, "%s/picture.png", tmp);
            rf_canvas canvas;
            CHECK_OK(rf_canvas_create(&canvas, width, height, (rf_rgb){0, 0, 0}));
            memcpy(canvas.rgb, rgb, (size_t)width * height * 3);
            CHECK_OK(rf_canvas_save(&canvas, png));
            rf_canvas_free(&canvas);
            snprintf(cmd, sizeof cmd, "'%s/rfdetr' predict --weights %s --image %s --device cpu --threshold 0.5",
                     build ? build : "build", path, png);
            int rc = run(cmd, out, sizeof out);
            char described[64];
            snprintf(described, sizeof described, "%s: %d px", model_size, resolution);
            CHECK(rc == 0 && strstr(out, described), "predict on the package's checkpoint (exit %d):\n%s", rc, out);
            snprintf(cmd, sizeof cmd, "'%s/rfdetr' predict --weights %s --image %s --device cpu --model small",
                     build ? build : "build", path, png);
            rc = run(cmd, out, sizeof out);
            CHECK(rc == 2 && strstr(out, "--model small") && strstr(out, model_name ? model_name : model_size), "--model small (exit %d):\n%s",
                  rc, out);
        }
        unlink(path);
    }

    /* A model class of the package that we do not build is named, not guessed at. */
    const char *was = model_name;
    model_name = "RFDETRLarge";
    char large[700];
    snprintf(large, sizeof large, "%s/large.pth", tmp);
    CHECK(write_checkpoint(made, host, large, LAYOUT_PTL), "writing %s", large);
    rf_model *m = NULL;
    rf_status s = rf_model_open(dev, large, &m);
    snprintf(message, sizeof message, "%s", rf_last_error());
    CHECK(s == RF_ERR_FORMAT && !m && strstr(message, "RFDETRLarge") && strstr(message, "does not build"),
          "RFDETRLarge: %s", message);
    unlink(large);
    model_name = was;

    /* Our own files carry their configuration: a contradicting size is refused too. */
    m = NULL;
    s = rf_model_open_with(dev, ours, "base", 0, &m);
    snprintf(message, sizeof message, "%s", rf_last_error());
    CHECK(s == RF_ERR_INVALID_ARGUMENT && !m && strstr(message, "--model base") && strstr(message, model_size),
          "our %s file with base: %s", model_size, message);

    rf_detections_free(want.d);
    rf_model_free(reference);
    rfdetr_model_free(made);
    free(host);
    free(rgb);
    rf_device_close(dev);
    if (!test_failed_count) test_remove_tree(tmp);
    return test_finish(strcmp(model_size, "nano") ? "test_package_checkpoint tiny" : "test_package_checkpoint");
}
