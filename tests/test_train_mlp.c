/* test_train_mlp.c — the training loop of issue 3 end to end on every
 * device: a small MLP (two hidden layers, GELU, LayerNorm) initialised from
 * the context's Philox stream, trained 100 full-batch steps with the tape,
 * AdamW in two groups (no weight decay on biases and norms), a warm-up +
 * cosine lr scale, global-norm clipping and an EMA evaluated by swapping it
 * in at the end. Two runs:
 *   classification  weighted BCE head, clipping at 0.3 (active for the
 *                   first dozen steps, then not): every device's loss
 *                   (the cpu's fast mode included) follows the cpu
 *                   reference mode's within 1e-4 relative at every one of
 *                   the 100 steps, and so do the final regular and EMA
 *                   losses;
 *   detection       RF-DETR's heads, BCE + 5 L1 + 2 GIoU on sigmoid boxes,
 *                   clipping at 1 (active throughout): within 1e-4 of the
 *                   cpu over the first 30 steps only.
 *                   L1 and GIoU have gradients that jump where a box edge
 *                   crosses its target's; once rounding puts one crossing on
 *                   the other side, two runs part (two PyTorch builds do
 *                   too), so the whole curve is not a fair test there;
 * and in both:
 *   - opencl:0 and opencl:1 (one driver) agree bit for bit: losses, norms,
 *     final weights, EMA weights;
 *   - the loss falls;
 *   - opencl:1 trains first while every other device is open: their
 *     counters must stay at zero. */
#include <math.h>

#include "core/ops.h"
#include "core/ops_loss.h"
#include "core/optim.h"
#include "core/random.h"
#include "test_util.h"

#define CHUNK ((size_t)8 << 20)
enum { B = 64, IN = 8, HID = 32, CLS = 4, OUT = CLS + 4, STEPS = 100 };

typedef struct data {
    float x[B * IN], pos_w[B * CLS], neg_w[B * CLS], boxes[B * 4];
} data;

/* Targets from a fixed random teacher, so the task is learnable. */
static void make_data(data *d) {
    unsigned long long s = 7;
    float t1[IN * CLS], t2[IN * 4];
    for (int i = 0; i < IN * CLS; i++) t1[i] = test_uniform(&s, -1, 1);
    for (int i = 0; i < IN * 4; i++) t2[i] = test_uniform(&s, -1, 1);
    for (int i = 0; i < B * IN; i++) d->x[i] = test_uniform(&s, -1, 1);
    for (int b = 0; b < B; b++) {
        for (int c = 0; c < CLS; c++) {
            float z = 0;
            for (int k = 0; k < IN; k++) z += d->x[b * IN + k] * t1[k * CLS + c];
            d->pos_w[b * CLS + c] = z > 0 ? 1.0f : 0.0f;
            d->neg_w[b * CLS + c] = z > 0 ? 0.0f : 1.0f;
        }
        for (int c = 0; c < 4; c++) {
            float z = 0;
            for (int k = 0; k < IN; k++) z += d->x[b * IN + k] * t2[k * 4 + c];
            float u = 1.0f / (1.0f + expf(-z));
            d->boxes[b * 4 + c] = c < 2 ? 0.2f + 0.6f * u : 0.1f + 0.3f * u; /* cx, cy in [0.2, 0.8], w, h in [0.1, 0.4] */
        }
    }
}

typedef struct mlp {
    rf_params *params;
    rf_tensor *w1, *b1, *g1, *be1, *w2, *b2, *w3, *b3;
} mlp;

