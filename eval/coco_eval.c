/* coco_eval.c — COCOeval (bbox) re-done in C, arithmetic for arithmetic.
 *
 * Layout of the work (pycocotools does the same steps with dicts):
 *  1. prepare: sorted unique image and category ids; GT annotations and
 *     detections bucketed by (category, image) with two stable counting
 *     sorts, keeping pycocotools' order inside a bucket (image order, then
 *     file order);
 *  2. per category (one job each, spread over threads): per image, sort the
 *     detections by score, cut at the largest maxDets, compute the IoU
 *     matrix once, then for each area range match greedily at every IoU
 *     threshold and record each detection as true positive, false positive or
 *     ignored; then sort the category's detections by score across images
 *     and build the precision/recall curves for every (area, maxDets, IoU);
 *  3. summarize: the 12 stats as numpy means, RF-DETR's per-class AP and its
 *     macro-F1 confidence sweep.
 * Jobs write disjoint slices of the result, so any thread count gives the
 * same bits. */
#include "eval/coco_eval.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/status.h"
#include "data/id_map.h"

#define T_COUNT RF_COCO_IOU_THRESHOLDS
#define R_COUNT RF_COCO_RECALL_THRESHOLDS
#define A_COUNT RF_COCO_AREA_RANGES
#define M_COUNT RF_COCO_MAX_DETS

/* pycocotools: [[0, 1e5**2], [0, 32**2], [32**2, 96**2], [96**2, 1e5**2]] */
static const double area_ranges[A_COUNT][2] = {{0, 1e10}, {0, 1024}, {1024, 9216}, {9216, 1e10}};

/* A detection's verdict at one (area range, IoU threshold). */
enum { VERDICT_IGNORED = 0, VERDICT_TP = 1, VERDICT_FP = 2 };

/* ---- numpy-exact helpers ----------------------------------------------------------- */

/* np.linspace(start, stop, num): arange(num) * ((stop - start) / (num - 1))
 * + start, with the last value set to stop. */
static double numpy_linspace(double start, double stop, int num, int i) {
    if (i == num - 1) return stop;
    double step = (stop - start) / (double)(num - 1);
    return (double)i * step + start;
}

double rf_coco_iou_threshold(int t) { return numpy_linspace(0.5, 0.95, T_COUNT, t); }
double rf_coco_recall_threshold(int r) { return numpy_linspace(0.0, 1.0, R_COUNT, r); }

/* numpy's pairwise_sum (loops_utils.h): blocks of up to 128 summed with 8
 * accumulators, larger arrays split in halves rounded to multiples of 8. */
double rf_numpy_pairwise_sum(const double *a, size_t n) {
    if (n < 8) {
        double res = 0.;
        for (size_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        size_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + (size_t)j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return rf_numpy_pairwise_sum(a, n2) + rf_numpy_pairwise_sum(a + n2, n - n2);
}

static double numpy_mean(const double *a, size_t n) { return rf_numpy_pairwise_sum(a, n) / (double)n; }

/* pycocotools' maskApi.c bbIou for one pair, same operations in the same order. */
static double box_iou(const double *d, const double *g, int crowd) {
    double w = fmin(d[2] + d[0], g[2] + g[0]) - fmax(d[0], g[0]);
    if (w <= 0) return 0;
    double h = fmin(d[3] + d[1], g[3] + g[1]) - fmax(d[1], g[1]);
    if (h <= 0) return 0;
    double i = w * h, da = d[2] * d[3], ga = g[2] * g[3];
    double u = crowd ? da : da + ga - i;
    return i / u;
}

/* Stable merge sort of idx[0..n) by key descending (ties keep their order),
 * as np.argsort(-key, kind='mergesort'). tmp holds n entries. */
static void sort_by_score_desc(uint32_t *idx, uint32_t *tmp, size_t n, const double *key) {
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) tmp[o++] = key[idx[b]] > key[idx[a]] ? idx[b++] : idx[a++];
            while (a < mid) tmp[o++] = idx[a++];
            while (b < hi) tmp[o++] = idx[b++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
}

/* ---- parameters and results ------------------------------------------------------------ */

void rf_coco_eval_params_default(rf_coco_eval_params *params) {
    params->max_dets[0] = 1;
    params->max_dets[1] = 10;
    params->max_dets[2] = 100;
    params->threads = 0;
}

void rf_coco_eval_result_free(rf_coco_eval_result *result) {
    if (!result) return;
    for (size_t k = 0; k < result->class_count; k++) free((char *)result->classes[k].name);
    free(result->classes);
    free(result->precision_curve);
    free(result->recall_curve);
    free(result);
}

static rf_status check_params(const rf_coco_eval_params *in, rf_coco_eval_params *out) {
    *out = *in;
    int *m = out->max_dets;
    for (int i = 0; i < M_COUNT; i++)
        for (int j = i + 1; j < M_COUNT; j++)
            if (m[j] < m[i]) {
                int x = m[i];
                m[i] = m[j];
                m[j] = x;
            }
    if (m[0] < 1 || m[1] == m[0] || m[2] == m[1])
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "max_dets must be 3 distinct positive numbers, got %d, %d, %d",
                        in->max_dets[0], in->max_dets[1], in->max_dets[2]);
    if (out->threads < 0) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "threads must be >= 0, got %d", out->threads);
    return RF_OK;
}

/* ---- the evaluator: GT + detections collected so far ------------------------------------- */

