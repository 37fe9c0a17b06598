/* cmd_predict.c — `rfdetr predict`: detections on images with a trained or
 * official model, as annotated images and/or COCO results JSON.
 *
 * Everything goes through the public API (rfdetr.h), as in any program
 * embedding the library: images are decoded (rf_image_read), resized to the
 * model's square input with the same antialiased bilinear filter training
 * and evaluation use, normalised, and run in batches on the chosen device;
 * RF-DETR's post-processing (top num_select of queries x classes, boxes
 * scaled to each original image) runs there too, then the score threshold
 * applies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "backend/status.h"
#include "cli/cli.h"
#include "cli/predict_inputs.h"
#include "core/draw.h"
#include "core/fileio.h"
#include "core/json_writer.h"

typedef struct predict_args {
    const char *weights, *device, *out, *json, *model, *coco, *precision;
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

/* Draws an image's detections with their captions. */
static rf_status annotate(rf_canvas *c, const rf_model *m, const rf_detection *d, int count) {
    char(*text)[96] = malloc(sizeof *text * (size_t)(count + 1));
    const char **captions = malloc(sizeof *captions * (size_t)(count + 1));
    rf_status s = text && captions ? RF_OK : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for %d captions", count);
    for (int i = 0; i < count && s == RF_OK; i++) {
        caption(m, &d[i], text[i], sizeof text[i]);
        captions[i] = text[i];
    }
    if (s == RF_OK) s = rf_draw_detections(c, d, count, captions);
    free(text);
    free(captions);
    return s;
}

/* Progress over many images on stderr: rewritten in place on a terminal,
 * otherwise a line each time another tenth of the images is done. */
typedef struct progress {
    bool shown, tty;
    int total, done, last_tenth;
    struct timespec start;
} progress;

static double seconds_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

static void progress_clear(const progress *p) {
    if (p->shown && p->tty) fprintf(stderr, "\r\033[K");
}

static void progress_update(progress *p, int images) {
    p->done += images;
    if (!p->shown) return;
    int tenth = (int)((int64_t)p->done * 10 / p->total);
    if (!p->tty && tenth == p->last_tenth) return;
    p->last_tenth = tenth;
    double elapsed = seconds_since(&p->start), rate = elapsed > 0 ? p->done / elapsed : 0;
    long eta = rate > 0 ? (long)((p->total - p->done) / rate + 0.5) : 0;
    fprintf(stderr, "%srfdetr predict: %d/%d images  %.1f img/s  ETA %ld:%02ld%s", p->tty ? "\r\033[K" : "", p->done,
            p->total, rate, eta / 60, eta % 60, p->tty ? "" : "\n");
    fflush(stderr);
}

typedef struct batch_state {
    const predict_inputs *inputs;
    rf_image_rgb8 *images;
    int *position; /* of each loaded image in inputs */
    int count;
} batch_state;

/* Runs the model on the loaded images of one batch (through the public
 * API, as any embedding program would); prints, annotates and writes JSON. */
