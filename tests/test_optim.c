/* test_optim.c — AdamW, gradient clipping and the EMA through core/optim.h
 * on every device, against torch.optim.AdamW + clip_grad_norm_ + RF-DETR's
 * ModelEma written out in double on the host: four tensors in four groups
 * (lr and weight decay differ, decay exemptions), six steps with a warm-up
 * lr scale and clipping active on some steps only. Also: merged groups, the
 * clipping factor's edge cases, EMA swap for evaluation (and the refusals
 * while swapped), bad groups; loss-scaled steps (fp16's dynamic loss
 * scaling) and the scaler's rule. With --torch the same run is compared with
 * PyTorch's own AdamW and clip_grad_norm_ (exits 77 without torch). */
#include <math.h>

#include "core/optim.h"
#include "core/random.h"
#include "test_util.h"
#include "torch_ref.h"

#define CHUNK ((size_t)16 << 20)
enum { TENSORS = 4, STEPS = 6 };

static const int ndims[TENSORS] = {2, 1, 3, 1};
static const int64_t shapes[TENSORS][3] = {{7, 13}, {33}, {5, 5, 3}, {1}};
static const float group_lr[TENSORS] = {1e-2f, 1e-2f, 5e-3f, 2e-2f}, group_wd[TENSORS] = {0.05f, 0.0f, 0.05f, 0.0f};
static const float lr_scale[STEPS] = {0.2f, 0.4f, 0.6f, 0.8f, 1.0f, 1.0f};
static const float grad_gain[STEPS] = {0.1f, 3.0f, 0.2f, 5.0f, 0.05f, 2.0f}; /* clipping at 1.0 acts on some steps */
static const double MAX_NORM = 1.0, EMA_DECAY = 0.9, EMA_TAU = 3.0;

static int64_t numel(int t) {
    int64_t n = 1;
    for (int k = 0; k < ndims[t]; k++) n *= shapes[t][k];
    return n;
}

/* Per-tensor host arrays, packed tensor after tensor (no slab padding). */
typedef struct run_data {
    int64_t total;
    int64_t start[TENSORS];
    float *init, *grads[STEPS];
} run_data;

static void make_data(run_data *d) {
    d->total = 0;
    for (int t = 0; t < TENSORS; t++) {
        d->start[t] = d->total;
        d->total += numel(t);
    }
    unsigned long long s = 99;
    d->init = malloc((size_t)d->total * 4);
    for (int64_t i = 0; i < d->total; i++) d->init[i] = test_uniform(&s, -1, 1);
    for (int k = 0; k < STEPS; k++) {
        d->grads[k] = malloc((size_t)d->total * 4);
        for (int64_t i = 0; i < d->total; i++) d->grads[k][i] = grad_gain[k] * test_uniform(&s, -0.3f, 0.3f);
    }
}

typedef struct result {
    float *params, *ema;
    double norms[STEPS];
} result;

/* torch.optim.AdamW (single-tensor), clip_grad_norm_ and ModelEma in double. */
static void host_reference(const run_data *d, result *r) {
    int64_t n = d->total;
    double *p = malloc((size_t)n * 8), *m = calloc((size_t)n, 8), *v = calloc((size_t)n, 8), *e = malloc((size_t)n * 8);
    for (int64_t i = 0; i < n; i++) p[i] = e[i] = d->init[i];
    for (int k = 0; k < STEPS; k++) {
        double sum = 0;
        for (int64_t i = 0; i < n; i++) sum += (double)d->grads[k][i] * d->grads[k][i];
        double norm = sqrt(sum), coef = MAX_NORM / (norm + 1e-6), scale = coef < 1 ? coef : 1;
        r->norms[k] = norm;
        int step = k + 1;
        double bc1 = 1 - pow(0.9, step), bc2 = 1 - pow(0.999, step);
        for (int t = 0; t < TENSORS; t++) {
            double lr = (double)group_lr[t] * lr_scale[k], wd = group_wd[t];
            for (int64_t i = d->start[t]; i < d->start[t] + numel(t); i++) {
                double g = d->grads[k][i] * scale;
                p[i] *= 1 - lr * wd;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                p[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + 1e-8);
            }
        }
        double decay = EMA_DECAY * (1 - exp(-(double)step / EMA_TAU)); /* ModelEma.updates starts at 1 */
        for (int64_t i = 0; i < n; i++) e[i] = decay * e[i] + (1 - decay) * p[i];
    }
    for (int64_t i = 0; i < n; i++) r->params[i] = (float)p[i], r->ema[i] = (float)e[i];
    free(p);
    free(m);
    free(v);
    free(e);
}