struct rf_coco_evaluator {
    const rf_coco_dataset *gt;
    rf_coco_eval_params params;
    rf_coco_detection *dets;
    size_t det_count, det_cap;
};

rf_status rf_coco_evaluator_create(const rf_coco_dataset *gt, const rf_coco_eval_params *params,
                                   rf_coco_evaluator **out) {
    if (!gt || !out) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_coco_evaluator_create: no ground truth or output");
    *out = NULL;
    rf_coco_eval_params defaults;
    rf_coco_eval_params_default(&defaults);
    rf_coco_eval_params checked;
    RF_TRY(check_params(params ? params : &defaults, &checked));
    rf_coco_evaluator *ev = calloc(1, sizeof *ev);
    if (!ev) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    ev->gt = gt;
    ev->params = checked;
    *out = ev;
    return RF_OK;
}

void rf_coco_evaluator_free(rf_coco_evaluator *ev) {
    if (!ev) return;
    free(ev->dets);
    free(ev);
}

rf_status rf_coco_evaluator_add(rf_coco_evaluator *ev, const rf_coco_detection *dets, size_t count) {
    if (!ev || (!dets && count)) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_coco_evaluator_add: no evaluator");
    for (size_t i = 0; i < count; i++) {
        const rf_coco_detection *d = &dets[i];
        const char *problem = NULL;
        if (!isfinite(d->bbox[0]) || !isfinite(d->bbox[1]) || !isfinite(d->bbox[2]) || !isfinite(d->bbox[3]) ||
            !isfinite(d->score))
            problem = "a NaN or infinite value";
        else if (d->bbox[2] < 0 || d->bbox[3] < 0)
            problem = "a negative width or height";
        else if (d->score < 0)
            problem = "a negative score";
        else if (rf_coco_image_index(ev->gt, d->image_id) < 0)
            problem = "an image id that is not in the ground truth";
        if (problem)
            return RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                            "detection %zu of this batch (image %lld, category %lld, bbox [%g, %g, %g, %g], score %g) "
                            "has %s",
                            i, (long long)d->image_id, (long long)d->category_id, d->bbox[0], d->bbox[1], d->bbox[2],
                            d->bbox[3], d->score, problem);
    }
    if (ev->det_count + count > ev->det_cap) {
        size_t cap = ev->det_cap ? ev->det_cap : 1024;
        while (cap < ev->det_count + count) cap *= 2;
        rf_coco_detection *grown = realloc(ev->dets, cap * sizeof *grown);
        if (!grown) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for %zu detections", cap);
        ev->dets = grown;
        ev->det_cap = cap;
    }
    if (count) memcpy(ev->dets + ev->det_count, dets, count * sizeof *dets);
    ev->det_count += count;
    return RF_OK;
}

/* ---- step 1: ids and buckets ----------------------------------------------------------------- */

static int compare_ids(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorted unique ids and id -> rank. */
typedef struct id_set {
    int64_t *ids;
    size_t count;
    rf_id_map rank;
} id_set;

static rf_status id_set_build(id_set *s, const int64_t *ids, size_t n) {
    memset(s, 0, sizeof *s);
    s->ids = malloc((n ? n : 1) * sizeof *s->ids);
    if (!s->ids) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    if (n) memcpy(s->ids, ids, n * sizeof *ids);
    qsort(s->ids, n, sizeof *s->ids, compare_ids);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || s->ids[i] != s->ids[u - 1]) s->ids[u++] = s->ids[i];
    s->count = u;
    RF_TRY(rf_id_map_reserve(&s->rank, u));
    for (size_t i = 0; i < u; i++) RF_TRY(rf_id_map_insert(&s->rank, s->ids[i], (int64_t)i, NULL));
    return RF_OK;
}

static void id_set_free(id_set *s) {
    free(s->ids);
    rf_id_map_free(&s->rank);
}

/* What matching reads of a GT box or a detection, copied contiguously in
 * bucket order so each category's job streams through its own records
 * instead of gathering them from all over the input. */
typedef struct gt_record {
    double bbox[4], area;
    int64_t id;
    int crowd;
} gt_record;

typedef struct dt_record {
    double bbox[4], score;
} dt_record;

/* Entries grouped by category, then by image, keeping their order within a
 * group: start[k]..start[k+1] are category k's, image-ascending. */
typedef struct buckets {
    uint32_t *image; /* image rank of each entry */
    size_t *start;   /* K + 1 */
    size_t count;
    gt_record *gts;  /* one of these two, in bucket order */
    dt_record *dts;
} buckets;

/* Two stable counting sorts (by image, then by category) of n entries;
 * *position receives the bucket position of entry i. */
static rf_status buckets_build(buckets *b, size_t n, const uint32_t *image, const uint32_t *category,
                               size_t image_count, size_t category_count, uint32_t **position) {
    memset(b, 0, sizeof *b);
    size_t max_keys = image_count > category_count ? image_count : category_count;
    uint32_t *by_image = malloc((n ? n : 1) * sizeof *by_image), *pos = malloc((n ? n : 1) * sizeof *pos);
    size_t *counts = calloc(max_keys + 1, sizeof *counts);
    b->image = malloc((n ? n : 1) * sizeof *b->image);
    b->start = calloc(category_count + 1, sizeof *b->start);
    if (!by_image || !pos || !counts || !b->image || !b->start) {
        free(by_image), free(pos), free(counts);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory bucketing %zu entries", n);
    }
    for (size_t i = 0; i < n; i++) counts[image[i] + 1]++;
    for (size_t i = 0; i < image_count; i++) counts[i + 1] += counts[i];
    for (size_t i = 0; i < n; i++) by_image[counts[image[i]]++] = (uint32_t)i;
    for (size_t i = 0; i < n; i++) b->start[category[i] + 1]++;
    for (size_t k = 0; k < category_count; k++) b->start[k + 1] += b->start[k];
    memcpy(counts, b->start, category_count * sizeof *counts);
    for (size_t j = 0; j < n; j++) {
        uint32_t i = by_image[j];
        size_t at = counts[category[i]]++;
        pos[i] = (uint32_t)at;
        b->image[at] = image[i];
    }
    b->count = n;
    free(by_image), free(counts);
    *position = pos;
    return RF_OK;
}

