/* test_ops_loss.c — the loss ops through the tape on every device:
 * rf_bce_weighted with constant weights and with RF-DETR's neg_w =
 * sigmoid(x)^2 built from ops (the gradient then flows through the weight),
 * rf_box_losses with both rows or only one used; values and gradients
 * against the reference kernels in double, plus the refusals (shapes,
 * devices). With --torch: the same quantities against PyTorch's autograd
 * of RF-DETR's formulas (box_ops' GIoU, the IoU-aware BCE), ties included;
 * exits 77 when torch is missing. */
#include <math.h>

#include "backend/cpu/ref_loss.h"
#include "core/ops.h"
#include "core/ops_loss.h"
#include "test_util.h"
#include "torch_ref.h"

#define CHUNK ((size_t)16 << 20)
enum { ROWS = 3, COLS = 97, NX = ROWS * COLS, PAIRS = 64, SPECIAL = 5 };

typedef struct inputs {
    float x[NX], pos_w[NX], neg_w[NX], mask[NX], t[NX]; /* mask: 1 at "matched" entries, t their target */
    float pred[PAIRS * 4], target[PAIRS * 4], dl1[PAIRS], dgiou[PAIRS];
} inputs;

typedef struct outputs {
    float bce[NX], dx_const[NX], dx_ia[NX];
    float l1[PAIRS], giou[PAIRS], dpred[PAIRS * 4], dpred_giou_only[PAIRS * 4];
} outputs;

static void make_inputs(inputs *in, float logit_range) {
    unsigned long long s = 4242;
    for (int i = 0; i < NX; i++) {
        in->x[i] = test_uniform(&s, -logit_range, logit_range);
        in->pos_w[i] = test_uniform(&s, 0, 1);
        in->neg_w[i] = test_uniform(&s, 0, 1);
        in->mask[i] = (i % 13 == 0) ? 1.0f : 0.0f;
        in->t[i] = in->mask[i] ? test_uniform(&s, 0.01f, 1) : 0.0f;
    }
    /* cxcywh pairs: identical (ties everywhere), disjoint, nested both ways,
     * negative width; then general position near the targets. */
    const float special[SPECIAL][8] = {
        {0.5f, 0.5f, 0.2f, 0.3f, 0.5f, 0.5f, 0.2f, 0.3f},     {0.2f, 0.2f, 0.1f, 0.1f, 0.8f, 0.7f, 0.2f, 0.1f},
        {0.5f, 0.5f, 0.1f, 0.1f, 0.52f, 0.47f, 0.6f, 0.5f},   {0.4f, 0.6f, 0.7f, 0.8f, 0.45f, 0.55f, 0.1f, 0.2f},
        {0.3f, 0.3f, -0.2f, 0.2f, 0.3f, 0.35f, 0.2f, 0.2f},
    };
    for (int i = 0; i < PAIRS; i++) {
        float *p = in->pred + 4 * i, *t = in->target + 4 * i;
        if (i < SPECIAL) {
            for (int k = 0; k < 4; k++) p[k] = special[i][k], t[k] = special[i][4 + k];
        } else {
            for (int k = 0; k < 2; k++) t[k] = test_uniform(&s, 0.1f, 0.9f);
            for (int k = 2; k < 4; k++) t[k] = test_uniform(&s, 0.05f, 0.5f);
            for (int k = 0; k < 4; k++) p[k] = t[k] + test_uniform(&s, -0.1f, 0.1f);
            for (int k = 2; k < 4; k++) p[k] = fabsf(p[k]) + 0.01f;
        }
        in->dl1[i] = test_uniform(&s, 0.5f, 5);
        in->dgiou[i] = test_uniform(&s, 0.5f, 2);
    }
}

/* A leaf that wants a gradient (its own storage in the arena). */
static rf_tensor *leaf(rf_ctx *ctx, int ndim, const int64_t *shape, const float *data) {
    rf_tensor *t = rf_ctx_from_host(ctx, RF_F32, ndim, shape, data);
    if (t) t->requires_grad = true;
    return t;
}