static bool mlp_create(rf_device *dev, rf_ctx *ctx, mlp *m) {
    CHECK_OK(rf_params_create(dev, &m->params));
    if (!m->params) return false;
    rf_params *p = m->params;
    m->w1 = rf_params_add(p, "fc1.weight", 2, (int64_t[]){HID, IN});
    m->b1 = rf_params_add(p, "fc1.bias", 1, (int64_t[]){HID});
    m->g1 = rf_params_add(p, "norm1.weight", 1, (int64_t[]){HID});
    m->be1 = rf_params_add(p, "norm1.bias", 1, (int64_t[]){HID});
    m->w2 = rf_params_add(p, "fc2.weight", 2, (int64_t[]){HID, HID});
    m->b2 = rf_params_add(p, "fc2.bias", 1, (int64_t[]){HID});
    m->w3 = rf_params_add(p, "head.weight", 2, (int64_t[]){OUT, HID});
    m->b3 = rf_params_add(p, "head.bias", 1, (int64_t[]){OUT});
    CHECK_OK(rf_params_finalize(p));
    rf_ctx_set_seed(ctx, 1234);
    rf_init_linear(ctx, m->w1, m->b1);
    rf_init_constant(ctx, m->g1, 1.0f);
    rf_init_constant(ctx, m->be1, 0.0f);
    rf_init_trunc_normal(ctx, m->w2, 0.2f);
    rf_init_constant(ctx, m->b2, 0.0f);
    rf_init_xavier_uniform(ctx, m->w3, 1.0f);
    rf_init_constant(ctx, m->b3, 0.0f);
    CHECK_OK(rf_ctx_status(ctx));
    return rf_ctx_status(ctx) == RF_OK;
}

/* The loss: mean BCE over the class logits + 5 mean L1 + 2 mean (1 - GIoU)
 * of sigmoid boxes, RF-DETR's weighting. */
static rf_tensor *mlp_loss(rf_ctx *ctx, const mlp *m, const data *d, bool detection) {
    rf_tensor *x = rf_ctx_from_host(ctx, RF_F32, 2, (int64_t[]){B, IN}, d->x);
    rf_tensor *h = rf_gelu(ctx, rf_linear(ctx, x, m->w1, m->b1));     /* (B, HID) */
    h = rf_layernorm(ctx, h, m->g1, m->be1, 1e-5f);
    h = rf_gelu(ctx, rf_linear(ctx, h, m->w2, m->b2));                 /* (B, HID) */
    rf_tensor *out = rf_linear(ctx, h, m->w3, m->b3);                  /* (B, OUT) */
    rf_tensor *logits = rf_slice(ctx, out, 1, 0, CLS);                 /* (B, CLS) */
    const int64_t cs[2] = {B, CLS}, bs[2] = {B, 4};
    rf_tensor *bce = rf_bce_weighted(ctx, logits, rf_ctx_from_host(ctx, RF_F32, 2, cs, d->pos_w),
                                     rf_ctx_from_host(ctx, RF_F32, 2, cs, d->neg_w));
    rf_tensor *l1 = NULL, *giou = NULL;
    if (detection) {
        rf_tensor *boxes = rf_sigmoid(ctx, rf_slice(ctx, out, 1, CLS, OUT)); /* (B, 4) cxcywh */
        rf_box_losses(ctx, boxes, rf_ctx_from_host(ctx, RF_F32, 2, bs, d->boxes), &l1, &giou);
    }
    rf_tensor *loss = rf_scale(ctx, rf_sum_all(ctx, bce), 1.0f / (B * CLS));
    if (!detection) return loss;
    loss = rf_add(ctx, loss, rf_scale(ctx, rf_sum_all(ctx, l1), 5.0f / B));
    return rf_add(ctx, loss, rf_scale(ctx, rf_sum_all(ctx, giou), 2.0f / B));
}

typedef struct curve {
    float loss[STEPS];
    double norm[STEPS];
    float final_loss, ema_loss;
    float *weights, *ema_weights;
    int64_t total;
    bool ok;
} curve;

static float lr_schedule(int step) {
    if (step < 10) return (float)(step + 1) / 10.0f;
    return (float)(0.5 * (1 + cos(M_PI * (step - 10) / (STEPS - 10))));
}

typedef struct run_config {
    const char *name;
    float lr;
    double max_norm;
    bool detection;
    int compared_steps; /* steps whose losses must follow the cpu's */
} run_config;