static const char *const torch_script =
    "import sys, numpy as np, torch\n"
    "d = sys.argv[1]\n"
    "meta = np.fromfile(f'{d}/meta', dtype=np.float32)\n"
    "T, S = 4, 6\n"
    "shapes = [(7, 13), (33,), (5, 5, 3), (1,)]\n"
    "lr, wd, scale = meta[0:T], meta[T:2*T], meta[2*T:2*T+S]\n"
    "init = np.fromfile(f'{d}/init', dtype=np.float32)\n"
    "sizes = [int(np.prod(s)) for s in shapes]; starts = np.cumsum([0] + sizes)\n"
    "ps = [torch.nn.Parameter(torch.from_numpy(init[starts[t]:starts[t+1]].reshape(shapes[t]).copy())) for t in range(T)]\n"
    "opt = torch.optim.AdamW([{'params': [ps[t]], 'lr': float(lr[t]), 'weight_decay': float(wd[t])} for t in range(T)],\n"
    "                        betas=(0.9, 0.999), eps=1e-8, foreach=False)\n"
    "norms = []\n"
    "for k in range(S):\n"
    "    g = np.fromfile(f'{d}/grad{k}', dtype=np.float32)\n"
    "    for t in range(T): ps[t].grad = torch.from_numpy(g[starts[t]:starts[t+1]].reshape(shapes[t]).copy())\n"
    "    norms.append(float(torch.nn.utils.clip_grad_norm_(ps, 1.0)))\n"
    "    for t in range(T): opt.param_groups[t]['lr'] = float(lr[t]) * float(scale[k])\n"
    "    opt.step()\n"
    "np.concatenate([p.detach().numpy().ravel() for p in ps]).astype(np.float32).tofile(f'{d}/params')\n"
    "np.array(norms, dtype=np.float32).tofile(f'{d}/norms')\n";

static bool torch_reference(const run_data *d, result *r) {
    char dir[64];
    if (!torch_tmpdir(dir, sizeof dir)) return false;
    float meta[2 * TENSORS + STEPS];
    for (int t = 0; t < TENSORS; t++) meta[t] = group_lr[t], meta[TENSORS + t] = group_wd[t];
    for (int k = 0; k < STEPS; k++) meta[2 * TENSORS + k] = lr_scale[k];
    bool ok = torch_write(dir, "meta", meta, 2 * TENSORS + STEPS) && torch_write(dir, "init", d->init, (size_t)d->total);
    for (int k = 0; k < STEPS && ok; k++) {
        char name[16];
        snprintf(name, sizeof name, "grad%d", k);
        ok = torch_write(dir, name, d->grads[k], (size_t)d->total);
    }
    float norms[STEPS];
    ok = ok && torch_run(dir, torch_script) && torch_read(dir, "params", r->params, (size_t)d->total) &&
         torch_read(dir, "norms", norms, STEPS);
    for (int k = 0; k < STEPS; k++) r->norms[k] = norms[k];
    torch_cleanup(dir);
    return ok;
}

/* Builds the slab on a device, the optimizer with its groups and the EMA. */
static rf_params *make_params(rf_device *dev, const run_data *d, rf_tensor **tensors) {
    rf_params *p = NULL;
    CHECK_OK(rf_params_create(dev, &p));
    if (!p) return NULL;
    for (int t = 0; t < TENSORS; t++) {
        char name[8];
        snprintf(name, sizeof name, "t%d", t);
        tensors[t] = rf_params_add(p, name, ndims[t], shapes[t]);
    }
    CHECK_OK(rf_params_finalize(p));
    for (int t = 0; t < TENSORS; t++) CHECK_OK(rf_tensor_upload(tensors[t], d->init + d->start[t]));
    return p;
}

static void upload_grads(rf_tensor **tensors, const run_data *d, const float *g) {
    for (int t = 0; t < TENSORS; t++) CHECK_OK(rf_tensor_upload(tensors[t]->grad, g + d->start[t]));
}

static void download_values(rf_tensor **tensors, const run_data *d, float *out) {
    for (int t = 0; t < TENSORS; t++) CHECK_OK(rf_tensor_download(tensors[t], out + d->start[t]));
}

static double max_rel(const float *got, const float *want, int64_t n) {
    double scale = 0, w = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / scale;
        if (!(e <= w)) w = e;
    }
    return w;
}

