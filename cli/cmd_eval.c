/* cmd_eval.c — `rfdetr eval --gt GT.json --dt DT.json`: COCO AP/AR of a
 * results file, the numbers pycocotools prints, plus RF-DETR's per-class
 * table; or the same for a checkpoint on a dataset split. Both through
 * the public API (rfdetr.h), as any program embedding the library would. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/status.h"
#include "cli/cli.h"
#include "core/fileio.h"
#include "core/json_writer.h"

static const char *const stat_keys[RF_COCO_STATS] = {"AP",    "AP50",   "AP75",   "APs",   "APm",  "APl",
                                                     "AR1",   "AR10",   "AR100",  "ARs",   "ARm",  "ARl"};

/* "1,10,100" -> three positive ints. */
static int parse_max_dets(const char *text, int out[3]) {
    const char *p = text;
    for (int i = 0; i < 3; i++) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 1000000000) return 0;
        out[i] = (int)v;
        if (i < 2) {
            if (*end != ',') return 0;
            p = end + 1;
        } else if (*end) {
            return 0;
        }
    }
    return 1;
}

static rf_status write_json(const char *path, const char *dt_path, const rf_eval_result *r) {
    rf_atomic_file af;
    RF_TRY(rf_atomic_file_open(&af, path));
    rf_json_writer w;
    rf_json_init(&w, af.f, true);
    rf_json_begin_object(&w);
    rf_json_key(&w, "gt"), rf_json_string(&w, r->annotations);
    rf_json_key(&w, "dt"), rf_json_string(&w, dt_path);
    rf_json_key(&w, "max_dets");
    rf_json_begin_array(&w);
    for (int i = 0; i < RF_COCO_MAX_DETS; i++) rf_json_int(&w, r->max_dets[i]);
    rf_json_end_array(&w);
    rf_json_key(&w, "stats");
    rf_json_begin_array(&w);
    for (int i = 0; i < RF_COCO_STATS; i++) rf_json_double(&w, r->stats[i]);
    rf_json_end_array(&w);
    rf_json_key(&w, "stat_names");
    rf_json_begin_array(&w);
    for (int i = 0; i < RF_COCO_STATS; i++) rf_json_string(&w, stat_keys[i]);
    rf_json_end_array(&w);
    rf_json_key(&w, "images"), rf_json_uint(&w, r->images);
    rf_json_key(&w, "categories"), rf_json_uint(&w, r->categories);
    rf_json_key(&w, "gt_boxes"), rf_json_uint(&w, r->gt_boxes);
    rf_json_key(&w, "detections"), rf_json_uint(&w, r->detections);
    rf_json_key(&w, "f1_threshold"), rf_json_double(&w, r->f1_threshold);
    rf_json_key(&w, "precision"), rf_json_double(&w, r->precision);
    rf_json_key(&w, "recall"), rf_json_double(&w, r->recall);
    rf_json_key(&w, "f1"), rf_json_double(&w, r->f1);
    rf_json_key(&w, "per_class");
    rf_json_begin_array(&w);
    for (size_t k = 0; k < r->class_count; k++) {
        const rf_eval_class *c = &r->classes[k];
        rf_json_begin_object(&w);
        rf_json_key(&w, "id"), rf_json_int(&w, c->category_id);
        rf_json_key(&w, "name"), rf_json_string(&w, c->name);
        rf_json_key(&w, "gt_boxes"), rf_json_uint(&w, c->gt_boxes);
        rf_json_key(&w, "detections"), rf_json_uint(&w, c->detections);
        rf_json_key(&w, "ap"), rf_json_double(&w, c->ap);
        rf_json_key(&w, "ap50"), rf_json_double(&w, c->ap50);
        rf_json_key(&w, "precision"), rf_json_double(&w, c->precision);
        rf_json_key(&w, "recall"), rf_json_double(&w, c->recall);
        rf_json_key(&w, "f1"), rf_json_double(&w, c->f1);
        rf_json_end_object(&w);
    }
    rf_json_end_array(&w);
    rf_json_end_object(&w);
    fputc('\n', af.f);
    return rf_atomic_file_commit(&af);
}

/* Prints the result and writes --json. */
static int report(const rf_eval_result *r, const char *json_path, const char *dt_label) {
    cli_print_coco_summary(r->stats, r->max_dets);
    cli_print_coco_classes(r);
    rf_status s = json_path ? write_json(json_path, dt_label, r) : RF_OK;
    return s == RF_OK ? CLI_EXIT_OK : cli_fail("eval", s, "writing --json");
}

/* The model form: a checkpoint evaluated on a dataset split on a device. */
static void on_eval_progress(void *user, int64_t done, int64_t total) {
    cli_print_eval_progress(user, "evaluating", done, total);
}