static void buckets_free(buckets *b) {
    free(b->image);
    free(b->start);
    free(b->gts);
    free(b->dts);
}

/* Everything the per-category jobs read. */
typedef struct prepared {
    const rf_coco_dataset *gt;
    const rf_coco_detection *dets;
    rf_coco_eval_params params;
    id_set images, categories;
    buckets gts, dts;
    double iou_thresholds[T_COUNT], recall_thresholds[R_COUNT];
} prepared;

/* pycocotools' _prepare: GT annotations of the evaluated images in image
 * order then file order, each replaced by the last annotation with its id
 * (loadAnns looks ids up in a dict), kept where that one's image and
 * category are evaluated. */
static rf_status prepare_gt(prepared *pp) {
    const rf_coco_dataset *gt = pp->gt;
    size_t n = gt->annotation_count;
    rf_id_map last_with_id = {0};
    uint32_t *by_image = calloc(n ? n : 1, sizeof *by_image), *entry = calloc(n ? n : 1, sizeof *entry);
    uint32_t *image = calloc(n ? n : 1, sizeof *image), *category = calloc(n ? n : 1, sizeof *category);
    size_t *counts = calloc(pp->images.count + 1, sizeof *counts);
    rf_status s = (!by_image || !entry || !image || !category || !counts)
                      ? RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for %zu annotations", n)
                      : rf_id_map_reserve(&last_with_id, n);
    for (size_t i = 0; s == RF_OK && i < n; i++) s = rf_id_map_set(&last_with_id, gt->annotations[i].id, (int64_t)i);
    size_t kept = 0;
    if (s == RF_OK) {
        /* The original annotations in image order (a stable counting sort). */
        size_t listed = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t r = rf_id_map_get(&pp->images.rank, gt->annotations[i].image_id);
            if (r >= 0 && rf_id_map_get(&pp->categories.rank, gt->annotations[i].category_id) >= 0)
                counts[r + 1]++, listed++;
        }
        for (size_t r = 0; r < pp->images.count; r++) counts[r + 1] += counts[r];
        for (size_t i = 0; i < n; i++) {
            int64_t r = rf_id_map_get(&pp->images.rank, gt->annotations[i].image_id);
            if (r >= 0 && rf_id_map_get(&pp->categories.rank, gt->annotations[i].category_id) >= 0)
                by_image[counts[r]++] = (uint32_t)i;
        }
        for (size_t j = 0; j < listed; j++) {
            size_t e = (size_t)rf_id_map_get(&last_with_id, gt->annotations[by_image[j]].id);
            int64_t r = rf_id_map_get(&pp->images.rank, gt->annotations[e].image_id);
            int64_t k = rf_id_map_get(&pp->categories.rank, gt->annotations[e].category_id);
            if (r < 0 || k < 0) continue;
            entry[kept] = (uint32_t)e;
            image[kept] = (uint32_t)r;
            category[kept] = (uint32_t)k;
            kept++;
        }
        uint32_t *position = NULL;
        s = buckets_build(&pp->gts, kept, image, category, pp->images.count, pp->categories.count, &position);
        if (s == RF_OK && !(pp->gts.gts = malloc((kept ? kept : 1) * sizeof *pp->gts.gts)))
            s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for %zu annotations", kept);
        for (size_t j = 0; s == RF_OK && j < kept; j++) {
            const rf_coco_annotation *a = &gt->annotations[entry[j]];
            gt_record *g = &pp->gts.gts[position[j]];
            memcpy(g->bbox, a->bbox, sizeof g->bbox);
            g->area = a->area;
            g->id = a->id;
            g->crowd = a->iscrowd != 0;
        }
        free(position);
    }
    rf_id_map_free(&last_with_id);
    free(by_image), free(entry), free(image), free(category), free(counts);
    return s;
}

