/* coco_generate.c — writes synthetic COCO files for the benchmarks:
 * a ground-truth file shaped like COCO's instances_*.json (images, polygon
 * segmentations, crowd RLE regions, 80 categories) and, optionally, a
 * results file of detections. Same arguments and seed => same bytes.
 *
 *   coco_generate GT.json [--images N] [--annotations N] [--categories K]
 *                 [--polygon-points P] [--dt DT.json --dets-per-image D] [--seed S]
 *
 * COCO train2017: 118287 images, 860001 annotations, ~448 MB (polygons of
 * ~24 points on average) — the defaults reproduce that size (445 MB). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static double uniform(void) { /* [0,1), 53 bits */
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t x = rng_state ^ (rng_state >> 29);
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 32;
    return (double)(x >> 11) / 9007199254740992.0;
}

static double uniform_in(double lo, double hi) { return lo + (hi - lo) * uniform(); }

/* COCO boxes are written with two decimals. */
static double round2(double v) { return (double)(int64_t)(v * 100.0 + 0.5) / 100.0; }

typedef struct box {
    int64_t image_id, category_id;
    double x, y, w, h;
} box;

/* Detections as a detector emits them: for each image, a jittered copy of
 * most of its GT boxes (sometimes with the wrong class) with high scores,
 * then random boxes of random classes with low scores, up to D per image.
 * Scores have 5 decimals, so ties happen as they do in real results. */
