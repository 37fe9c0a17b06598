/* op_harness.c — see op_harness.h. */
#include "op_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_backend.h"
#include "core/ops.h"
#include "test_util.h"

typedef struct op_result {
    float *out;
    int64_t out_n;
    float *grad[OP_MAX_INPUTS];
    int64_t in_n[OP_MAX_INPUTS];
    bool ok;
} op_result;

static int64_t numel(const op_input *in) {
    int64_t n = 1;
    for (int i = 0; i < in->ndim; i++) n *= in->shape[i];
    return n;
}

static float *input_values(const op_test *t, int i) {
    int64_t n = numel(&t->in[i]);
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    unsigned long long s = 1000 + (unsigned long long)i * 77;
    for (int64_t k = 0; k < n; k++) v[k] = t->in[i].values ? t->in[i].values[k] : test_uniform(&s, t->in[i].lo, t->in[i].hi);
    return v;
}

/* Output, and with grad the input gradients for dL/dy = r (seeded). */
static op_result run(const op_test *t, rf_device *dev, float *const *inputs, bool grad) {
    op_result r = {0};
    rf_ctx *ctx = NULL;
    if (rf_ctx_create(dev, 16 << 20, &ctx) != RF_OK) {
        fprintf(stderr, "FAIL %s on %s: %s\n", t->name, dev->info.name, rf_last_error());
        return r;
    }
    rf_ctx_set_grad(ctx, grad);
    rf_tensor *in[OP_MAX_INPUTS] = {0};
    for (int i = 0; i < t->n_in; i++) {
        in[i] = rf_ctx_from_host(ctx, RF_F32, t->in[i].ndim, t->in[i].shape, inputs[i]);
        if (in[i]) in[i]->requires_grad = grad && t->in[i].grad;
    }
    rf_tensor *y = t->build(ctx, in, t);
    if (y) {
        r.out_n = rf_tensor_numel(y);
        r.out = malloc((size_t)(r.out_n ? r.out_n : 1) * sizeof(float));
        rf_tensor *yc = rf_contiguous(ctx, y);
        rf_status s = yc ? rf_tensor_download(yc, r.out) : rf_ctx_status(ctx);
        if (s == RF_OK && grad) {
            float *seed = malloc((size_t)(r.out_n ? r.out_n : 1) * sizeof *seed);
            unsigned long long st = 4242;
            for (int64_t k = 0; k < r.out_n; k++) seed[k] = test_uniform(&st, -1, 1);
            rf_tensor *seed_t = rf_ctx_from_host(ctx, RF_F32, y->ndim, y->shape, seed);
            free(seed);
            s = seed_t ? rf_backward(ctx, y, seed_t) : rf_ctx_status(ctx);
            for (int i = 0; i < t->n_in && s == RF_OK; i++) {
                if (!t->in[i].grad) continue;
                r.in_n[i] = numel(&t->in[i]);
                r.grad[i] = calloc((size_t)(r.in_n[i] ? r.in_n[i] : 1), sizeof(float));
                /* An input the output does not depend on has no gradient: zeros. */
                if (in[i]->grad) s = rf_tensor_download(in[i]->grad, r.grad[i]);
            }
        }
        r.ok = s == RF_OK;
        if (!r.ok) fprintf(stderr, "FAIL %s on %s: %s\n", t->name, dev->info.name, rf_last_error());
    } else {
        rf_ctx_status(ctx);
        fprintf(stderr, "FAIL %s on %s: %s\n", t->name, dev->info.name, rf_last_error());
    }
    rf_ctx_free(ctx);
    return r;
}

static void free_result(op_result *r) {
    free(r->out);
    for (int i = 0; i < OP_MAX_INPUTS; i++) free(r->grad[i]);
    memset(r, 0, sizeof *r);
}

static double nmse(const float *a, const float *b, int64_t n, int *nonfinite) {
    double err = 0, ref = 0;
    *nonfinite = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) {
            if (!(isnan(a[i]) && isnan(b[i])) && !(isinf(a[i]) && a[i] == b[i])) (*nonfinite)++;
            continue;
        }
        err += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        ref += (double)b[i] * b[i];
    }
    return ref > 0 ? err / ref : err;
}