static rf_status prepare_detections(prepared *pp, size_t n) {
    uint32_t *entry = calloc(n ? n : 1, sizeof *entry), *image = calloc(n ? n : 1, sizeof *image);
    uint32_t *category = calloc(n ? n : 1, sizeof *category);
    rf_status s = RF_OK;
    if (!entry || !image || !category) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for %zu detections", n);
    size_t kept = 0;
    for (size_t i = 0; s == RF_OK && i < n; i++) {
        int64_t k = rf_id_map_get(&pp->categories.rank, pp->dets[i].category_id);
        if (k < 0) continue; /* a category the GT does not have: pycocotools ignores it */
        int64_t r = rf_id_map_get(&pp->images.rank, pp->dets[i].image_id);
        if (r < 0) {
            s = RF_ERROR(RF_ERR_INTERNAL, "detection %zu: image %lld not in the ground truth", i,
                         (long long)pp->dets[i].image_id);
            break;
        }
        entry[kept] = (uint32_t)i;
        image[kept] = (uint32_t)r;
        category[kept] = (uint32_t)k;
        kept++;
    }
    uint32_t *position = NULL;
    if (s == RF_OK) s = buckets_build(&pp->dts, kept, image, category, pp->images.count, pp->categories.count, &position);
    if (s == RF_OK && !(pp->dts.dts = malloc((kept ? kept : 1) * sizeof *pp->dts.dts)))
        s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for %zu detections", kept);
    /* Read in input order, written to 1 stream per category: both sequential. */
    for (size_t j = 0; s == RF_OK && j < kept; j++) {
        const rf_coco_detection *d = &pp->dets[entry[j]];
        dt_record *r = &pp->dts.dts[position[j]];
        memcpy(r->bbox, d->bbox, sizeof r->bbox);
        r->score = d->score;
    }
    free(position);
    free(entry), free(image), free(category);
    return s;
}

/* ---- step 2: one category ------------------------------------------------------------------- */

/* Per-category output, kept until the summary. */
typedef struct category_outcome {
    size_t gt_count[A_COUNT]; /* GT not ignored in each area range (npig) */
    size_t detection_count;   /* kept: at most max_dets[2] per image */
    int evaluated;            /* some image has GT or detections of it */
    /* RF-DETR's sweep: true / false positives at IoU .50, area all, among the
     * kept detections scoring >= each confidence threshold. */
    size_t sweep_tp[R_COUNT], sweep_fp[R_COUNT];
} category_outcome;

/* A growable scratch array. */
typedef struct buffer {
    void *data;
    size_t bytes;
} buffer;

static int buffer_reserve(buffer *b, size_t count, size_t item) {
    size_t need = (count ? count : 1) * item;
    if (need <= b->bytes) return 1;
    size_t bytes = b->bytes ? b->bytes : 256;
    while (bytes < need) bytes *= 2;
    void *grown = realloc(b->data, bytes);
    if (!grown) return 0;
    b->data = grown;
    b->bytes = bytes;
    return 1;
}

/* Scratch a job reuses from category to category. */
typedef struct scratch {
    /* one image */
    buffer order, order_tmp, keys; /* detections by score */
    buffer kept_dets;               /* the first max_dets[2] of them */
    buffer ious;                    /* D x G */
    buffer gt_order, gt_ignore;     /* G: per area range */
    buffer gt_taken;                /* T x G */
    /* the category's kept detections: image order, then score order */
    buffer score, rank, verdict;    /* verdict: n x A x T */
    buffer sorted, sorted_tmp;      /* all of them by score */
    buffer verdict_rows;            /* A x T rows of n verdicts, in score order */
    buffer precision_points;
} scratch;

static void scratch_free(scratch *w) {
    buffer *all[] = {&w->order, &w->order_tmp, &w->keys, &w->kept_dets, &w->ious,   &w->gt_order,      &w->gt_ignore,
                     &w->gt_taken, &w->score,   &w->rank, &w->verdict, &w->sorted, &w->sorted_tmp, &w->verdict_rows,
                     &w->precision_points};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]->data);
    memset(w, 0, sizeof *w);
}

/* pycocotools' evaluateImg for one image and category, every area range:
 * appends the image's kept detections (score order) and their verdicts at
 * position *kept of the category's arrays. */
static void evaluate_image(const prepared *pp, scratch *w, const gt_record *gts, size_t g_count,
                           const dt_record *dts, size_t d_all, size_t *kept, category_outcome *out) {
    uint32_t *order = w->order.data;
    double *keys = w->keys.data, *ious = w->ious.data, *score = w->score.data;
    uint32_t *gt_order = w->gt_order.data, *rank = w->rank.data;
    unsigned char *gt_ignore = w->gt_ignore.data, *gt_taken = w->gt_taken.data, *verdict = w->verdict.data;

    for (size_t i = 0; i < d_all; i++) {
        order[i] = (uint32_t)i;
        keys[i] = dts[i].score;
    }
    sort_by_score_desc(order, w->order_tmp.data, d_all, keys);
    size_t max_det = (size_t)pp->params.max_dets[M_COUNT - 1];
    size_t d_count = d_all < max_det ? d_all : max_det;

    const dt_record **det = w->kept_dets.data;
    for (size_t d = 0; d < d_count; d++) det[d] = &dts[order[d]];
    for (size_t d = 0; d < d_count; d++)
        for (size_t g = 0; g < g_count; g++) ious[d * g_count + g] = box_iou(det[d]->bbox, gts[g].bbox, gts[g].crowd);
    size_t base = *kept;
    for (size_t d = 0; d < d_count; d++) {
        score[base + d] = det[d]->score;
        rank[base + d] = (uint32_t)d;
    }

    for (int a = 0; a < A_COUNT; a++) {
        double lo = area_ranges[a][0], hi = area_ranges[a][1];
        /* GT ignored here (crowd, or area outside the range) go last, order kept. */
        size_t n_counted = 0;
        for (size_t g = 0; g < g_count; g++) {
            gt_ignore[g] = gts[g].crowd || gts[g].area < lo || gts[g].area > hi;
            if (!gt_ignore[g]) gt_order[n_counted++] = (uint32_t)g;
        }
        out->gt_count[a] += n_counted;
        for (size_t g = 0, j = n_counted; g < g_count; g++)
            if (gt_ignore[g]) gt_order[j++] = (uint32_t)g;

        memset(gt_taken, 0, (size_t)T_COUNT * g_count);
        for (int t = 0; t < T_COUNT; t++) {
            unsigned char *taken = gt_taken + (size_t)t * g_count;
            double threshold = fmin(pp->iou_thresholds[t], 1 - 1e-10);
            for (size_t d = 0; d < d_count; d++) {
                double best = threshold;
                long m = -1;
                for (size_t j = 0; j < g_count; j++) {
                    size_t g = gt_order[j];
                    if (taken[j] && !gts[g].crowd) continue;
                    /* matched a counted GT, and only ignored ones are left */
                    if (m > -1 && !gt_ignore[gt_order[m]] && gt_ignore[g]) break;
                    if (ious[d * g_count + g] < best) continue;
                    best = ious[d * g_count + g];
                    m = (long)j;
                }
                /* pycocotools stores the matched GT's id and reads 0 as "no match". */
                int matched = m > -1 && gts[gt_order[m]].id != 0;
                int ignored = m > -1 && gt_ignore[gt_order[m]];
                if (m > -1) taken[m] = 1;
                if (!matched) {
                    double area = det[d]->bbox[2] * det[d]->bbox[3];
                    if (area < lo || area > hi) ignored = 1;
                }
                verdict[((base + d) * A_COUNT + (size_t)a) * T_COUNT + (size_t)t] =
                    ignored ? VERDICT_IGNORED : matched ? VERDICT_TP : VERDICT_FP;
            }
        }
    }
    *kept += d_count;
}