static float eval_loss(rf_ctx *ctx, const mlp *m, const data *d, const run_config *rc) {
    rf_ctx_reset(ctx);
    bool was = rf_ctx_set_grad(ctx, false);
    rf_tensor *loss = mlp_loss(ctx, m, d, rc->detection);
    float v = NAN;
    if (loss) CHECK_OK(rf_tensor_download(loss, &v));
    rf_ctx_set_grad(ctx, was);
    return v;
}

static void train(rf_device *dev, const data *d, const run_config *rc, curve *c) {
    rf_ctx *ctx = NULL;
    mlp m = {0};
    rf_adamw *opt = NULL;
    rf_ema *ema = NULL;
    c->ok = false;
    CHECK_OK(rf_ctx_create(dev, CHUNK, &ctx));
    if (!ctx || !mlp_create(dev, ctx, &m)) goto done;
    rf_adamw_config cfg = rf_adamw_default_config();
    cfg.lr = rc->lr;
    cfg.weight_decay = 1e-4f;
    CHECK_OK(rf_adamw_create(m.params, &cfg, &opt));
    CHECK_OK(rf_ema_create(m.params, 0.99, 20.0, &ema));
    if (!opt || !ema) goto done;
    rf_tensor *no_decay[] = {m.b1, m.g1, m.be1, m.b2, m.b3};
    for (size_t i = 0; i < sizeof no_decay / sizeof no_decay[0]; i++) CHECK_OK(rf_adamw_set_group(opt, no_decay[i], cfg.lr, 0.0f));
    for (int step = 0; step < STEPS; step++) {
        rf_ctx_reset(ctx);
        CHECK_OK(rf_params_zero_grad(m.params));
        rf_tensor *loss = mlp_loss(ctx, &m, d, rc->detection);
        if (rf_backward(ctx, loss, NULL) != RF_OK || rf_tensor_download(loss, &c->loss[step]) != RF_OK) {
            CHECK_OK(rf_ctx_status(ctx));
            goto done;
        }
        CHECK_OK(rf_adamw_step_clipped(opt, lr_schedule(step), rc->max_norm, 1.0, &c->norm[step], NULL));
        CHECK_OK(rf_ema_update(ema));
    }
    c->final_loss = eval_loss(ctx, &m, d, rc);
    CHECK_OK(rf_ema_swap(ema));
    c->ema_loss = eval_loss(ctx, &m, d, rc);
    c->total = m.params->total;
    c->weights = malloc((size_t)c->total * 4);
    c->ema_weights = malloc((size_t)c->total * 4);
    CHECK_OK(rf_buffer_download(m.params->values, 0, c->ema_weights, (size_t)c->total * 4));
    CHECK_OK(rf_ema_swap(ema));
    CHECK_OK(rf_buffer_download(m.params->values, 0, c->weights, (size_t)c->total * 4));
    c->ok = rf_ctx_status(ctx) == RF_OK;
done:
    rf_ema_free(ema);
    rf_adamw_free(opt);
    rf_params_free(m.params);
    rf_ctx_free(ctx);
}

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-12); }