static int write_detections(const char *path, const box *gt, long gt_count, long images, const int *widths,
                            const int *heights, long categories, long dets_per_image) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    /* GT indices grouped by image (a counting sort): image i (0-based, id
     * i + 1) owns order[start[i] .. start[i + 1]). */
    long *start = calloc((size_t)images + 1, sizeof *start), *order = malloc((size_t)(gt_count + 1) * sizeof *order);
    if (!start || !order) return 1;
    for (long a = 0; a < gt_count; a++) start[gt[a].image_id]++; /* = start[i + 1] of image i */
    for (long i = 0; i < images; i++) start[i + 1] += start[i];
    for (long a = gt_count - 1; a >= 0; a--) order[--start[gt[a].image_id]] = a;
    /* the loop above left start[i + 1] at image i's first entry: shift back */
    for (long i = 0; i < images; i++) start[i] = start[i + 1];
    start[images] = gt_count;
    fprintf(f, "[");
    int first = 1;
    for (long i = 0; i < images; i++) {
        double W = widths[i], H = heights[i];
        long written = 0;
        for (long k = start[i]; k < start[i + 1] && written < dets_per_image; k++) {
            const box *b = &gt[order[k]];
            if (uniform() < 0.15) continue; /* missed */
            double jx = b->w * uniform_in(-0.15, 0.15), jy = b->h * uniform_in(-0.15, 0.15);
            double w = b->w * uniform_in(0.8, 1.2), h = b->h * uniform_in(0.8, 1.2);
            int64_t cat = uniform() < 0.1 ? 1 + (int64_t)(uniform() * (double)categories) : b->category_id;
            fprintf(f, "%s{\"image_id\": %ld, \"category_id\": %" PRId64 ", \"bbox\": [%.3f, %.3f, %.3f, %.3f], "
                       "\"score\": %.5f}",
                    first ? "" : ",\n", i + 1, cat, b->x + jx < 0 ? 0 : b->x + jx, b->y + jy < 0 ? 0 : b->y + jy, w, h,
                    uniform_in(0.3, 1.0));
            first = 0;
            written++;
        }
        for (; written < dets_per_image; written++) {
            double w = 2.0 + (W - 2.0) * uniform() * uniform(), h = 2.0 + (H - 2.0) * uniform() * uniform();
            double x = uniform() * (W - w), y = uniform() * (H - h);
            fprintf(f, "%s{\"image_id\": %ld, \"category_id\": %ld, \"bbox\": [%.3f, %.3f, %.3f, %.3f], "
                       "\"score\": %.5f}",
                    first ? "" : ",\n", i + 1, 1 + (long)(uniform() * (double)categories), x, y, w, h,
                    0.5 * uniform() * uniform());
            first = 0;
        }
    }
    fprintf(f, "]\n");
    free(start), free(order);
    if (fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

static void usage(void) {
    fprintf(stderr, "usage: coco_generate GT.json [--images N] [--annotations N] [--categories K] "
                    "[--polygon-points P] [--dt DT.json --dets-per-image D] [--seed S]\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage();
        return 2;
    }
    const char *gt_path = argv[1], *dt_path = NULL;
    long images = 118287, annotations = 860001, categories = 80, polygon_points = 26, dets_per_image = 100;
    unsigned long long seed = 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--images")) images = atol(v);
        else if (!strcmp(a, "--annotations")) annotations = atol(v);
        else if (!strcmp(a, "--categories")) categories = atol(v);
        else if (!strcmp(a, "--polygon-points")) polygon_points = atol(v);
        else if (!strcmp(a, "--dt")) dt_path = v;
        else if (!strcmp(a, "--dets-per-image")) dets_per_image = atol(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else {
            usage();
            return 2;
        }
    }
    if (images < 1 || annotations < 0 || categories < 1 || polygon_points < 0 || dets_per_image < 0) {
        usage();
        return 2;
    }
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    FILE *f = fopen(gt_path, "w");
    if (!f) {
        perror(gt_path);
        return 1;
    }
    int *widths = malloc((size_t)images * sizeof *widths), *heights = malloc((size_t)images * sizeof *heights);
    box *boxes = malloc((size_t)(annotations ? annotations : 1) * sizeof *boxes);
    if (!widths || !heights || !boxes) return 1;

    fprintf(f, "{\"info\": {\"description\": \"synthetic COCO for rfdetr.c benchmarks\", \"version\": \"1.0\", "
               "\"year\": 2017, \"contributor\": \"rfdetr.c\", \"date_created\": \"2017/09/01\"},\n");
    fprintf(f, "\"licenses\": [{\"url\": \"http://creativecommons.org/licenses/by/2.0/\", \"id\": 1, "
               "\"name\": \"Attribution License\"}],\n\"images\": [");
    for (long i = 0; i < images; i++) {
        widths[i] = 320 + (int)(uniform() * 320);
        heights[i] = 240 + (int)(uniform() * 400);
        fprintf(f,
                "%s{\"license\": 1, \"file_name\": \"%012ld.jpg\", \"coco_url\": "
                "\"http://images.cocodataset.org/train2017/%012ld.jpg\", \"height\": %d, \"width\": %d, "
                "\"date_captured\": \"2013-11-14 11:18:45\", \"id\": %ld}",
                i ? ",\n" : "", i + 1, i + 1, heights[i], widths[i], i + 1);
    }
    fprintf(f, "],\n\"annotations\": [");
    for (long a = 0; a < annotations; a++) {
        long img = (long)(uniform() * (double)images);
        double W = widths[img], H = heights[img];
        /* A product of uniforms skews sizes small, like COCO's mix of
         * small, medium and large objects. */
        double w = 4.0 + (W - 4.0) * uniform() * uniform() * uniform();
        double h = 4.0 + (H - 4.0) * uniform() * uniform() * uniform();
        double x = uniform() * (W - w), y = uniform() * (H - h);
        x = round2(x), y = round2(y), w = round2(w), h = round2(h);
        int64_t cat = 1 + (int64_t)(uniform() * (double)categories);
        int crowd = uniform() < 0.01;
        boxes[a] = (box){img + 1, cat, x, y, w, h};
        fprintf(f, "%s{\"segmentation\": ", a ? ",\n" : "");
        if (crowd) {
            fprintf(f, "{\"counts\": [");
            int runs = 2 + 2 * (int)(uniform() * (double)polygon_points);
            for (int r = 0; r < runs; r++) fprintf(f, "%s%d", r ? "," : "", (int)(uniform() * 500));
            fprintf(f, "], \"size\": [%d, %d]}", (int)H, (int)W);
        } else {
            fprintf(f, "[[");
            int pts = polygon_points ? (int)(polygon_points / 2 + uniform() * polygon_points) : 0;
            for (int p = 0; p < pts; p++)
                fprintf(f, "%s%.2f,%.2f", p ? "," : "", x + uniform() * w, y + uniform() * h);
            fprintf(f, "]]");
        }
        fprintf(f,
                ", \"area\": %.4f, \"iscrowd\": %d, \"image_id\": %" PRId64 ", \"bbox\": [%.2f,%.2f,%.2f,%.2f], "
                "\"category_id\": %" PRId64 ", \"id\": %ld}",
                w * h * uniform_in(0.4, 1.0), crowd, boxes[a].image_id, x, y, w, h, cat, 1000000 + a);
    }
    fprintf(f, "],\n\"categories\": [");
    for (long c = 0; c < categories; c++)
        fprintf(f, "%s{\"supercategory\": \"group%ld\", \"id\": %ld, \"name\": \"class%ld\"}", c ? ",\n" : "", c / 8,
                c + 1, c + 1);
    fprintf(f, "]}\n");
    if (fclose(f) != 0) {
        perror(gt_path);
        return 1;
    }
    int rc = dt_path ? write_detections(dt_path, boxes, annotations, images, widths, heights, categories,
                                        dets_per_image)
                     : 0;
    free(widths), free(heights), free(boxes);
    return rc;
}
