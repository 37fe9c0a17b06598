/* cmd_predict.c — `rfdetr predict`: detections on images with a trained or
 * official model, as annotated images and/or COCO results JSON.
 *
 * Images are decoded (data/image.h), resized to the model's square input
 * with the same antialiased bilinear filter training and evaluation use,
 * normalised, and run in batches on the chosen device; RF-DETR's
 * post-processing (top num_select of queries x classes, boxes scaled to
 * each original image) runs there too, then the score threshold applies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "core/draw.h"
#include "core/fileio.h"
#include "core/json_writer.h"
#include "data/image.h"

typedef struct predict_args {
    const char *weights, *device, *out, *json, *model;
    cli_strings images;
    double threshold;
    long batch, resolution;
} predict_args;

/* "dir/name.ext" -> "name" + the extension to write (.jpg stays .jpg,
 * everything else becomes .png). */
static void output_name(const char *image, const char *dir, int index, char *out, size_t size) {
    const char *base = strrchr(image, '/');
    base = base ? base + 1 : image;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    bool jpeg = dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
    /* The index keeps two inputs with the same file name apart. */
    snprintf(out, size, "%s/%.*s_%d%s", dir, (int)stem, base, index, jpeg ? ".jpg" : ".png");
}

static void caption(const rf_model *m, const rf_detection *d, char *text, size_t size) {
    const char *name = rf_model_class_name(m, d->class_id);
    if (name)
        snprintf(text, size, "%s %.2f", name, d->score);
    else
        snprintf(text, size, "class %d %.2f", d->class_id, d->score);
}

/* Distinct, saturated colours; class c takes palette[c % n]. */
static const rf_rgb palette[] = {
    {230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200},  {245, 130, 48}, {145, 30, 180},
    {70, 240, 240}, {240, 50, 230}, {210, 245, 60}, {250, 190, 212}, {0, 128, 128}, {220, 190, 255},
};

/* Boxes a few pixels thick (scaled to the image) with their captions on a
 * filled tag above them (inside the box at the top edge, kept in the image). */
static void annotate(rf_canvas *c, const rf_model *m, const rf_detection *d, int count) {
    int side = c->width < c->height ? c->width : c->height;
    int thick = side / 250 + 1, scale = side / 400 + 1;
    for (int i = 0; i < count; i++) {
        rf_rgb color = palette[(unsigned)d[i].class_id % (sizeof palette / sizeof palette[0])];
        int x0 = (int)d[i].box[0], y0 = (int)d[i].box[1], x1 = (int)d[i].box[2], y1 = (int)d[i].box[3];
        rf_draw_rect(c, x0, y0, x1, y1, thick, color);
        char text[96];
        caption(m, &d[i], text, sizeof text);
        int tw = rf_text_width(text, scale) + 2 * scale, th = rf_text_height(scale) + 2 * scale;
        int ty = y0 - th >= 0 ? y0 - th : y0;
        if (x0 + tw > c->width) x0 = c->width - tw > 0 ? c->width - tw : 0;
        rf_fill_rect(c, x0, ty, x0 + tw, ty + th, color);
        /* Dark text on light colours, white on dark ones. */
        int luma = (299 * color.r + 587 * color.g + 114 * color.b) / 1000;
        rf_rgb ink = luma > 140 ? (rf_rgb){0, 0, 0} : (rf_rgb){255, 255, 255};
        rf_draw_text(c, x0 + scale, ty + scale, text, scale, ink);
    }
}

typedef struct batch_state {
    rf_image *images;
    int *index;        /* position of each loaded image in the --image list */
    int count;
} batch_state;

/* Runs the model on the loaded images of one batch (through the public
 * API, as any embedding program would); prints, annotates and writes JSON. */