/* pycocotools' accumulate for one category, every (IoU, area, maxDets), and
 * RF-DETR's confidence sweep. */
static void accumulate_category(const prepared *pp, scratch *w, size_t k, size_t kept, category_outcome *out,
                                double *precision, double *recall) {
    size_t K = pp->categories.count;
    uint32_t *sorted = w->sorted.data, *rank = w->rank.data, *sorted_rank = w->sorted_tmp.data;
    const unsigned char *verdict = w->verdict.data;
    unsigned char *rows = w->verdict_rows.data;
    const double *score = w->score.data;
    double *pr_at_tp = w->precision_points.data; /* kept + 1 */
    /* All images' detections by score; ties keep image order, then rank. */
    for (size_t i = 0; i < kept; i++) sorted[i] = (uint32_t)i;
    sort_by_score_desc(sorted, w->sorted_tmp.data, kept, score);
    /* Verdicts in that order, one contiguous row per (area, IoU). */
    for (size_t i = 0; i < kept; i++) {
        const unsigned char *v = verdict + (size_t)sorted[i] * A_COUNT * T_COUNT;
        for (size_t at = 0; at < (size_t)A_COUNT * T_COUNT; at++) rows[at * kept + i] = v[at];
        sorted_rank[i] = rank[sorted[i]];
    }

    for (int a = 0; a < A_COUNT; a++) {
        if (out->gt_count[a] == 0) continue; /* npig == 0: stays -1 */
        size_t npig = out->gt_count[a];
        /* pycocotools takes, for each recall threshold, the first point whose
         * recall tp / npig reaches it (np.searchsorted). Recall only grows
         * with tp, so that is the first point with tp >= first_tp[r],
         * found once here with the same divisions. */
        size_t first_tp[R_COUNT];
        for (size_t r = 0, tp = 0; r < R_COUNT; r++) {
            while (tp <= npig && (double)tp / (double)npig < pp->recall_thresholds[r]) tp++;
            first_tp[r] = tp;
        }
        for (int m = 0; m < M_COUNT; m++) {
            uint32_t max_det = (uint32_t)pp->params.max_dets[m];
            for (int t = 0; t < T_COUNT; t++) {
                const unsigned char *row = rows + ((size_t)a * T_COUNT + (size_t)t) * kept;
                /* Precision tp / (tp + fp + eps) where each true positive
                 * lands: pr_at_tp[j] for the j-th. The monotone envelope
                 * (max over the points after) is the max over the true
                 * positives after: every false positive scores below the
                 * true positive before it (same tp, more fp), and ignored
                 * detections only repeat the previous point. */
                size_t tp = 0, fp = 0, points = 0;
                for (size_t i = 0; i < kept; i++) {
                    if (row[i] == VERDICT_IGNORED || sorted_rank[i] >= max_det) continue;
                    points++;
                    if (row[i] == VERDICT_FP) {
                        fp++;
                        continue;
                    }
                    tp++;
                    pr_at_tp[tp] = (double)tp / ((double)fp + (double)tp + 2.220446049250313e-16); /* np.spacing(1) */
                }
                for (size_t j = tp; j > 1; j--)
                    if (pr_at_tp[j] > pr_at_tp[j - 1]) pr_at_tp[j - 1] = pr_at_tp[j];
                /* The first point (recall threshold 0) may be a false
                 * positive; its envelope is the best true positive's, or 0. */
                pr_at_tp[0] = tp ? pr_at_tp[1] : 0;
                for (int r = 0; r < R_COUNT; r++)
                    precision[((((size_t)t * R_COUNT + (size_t)r) * K + k) * A_COUNT + (size_t)a) * M_COUNT +
                              (size_t)m] = points && first_tp[r] <= tp ? pr_at_tp[first_tp[r]] : 0;
                recall[(((size_t)t * K + k) * A_COUNT + (size_t)a) * M_COUNT + (size_t)m] =
                    points ? (double)tp / (double)npig : 0;
            }
        }
    }

    /* Confidence thresholds are np.linspace(0, 1, 101), the recall thresholds' twins. */
    const unsigned char *row50 = rows; /* area all, IoU .50 */
    size_t tp = 0, fp = 0, i = 0;
    for (int c = R_COUNT - 1; c >= 0; c--) {
        while (i < kept && score[sorted[i]] >= pp->recall_thresholds[c]) {
            tp += row50[i] == VERDICT_TP;
            fp += row50[i] == VERDICT_FP;
            i++;
        }
        out->sweep_tp[c] = tp;
        out->sweep_fp[c] = fp;
    }
    out->detection_count = kept;
}