static void run_device(rf_device *dev, const run_data *d, const result *want, bool torch) {
    rf_tensor *tensors[TENSORS];
    rf_params *p = make_params(dev, d, tensors);
    rf_adamw *opt = NULL;
    rf_ema *ema = NULL;
    rf_adamw_config cfg = rf_adamw_default_config();
    if (p) CHECK_OK(rf_adamw_create(p, &cfg, &opt));
    if (p) CHECK_OK(rf_ema_create(p, EMA_DECAY, EMA_TAU, &ema));
    if (!opt || !ema) goto done;
    for (int t = 0; t < TENSORS; t++) CHECK_OK(rf_adamw_set_group(opt, tensors[t], group_lr[t], group_wd[t]));
    CHECK(fabs(rf_ema_next_decay(ema) - EMA_DECAY * (1 - exp(-1 / EMA_TAU))) < 1e-15, "first EMA decay %g",
          rf_ema_next_decay(ema));
    double norms[STEPS];
    for (int k = 0; k < STEPS; k++) {
        upload_grads(tensors, d, d->grads[k]);
        CHECK_OK(rf_adamw_step_clipped(opt, lr_scale[k], MAX_NORM, 1.0, &norms[k], NULL));
        CHECK_OK(rf_ema_update(ema));
    }
    CHECK(rf_adamw_step_count(opt) == STEPS && rf_ema_updates(ema) == STEPS + 1, "counters: %lld steps, %lld updates",
          (long long)rf_adamw_step_count(opt), (long long)rf_ema_updates(ema));
    for (int k = 0; k < STEPS; k++)
        CHECK(fabs(norms[k] - want->norms[k]) <= 1e-6 * want->norms[k], "%s: step %d grad norm %.9g, expected %.9g",
              dev->info.name, k, norms[k], want->norms[k]);
    float *got = malloc((size_t)d->total * 4);
    download_values(tensors, d, got);
    double e = max_rel(got, want->params, d->total);
    CHECK(e <= 2e-6, "%s: parameters after %d AdamW steps differ from %s by %.3g", dev->info.name, STEPS,
          torch ? "torch" : "the double reference", e);
    if (!torch) {
        /* The EMA swapped in: the same tensors now read the EMA weights. */
        CHECK_OK(rf_ema_swap(ema));
        download_values(tensors, d, got);
        e = max_rel(got, want->ema, d->total);
        CHECK(e <= 2e-6, "%s: EMA weights differ from ModelEma's by %.3g", dev->info.name, e);
        CHECK(rf_adamw_step(opt, 1, 1) == RF_ERR_INVALID_ARGUMENT, "%s: a step ran with the EMA swapped in", dev->info.name);
        CHECK(rf_ema_update(ema) == RF_ERR_INVALID_ARGUMENT, "%s: an EMA update ran while swapped in", dev->info.name);
        CHECK_OK(rf_ema_swap(ema));
        float *back = malloc((size_t)d->total * 4);
        download_values(tensors, d, back);
        CHECK(max_rel(back, want->params, d->total) <= 2e-6, "%s: swapping back did not restore the model", dev->info.name);
        /* Free while swapped in: the model's weights come back first. */
        CHECK_OK(rf_ema_swap(ema));
        rf_ema_free(ema);
        ema = NULL;
        download_values(tensors, d, back);
        CHECK(max_rel(back, want->params, d->total) <= 2e-6, "%s: freeing a swapped EMA lost the model", dev->info.name);
        free(back);
        CHECK(rf_adamw_set_group(opt, NULL, 1, 1) == RF_ERR_INVALID_ARGUMENT, "a group for a foreign tensor accepted");
    }
    free(got);
done:
    rf_ema_free(ema);
    rf_adamw_free(opt);
    rf_params_free(p);
}

/* One group for everything (segments merge) gives the same as four equal
 * groups would: checked against the double reference with equal lr/wd. */
