/* cmd_check_data.c — `rfdetr check-data DIR`: validates a dataset before
 * anyone trains on it. Exit 0 when nothing is wrong (warnings allowed), 2
 * when any problem is an error, 1 on a runtime failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/json_writer.h"
#include "data/dataset.h"

static const char *severity_name(rf_coco_severity s) { return s == RF_COCO_ERROR ? "error" : "warning"; }

/* The categories to show: those of the first split that loaded. */
static const rf_coco_dataset *first_loaded(const rf_dataset *ds) {
    for (int s = 0; s < RF_SPLIT_COUNT; s++)
        if (ds->splits[s].coco) return ds->splits[s].coco;
    return NULL;
}

static void print_text(const char *dir, const rf_dataset *ds) {
    printf("dataset: %s\nformat: %s\n", dir, rf_data_format_name(ds->format));
    printf("%-6s %9s %12s %11s\n", "split", "images", "annotations", "categories");
    for (int s = 0; s < RF_SPLIT_COUNT; s++) {
        const rf_dataset_split *sp = &ds->splits[s];
        if (!sp->present) continue;
        if (sp->coco)
            printf("%-6s %9zu %12zu %11zu\n", rf_split_name(s), sp->coco->image_count, sp->coco->annotation_count,
                   sp->coco->category_count);
        else
            printf("%-6s %9s %12s %11s   (unreadable: see problems)\n", rf_split_name(s), "-", "-", "-");
    }
    const rf_coco_dataset *c = first_loaded(ds);
    if (c) {
        printf("classes (category ids kept as in the files; the class head has %lld logits):\n",
               (long long)ds->num_classes);
        for (size_t i = 0; i < c->category_count; i++) {
            const rf_coco_category *cat = &c->categories[i];
            printf("  %4lld  %s%s\n", (long long)cat->id, cat->name,
                   rf_coco_category_is_placeholder(cat) ? "   (Roboflow placeholder, supercategory \"none\": not a class)"
                                                        : "");
        }
    }
    size_t errors = rf_coco_problems_errors(&ds->problems);
    if (ds->problems.count == 0) {
        printf("problems: none\n");
        return;
    }
    printf("problems: %zu error%s, %zu warning%s\n", errors, errors == 1 ? "" : "s", ds->problems.count - errors,
           ds->problems.count - errors == 1 ? "" : "s");
    for (size_t i = 0; i < ds->problems.count; i++)
        printf("  %s: %s\n", severity_name(ds->problems.items[i].severity), ds->problems.items[i].message);
}

static void print_json(const rf_dataset *ds, const char *layout_error) {
    rf_json_writer w;
    rf_json_init(&w, stdout, true);
    rf_json_begin_object(&w);
    rf_json_key(&w, "format");
    if (ds)
        rf_json_string(&w, rf_data_format_name(ds->format));
    else
        rf_json_null(&w);
    rf_json_key(&w, "splits");
    rf_json_begin_object(&w);
    for (int s = 0; ds && s < RF_SPLIT_COUNT; s++) {
        const rf_coco_dataset *c = ds->splits[s].coco;
        if (!c) continue;
        rf_json_key(&w, rf_split_name(s));
        rf_json_begin_object(&w);
        rf_json_key(&w, "images"), rf_json_uint(&w, c->image_count);
        rf_json_key(&w, "annotations"), rf_json_uint(&w, c->annotation_count);
        rf_json_key(&w, "categories"), rf_json_uint(&w, c->category_count);
        rf_json_end_object(&w);
    }
    rf_json_end_object(&w);
    /* The same class list as the text report: ids as in the files, and the
     * width of the class head they give. */
    const rf_coco_dataset *c = ds ? first_loaded(ds) : NULL;
    rf_json_key(&w, "num_classes");
    if (c)
        rf_json_int(&w, ds->num_classes);
    else
        rf_json_null(&w);
    rf_json_key(&w, "classes");
    rf_json_begin_array(&w);
    for (size_t i = 0; c && i < c->category_count; i++) {
        const rf_coco_category *cat = &c->categories[i];
        rf_json_begin_object(&w);
        rf_json_key(&w, "id"), rf_json_int(&w, cat->id);
        rf_json_key(&w, "name"), rf_json_string(&w, cat->name);
        rf_json_key(&w, "placeholder"), rf_json_bool(&w, rf_coco_category_is_placeholder(cat));
        rf_json_end_object(&w);
    }
    rf_json_end_array(&w);
    rf_json_key(&w, "problems");
    rf_json_begin_array(&w);
    if (layout_error) {
        rf_json_begin_object(&w);
        rf_json_key(&w, "severity"), rf_json_string(&w, "error");
        rf_json_key(&w, "message"), rf_json_string(&w, layout_error);
        rf_json_end_object(&w);
    }
    for (size_t i = 0; ds && i < ds->problems.count; i++) {
        rf_json_begin_object(&w);
        rf_json_key(&w, "severity"), rf_json_string(&w, severity_name(ds->problems.items[i].severity));
        rf_json_key(&w, "message"), rf_json_string(&w, ds->problems.items[i].message);
        rf_json_end_object(&w);
    }
    rf_json_end_array(&w);
    rf_json_end_object(&w);
    printf("\n");
}