static rf_status evaluate_category(const prepared *pp, scratch *w, size_t k, category_outcome *out, double *precision,
                                   double *recall) {
    memset(out, 0, sizeof *out);
    const buckets *gts = &pp->gts, *dts = &pp->dts;
    size_t g0 = gts->start[k], g1 = gts->start[k + 1], d0 = dts->start[k], d1 = dts->start[k + 1];
    size_t n = d1 - d0; /* an upper bound of the kept detections */
    int ok = buffer_reserve(&w->score, n, sizeof(double)) && buffer_reserve(&w->rank, n, sizeof(uint32_t)) &&
             buffer_reserve(&w->verdict, n * A_COUNT * T_COUNT, 1) &&
             buffer_reserve(&w->verdict_rows, n * A_COUNT * T_COUNT, 1) && buffer_reserve(&w->sorted, n, sizeof(uint32_t)) &&
             buffer_reserve(&w->sorted_tmp, n, sizeof(uint32_t)) &&
             buffer_reserve(&w->precision_points, n + 1, sizeof(double));
    size_t kept = 0;
    while (ok && (g0 < g1 || d0 < d1)) {
        /* The next image with GT or detections of this category. */
        uint32_t image = UINT32_MAX;
        if (g0 < g1) image = gts->image[g0];
        if (d0 < d1 && dts->image[d0] < image) image = dts->image[d0];
        size_t g_end = g0, d_end = d0;
        while (g_end < g1 && gts->image[g_end] == image) g_end++;
        while (d_end < d1 && dts->image[d_end] == image) d_end++;
        size_t g_count = g_end - g0, d_count = d_end - d0;
        ok = buffer_reserve(&w->order, d_count, sizeof(uint32_t)) &&
             buffer_reserve(&w->order_tmp, d_count, sizeof(uint32_t)) &&
             buffer_reserve(&w->keys, d_count, sizeof(double)) &&
             buffer_reserve(&w->kept_dets, d_count, sizeof(dt_record *)) &&
             buffer_reserve(&w->ious, d_count * g_count, sizeof(double)) &&
             buffer_reserve(&w->gt_order, g_count, sizeof(uint32_t)) && buffer_reserve(&w->gt_ignore, g_count, 1) &&
             buffer_reserve(&w->gt_taken, g_count * T_COUNT, 1);
        if (!ok) break;
        evaluate_image(pp, w, gts->gts + g0, g_count, dts->dts + d0, d_count, &kept, out);
        out->evaluated = 1;
        g0 = g_end;
        d0 = d_end;
    }
    if (!ok) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory evaluating category %lld",
                             (long long)pp->categories.ids[k]);
    if (out->evaluated) accumulate_category(pp, w, k, kept, out, precision, recall);
    return RF_OK;
}

/* ---- threads: categories handed out one at a time ------------------------------------------- */

typedef struct job_queue {
    const prepared *pp;
    category_outcome *outcomes;
    double *precision, *recall;
    atomic_size_t next;
    atomic_int failed;
    rf_status status; /* the first failure, with its message */
    char message[512];
    pthread_mutex_t lock;
} job_queue;

static void *run_jobs(void *arg) {
    job_queue *q = arg;
    scratch w = {0};
    size_t K = q->pp->categories.count;
    for (;;) {
        if (atomic_load(&q->failed)) break;
        size_t k = atomic_fetch_add(&q->next, 1);
        if (k >= K) break;
        rf_status s = evaluate_category(q->pp, &w, k, &q->outcomes[k], q->precision, q->recall);
        if (s != RF_OK) {
            pthread_mutex_lock(&q->lock);
            if (!atomic_load(&q->failed)) {
                q->status = s;
                snprintf(q->message, sizeof q->message, "%s", rf_last_error());
                atomic_store(&q->failed, 1);
            }
            pthread_mutex_unlock(&q->lock);
            break;
        }
    }
    scratch_free(&w);
    return NULL;
}

static rf_status evaluate_all(const prepared *pp, category_outcome *outcomes, double *precision, double *recall) {
    size_t K = pp->categories.count;
    long threads = pp->params.threads;
    if (threads == 0) threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if ((size_t)threads > K) threads = K ? (long)K : 1;
    job_queue q = {.pp = pp, .outcomes = outcomes, .precision = precision, .recall = recall};
    atomic_init(&q.next, 0);
    atomic_init(&q.failed, 0);
    pthread_mutex_init(&q.lock, NULL);
    pthread_t workers[threads > 1 ? threads - 1 : 1];
    long started = 0;
    for (; started < threads - 1; started++)
        if (pthread_create(&workers[started], NULL, run_jobs, &q) != 0) break; /* fewer threads still finish */
    run_jobs(&q);
    for (long i = 0; i < started; i++) pthread_join(workers[i], NULL);
    pthread_mutex_destroy(&q.lock);
    if (atomic_load(&q.failed)) return RF_ERROR(q.status, "%s", q.message);
    return RF_OK;
}

