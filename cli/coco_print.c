/* coco_print.c — COCO results as rfdetr prints them (eval, train). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* pycocotools' summarize() lines, character for character. */
void cli_print_coco_summary(const double stats[RF_COCO_STATS], const int max_dets[RF_COCO_MAX_DETS]) {
    static const struct {
        int ap;
        const char *iou, *area;
        int m;
    } rows[RF_COCO_STATS] = {
        {1, "0.50:0.95", "all", 2}, {1, "0.50", "all", 2},   {1, "0.75", "all", 2},   {1, "0.50:0.95", "small", 2},
        {1, "0.50:0.95", "medium", 2}, {1, "0.50:0.95", "large", 2}, {0, "0.50:0.95", "all", 0},
        {0, "0.50:0.95", "all", 1}, {0, "0.50:0.95", "all", 2}, {0, "0.50:0.95", "small", 2},
        {0, "0.50:0.95", "medium", 2}, {0, "0.50:0.95", "large", 2},
    };
    for (int i = 0; i < RF_COCO_STATS; i++)
        printf(" %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
               rows[i].ap ? "Average Precision" : "Average Recall", rows[i].ap ? "(AP)" : "(AR)", rows[i].iou,
               rows[i].area, max_dets[rows[i].m], stats[i]);
}

void cli_print_coco_classes(const rf_eval_result *r) {
    int width = 5;
    for (size_t k = 0; k < r->class_count; k++) {
        int n = (int)strlen(r->classes[k].name);
        if (n > width) width = n;
    }
    if (width > 40) width = 40;
    printf("\n%-*s %8s %7s %8s %9s %7s %9s %7s %7s\n", width, "class", "id", "gt", "dets", "AP50:95", "AP50",
           "precision", "recall", "F1");
    for (size_t k = 0; k < r->class_count; k++) {
        const rf_eval_class *c = &r->classes[k];
        printf("%-*.*s %8lld %7zu %8zu", width, width, c->name, (long long)c->category_id, c->gt_boxes,
               c->detections);
        if (c->gt_boxes == 0)
            printf(" %9s %7s %9s %7s %7s\n", "-", "-", "-", "-", "-");
        else
            printf(" %9.3f %7.3f %9.3f %7.3f %7.3f\n", c->ap, c->ap50, c->precision, c->recall, c->f1);
    }
    printf("%-*s %8s %7zu %8zu %9.3f %7.3f %9.3f %7.3f %7.3f\n", width, "all", "", r->gt_boxes, r->detections,
           r->stats[0], r->stats[1], r->precision, r->recall, r->f1);
    printf("(AP at area all, maxDets=%d; precision/recall/F1 at IoU 0.50 and confidence >= %.2f, the threshold "
           "maximizing macro F1; '-' = no GT)\n",
           r->max_dets[2], r->f1_threshold);
}

