/* test_criterion.c — RF-DETR's training loss against the rfdetr package's
 * own SetCriterion (IoU-aware BCE, L1, GIoU; final, auxiliary and encoder
 * heads; three query groups): every loss term and the gradients of the
 * weighted total with respect to each head's logits and boxes, on every
 * device. The checked-in case always runs; `--python SEED` regenerates one
 * with the package and skips (77) without it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/ops.h"
#include "model/criterion.h"
#include "test_util.h"

typedef struct criterion_case {
    int batch, queries, classes, groups, heads;
    int counts[8];
    float *tboxes[8];
    int32_t *tlabels[8];
    float *logits[4], *boxes[4], *dlogits[4], *dboxes[4];
    double terms[4][3], total;
} criterion_case;

static bool read_floats(FILE *f, float *out, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fscanf(f, "%f", &out[i]) != 1) return false;
    return true;
}

static bool load_case(const char *path, criterion_case *c) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool ok = fscanf(f, "%d %d %d %d %d", &c->batch, &c->queries, &c->classes, &c->groups, &c->heads) == 5;
    for (int b = 0; ok && b < c->batch; b++) {
        ok = fscanf(f, "%d", &c->counts[b]) == 1;
        c->tboxes[b] = malloc((size_t)(c->counts[b] * 4 + 1) * sizeof(float));
        c->tlabels[b] = malloc((size_t)(c->counts[b] + 1) * sizeof(int32_t));
        ok = ok && read_floats(f, c->tboxes[b], (size_t)c->counts[b] * 4);
        for (int t = 0; ok && t < c->counts[b]; t++) ok = fscanf(f, "%d", &c->tlabels[b][t]) == 1;
    }
    size_t nl = (size_t)c->batch * c->queries * c->classes, nb = (size_t)c->batch * c->queries * 4;
    for (int h = 0; ok && h < c->heads; h++) {
        c->logits[h] = malloc(nl * sizeof(float));
        c->boxes[h] = malloc(nb * sizeof(float));
        ok = read_floats(f, c->logits[h], nl) && read_floats(f, c->boxes[h], nb);
    }
    for (int h = 0; ok && h < c->heads; h++) ok = fscanf(f, "%lf %lf %lf", &c->terms[h][0], &c->terms[h][1], &c->terms[h][2]) == 3;
    ok = ok && fscanf(f, "%lf", &c->total) == 1;
    for (int h = 0; ok && h < c->heads; h++) {
        c->dlogits[h] = malloc(nl * sizeof(float));
        c->dboxes[h] = malloc(nb * sizeof(float));
        ok = read_floats(f, c->dlogits[h], nl) && read_floats(f, c->dboxes[h], nb);
    }
    fclose(f);
    return ok;
}

static void free_case(criterion_case *c) {
    for (int b = 0; b < c->batch; b++) {
        free(c->tboxes[b]);
        free(c->tlabels[b]);
    }
    for (int h = 0; h < c->heads; h++) {
        free(c->logits[h]);
        free(c->boxes[h]);
        free(c->dlogits[h]);
        free(c->dboxes[h]);
    }
}

static double max_rel(const float *got, const float *want, size_t n, double floor) {
    double worst = 0, scale = floor;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)got[i] - want[i]) / scale);
    return worst;
}

static void run_on(const char *device, criterion_case *c) {
    rf_device *dev = NULL;
    CHECK_OK(rf_device_open(device, &dev));
    rf_ctx *ctx = NULL;
    CHECK_OK(rf_ctx_create(dev, 8 << 20, &ctx));
    if (!ctx) return;
    rf_head_output heads[4];
    rf_tensor *logit_t[4], *box_t[4];
    for (int h = 0; h < c->heads; h++) {
        logit_t[h] = rf_ctx_from_host(ctx, RF_F32, 3, (int64_t[]){c->batch, c->queries, c->classes}, c->logits[h]);
        box_t[h] = rf_ctx_from_host(ctx, RF_F32, 3, (int64_t[]){c->batch, c->queries, 4}, c->boxes[h]);
        logit_t[h]->requires_grad = box_t[h]->requires_grad = true;
        heads[h] = (rf_head_output){logit_t[h], box_t[h]};
    }
    rf_match_target targets[8];
    int total_boxes = 0;
    for (int b = 0; b < c->batch; b++) {
        targets[b] = (rf_match_target){c->counts[b], c->tboxes[b], c->tlabels[b]};
        total_boxes += c->counts[b];
    }
    rf_criterion_config cfg = rf_criterion_defaults();
    rf_loss_terms terms[4];
    rf_tensor *loss = rf_criterion(ctx, &cfg, heads, c->heads, c->groups, targets, c->batch,
                                   (double)total_boxes * c->groups, terms);
    CHECK_OK(rf_ctx_status(ctx));
    if (loss) {
        float value = 0;
        CHECK_OK(rf_tensor_download(loss, &value));
        CHECK(fabs(value - c->total) <= 1e-5 * fabs(c->total), "%s: total %.7g, RF-DETR %.7g", device, value, c->total);
        for (int h = 0; h < c->heads; h++) {
            double got[3] = {terms[h].loss_ce, terms[h].loss_bbox, terms[h].loss_giou};
            for (int k = 0; k < 3; k++)
                CHECK(fabs(got[k] - c->terms[h][k]) <= 1e-5 * fmax(1e-3, fabs(c->terms[h][k])),
                      "%s head %d term %d: %.7g, RF-DETR %.7g", device, h, k, got[k], c->terms[h][k]);
        }
        CHECK_OK(rf_backward(ctx, loss, NULL));
        size_t nl = (size_t)c->batch * c->queries * c->classes, nb = (size_t)c->batch * c->queries * 4;
        float *g = malloc((nl > nb ? nl : nb) * sizeof *g);
        for (int h = 0; h < c->heads; h++) {
            CHECK_OK(rf_tensor_download(logit_t[h]->grad, g));
            double e = max_rel(g, c->dlogits[h], nl, 1e-3);
            CHECK(e <= 1e-4, "%s head %d d/dlogits rel err %.3g", device, h, e);
            CHECK_OK(rf_tensor_download(box_t[h]->grad, g));
            e = max_rel(g, c->dboxes[h], nb, 1e-3);
            CHECK(e <= 1e-4, "%s head %d d/dboxes rel err %.3g", device, h, e);
        }
        free(g);
    }
    rf_ctx_free(ctx);
    rf_device_close(dev);
}

int main(int argc, char **argv) {
    char path[64] = "tests/fixtures/criterion_case.txt";
    bool generated = false;
    if (argc > 2 && !strcmp(argv[1], "--python")) {
        strcpy(path, "/tmp/rfdetr_criterion_XXXXXX");
        int fd = mkstemp(path);
        if (fd < 0) return 1;
        close(fd);
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "python3 -c 'import rfdetr, torch' 2>/dev/null && python3 tests/fixtures/make_criterion_case.py %s --seed %s >/dev/null 2>&1",
                 path, argv[2]);
        if (system(cmd) != 0) {
            unlink(path);
            return test_skip("test_criterion", "python3 cannot import rfdetr and torch (RF-DETR's SetCriterion is the oracle)",
                             TEST_ENABLE_RFDETR);
        }
        generated = true;
    }
    criterion_case c = {0};
    CHECK(load_case(path, &c), "cannot read %s", path);
    char names[16][32];
    int n = test_device_names(names, 16);
    for (int i = 0; i < n; i++) run_on(names[i], &c);
    free_case(&c);
    if (generated) unlink(path);
    return test_finish("test_criterion");
}