/* ---- step 3: summary ----------------------------------------------------------------------------- */

/* pycocotools' _summarize: the mean of the entries > -1 of precision[t, :, :, a, m]
 * (AP) or recall[t, :, a, m] (AR), t over every threshold or the one equal
 * to iou (when iou >= 0), in C order; -1 when there is none. */
static double summarize(const prepared *pp, const double *curve, int is_precision, double iou, int a, int m,
                        double *values) {
    size_t K = pp->categories.count, n = 0, per_t = is_precision ? R_COUNT * K : K;
    for (int t = 0; t < T_COUNT; t++) {
        if (iou >= 0 && pp->iou_thresholds[t] != iou) continue;
        for (size_t j = 0; j < per_t; j++) {
            double v = curve[(((size_t)t * per_t + j) * A_COUNT + (size_t)a) * M_COUNT + (size_t)m];
            if (v > -1) values[n++] = v;
        }
    }
    return n ? numpy_mean(values, n) : -1;
}

static void summarize_stats(const prepared *pp, const double *precision, const double *recall, double *values,
                            double stats[RF_COCO_STATS]) {
    enum { ALL = 0, SMALL = 1, MEDIUM = 2, LARGE = 3 };
    int last = M_COUNT - 1;
    stats[0] = summarize(pp, precision, 1, -1, ALL, last, values);
    stats[1] = summarize(pp, precision, 1, .5, ALL, last, values);
    stats[2] = summarize(pp, precision, 1, .75, ALL, last, values);
    stats[3] = summarize(pp, precision, 1, -1, SMALL, last, values);
    stats[4] = summarize(pp, precision, 1, -1, MEDIUM, last, values);
    stats[5] = summarize(pp, precision, 1, -1, LARGE, last, values);
    stats[6] = summarize(pp, recall, 0, -1, ALL, 0, values);
    stats[7] = summarize(pp, recall, 0, -1, ALL, 1, values);
    stats[8] = summarize(pp, recall, 0, -1, ALL, last, values);
    stats[9] = summarize(pp, recall, 0, -1, SMALL, last, values);
    stats[10] = summarize(pp, recall, 0, -1, MEDIUM, last, values);
    stats[11] = summarize(pp, recall, 0, -1, LARGE, last, values);
}

typedef struct class_rates {
    double precision, recall, f1;
} class_rates;

/* RF-DETR's per-threshold class metrics: 0 where the ratio is 0/0. */
static class_rates rates_at(const category_outcome *o, int c) {
    double tp = (double)o->sweep_tp[c], fp = (double)o->sweep_fp[c], total = (double)o->gt_count[0];
    class_rates x;
    x.precision = tp + fp > 0 ? tp / (tp + fp) : 0.0;
    x.recall = total > 0 ? tp / total : 0.0;
    x.f1 = x.precision + x.recall > 0 ? 2 * x.precision * x.recall / (x.precision + x.recall) : 0.0;
    return x;
}

/* RF-DETR's coco_extended_metrics: per class AP as nanmean over recall, then
 * over IoU; macro P/R/F1 over classes with GT at the first confidence
 * threshold maximizing macro F1. */