static void run(rf_device **devs, char (*names)[32], int ndev, const data *d, const run_config *rc, bool isolation) {
    int first = 0; /* opencl:1 trains first, with every other device open and idle */
    for (int i = 0; i < ndev; i++)
        if (!strcmp(names[i], "opencl:1")) first = i;
    static curve curves[16];
    memset(curves, 0, sizeof curves);
    int order[16], n = 0;
    order[n++] = first;
    for (int i = 0; i < ndev; i++)
        if (i != first) order[n++] = i;
    for (int k = 0; k < n; k++) {
        int i = order[k];
        if (!devs[i]) continue;
        train(devs[i], d, rc, &curves[i]);
        if (k == 0 && isolation)
            for (int j = 0; j < ndev; j++) {
                if (j == i || !devs[j]) continue;
                rf_device_counters cnt;
                rf_device_get_counters(devs[j], &cnt);
                CHECK(rf_device_counters_total(&cnt) == 0, "%s was touched while %s trained (%llu launches, %llu allocations)",
                      names[j], names[i], (unsigned long long)cnt.kernel_launches, (unsigned long long)cnt.allocations);
            }
    }
    int cpu = -1; /* the oracle: the cpu device's reference mode */
    for (int i = 0; i < ndev; i++)
        if (!strcmp(names[i], "cpu/reference")) cpu = i;
    if (cpu >= 0 && curves[cpu].ok) {
        const curve *ref = &curves[cpu];
        CHECK(ref->loss[STEPS - 1] < 0.5f * ref->loss[0], "%s: the loss did not fall: %g -> %g", rc->name, ref->loss[0],
              ref->loss[STEPS - 1]);
        printf("%s, cpu/reference: loss %.6f -> %.6f, EMA model %.6f\n", rc->name, ref->loss[0], ref->final_loss, ref->ema_loss);
        for (int i = 0; i < ndev; i++) {
            if (i == cpu || !curves[i].ok) continue;
            double worst = 0;
            int at = 0;
            for (int s = 0; s < rc->compared_steps; s++)
                if (rel(curves[i].loss[s], ref->loss[s]) > worst) worst = rel(curves[i].loss[s], ref->loss[s]), at = s;
            CHECK(worst <= 1e-4, "%s, %s: loss at step %d is %.9g, cpu/reference %.9g (rel %.3g)", rc->name, names[i], at,
                  curves[i].loss[at], ref->loss[at], worst);
            if (rc->compared_steps == STEPS)
                CHECK(rel(curves[i].final_loss, ref->final_loss) <= 1e-4 && rel(curves[i].ema_loss, ref->ema_loss) <= 1e-4,
                      "%s, %s: final loss %.9g / EMA %.9g, cpu/reference %.9g / %.9g", rc->name, names[i], curves[i].final_loss,
                      curves[i].ema_loss, ref->final_loss, ref->ema_loss);
            printf("%s, %s: max relative loss difference to cpu/reference over %d steps: %.3g (step %d)\n", rc->name, names[i],
                   rc->compared_steps, worst, at);
        }
    }
    /* Two devices of one driver: the very same bits. */
    for (int i = 0; i < ndev; i++)
        for (int j = i + 1; j < ndev; j++) {
            if (!curves[i].ok || !curves[j].ok || strcmp(devs[i]->info.backend, devs[j]->info.backend) ||
                strcmp(devs[i]->info.description, devs[j]->info.description) || i == cpu || j == cpu)
                continue;
            bool same = !memcmp(curves[i].loss, curves[j].loss, sizeof curves[i].loss) &&
                        !memcmp(curves[i].norm, curves[j].norm, sizeof curves[i].norm) &&
                        !memcmp(curves[i].weights, curves[j].weights, (size_t)curves[i].total * 4) &&
                        !memcmp(curves[i].ema_weights, curves[j].ema_weights, (size_t)curves[i].total * 4) &&
                        curves[i].ema_loss == curves[j].ema_loss;
            CHECK(same, "%s: %s and %s trained to different bits", rc->name, names[i], names[j]);
            if (same) printf("%s, %s and %s: bit-identical losses, norms, weights and EMA weights\n", rc->name, names[i], names[j]);
        }
    for (int i = 0; i < ndev; i++) {
        free(curves[i].weights);
        free(curves[i].ema_weights);
    }
}

int main(void) {
    data d;
    make_data(&d);
    char names[16][32];
    int ndev = test_device_names(names, 16);
    rf_device *devs[16] = {0};
    for (int i = 0; i < ndev; i++) CHECK_OK(rf_device_open(names[i], &devs[i]));
    /* The oracle every device (the fast cpu included) follows. */
    if (ndev < 16) {
        snprintf(names[ndev], sizeof names[ndev], "cpu/reference");
        CHECK_OK(rf_device_open_with("cpu", &(rf_device_options){.cpu_reference = 1}, &devs[ndev]));
        ndev++;
    }
    const run_config runs[] = {{"classification", 3e-3f, 0.3, false, STEPS}, {"detection", 1e-3f, 1.0, true, 30}};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) run(devs, names, ndev, &d, &runs[r], r == 0);
    for (int i = 0; i < ndev; i++) rf_device_close(devs[i]);
    return test_finish("test_train_mlp");
}
