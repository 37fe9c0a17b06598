/* test_precision.c — RF-DETR nano in bf16 and fp16 against f32 (issue 12):
 * the same model and images, the matrix products' operands rounded, on the
 * cpu and on every OpenCL device (which rounds through its own kernel
 * before an f32 product): the top-100 scores within 2e-2 of f32's (the
 * issue's bound), a forward that differs from f32's at all (the products
 * really are rounded), and the same bits twice. The other bound,
 * the same top-10 labels, needs a trained model: a random one scores every
 * class within hundredths of the others and its two-stage query selection
 * picks among near-ties, so any rounding reorders its labels.
 * test_train_bf16 checks labels on a trained tiny model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"
#include "model/model.h"
#include "test_util.h"

#define TOP 100
#define BATCH 2

/* Top-TOP detections of each image of a fixed batch. */
static bool detect(rfdetr_model *m, rf_ctx *ctx, rf_precision p, const float *images, rfdetr_detection *out) {
    int R = m->cfg.resolution, hw[BATCH][2];
    for (int b = 0; b < BATCH; b++) hw[b][0] = R, hw[b][1] = R;
    rf_ctx_reset(ctx);
    ctx->precision = p;
    rf_tensor *x = rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){BATCH, 3, R, R}, images);
    rfdetr_outputs o;
    int k = 0;
    rf_status s = x ? rfdetr_model_forward(m, ctx, x, false, &o) : rf_ctx_status(ctx);
    if (s == RF_OK) s = rfdetr_postprocess(ctx, o.logits[o.layers - 1], o.boxes[o.layers - 1], (const int(*)[2])hw, TOP, out, &k);
    CHECK(s == RF_OK && k == TOP, "%s forward: %s", rf_precision_name(p), rf_last_error());
    return s == RF_OK && k == TOP;
}

static void compare(const char *device, rf_precision p, const rfdetr_detection *f32, const rfdetr_detection *low) {
    double worst = 0;
    int differ = 0;
    for (int b = 0; b < BATCH; b++)
        for (int i = 0; i < TOP; i++) {
            const rfdetr_detection *x = &f32[b * TOP + i], *y = &low[b * TOP + i];
            double d = fabs((double)x->score - (double)y->score);
            if (d > worst) worst = d;
            differ += x->score != y->score;
        }
    printf("  %-9s %s: top-%d scores within %.2e of f32\n", device, rf_precision_name(p), TOP, worst);
    CHECK(worst <= 2e-2, "%s %s: a top-%d score is %.3g from f32's", device, rf_precision_name(p), TOP, worst);
    CHECK(differ > 0, "%s %s: every score equals f32's bit for bit: the products were not rounded", device,
          rf_precision_name(p));
}

static void run_device(const char *name, const float *images) {
    rf_device *dev = NULL;
    CHECK_OK(rf_device_open(name, &dev));
    if (!dev) return;
    rfdetr_config cfg;
    CHECK_OK(rfdetr_config_preset("nano", &cfg));
    rfdetr_model *m = NULL;
    CHECK_OK(rfdetr_model_create(dev, &cfg, 7, &m));
    rf_ctx *ctx = NULL;
    if (m) CHECK_OK(rf_ctx_create(dev, 0, &ctx));
    if (m && ctx) {
        rf_ctx_set_grad(ctx, false);
        static rfdetr_detection f32[BATCH * TOP], low[BATCH * TOP], again[BATCH * TOP];
        if (detect(m, ctx, RF_PRECISION_F32, images, f32))
            for (rf_precision p = RF_PRECISION_BF16; p <= RF_PRECISION_F16; p++)
                if (detect(m, ctx, p, images, low) && detect(m, ctx, p, images, again)) {
                    compare(name, p, f32, low);
                    CHECK(memcmp(low, again, sizeof low) == 0, "%s %s: two forwards differ", name, rf_precision_name(p));
                }
    }
    rf_ctx_free(ctx);
    rfdetr_model_free(m);
    rf_device_close(dev);
}

int main(void) {
    rfdetr_config cfg;
    CHECK_OK(rfdetr_config_preset("nano", &cfg));
    int R = cfg.resolution;
    size_t image = 3 * (size_t)R * R;
    float *images = malloc(sizeof *images * image * BATCH);
    if (!images) return 1;
    /* ImageNet-normalised smooth patterns, different per image */
    for (size_t i = 0; i < image * BATCH; i++)
        images[i] = (float)(1.5 * sin((double)(i % image) * 0.0007 + (double)(i / image)) +
                            0.5 * cos((double)(i % (size_t)R) * 0.05));
    char names[16][32];
    int n = test_device_names(names, 16);
    for (int d = 0; d < n; d++)
        if (!strncmp(names[d], "cpu", 3) || !strncmp(names[d], "opencl:", 7)) run_device(names[d], images);
    free(images);
    return test_finish("test_precision");
}