static void test_single_group(rf_device *dev, const run_data *d) {
    rf_tensor *tensors[TENSORS];
    rf_params *p = make_params(dev, d, tensors);
    rf_adamw *opt = NULL;
    rf_adamw_config cfg = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.05f};
    if (p) CHECK_OK(rf_adamw_create(p, &cfg, &opt));
    if (opt) {
        upload_grads(tensors, d, d->grads[0]);
        CHECK_OK(rf_adamw_step(opt, 1.0f, 1.0f));
        float *got = malloc((size_t)d->total * 4), *want = malloc((size_t)d->total * 4);
        download_values(tensors, d, got);
        /* Step 1 of AdamW: m/(sqrt v) = sign(g) after bias correction. */
        for (int64_t i = 0; i < d->total; i++) {
            double g = d->grads[0][i], pv = d->init[i] * (1 - 1e-2 * 0.05);
            want[i] = (float)(pv - 1e-2 * g / (fabs(g) + 1e-8));
        }
        CHECK(max_rel(got, want, d->total) <= 2e-6, "%s: one group, first step off by %.3g", dev->info.name,
              max_rel(got, want, d->total));
        free(got);
        free(want);
    }
    rf_adamw_free(opt);
    rf_params_free(p);
}

/* Loss scaling: gradients that carry a power-of-two scale, unscaled by the
 * step, give the unscaled run's weights bit for bit (scaling by 2^k and back
 * is exact); a non-finite gradient skips the step with a scale and leaves
 * weights, moments and the step count as they were; without one it is an
 * error that also changes nothing. */
static void test_loss_scaled_steps(rf_device *dev, const run_data *d) {
    enum { SCALED = 1 << 12 };
    rf_tensor *plain_t[TENSORS], *scaled_t[TENSORS];
    rf_params *plain = make_params(dev, d, plain_t), *scaled = make_params(dev, d, scaled_t);
    rf_adamw *plain_opt = NULL, *scaled_opt = NULL;
    rf_adamw_config cfg = rf_adamw_default_config();
    if (plain) CHECK_OK(rf_adamw_create(plain, &cfg, &plain_opt));
    if (scaled) CHECK_OK(rf_adamw_create(scaled, &cfg, &scaled_opt));
    if (!plain_opt || !scaled_opt) goto done;
    float *g = malloc((size_t)d->total * 4), *a = malloc((size_t)d->total * 4), *b = malloc((size_t)d->total * 4);
    for (int k = 0; k < STEPS; k++) {
        for (int64_t i = 0; i < d->total; i++) g[i] = d->grads[k][i] * SCALED;
        upload_grads(plain_t, d, d->grads[k]);
        upload_grads(scaled_t, d, g);
        double norm_plain = 0, norm_scaled = 0;
        bool skipped = true;
        CHECK_OK(rf_adamw_step_clipped(plain_opt, lr_scale[k], MAX_NORM, 1.0, &norm_plain, NULL));
        CHECK_OK(rf_adamw_step_clipped(scaled_opt, lr_scale[k], MAX_NORM, SCALED, &norm_scaled, &skipped));
        CHECK(!skipped && norm_scaled == norm_plain, "%s: step %d: scaled norm %.17g against %.17g (skipped %d)",
              dev->info.name, k, norm_scaled, norm_plain, skipped);
    }
    download_values(plain_t, d, a);
    download_values(scaled_t, d, b);
    CHECK(!memcmp(a, b, (size_t)d->total * 4), "%s: loss-scaled steps differ from unscaled ones", dev->info.name);

    /* One non-finite gradient element: skipped, nothing moves. */
    float *m_before = malloc((size_t)scaled->total * 4), *m_after = malloc((size_t)scaled->total * 4);
    CHECK_OK(rf_buffer_download(scaled->adam_m, 0, m_before, (size_t)scaled->total * 4));
    for (int64_t i = 0; i < d->total; i++) g[i] = d->grads[0][i] * SCALED;
    g[d->total / 2] = INFINITY;
    upload_grads(scaled_t, d, g);
    bool skipped = false;
    double norm = 0;
    CHECK_OK(rf_adamw_step_clipped(scaled_opt, 1.0f, MAX_NORM, SCALED, &norm, &skipped));
    CHECK(skipped && !isfinite(norm), "%s: an infinite gradient was not skipped (norm %g)", dev->info.name, norm);
    download_values(scaled_t, d, b);
    CHECK_OK(rf_buffer_download(scaled->adam_m, 0, m_after, (size_t)scaled->total * 4));
    CHECK(!memcmp(a, b, (size_t)d->total * 4) && !memcmp(m_before, m_after, (size_t)scaled->total * 4) &&
              rf_adamw_step_count(scaled_opt) == STEPS,
          "%s: a skipped step changed the weights, moments or step count", dev->info.name);
    /* Without loss scaling the same gradient is an error, and still harmless. */
    upload_grads(plain_t, d, g);
    CHECK(rf_adamw_step_clipped(plain_opt, 1.0f, MAX_NORM, 1.0, &norm, NULL) == RF_ERR_NUMERIC &&
              strstr(rf_last_error(), "gradient norm is"),
          "%s: an infinite unscaled gradient: %s", dev->info.name, rf_last_error());
    download_values(plain_t, d, b);
    CHECK(!memcmp(a, b, (size_t)d->total * 4), "%s: a refused step changed the weights", dev->info.name);
    free(m_before);
    free(m_after);
    free(g);
    free(a);
    free(b);
done:
    rf_adamw_free(plain_opt);
    rf_adamw_free(scaled_opt);
    rf_params_free(plain);
    rf_params_free(scaled);
}