static void download(rf_tensor *t, float *out) {
    if (t) CHECK_OK(rf_tensor_download(t, out));
}

/* Everything the test compares, computed through the ops on one device. */
static bool run_ops(rf_device *dev, const inputs *in, outputs *out) {
    rf_ctx *ctx = NULL;
    CHECK_OK(rf_ctx_create(dev, CHUNK, &ctx));
    if (!ctx) return false;
    const int64_t xs[2] = {ROWS, COLS}, bs[2] = {PAIRS, 4}, ls[1] = {PAIRS};

    /* Constant weights: sum(bce) backward. */
    rf_tensor *x = leaf(ctx, 2, xs, in->x);
    rf_tensor *loss = rf_bce_weighted(ctx, x, rf_ctx_from_host(ctx, RF_F32, 2, xs, in->pos_w),
                                      rf_ctx_from_host(ctx, RF_F32, 2, xs, in->neg_w));
    download(loss, out->bce);
    CHECK_OK(rf_backward(ctx, rf_sum_all(ctx, loss), NULL));
    download(x->grad, out->dx_const);

    /* IoU-aware BCE: pos_w = t at matched entries, neg_w = sigmoid(x)^2
     * there replaced by 1 - t (constants), as RF-DETR's loss_labels. */
    rf_ctx_reset(ctx);
    x = leaf(ctx, 2, xs, in->x);
    rf_tensor *mask = rf_ctx_from_host(ctx, RF_F32, 2, xs, in->mask), *t = rf_ctx_from_host(ctx, RF_F32, 2, xs, in->t);
    rf_tensor *prob = rf_sigmoid(ctx, x);
    rf_tensor *keep = rf_affine(ctx, mask, -1.0f, 1.0f);                  /* 1 - mask */
    rf_tensor *neg = rf_add(ctx, rf_mul(ctx, rf_mul(ctx, prob, prob), keep), rf_mul(ctx, mask, rf_affine(ctx, t, -1.0f, 1.0f)));
    loss = rf_bce_weighted(ctx, x, t, neg);
    CHECK_OK(rf_backward(ctx, rf_sum_all(ctx, loss), NULL));
    download(x->grad, out->dx_ia);

    /* Box losses: sum(dl1 * l1 + dgiou * giou), then giou alone. */
    rf_ctx_reset(ctx);
    rf_tensor *pred = leaf(ctx, 2, bs, in->pred), *target = rf_ctx_from_host(ctx, RF_F32, 2, bs, in->target);
    rf_tensor *l1 = NULL, *giou = NULL;
    rf_box_losses(ctx, pred, target, &l1, &giou);
    download(l1, out->l1);
    download(giou, out->giou);
    rf_tensor *total = rf_add(ctx, rf_sum_all(ctx, rf_mul(ctx, l1, rf_ctx_from_host(ctx, RF_F32, 1, ls, in->dl1))),
                              rf_sum_all(ctx, rf_mul(ctx, giou, rf_ctx_from_host(ctx, RF_F32, 1, ls, in->dgiou))));
    CHECK_OK(rf_backward(ctx, total, NULL));
    download(pred->grad, out->dpred);
    rf_ctx_reset(ctx);
    pred = leaf(ctx, 2, bs, in->pred);
    target = rf_ctx_from_host(ctx, RF_F32, 2, bs, in->target);
    rf_box_losses(ctx, pred, target, NULL, &giou);
    CHECK_OK(rf_backward(ctx, rf_sum_all(ctx, rf_mul(ctx, giou, rf_ctx_from_host(ctx, RF_F32, 1, ls, in->dgiou))), NULL));
    download(pred->grad, out->dpred_giou_only);
    bool ok = rf_ctx_status(ctx) == RF_OK;
    CHECK_OK(rf_ctx_status(ctx));
    rf_ctx_free(ctx);
    return ok;
}

/* The same quantities in double from the reference kernels (and the
 * sigmoid chain rule written out for neg_w = sigmoid(x)^2). */
