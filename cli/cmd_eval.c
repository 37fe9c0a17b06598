/* cmd_eval.c — `rfdetr eval --gt GT.json --dt DT.json`: COCO AP/AR of a
 * results file, the numbers pycocotools prints, plus RF-DETR's per-class
 * table. (The --weights/--data form arrives with the model.) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "cli/cli.h"
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

int cli_cmd_eval(int argc, char **argv) {
    const char *gt_path = NULL, *dt_path = NULL, *max_dets_text = NULL, *json_path = NULL;
    long threads = 0;
    cli_option options[] = {
        {"--gt", CLI_STRING, &gt_path, "GT.json", "ground truth: a COCO annotation file"},
        {"--dt", CLI_STRING, &dt_path, "DT.json", "detections: a COCO results file [{image_id, category_id, bbox, score}]"},
        {"--max-dets", CLI_STRING, &max_dets_text, "A,B,C", "detections per image for the AR columns (default 1,10,100; RF-DETR uses 1,10,500)"},
        {"--json", CLI_STRING, &json_path, "OUT", "also write the stats (full precision) and the per-class table as JSON"},
        {"--threads", CLI_INT, &threads, "N", "worker threads (default: one per CPU; results do not depend on it)"},
    };
    cli_spec spec = {
        .usage = "rfdetr eval --gt GT.json --dt DT.json [--max-dets 1,10,100] [--json OUT]",
        .description =
            "COCO bbox evaluation with pycocotools' semantics: prints the 12-line summary (the same numbers as\n"
            "pycocotools' COCOeval) and a per-class table: AP@[.50:.95], AP50, and precision / recall / F1 at\n"
            "IoU 0.50 at the confidence that maximizes macro F1 (what RF-DETR's results.json reports).\n"
            "An empty detection list is valid: every AP and AR is then 0 (-1 where there is no GT).",
        .options = options,
        .option_count = (int)(sizeof options / sizeof options[0]),
        .max_positional = 0,
    };
    char **pos = NULL;
    int npos = 0;
    int rc = cli_parse(&spec, argc, argv, &pos, &npos);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    free(pos);
    if (!gt_path || !dt_path) {
        fprintf(stderr, "rfdetr eval: --gt and --dt are both required\nusage: %s\n", spec.usage);
        return CLI_EXIT_USAGE;
    }
    rf_coco_eval_params params;
    rf_coco_eval_params_default(&params);
    if (max_dets_text && !parse_max_dets(max_dets_text, params.max_dets)) {
        fprintf(stderr, "rfdetr eval: --max-dets expects three positive integers like 1,10,100, got '%s'\n",
                max_dets_text);
        return CLI_EXIT_USAGE;
    }
    if (threads < 0 || threads > 1024) {
        fprintf(stderr, "rfdetr eval: --threads expects 0..1024, got %ld\n", threads);
        return CLI_EXIT_USAGE;
    }
    params.threads = (int)threads;

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