int cli_cmd_check_data(int argc, char **argv) {
    bool json = false, quick = false;
    cli_option options[] = {
        {"--json", CLI_FLAG, &json, NULL,
         "print {\"format\", \"splits\": {split: {images, annotations, categories}}, \"num_classes\",\n"
         "                             \"classes\": [{id, name, placeholder}], \"problems\"}"},
        {"--quick", CLI_FLAG, &quick, NULL, "do not decode every image (only check that the files exist)"},
    };
    cli_spec spec = {
        .usage = "rfdetr check-data DIR [--json] [--quick]",
        .description =
            "Validates a dataset (Roboflow COCO, COCO or YOLO layout) before training: prints per split the\n"
            "number of images, annotations and categories, the class names with their ids, and every problem\n"
            "found: unreadable files, malformed JSON or labels (with line and column), ids that repeat or point\n"
            "nowhere, boxes outside their image, missing or corrupt images. Exit 0 when there is no error\n"
            "(warnings allowed), 2 when there is one. docs/data.md says what training does about each.",
        .options = options,
        .option_count = (int)(sizeof options / sizeof options[0]),
        .min_positional = 1,
        .max_positional = 1,
        .positional_help = "DIR: the dataset folder",
    };
    const char *dir = NULL;
    int rc = cli_parse_one(&spec, argc, argv, &dir);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;

    rf_dataset *ds = NULL;
    rf_status s = rf_dataset_inspect(dir, &ds);
    if (s == RF_ERR_FORMAT || s == RF_ERR_IO) {
        /* No known layout (or no such folder): still a report, with one problem. */
        if (json)
            print_json(NULL, rf_last_error());
        else
            printf("dataset: %s\nformat: unknown\nproblems: 1 error, 0 warnings\n  error: %s\n", dir, rf_last_error());
        return CLI_EXIT_USAGE;
    }
    if (s != RF_OK) return cli_fail("check-data", s, dir);
    for (int sp = 0; sp < RF_SPLIT_COUNT && !quick; sp++) {
        if (!ds->splits[sp].coco) continue;
        if (!json) fprintf(stderr, "decoding %zu %s images...\n", ds->splits[sp].coco->image_count, rf_split_name(sp));
        s = rf_dataset_check_images(ds, sp);
        if (s != RF_OK) {
            rf_dataset_free(ds);
            return cli_fail("check-data", s, dir);
        }
    }
    if (json)
        print_json(ds, NULL);
    else
        print_text(dir, ds);
    int code = rf_coco_problems_errors(&ds->problems) ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    rf_dataset_free(ds);
    return code;
}