static void expected(const inputs *in, double *bce, double *dx_const, double *dx_ia, double *l1, double *giou,
                     double *dpred, double *dpred_giou_only) {
    double x[NX], pw[NX], nw[NX], ones[NX], zero_w[NX];
    for (int i = 0; i < NX; i++) x[i] = in->x[i], pw[i] = in->pos_w[i], nw[i] = in->neg_w[i], ones[i] = 1, zero_w[i] = 0;
    rf_ref_bce_f64(NX, x, pw, nw, bce);
    rf_ref_bce_backward_f64(NX, x, pw, nw, ones, dx_const, false, NULL, NULL);
    for (int i = 0; i < NX; i++) {
        double s = 1 / (1 + exp(-x[i])), t = in->t[i], m = in->mask[i];
        double neg = m ? 1 - t : s * s, softplus = fmax(x[i], 0) + log1p(exp(-fabs(x[i])));
        dx_ia[i] = t * (s - 1) + neg * s + (m ? 0 : softplus * 2 * s * s * (1 - s));
    }
    (void)zero_w;
    double p[PAIRS * 4], t[PAIRS * 4], d1[PAIRS], dg[PAIRS], zeros[PAIRS] = {0};
    for (int i = 0; i < PAIRS * 4; i++) p[i] = in->pred[i], t[i] = in->target[i];
    for (int i = 0; i < PAIRS; i++) d1[i] = in->dl1[i], dg[i] = in->dgiou[i];
    rf_ref_box_loss_f64(PAIRS, p, t, l1, giou);
    rf_ref_box_loss_backward_f64(PAIRS, p, t, d1, dg, dpred, false);
    rf_ref_box_loss_backward_f64(PAIRS, p, t, zeros, dg, dpred_giou_only, false);
}

/* Max |got - want| over the vector, relative to its largest |want| (NaN
 * counts as the worst). */
static double worst(const float *got, const double *want, int n) {
    double w = 0, scale = 0;
    for (int i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (int i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (scale > 0 ? scale : 1);
        if (!(e <= w)) w = e;
    }
    return w;
}

static void compare(const char *dev, const char *against, const outputs *o, const double *bce, const double *dxc,
                    const double *dxi, const double *l1, const double *giou, const double *dp, const double *dpg,
                    double tol) {
    struct {
        const char *what;
        const float *got;
        const double *want;
        int n;
    } rows[] = {{"bce", o->bce, bce, NX},           {"d bce/dx (constant weights)", o->dx_const, dxc, NX},
                {"d IA-BCE/dx", o->dx_ia, dxi, NX}, {"l1", o->l1, l1, PAIRS},
                {"giou", o->giou, giou, PAIRS},      {"d box losses/d pred", o->dpred, dp, PAIRS * 4},
                {"d giou/d pred", o->dpred_giou_only, dpg, PAIRS * 4}};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        double w = worst(rows[r].got, rows[r].want, rows[r].n);
        CHECK(w <= tol, "%s: %s vs %s: worst relative error %.3g (max %.1g)", dev, rows[r].what, against, w, tol);
    }
}