static int eval_weights(const char *weights, const char *data, const char *split, const char *device,
                        rf_precision precision, const char *json_path, const rf_eval_options *options) {
    if (strcmp(split, "train") != 0 && strcmp(split, "valid") != 0 && strcmp(split, "test") != 0) {
        fprintf(stderr, "rfdetr eval: --split must be train, valid or test, got '%s'\n", split);
        return CLI_EXIT_USAGE;
    }
    rf_device *dev = NULL;
    int rc = cli_open_device("eval", device, &dev);
    if (rc != CLI_EXIT_OK) return rc;
    rf_model *model = NULL;
    rf_eval_result *result = NULL;
    rf_status s = rf_model_open(dev, weights, &model);
    if (s == RF_OK) s = rf_model_set_precision(model, precision);
    if (s != RF_OK) rc = cli_fail("eval", s, "loading the weights");
    if (rc == CLI_EXIT_OK) {
        char desc[256];
        fprintf(stderr, "rfdetr eval: %s (%s) on %s split %s on %s, %s\n", weights,
                rf_model_describe(model, desc, sizeof desc), data, split, rf_device_get_info(dev)->name,
                rf_precision_name(precision));
        cli_eval_progress progress = {.tty = isatty(STDERR_FILENO) != 0};
        rf_eval_options with_progress = *options;
        with_progress.progress = on_eval_progress;
        with_progress.progress_user = &progress;
        s = rf_model_evaluate_with(model, data, split, &with_progress, &result);
        if (s != RF_OK) rc = cli_fail("eval", s, "evaluating");
    }
    if (rc == CLI_EXIT_OK) {
        fprintf(stderr, "rfdetr eval: %zu images of %s\n", result->images, result->annotations);
        rc = report(result, json_path, weights);
    }
    rf_eval_result_free(result);
    rf_model_free(model);
    rf_device_close(dev);
    return rc;
}

int cli_cmd_eval(int argc, char **argv) {
    const char *gt_path = NULL, *dt_path = NULL, *max_dets_text = NULL, *json_path = NULL;
    const char *weights = NULL, *data = NULL, *split = "valid", *device = "auto", *precision_text = NULL;
    long threads = 0, batch = 8;
    cli_option options[] = {
        {"--gt", CLI_STRING, &gt_path, "GT.json", "ground truth: a COCO annotation file"},
        {"--dt", CLI_STRING, &dt_path, "DT.json", "detections: a COCO results file [{image_id, category_id, bbox, score}]"},
        {"--max-dets", CLI_STRING, &max_dets_text, "A,B,C", "detections per image for the AR columns (default 1,10,100; RF-DETR uses 1,10,500)"},
        {"--json", CLI_STRING, &json_path, "OUT", "also write the stats (full precision) and the per-class table as JSON"},
        {"--threads", CLI_INT, &threads, "N", "worker threads (default: one per CPU; results do not depend on it)"},
        {"--weights", CLI_STRING, &weights, "W", "model form: evaluate these weights (.safetensors or official .pth)"},
        {"--data", CLI_STRING, &data, "DIR", "model form: the dataset (folder or shapes)"},
        {"--split", CLI_STRING, &split, "NAME", "model form: valid (default), test or train"},
        {"--device", CLI_STRING, &device, "NAME", "model form: cpu, opencl:N, cuda:N or auto"},
        {"--batch", CLI_INT, &batch, "B", "model form: images per batch (default 8)"},
        {"--precision", CLI_STRING, &precision_text, "P", "model form: " CLI_PRECISION_HELP},
    };
    cli_spec spec = {
        .usage = "rfdetr eval --gt GT.json --dt DT.json [--max-dets 1,10,100] [--json OUT]\n"
                 "       rfdetr eval --weights W --data DIR [--split valid|test] [--device D] [--precision P] [--json OUT]",
        .description =
            "COCO bbox evaluation with pycocotools' semantics: prints the 12-line summary (the same numbers as\n"
            "pycocotools' COCOeval) and a per-class table: AP@[.50:.95], AP50, and precision / recall / F1 at\n"
            "IoU 0.50 at the confidence that maximizes macro F1 (what RF-DETR's results.json reports).\n"
            "An empty detection list is valid: every AP and AR is then 0 (-1 where there is no GT).\n"
            "The model form runs a checkpoint on a dataset split on any device and evaluates its detections the\n"
            "same way: the same numbers on every device.",
        .options = options,
        .option_count = (int)(sizeof options / sizeof options[0]),
        .max_positional = 0,
    };
    char **pos = NULL;
    int npos = 0;
    int rc = cli_parse(&spec, argc, argv, &pos, &npos);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    free(pos);
    bool file_form = gt_path || dt_path, model_form = weights || data;
    if (file_form == model_form || (file_form && (!gt_path || !dt_path)) || (model_form && (!weights || !data))) {
        fprintf(stderr, "rfdetr eval: give --gt and --dt, or --weights and --data\nusage: %s\n", spec.usage);
        return CLI_EXIT_USAGE;
    }
    if (!cli_int_in_range("eval", "--batch", batch, 1, LONG_MAX)) return CLI_EXIT_USAGE;
    rf_eval_options eval_options = {.batch = (int)batch};
    if (max_dets_text && !parse_max_dets(max_dets_text, eval_options.max_dets)) {
        fprintf(stderr, "rfdetr eval: --max-dets expects three positive integers like 1,10,100, got '%s'\n",
                max_dets_text);
        return CLI_EXIT_USAGE;
    }
    if (!cli_int_in_range("eval", "--threads", threads, 0, 1024)) return CLI_EXIT_USAGE;
    eval_options.threads = (int)threads;
    rf_precision precision;
    if (!cli_precision("eval", precision_text, &precision)) return CLI_EXIT_USAGE;
    if (precision_text && !model_form) {
        fprintf(stderr, "rfdetr eval: --precision applies to the model form (--weights and --data), not to --gt/--dt\n");
        return CLI_EXIT_USAGE;
    }
    if (model_form) return eval_weights(weights, data, split, device, precision, json_path, &eval_options);

    rf_eval_result *result = NULL;
    rf_status s = rf_evaluate_files_with(gt_path, dt_path, &eval_options, &result);
    if (s != RF_OK) return cli_fail("eval", s, "evaluating");
    if (result->detections == 0)
        fprintf(stderr, "rfdetr eval: %s has no detections: every AP and AR is 0 (-1 without GT)\n", dt_path);
    rc = report(result, json_path, dt_path);
    rf_eval_result_free(result);
    return rc;
}