static rf_status run_batch(const predict_args *a, rf_model *m, batch_state *b, rf_json_writer *json,
                           progress *pr, int *total_detections, const char **what) {
    int n = b->count;
    rf_detection *det = NULL;
    size_t count = 0;
    rf_status s = rf_model_predict(m, b->images, n, (float)a->threshold, &det, &count);
    size_t at = 0;
    for (int i = 0; i < n && s == RF_OK; i++) {
        const predict_input *in = &b->inputs->items[b->position[i]];
        /* Detections come grouped by image, best first. */
        rf_detection *d = det + at;
        int kept = 0;
        while (at < count && det[at].image == i) at++, kept++;
        for (int j = 0; j < kept && json; j++) {
            rf_json_begin_object(json);
            rf_json_key(json, "image_id"), rf_json_int(json, in->image_id);
            rf_json_key(json, "file_name"), rf_json_string(json, in->path);
            rf_json_key(json, "category_id"), rf_json_int(json, d[j].class_id);
            /* A box whose corners come out of order (a query with a negative
             * learned side) is empty, as evaluation counts it; a negative
             * width would make the file invalid COCO results. */
            double w = d[j].box[2] - d[j].box[0], h = d[j].box[3] - d[j].box[1];
            rf_json_key(json, "bbox");
            rf_json_begin_array(json);
            rf_json_double(json, d[j].box[0]);
            rf_json_double(json, d[j].box[1]);
            rf_json_double(json, w > 0 ? w : 0);
            rf_json_double(json, h > 0 ? h : 0);
            rf_json_end_array(json);
            rf_json_key(json, "score"), rf_json_double(json, d[j].score);
            rf_json_end_object(json);
        }
        progress_clear(pr);
        printf("%s: %d detection%s\n", in->path, kept, kept == 1 ? "" : "s");
        for (int j = 0; j < kept; j++) {
            char text[96];
            caption(m, &d[j], text, sizeof text);
            printf("  %s  box %.1f %.1f %.1f %.1f\n", text, d[j].box[0], d[j].box[1], d[j].box[2], d[j].box[3]);
        }
        fflush(stdout);
        *total_detections += kept;
        if (a->out) {
            /* Made only now, so a run that fails earlier leaves no empty folder. */
            *what = "creating --out";
            s = rf_make_dirs(a->out);
            char file[4096];
            output_name(in->path, a->out, b->position[i], file, sizeof file);
            rf_canvas canvas = rf_canvas_wrap((uint8_t *)b->images[i].rgb, b->images[i].width, b->images[i].height);
            *what = "writing the annotated image";
            if (s == RF_OK) s = annotate(&canvas, m, d, kept);
            if (s == RF_OK) s = rf_canvas_save(&canvas, file);
        }
    }
    rf_detections_free(det);
    return s;
}