static void test_refusals(rf_device *dev, rf_device *other) {
    rf_ctx *ctx = NULL;
    CHECK_OK(rf_ctx_create(dev, CHUNK, &ctx));
    if (!ctx) return;
    rf_tensor *a = rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){3, 4}), *b = rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){4, 3});
    CHECK(rf_bce_weighted(ctx, a, a, b) == NULL && rf_ctx_status(ctx) == RF_ERR_INVALID_ARGUMENT, "bce shape mismatch accepted");
    rf_ctx_reset(ctx);
    a = rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){3, 4});
    b = rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){3, 5});
    CHECK(rf_box_losses(ctx, b, b, NULL, NULL) == NULL && rf_ctx_status(ctx) == RF_ERR_INVALID_ARGUMENT, "(3, 5) boxes accepted");
    rf_ctx_reset(ctx);
    a = rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){3, 4});
    b = rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){2, 4});
    CHECK(rf_box_losses(ctx, a, b, NULL, NULL) == NULL && rf_ctx_status(ctx) == RF_ERR_INVALID_ARGUMENT, "3 preds, 2 targets accepted");
    if (other) {
        rf_ctx *octx = NULL;
        CHECK_OK(rf_ctx_create(other, CHUNK, &octx));
        rf_ctx_reset(ctx);
        a = rf_ctx_zeros(ctx, RF_F32, 2, (int64_t[]){3, 4});
        rf_tensor *foreign = octx ? rf_ctx_zeros(octx, RF_F32, 2, (int64_t[]){3, 4}) : NULL;
        CHECK(rf_box_losses(ctx, a, foreign, NULL, NULL) == NULL && rf_ctx_status(ctx) == RF_ERR_DEVICE_MISMATCH,
              "targets on %s accepted by an op on %s", other->info.name, dev->info.name);
        rf_ctx_free(octx);
    }
    rf_ctx_free(ctx);
}

/* RF-DETR's formulas in PyTorch (float32 autograd): box_ops' cxcywh_to_xyxy
 * and generalized_box_iou diagonal, and loss_labels' IoU-aware BCE. */
static const char *const torch_script =
    "import sys, numpy as np, torch\n"
    "d = sys.argv[1]\n"
    "def rd(n, *shape): return torch.from_numpy(np.fromfile(f'{d}/{n}', dtype=np.float32).reshape(shape))\n"
    "def wr(n, t): t.detach().numpy().astype(np.float32).tofile(f'{d}/{n}')\n"
    "R, C, P = " "3, 97, 64\n"
    "x = rd('x', R, C).requires_grad_(); pw = rd('pos_w', R, C); nw = rd('neg_w', R, C)\n"
    "mask = rd('mask', R, C).bool(); t = rd('t', R, C)\n"
    "loss = -pw * torch.log(torch.sigmoid(x)) - nw * torch.log(1 - torch.sigmoid(x))\n"
    "wr('bce', loss); loss.sum().backward(); wr('dx_const', x.grad)\n"
    "x = x.detach().requires_grad_(); prob = x.sigmoid()\n"
    "pos = torch.zeros_like(x); neg = prob ** 2\n"
    "pos[mask] = t[mask]; neg[mask] = 1 - t[mask]\n"
    "loss = -pos * prob.log() - neg * (1 - prob).log(); loss.sum().backward(); wr('dx_ia', x.grad)\n"
    "def xyxy(b):\n"
    "    cx, cy, w, h = b.unbind(-1); w = w.clamp(min=0.0); h = h.clamp(min=0.0)\n"
    "    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], -1)\n"
    "def area(b): return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])\n"
    "def giou(a, b):\n"
    "    lt = torch.max(a[:, None, :2], b[:, :2]); rb = torch.min(a[:, None, 2:], b[:, 2:])\n"
    "    wh = (rb - lt).clamp(min=0); inter = wh[..., 0] * wh[..., 1]\n"
    "    union = area(a)[:, None] + area(b) - inter; iou = inter / union\n"
    "    lt = torch.min(a[:, None, :2], b[:, :2]); rb = torch.max(a[:, None, 2:], b[:, 2:])\n"
    "    wh = (rb - lt).clamp(min=0); c = wh[..., 0] * wh[..., 1]\n"
    "    return iou - (c - union) / c\n"
    "tg = rd('target', P, 4); d1 = rd('dl1', P); dg = rd('dgiou', P)\n"
    "for name, use_l1 in (('dpred', True), ('dpred_giou_only', False)):\n"
    "    p = rd('pred', P, 4).requires_grad_()\n"
    "    l1 = (p - tg).abs().sum(-1); g = 1 - torch.diag(giou(xyxy(p), xyxy(tg)))\n"
    "    total = (dg * g).sum() + ((d1 * l1).sum() if use_l1 else 0)\n"
    "    total.backward(); wr(name, p.grad)\n"
    "    if use_l1: wr('l1', l1); wr('giou', g)\n";