static bool compare(const op_test *t, const char *dev, const op_result *got, const op_result *want) {
    int nf = 0;
    if (got->out_n != want->out_n) {
        fprintf(stderr, "FAIL %s on %s: output has %lld elements, reference %lld\n", t->name, dev, (long long)got->out_n,
                (long long)want->out_n);
        return false;
    }
    double e = nmse(got->out, want->out, want->out_n, &nf);
    if (e > t->tol || nf) {
        fprintf(stderr, "FAIL %s on %s: output nmse %.3g (max %.1g), %d NaN/Inf mismatches\n", t->name, dev, e, t->tol, nf);
        return false;
    }
    for (int i = 0; i < t->n_in; i++) {
        if (!t->in[i].grad) continue;
        e = nmse(got->grad[i], want->grad[i], want->in_n[i], &nf);
        if (e > t->tol || nf) {
            fprintf(stderr, "FAIL %s on %s: gradient of input %d nmse %.3g (max %.1g)\n", t->name, dev, i, e, t->tol);
            return false;
        }
    }
    return true;
}

/* L = sum(r * y) in double on the cpu device, no gradient recording. */
static double loss_at(const op_test *t, rf_device *cpu, float *const *inputs) {
    op_result r = run(t, cpu, inputs, false);
    double l = 0;
    unsigned long long st = 4242;
    for (int64_t k = 0; k < r.out_n; k++) l += (double)test_uniform(&st, -1, 1) * r.out[k];
    if (!r.ok) l = NAN;
    free_result(&r);
    return l;
}

static bool finite_differences(const op_test *t, rf_device *cpu, float **inputs, const op_result *analytic) {
    for (int i = 0; i < t->n_in; i++) {
        if (!t->in[i].grad) continue;
        int64_t n = numel(&t->in[i]);
        int64_t step = n > 24 ? n / 24 : 1;
        for (int64_t k = 0; k < n; k += step) {
            float x0 = inputs[i][k];
            float h = 1e-2f * (fabsf(x0) > 1 ? fabsf(x0) : 1);
            inputs[i][k] = x0 + h;
            double lp = loss_at(t, cpu, inputs);
            inputs[i][k] = x0 - h;
            double lm = loss_at(t, cpu, inputs);
            inputs[i][k] = x0;
            double numeric = (lp - lm) / (2.0 * (double)h), a = analytic->grad[i][k];
            double err = fabs(numeric - a) / (fabs(numeric) + fabs(a) + 1e-2);
            if (err > t->fd_tol) {
                fprintf(stderr, "FAIL %s finite differences: input %d element %lld analytic %.6g numeric %.6g\n", t->name, i,
                        (long long)k, a, numeric);
                return false;
            }
        }
    }
    return true;
}

int op_harness_run(const op_test *tests, int count, const char *only) {
    rf_device *cpu = NULL;
    if (rf_device_open("cpu", &cpu) != RF_OK) return 1;
    /* The oracle: the cpu device's reference kernels and GEMM (double accumulation). */
    rf_cpu_set_reference(cpu, true);
    char names[16][32];
    int ndev = test_device_names(names, 16);
    rf_device *devs[16] = {0};
    for (int d = 0; d < ndev; d++) rf_device_open(names[d], &devs[d]);
    int failures = 0;
    for (int ti = 0; ti < count; ti++) {
        const op_test *t = &tests[ti];
        if (only && !strstr(t->name, only)) continue;
        float *inputs[OP_MAX_INPUTS] = {0};
        for (int i = 0; i < t->n_in; i++) inputs[i] = input_values(t, i);
        op_result want = run(t, cpu, inputs, true);
        bool ok = want.ok;
        if (ok && t->fd_tol > 0) ok = finite_differences(t, cpu, inputs, &want);
        for (int d = 0; d < ndev && ok; d++) {
            if (!devs[d]) continue;
            op_result got = run(t, devs[d], inputs, true);
            ok = got.ok && compare(t, names[d], &got, &want);
            free_result(&got);
        }
        CHECK(ok, "%s", t->name);
        failures += !ok;
        free_result(&want);
        for (int i = 0; i < t->n_in; i++) free(inputs[i]);
    }
    for (int d = 0; d < ndev; d++) rf_device_close(devs[d]);
    rf_device_close(cpu);
    return failures;
}