static rf_status run_batch(const predict_args *a, rf_model *m, batch_state *b, rf_json_writer *json,
                           int *total_detections) {
    int n = b->count;
    rf_image_rgb8 *views = malloc(sizeof *views * (size_t)n);
    if (!views) return RF_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < n; i++) views[i] = (rf_image_rgb8){b->images[i].rgb, b->images[i].width, b->images[i].height};
    rf_detection *det = NULL;
    size_t count = 0;
    rf_status s = rf_model_predict(m, views, n, (float)a->threshold, &det, &count);
    free(views);
    size_t at = 0;
    for (int i = 0; i < n && s == RF_OK; i++) {
        const char *path = a->images.items[b->index[i]];
        /* Detections come grouped by image, best first. */
        rf_detection *d = det + at;
        int kept = 0;
        while (at < count && det[at].image == i) at++, kept++;
        for (int j = 0; j < kept && json; j++) {
            rf_json_begin_object(json);
            rf_json_key(json, "image_id"), rf_json_int(json, b->index[i]);
            rf_json_key(json, "file_name"), rf_json_string(json, path);
            rf_json_key(json, "category_id"), rf_json_int(json, d[j].class_id);
            rf_json_key(json, "bbox");
            rf_json_begin_array(json);
            rf_json_double(json, d[j].box[0]);
            rf_json_double(json, d[j].box[1]);
            rf_json_double(json, d[j].box[2] - d[j].box[0]);
            rf_json_double(json, d[j].box[3] - d[j].box[1]);
            rf_json_end_array(json);
            rf_json_key(json, "score"), rf_json_double(json, d[j].score);
            rf_json_end_object(json);
        }
        printf("%s: %d detection%s", path, kept, kept == 1 ? "" : "s");
        for (int j = 0; j < kept && j < 5; j++) {
            char text[96];
            caption(m, &d[j], text, sizeof text);
            printf("%s %s", j ? "," : ":", text);
        }
        printf("%s\n", kept > 5 ? ", ..." : "");
        *total_detections += kept;
        if (a->out) {
            char file[4096];
            output_name(path, a->out, b->index[i], file, sizeof file);
            rf_canvas canvas = rf_canvas_wrap(b->images[i].rgb, b->images[i].width, b->images[i].height);
            annotate(&canvas, m, d, kept);
            s = rf_canvas_save(&canvas, file);
        }
    }
    rf_detections_free(det);
    return s;
}