/* GradScaler's rule: halve on overflow, double after 2000 good steps in a
 * row (an overflow restarts the count), and give up below fp16's range. */
static void test_loss_scaler(void) {
    rf_loss_scaler s = rf_loss_scaler_start();
    CHECK(s.scale == 65536 && s.good_steps == 0 && s.skipped == 0, "start: scale %g", s.scale);
    CHECK_OK(rf_loss_scaler_update(&s, true));
    CHECK(s.scale == 32768 && s.skipped == 1, "after an overflow: scale %g, skipped %lld", s.scale, (long long)s.skipped);
    for (int i = 0; i < RF_LOSS_SCALE_GROWTH_INTERVAL - 1; i++) CHECK_OK(rf_loss_scaler_update(&s, false));
    CHECK(s.scale == 32768, "grew early: %g", s.scale);
    CHECK_OK(rf_loss_scaler_update(&s, true));
    for (int i = 0; i < RF_LOSS_SCALE_GROWTH_INTERVAL - 1; i++) CHECK_OK(rf_loss_scaler_update(&s, false));
    CHECK(s.scale == 16384, "an overflow did not restart the run of good steps: %g", s.scale);
    CHECK_OK(rf_loss_scaler_update(&s, false));
    CHECK(s.scale == 32768 && s.good_steps == 0, "did not grow after %d good steps: %g", RF_LOSS_SCALE_GROWTH_INTERVAL,
          s.scale);
    rf_status st = RF_OK;
    int halvings = 0;
    while ((st = rf_loss_scaler_update(&s, true)) == RF_OK && halvings < 100) halvings++;
    CHECK(st == RF_ERR_NUMERIC && strstr(rf_last_error(), "bf16") && s.scale == RF_LOSS_SCALE_MIN,
          "endless overflow: %s after %d halvings, scale %g: %s", rf_status_name(st), halvings, s.scale, rf_last_error());
}

static void test_clip_scale(void) {
    CHECK(rf_clip_grad_scale(0.5, 1.0) == 1.0f, "below max_norm: no clipping");
    CHECK(fabsf(rf_clip_grad_scale(4.0, 1.0) - (float)(1.0 / (4.0 + 1e-6))) == 0, "norm 4, max 1");
    CHECK(rf_clip_grad_scale(INFINITY, 1.0) == 0.0f, "an infinite norm zeroes the step, as torch");
    CHECK(isnan(rf_clip_grad_scale(NAN, 1.0)), "a NaN norm propagates, as torch");
}

int main(int argc, char **argv) {
    bool torch = argc > 1 && strcmp(argv[1], "--torch") == 0;
    if (torch && !torch_available()) {
        return test_skip("test_optim --torch", "python3 cannot import torch", TEST_ENABLE_TORCH);
    }
    run_data d;
    make_data(&d);
    result want = {malloc((size_t)d.total * 4), malloc((size_t)d.total * 4), {0}};
    if (torch) CHECK(torch_reference(&d, &want), "the torch reference did not run");
    else host_reference(&d, &want);
    test_clip_scale();
    test_loss_scaler();
    char names[16][32];
    int ndev = test_device_names(names, 16);
    for (int i = 0; i < ndev; i++) {
        rf_device *dev = NULL;
        CHECK_OK(rf_device_open(names[i], &dev));
        if (!dev) continue;
        run_device(dev, &d, &want, torch);
        if (!torch) test_single_group(dev, &d);
        if (!torch) test_loss_scaled_steps(dev, &d);
        rf_device_close(dev);
    }
    free(want.params);
    free(want.ema);
    free(d.init);
    for (int k = 0; k < STEPS; k++) free(d.grads[k]);
    return test_finish(torch ? "test_optim --torch" : "test_optim");
}