static bool torch_expected(const inputs *in, double *bce, double *dxc, double *dxi, double *l1, double *giou, double *dp,
                           double *dpg) {
    char dir[64];
    if (!torch_tmpdir(dir, sizeof dir)) return false;
    bool ok = torch_write(dir, "x", in->x, NX) && torch_write(dir, "pos_w", in->pos_w, NX) &&
              torch_write(dir, "neg_w", in->neg_w, NX) && torch_write(dir, "mask", in->mask, NX) &&
              torch_write(dir, "t", in->t, NX) && torch_write(dir, "pred", in->pred, PAIRS * 4) &&
              torch_write(dir, "target", in->target, PAIRS * 4) && torch_write(dir, "dl1", in->dl1, PAIRS) &&
              torch_write(dir, "dgiou", in->dgiou, PAIRS) && torch_run(dir, torch_script);
    outputs *o = calloc(1, sizeof *o);
    ok = ok && o && torch_read(dir, "bce", o->bce, NX) && torch_read(dir, "dx_const", o->dx_const, NX) &&
         torch_read(dir, "dx_ia", o->dx_ia, NX) && torch_read(dir, "l1", o->l1, PAIRS) &&
         torch_read(dir, "giou", o->giou, PAIRS) && torch_read(dir, "dpred", o->dpred, PAIRS * 4) &&
         torch_read(dir, "dpred_giou_only", o->dpred_giou_only, PAIRS * 4);
    if (ok) {
        for (int i = 0; i < NX; i++) bce[i] = o->bce[i], dxc[i] = o->dx_const[i], dxi[i] = o->dx_ia[i];
        for (int i = 0; i < PAIRS; i++) l1[i] = o->l1[i], giou[i] = o->giou[i];
        for (int i = 0; i < PAIRS * 4; i++) dp[i] = o->dpred[i], dpg[i] = o->dpred_giou_only[i];
    }
    free(o);
    torch_cleanup(dir);
    return ok;
}

int main(int argc, char **argv) {
    bool torch = argc > 1 && strcmp(argv[1], "--torch") == 0;
    if (torch && !torch_available()) {
        return test_skip("test_ops_loss --torch", "python3 cannot import torch", TEST_ENABLE_TORCH);
    }
    inputs *in = calloc(1, sizeof *in);
    outputs *out = calloc(1, sizeof *out);
    double *want = calloc(3 * NX + 2 * PAIRS + 8 * PAIRS, sizeof *want);
    if (!in || !out || !want) return 1;
    double *bce = want, *dxc = bce + NX, *dxi = dxc + NX, *l1 = dxi + NX, *giou = l1 + PAIRS, *dp = giou + PAIRS,
           *dpg = dp + 4 * PAIRS;
    /* torch's float log(sigmoid) form is itself inaccurate for large logits */
    make_inputs(in, torch ? 6.0f : 12.0f);
    if (torch) CHECK(torch_expected(in, bce, dxc, dxi, l1, giou, dp, dpg), "the torch reference did not run");
    else expected(in, bce, dxc, dxi, l1, giou, dp, dpg);
    char names[16][32];
    int ndev = test_device_names(names, 16);
    rf_device *devs[16] = {0};
    for (int d = 0; d < ndev; d++) CHECK_OK(rf_device_open(names[d], &devs[d]));
    for (int d = 0; d < ndev; d++) {
        if (!devs[d] || !run_ops(devs[d], in, out)) continue;
        compare(names[d], torch ? "torch" : "the reference in double", out, bce, dxc, dxi, l1, giou, dp, dpg, 1e-5);
        if (!torch) test_refusals(devs[d], devs[(d + 1) % ndev] != devs[d] ? devs[(d + 1) % ndev] : NULL);
    }
    for (int d = 0; d < ndev; d++) rf_device_close(devs[d]);
    free(in);
    free(out);
    free(want);
    return test_finish(torch ? "test_ops_loss --torch" : "test_ops_loss");
}