int cli_cmd_predict(int argc, char **argv) {
    predict_args a = {.threshold = 0.5, .batch = 4, .device = "auto"};
    cli_option options[] = {
        {"--weights", CLI_STRING, &a.weights, "W", "model weights: our .safetensors, or an official RF-DETR .pth"},
        {"--image", CLI_STRINGS, &a.images, "IMG...", "images to run on (JPEG, PNG, BMP, ...)"},
        {"--device", CLI_STRING, &a.device, "D", "cpu, opencl:N, cuda:N or auto (default)"},
        {"--threshold", CLI_DOUBLE, &a.threshold, "T", "keep detections scoring above T (default 0.5; 0 keeps all top-k)"},
        {"--out", CLI_STRING, &a.out, "DIR", "write annotated images (boxes, class names, scores) into DIR"},
        {"--json", CLI_STRING, &a.json, "OUT", "write COCO results [{image_id, category_id, bbox xywh, score}] to OUT"},
        {"--batch", CLI_INT, &a.batch, "N", "images per forward pass (default 4)"},
        {"--model", CLI_STRING, &a.model, "SIZE", "size of an official checkpoint when it cannot be recognised"},
        {"--resolution", CLI_INT, &a.resolution, "R", "input side in pixels (default: the model's)"},
    };
    cli_spec spec = {
        .usage = "rfdetr predict --weights W --image IMG... [--device D] [--threshold T] [--out DIR] [--json OUT]",
        .description =
            "Detects objects in images. Each image is resized to the model's square input, run through\n"
            "RF-DETR, and its best detections (score, class, box in the image's own pixels) are printed;\n"
            "--out draws them onto copies of the images, --json writes them as COCO results (image_id is\n"
            "the image's position in the --image list, file_name its path).",
        .options = options,
        .option_count = (int)(sizeof options / sizeof options[0]),
        .max_positional = 0,
    };
    char **pos = NULL;
    int npos = 0;
    int rc = cli_parse(&spec, argc, argv, &pos, &npos);
    if (rc != CLI_EXIT_OK) {
        free(a.images.items);
        return rc < 0 ? CLI_EXIT_OK : rc;
    }
    free(pos);
    if (!a.weights || a.images.count == 0) {
        fprintf(stderr, "rfdetr predict: --weights and --image are required\nusage: %s\n", spec.usage);
        free(a.images.items);
        return CLI_EXIT_USAGE;
    }
    if (!cli_int_in_range("predict", "--batch", a.batch, 1, 1024) ||
        !cli_number_in_range("predict", "--threshold", a.threshold, 0, false, 1, false) ||
        !cli_int_in_range("predict", "--resolution", a.resolution, 0, 1 << 16)) {
        free(a.images.items);
        return CLI_EXIT_USAGE;
    }
    if (a.out) {
        rf_status s = rf_make_dirs(a.out);
        if (s != RF_OK) {
            free(a.images.items);
            return cli_fail("predict", s, "creating --out");
        }
    }
    rf_device *dev = NULL;
    rc = cli_open_device("predict", a.device, &dev);
    if (rc != CLI_EXIT_OK) {
        free(a.images.items);
        return rc;
    }
    rf_model *m = NULL;
    rf_status s = rf_model_open_with(dev, a.weights, a.model, (int)a.resolution, &m);
    if (s != RF_OK) {
        rc = cli_fail("predict", s, "loading the model");
        goto done;
    }
    char desc[256];
    fprintf(stderr, "rfdetr predict: %s on %s\n", rf_model_describe(m, desc, sizeof desc), rf_device_get_info(dev)->name);
    rf_atomic_file jf = {0};
    rf_json_writer jw;
    if (a.json) {
        s = rf_atomic_file_open(&jf, a.json);
        if (s != RF_OK) {
            rc = cli_fail("predict", s, "opening --json");
            goto done;
        }
        rf_json_init(&jw, jf.f, false);
        rf_json_begin_array(&jw);
    }
    batch_state b = {calloc((size_t)a.batch, sizeof(rf_image)), calloc((size_t)a.batch, sizeof(int)), 0};
    int unreadable = 0, detections = 0;
    if (!b.images || !b.index) s = RF_ERR_OUT_OF_MEMORY;
    for (int i = 0; i <= a.images.count && s == RF_OK; i++) {
        if (i < a.images.count) {
            rf_status ls = rf_image_load(a.images.items[i], &b.images[b.count]);
            if (ls != RF_OK) {
                /* One bad file does not stop the others; the exit code says it. */
                fprintf(stderr, "rfdetr predict: skipping %s: %s\n", a.images.items[i], rf_last_error());
                unreadable++;
                continue;
            }
            b.index[b.count++] = i;
        }
        if (b.count == a.batch || (i == a.images.count && b.count > 0)) {
            s = run_batch(&a, m, &b, a.json ? &jw : NULL, &detections);
            for (int j = 0; j < b.count; j++) rf_image_free(&b.images[j]);
            b.count = 0;
        }
    }
    for (int j = 0; j < b.count; j++) rf_image_free(&b.images[j]);
    free(b.images);
    free(b.index);
    if (a.json) {
        rf_json_end_array(&jw);
        fputc('\n', jf.f);
        if (s == RF_OK) {
            s = rf_atomic_file_commit(&jf);
            if (s != RF_OK) rc = cli_fail("predict", s, "writing --json");
        } else {
            rf_atomic_file_abort(&jf);
        }
    }
    if (s != RF_OK && rc == CLI_EXIT_OK) {
        rc = cli_fail("predict", s, "running the model");
    } else if (rc == CLI_EXIT_OK) {
        fprintf(stderr, "rfdetr predict: %d image%s, %d detection%s above %.2f%s%s%s%s\n",
                a.images.count - unreadable, a.images.count - unreadable == 1 ? "" : "s", detections,
                detections == 1 ? "" : "s", a.threshold, a.out ? "; images in " : "", a.out ? a.out : "",
                a.json ? "; results in " : "", a.json ? a.json : "");
        if (unreadable) {
            fprintf(stderr, "rfdetr predict: %d image%s could not be read\n", unreadable, unreadable == 1 ? "" : "s");
            rc = CLI_EXIT_USAGE;
        }
    }
done:
    rf_model_free(m);
    rf_device_close(dev);
    free(a.images.items);
    return rc;
}
