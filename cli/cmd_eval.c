/* cmd_eval.c — `rfdetr eval --gt GT.json --dt DT.json`: COCO AP/AR of a
 * results file, the numbers pycocotools prints, plus RF-DETR's per-class
 * table. (The --weights/--data form arrives with the model.) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/status.h"
#include "cli/cli.h"
#include "data/dataset.h"
#include "model/model.h"
#include "train/evaluate.h"
#include "core/fileio.h"
#include "core/json_writer.h"
#include "data/coco.h"
#include "eval/coco_eval.h"

static const char *const stat_keys[RF_COCO_STATS] = {"AP",    "AP50",   "AP75",   "APs",   "APm",  "APl",
                                                     "AR1",   "AR10",   "AR100",  "ARs",   "ARm",  "ARl"};

/* "1,10,100" -> three positive ints. */
static int parse_max_dets(const char *text, int out[RF_COCO_MAX_DETS]) {
    const char *p = text;
    for (int i = 0; i < RF_COCO_MAX_DETS; i++) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 1000000000) return 0;
        out[i] = (int)v;
        if (i < RF_COCO_MAX_DETS - 1) {
            if (*end != ',') return 0;
            p = end + 1;
        } else if (*end) {
            return 0;
        }
    }
    return 1;
}

static rf_status write_json(const char *path, const char *gt_path, const char *dt_path,
                            const rf_coco_eval_result *r) {
    rf_atomic_file af;
    RF_TRY(rf_atomic_file_open(&af, path));
    rf_json_writer w;
    rf_json_init(&w, af.f, true);
    rf_json_begin_object(&w);
    rf_json_key(&w, "gt"), rf_json_string(&w, gt_path);
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
    rf_json_key(&w, "images"), rf_json_uint(&w, r->image_count);
    rf_json_key(&w, "categories"), rf_json_uint(&w, r->category_count);
    rf_json_key(&w, "gt_boxes"), rf_json_uint(&w, r->gt_count);
    rf_json_key(&w, "detections"), rf_json_uint(&w, r->detection_count);
    rf_json_key(&w, "f1_threshold"), rf_json_double(&w, r->f1_threshold);
    rf_json_key(&w, "precision"), rf_json_double(&w, r->precision);
    rf_json_key(&w, "recall"), rf_json_double(&w, r->recall);
    rf_json_key(&w, "f1"), rf_json_double(&w, r->f1);
    rf_json_key(&w, "per_class");
    rf_json_begin_array(&w);
    for (size_t k = 0; k < r->class_count; k++) {
        const rf_coco_class_result *c = &r->classes[k];
        rf_json_begin_object(&w);
        rf_json_key(&w, "id"), rf_json_int(&w, c->category_id);
        rf_json_key(&w, "name"), rf_json_string(&w, c->name);
        rf_json_key(&w, "gt_boxes"), rf_json_uint(&w, c->gt_count);
        rf_json_key(&w, "detections"), rf_json_uint(&w, c->detection_count);
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

/* The model form: a checkpoint evaluated on a dataset split on a device. */
static void on_eval_progress(void *user, int64_t done, int64_t total) {
    cli_print_eval_progress(user, "evaluating", done, total);
}

static int eval_weights(const char *weights, const char *data, const char *split_name, const char *device,
                        const char *json_path, const rf_coco_eval_params *params, long batch, long threads) {
    rf_split split;
    if (rf_split_parse(split_name, &split) != RF_OK) {
        fprintf(stderr, "rfdetr eval: --split must be train, valid or test, got '%s'\n", split_name);
        return CLI_EXIT_USAGE;
    }
    char dir[4096];
    rf_status s = rf_dataset_resolve_dir(data, dir, sizeof dir, NULL);
    if (s != RF_OK) return cli_fail("eval", s, "finding the dataset");
    rf_dataset *ds = NULL;
    s = rf_dataset_open(dir, RF_SPLIT_BIT(split), &ds);
    if (s != RF_OK) return cli_fail("eval", s, "reading the dataset");
    rf_device *dev = NULL;
    int rc = cli_open_device("eval", device, &dev);
    if (rc != CLI_EXIT_OK) {
        rf_dataset_free(ds);
        return rc;
    }
    rfdetr_model *model = NULL;
    rf_ctx *ctx = NULL;
    rf_coco_eval_result *result = NULL;
    s = rfdetr_model_open(dev, weights, NULL, 0, &model);
    if (s != RF_OK) rc = cli_fail("eval", s, "loading the weights");
    if (rc == CLI_EXIT_OK && (s = rf_ctx_create(dev, 0, &ctx)) != RF_OK) rc = cli_fail("eval", s, "creating a context");
    if (rc == CLI_EXIT_OK) {
        fprintf(stderr, "rfdetr eval: %s (%s, %d classes) on %s split %s (%zu images) on %s\n", weights, model->cfg.size,
                model->cfg.num_classes, dir, split_name, ds->splits[split].coco->image_count, dev->info.name);
        cli_eval_progress ps = {.tty = isatty(STDERR_FILENO) != 0};
        s = rf_evaluate_model(model, ctx, ds, split, (int)batch, (int)threads, params->max_dets, on_eval_progress, &ps,
                              &result);
        if (s != RF_OK) rc = cli_fail("eval", s, "evaluating");
    }
    if (rc == CLI_EXIT_OK) {
        cli_print_coco_summary(result->stats, result->max_dets);
        cli_print_coco_classes(result);
        if (json_path && (s = write_json(json_path, ds->splits[split].annotations, weights, result)) != RF_OK)
            rc = cli_fail("eval", s, "writing --json");
    }
    rf_coco_eval_result_free(result);
    rf_ctx_free(ctx);
    rfdetr_model_free(model);
    rf_device_close(dev);
    rf_dataset_free(ds);
    return rc;
}

int cli_cmd_eval(int argc, char **argv) {
    const char *gt_path = NULL, *dt_path = NULL, *max_dets_text = NULL, *json_path = NULL;
    const char *weights = NULL, *data = NULL, *split = "valid", *device = "auto";
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
    };
    cli_spec spec = {
        .usage = "rfdetr eval --gt GT.json --dt DT.json [--max-dets 1,10,100] [--json OUT]\n"
                 "       rfdetr eval --weights W --data DIR [--split valid|test] [--device D] [--json OUT]",
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
    rf_coco_eval_params params;
    rf_coco_eval_params_default(&params);
    if (max_dets_text && !parse_max_dets(max_dets_text, params.max_dets)) {
        fprintf(stderr, "rfdetr eval: --max-dets expects three positive integers like 1,10,100, got '%s'\n",
                max_dets_text);
        return CLI_EXIT_USAGE;
    }
    if (!cli_int_in_range("eval", "--threads", threads, 0, 1024)) return CLI_EXIT_USAGE;
    params.threads = (int)threads;
    if (model_form) return eval_weights(weights, data, split, device, json_path, &params, batch, threads > 0 ? threads : 2);

    rf_coco_dataset *gt = NULL;
    rf_coco_detection *dets = NULL;
    rf_coco_eval_result *result = NULL;
    size_t count = 0;
    rf_status s = rf_coco_load(gt_path, &gt);
    if (s != RF_OK) return cli_fail("eval", s, "reading the ground truth");
    s = rf_coco_load_detections(dt_path, gt, &dets, &count);
    if (s != RF_OK) {
        rf_coco_free(gt);
        return cli_fail("eval", s, "reading the detections");
    }
    if (count == 0) fprintf(stderr, "rfdetr eval: %s has no detections: every AP and AR is 0 (-1 without GT)\n", dt_path);
    s = rf_coco_evaluate(gt, dets, count, &params, &result);
    if (s == RF_OK) {
        cli_print_coco_summary(result->stats, result->max_dets);
        cli_print_coco_classes(result);
        if (json_path) {
            s = write_json(json_path, gt_path, dt_path, result);
            if (s != RF_OK) rc = cli_fail("eval", s, "writing --json");
        }
    } else {
        rc = cli_fail("eval", s, "evaluating");
    }
    rf_coco_eval_result_free(result);
    free(dets);
    rf_coco_free(gt);
    return rc;
}