static rf_status per_class_metrics(const prepared *pp, const category_outcome *outcomes, const double *precision,
                                   rf_coco_eval_result *res) {
    size_t K = pp->categories.count;
    res->classes = calloc(K ? K : 1, sizeof *res->classes);
    double *values = malloc((K ? K : 1) * 3 * sizeof *values);
    if (!res->classes || !values) {
        free(values);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    res->class_count = K;
    int best = -1;
    double best_f1 = 0, best_p = 0, best_r = 0;
    for (int c = 0; c < R_COUNT; c++) {
        size_t n = 0;
        double *p = values, *r = values + K, *f = values + 2 * K;
        for (size_t k = 0; k < K; k++) {
            if (outcomes[k].gt_count[0] == 0) continue;
            class_rates x = rates_at(&outcomes[k], c);
            p[n] = x.precision, r[n] = x.recall, f[n] = x.f1;
            n++;
        }
        double macro_f1 = n ? numpy_mean(f, n) : 0.0;
        if (best < 0 || macro_f1 > best_f1) {
            best = c;
            best_f1 = macro_f1;
            best_p = n ? numpy_mean(p, n) : 0.0;
            best_r = n ? numpy_mean(r, n) : 0.0;
        }
    }
    res->f1_threshold = pp->recall_thresholds[best];
    res->precision = best_p, res->recall = best_r, res->f1 = best_f1;

    for (size_t k = 0; k < K; k++) {
        rf_coco_class_result *cr = &res->classes[k];
        const category_outcome *o = &outcomes[k];
        cr->category_id = pp->categories.ids[k];
        /* loadCats looks the id up in a dict: the last category with it. */
        const char *name = "";
        for (size_t i = 0; i < pp->gt->category_count; i++)
            if (pp->gt->categories[i].id == cr->category_id && pp->gt->categories[i].name)
                name = pp->gt->categories[i].name;
        cr->name = strdup(name);
        if (!cr->name) {
            free(values);
            return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        cr->gt_count = o->gt_count[0];
        cr->detection_count = o->detection_count;
        if (o->gt_count[0] == 0) {
            cr->ap = cr->ap50 = cr->precision = cr->recall = cr->f1 = -1;
            continue;
        }
        double per_iou[T_COUNT], row[R_COUNT];
        int m = M_COUNT - 1;
        for (int t = 0; t < T_COUNT; t++) {
            for (int r = 0; r < R_COUNT; r++)
                row[r] = precision[((((size_t)t * R_COUNT + (size_t)r) * K + k) * A_COUNT) * M_COUNT + (size_t)m];
            per_iou[t] = numpy_mean(row, R_COUNT);
        }
        cr->ap = numpy_mean(per_iou, T_COUNT);
        cr->ap50 = -1;
        for (int t = 0; t < T_COUNT; t++)
            if (pp->iou_thresholds[t] == .5) cr->ap50 = per_iou[t];
        class_rates x = rates_at(o, best);
        cr->precision = x.precision, cr->recall = x.recall, cr->f1 = x.f1;
    }
    free(values);
    return RF_OK;
}

static void prepared_free(prepared *pp) {
    id_set_free(&pp->images);
    id_set_free(&pp->categories);
    buckets_free(&pp->gts);
    buckets_free(&pp->dts);
}

static rf_status compute(const rf_coco_dataset *gt, const rf_coco_detection *dets, size_t det_count,
                         const rf_coco_eval_params *params, rf_coco_eval_result *res) {
    prepared pp = {.gt = gt, .dets = dets, .params = *params};
    for (int t = 0; t < T_COUNT; t++) pp.iou_thresholds[t] = rf_coco_iou_threshold(t);
    for (int r = 0; r < R_COUNT; r++) pp.recall_thresholds[r] = rf_coco_recall_threshold(r);
    if (det_count > UINT32_MAX || gt->annotation_count > UINT32_MAX)
        return RF_ERROR(RF_ERR_UNSUPPORTED, "more than 2^32 detections or annotations");

    size_t n_ids = gt->image_count > gt->category_count ? gt->image_count : gt->category_count;
    int64_t *ids = malloc((n_ids ? n_ids : 1) * sizeof *ids);
    if (!ids) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < gt->image_count; i++) ids[i] = gt->images[i].id;
    rf_status s = id_set_build(&pp.images, ids, gt->image_count);
    for (size_t i = 0; i < gt->category_count; i++) ids[i] = gt->categories[i].id;
    if (s == RF_OK) s = id_set_build(&pp.categories, ids, gt->category_count);
    free(ids);
    if (s == RF_OK) s = prepare_gt(&pp);
    if (s == RF_OK) s = prepare_detections(&pp, det_count);

    size_t K = pp.categories.count;
    size_t n_precision = (size_t)T_COUNT * R_COUNT * K * A_COUNT * M_COUNT;
    size_t n_recall = (size_t)T_COUNT * K * A_COUNT * M_COUNT;
    category_outcome *outcomes = calloc(K ? K : 1, sizeof *outcomes);
    double *values = malloc((n_precision ? n_precision : 1) * sizeof *values);
    res->precision_curve = malloc((n_precision ? n_precision : 1) * sizeof(double));
    res->recall_curve = malloc((n_recall ? n_recall : 1) * sizeof(double));
    if (s == RF_OK && (!outcomes || !values || !res->precision_curve || !res->recall_curve))
        s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for the precision curves of %zu categories", K);
    if (s == RF_OK) {
        for (size_t i = 0; i < n_precision; i++) res->precision_curve[i] = -1;
        for (size_t i = 0; i < n_recall; i++) res->recall_curve[i] = -1;
        s = evaluate_all(&pp, outcomes, res->precision_curve, res->recall_curve);
    }
    if (s == RF_OK) {
        summarize_stats(&pp, res->precision_curve, res->recall_curve, values, res->stats);
        s = per_class_metrics(&pp, outcomes, res->precision_curve, res);
    }
    if (s == RF_OK) {
        memcpy(res->max_dets, params->max_dets, sizeof res->max_dets);
        res->image_count = pp.images.count;
        res->category_count = K;
        res->gt_count = 0;
        res->detection_count = 0;
        for (size_t k = 0; k < K; k++) {
            res->gt_count += outcomes[k].gt_count[0];
            res->detection_count += outcomes[k].detection_count;
        }
    }
    free(outcomes);
    free(values);
    prepared_free(&pp);
    return s;
}

rf_status rf_coco_evaluator_compute(rf_coco_evaluator *ev, rf_coco_eval_result **out) {
    if (!ev || !out) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_coco_evaluator_compute: no evaluator or output");
    *out = NULL;
    rf_coco_eval_result *res = calloc(1, sizeof *res);
    if (!res) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    rf_status s = compute(ev->gt, ev->dets, ev->det_count, &ev->params, res);
    if (s != RF_OK) {
        rf_coco_eval_result_free(res);
        return s;
    }
    *out = res;
    return RF_OK;
}

rf_status rf_coco_evaluate(const rf_coco_dataset *gt, const rf_coco_detection *dets, size_t count,
                           const rf_coco_eval_params *params, rf_coco_eval_result **out) {
    rf_coco_evaluator *ev = NULL;
    RF_TRY(rf_coco_evaluator_create(gt, params, &ev));
    rf_status s = rf_coco_evaluator_add(ev, dets, count);
    if (s == RF_OK) s = rf_coco_evaluator_compute(ev, out);
    rf_coco_evaluator_free(ev);
    return s;
}