int cli_cmd_predict(int argc, char **argv) {
    predict_args a = {.threshold = 0.5, .batch = 4, .device = "auto"};
    rf_precision precision = RF_PRECISION_F32;
    cli_option options[] = {
        {"--weights", CLI_STRING, &a.weights, "W", "model weights: our .safetensors, or an official RF-DETR .pth"},
        {"--image", CLI_STRINGS, &a.images, "IMG...", "images (JPEG, PNG, BMP), folders of images, or quoted patterns like 'dir/*.jpg'"},
        {"--coco", CLI_STRING, &a.coco, "ANN.json", "take --json's image ids from this COCO file (alone: run on every image it lists)"},
        {"--device", CLI_STRING, &a.device, "D", "cpu, opencl:N, cuda:N or auto (default)"},
        {"--threshold", CLI_DOUBLE, &a.threshold, "T", "keep detections scoring above T (default 0.5; 0 keeps all top-k)"},
        {"--out", CLI_STRING, &a.out, "DIR", "write annotated images (boxes, class names, scores) into DIR"},
        {"--json", CLI_STRING, &a.json, "OUT", "write COCO results [{image_id, category_id, bbox xywh, score}] to OUT"},
        {"--batch", CLI_INT, &a.batch, "N", "images per forward pass (default 4)"},
        {"--model", CLI_STRING, &a.model, "SIZE", "size of an official checkpoint when it cannot be recognised"},
        {"--resolution", CLI_INT, &a.resolution, "R", "input side in pixels (default: the model's)"},
        {"--precision", CLI_STRING, &a.precision, "P", CLI_PRECISION_HELP},
    };
    cli_spec spec = {
        .usage = "rfdetr predict --weights W (--image IMG|DIR|'PATTERN'... | --coco ANN.json) [--device D] [--threshold T]\n"
                 "                      [--out DIR] [--json OUT] [--precision f32|bf16|fp16]",
        .description =
            "Detects objects in images. Each image is resized to the model's square input and run through\n"
            "RF-DETR; its detections above the threshold are printed, best first, one per line: class, score\n"
            "and box x0 y0 x1 y1 in the image's own pixels. --out draws them onto copies of the images (the\n"
            "higher score on top where labels overlap), --json writes them as COCO results.\n"
            "A folder stands for the images in it (not its subfolders), a quoted pattern for the files it\n"
            "matches, both in name order. Progress goes to stderr when there is more than one batch.\n"
            "Image ids in --json: those of the COCO file given by --coco, or of the _annotations.coco.json in\n"
            "a folder given to --image (Roboflow's layout), so the results evaluate against that file with\n"
            "`rfdetr eval --gt ANN.json --dt OUT`; otherwise each image's position in the list (from 0).\n"
            "file_name is the image's path either way.",
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
    if (!a.weights || (a.images.count == 0 && !a.coco)) {
        fprintf(stderr, "rfdetr predict: --weights and --image (or --coco) are required\nusage: %s\n", spec.usage);
        free(a.images.items);
        return CLI_EXIT_USAGE;
    }
    if (!cli_int_in_range("predict", "--batch", a.batch, 1, 1024) ||
        !cli_number_in_range("predict", "--threshold", a.threshold, 0, false, 1, false) ||
        !cli_int_in_range("predict", "--resolution", a.resolution, 0, 1 << 16) ||
        !cli_precision("predict", a.precision, &precision)) {
        free(a.images.items);
        return CLI_EXIT_USAGE;
    }
    predict_inputs inputs;
    rc = predict_inputs_collect(&a.images, a.coco, &inputs);
    free(a.images.items);
    if (rc != CLI_EXIT_OK) return rc;
    rf_device *dev = NULL;
    rc = cli_open_device("predict", a.device, &dev);
    if (rc != CLI_EXIT_OK) {
        predict_inputs_free(&inputs);
        return rc;
    }
    rf_model *m = NULL;
    rf_status s = rf_model_open_with(dev, a.weights, a.model, (int)a.resolution, &m);
    if (s == RF_OK) s = rf_model_set_precision(m, precision);
    if (s != RF_OK) {
        rc = cli_fail("predict", s, "loading the model");
        goto done;
    }
    char desc[256];
    fprintf(stderr, "rfdetr predict: %s on %s, %s\n", rf_model_describe(m, desc, sizeof desc),
            rf_device_get_info(dev)->name, rf_precision_name(precision));
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
    batch_state b = {&inputs, calloc((size_t)a.batch, sizeof(rf_image_rgb8)), calloc((size_t)a.batch, sizeof(int)), 0};
    progress pr = {.shown = inputs.count > a.batch, .tty = isatty(2), .total = inputs.count};
    clock_gettime(CLOCK_MONOTONIC, &pr.start);
    int unreadable = 0, detections = 0;
    const char *what = "running the model";
    if (!b.images || !b.position) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for a batch of %ld", a.batch);
    for (int i = 0; i <= inputs.count && s == RF_OK; i++) {
        if (i < inputs.count) {
            rf_status ls = rf_image_read(inputs.items[i].path, &b.images[b.count]);
            if (ls != RF_OK) {
                /* One bad file does not stop the others; the exit code says it. */
                progress_clear(&pr);
                fprintf(stderr, "rfdetr predict: skipping %s: %s\n", inputs.items[i].path, rf_last_error());
                unreadable++;
                progress_update(&pr, 1);
                continue;
            }
            b.position[b.count++] = i;
        }
        if (b.count == a.batch || (i == inputs.count && b.count > 0)) {
            what = "running the model";
            s = run_batch(&a, m, &b, a.json ? &jw : NULL, &pr, &detections, &what);
            if (s == RF_OK) progress_update(&pr, b.count);
            for (int j = 0; j < b.count; j++) rf_image_rgb8_free(&b.images[j]);
            b.count = 0;
        }
    }
    if (pr.shown && pr.tty) fputc('\n', stderr);
    for (int j = 0; j < b.count; j++) rf_image_rgb8_free(&b.images[j]);
    free(b.images);
    free(b.position);
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
        rc = cli_fail("predict", s, what);
    } else if (rc == CLI_EXIT_OK) {
        int read = inputs.count - unreadable;
        fprintf(stderr, "rfdetr predict: %d image%s, %d detection%s above %.2f%s%s%s%s\n", read, read == 1 ? "" : "s",
                detections, detections == 1 ? "" : "s", a.threshold, a.out && read ? "; images in " : "",
                a.out && read ? a.out : "", a.json ? "; results in " : "", a.json ? a.json : "");
        if (unreadable) {
            fprintf(stderr, "rfdetr predict: %d image%s could not be read\n", unreadable, unreadable == 1 ? "" : "s");
            rc = CLI_EXIT_USAGE;
        }
    }
done:
    rf_model_free(m);
    rf_device_close(dev);
    predict_inputs_free(&inputs);
    return rc;
}
