/* profile.c — the per-device kernel profile (profile.h): timing between
 * device synchronizations, and each kernel's compulsory bytes and FLOPs. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/profile.h"
#include "backend/status.h"

rf_status rf_device_set_profiling(rf_device *dev, bool on) {
    if (!on) {
        free(dev->profile);
        dev->profile = NULL;
        return RF_OK;
    }
    if (!dev->profile && !(dev->profile = calloc(1, sizeof *dev->profile)))
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for the profile of %s", dev->info.name);
    rf_device_profile_reset(dev);
    return RF_OK;
}

void rf_device_profile_reset(rf_device *dev) {
    if (dev->profile) memset(dev->profile, 0, sizeof *dev->profile);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The device's own synchronize, uncounted: the profile must not change the
 * run's counters. */
static rf_status quiet_sync(rf_device *dev) { return dev->ops->synchronize(dev); }

static void add_stats(rf_kernel_stats *to, const rf_kernel_stats *s) {
    to->calls += s->calls;
    to->launches += s->launches;
    to->seconds += s->seconds;
    to->bytes += s->bytes;
    to->flops += s->flops;
}

/* Charges one call to the kernel's row, and to `also` when given (GEMM's shape row). */
static rf_status finish(rf_device *dev, int row, rf_kernel_stats *also, double t0, uint64_t launches0, double bytes,
                        double flops, rf_status s) {
    if (s == RF_OK) s = quiet_sync(dev);
    rf_kernel_stats call = {1, dev->counters.kernel_launches - launches0, now() - t0, bytes, flops};
    add_stats(&dev->profile->kernel[row], &call);
    if (also) add_stats(also, &call);
    return s;
}

rf_status rf_kernel_profiled(rf_device *dev, rf_kernel_slot slot, const void *args) {
    RF_TRY(quiet_sync(dev));
    double bytes = 0, flops = 0;
    rf_kernel_cost(slot, args, &bytes, &flops);
    uint64_t launches0 = dev->counters.kernel_launches;
    double t0 = now();
    return finish(dev, (int)slot, NULL, t0, launches0, bytes, flops, rf_kernel_run(dev, slot, args));
}

/* The row of d's shape (a new one while there is room, else the shared one). */
static rf_kernel_stats *shape_row(struct rf_profile *p, const rf_gemm_desc *d) {
    for (int i = 0; i < p->shapes; i++) {
        rf_gemm_shape_stats *r = &p->shape[i];
        if (r->m == d->m && r->n == d->n && r->k == d->k && r->batch == d->batch && r->trans_a == d->trans_a &&
            r->trans_b == d->trans_b && r->compute == (int)d->compute)
            return &r->stats;
    }
    if (p->shapes == RF_PROFILE_GEMM_SHAPES) return &p->other_shapes;
    rf_gemm_shape_stats *r = &p->shape[p->shapes++];
    *r = (rf_gemm_shape_stats){d->m, d->n, d->k, d->batch, d->trans_a, d->trans_b, (int)d->compute, {0}};
    return &r->stats;
}

rf_status rf_gemm_profiled(rf_device *dev, const rf_gemm_desc *d) {
    RF_TRY(quiet_sync(dev));
    double m = (double)d->m, n = (double)d->n, k = (double)d->k, b = (double)d->batch;
    double bytes = 4.0 * (m * k * (d->stride_a ? b : 1) + k * n * (d->stride_b ? b : 1) + m * n * b * (d->beta != 0 ? 2 : 1));
    rf_kernel_stats *shape = shape_row(dev->profile, d);
    uint64_t launches0 = dev->counters.kernel_launches;
    double t0 = now();
    return finish(dev, RF_PROFILE_GEMM, shape, t0, launches0, bytes, 2.0 * m * n * k * b, rf_gemm_run(dev, d));
}

/* ---- compulsory traffic and arithmetic ------------------------------------------ */

static double count(int ndim, const int64_t *shape) {
    double n = 1;
    for (int i = 0; i < ndim; i++) n *= (double)shape[i];
    return n;
}

void rf_kernel_cost(rf_kernel_slot slot, const void *args, double *bytes, double *flops) {
    double b = 0, f = 0; /* elements moved, operations */
    switch (slot) {
    case RF_SLOT_unary: {
        const rf_unary_args *a = args;
        b = 2.0 * a->n, f = 4.0 * a->n;
        break;
    }
    case RF_SLOT_unary_backward: {
        const rf_unary_backward_args *a = args;
        b = (4.0 + a->accumulate) * a->n, f = 6.0 * a->n;
        break;
    }
    case RF_SLOT_binary: {
        const rf_binary_args *a = args;
        double n = count(a->ndim, a->shape);
        b = (3.0 + a->accumulate) * n, f = n;
        break;
    }
    case RF_SLOT_copy: {
        const rf_copy_args *a = args;
        double n = count(a->ndim, a->shape);
        b = (2.0 + a->accumulate) * n, f = a->accumulate ? n : 0;
        break;
    }
    case RF_SLOT_reduce: {
        const rf_reduce_args *a = args;
        double n = count(a->ndim, a->shape), out = 1;
        for (int i = 0; i < a->ndim; i++)
            if (!(a->reduce_mask & (1u << i))) out *= (double)a->shape[i];
        b = n + out, f = n;
        break;
    }
    case RF_SLOT_max_last: {
        const rf_max_last_args *a = args;
        b = (double)a->rows * a->cols + 2.0 * a->rows, f = (double)a->rows * a->cols;
        break;
    }
    case RF_SLOT_max_last_backward: {
        const rf_max_last_backward_args *a = args;
        b = (1.0 + a->accumulate) * a->rows * a->cols + 2.0 * a->rows;
        break;
    }
    case RF_SLOT_softmax: {
        const rf_softmax_args *a = args;
        double n = (double)a->rows * a->cols;
        b = 2.0 * n + (a->has_mask ? (double)a->mask_rows * a->cols : 0), f = 5.0 * n;
        break;
    }
    case RF_SLOT_softmax_backward: {
        const rf_softmax_backward_args *a = args;
        double n = (double)a->rows * a->cols;
        b = (3.0 + a->accumulate) * n, f = 4.0 * n;
        break;
    }
    case RF_SLOT_layernorm: {
        const rf_layernorm_args *a = args;
        double n = (double)a->rows * a->cols;
        b = 2.0 * n + 2.0 * a->rows + (a->has_affine ? 2.0 * a->cols : 0), f = 8.0 * n;
        break;
    }
    case RF_SLOT_layernorm_backward: {
        const rf_layernorm_backward_args *a = args;
        double n = (double)a->rows * a->cols;
        b = (3.0 + a->accumulate) * n + 2.0 * a->rows + (a->has_affine ? 5.0 * a->cols : 0), f = 12.0 * n;
        break;
    }
    case RF_SLOT_im2col: {
        const rf_im2col_args *a = args;
        double col = (double)a->n * a->c * a->kh * a->kw * a->ho * a->wo;
        b = col + (double)a->n * a->c * a->h * a->w;
        break;
    }
    case RF_SLOT_col2im: {
        const rf_col2im_args *a = args;
        double col = (double)a->n * a->c * a->kh * a->kw * a->ho * a->wo;
        b = col + (1.0 + a->accumulate) * a->n * a->c * a->h * a->w, f = col;
        break;
    }
    case RF_SLOT_grid_sample: {
        const rf_grid_sample_args *a = args;
        double out = (double)a->n * a->c * a->ho * a->wo;
        b = 5.0 * out + 2.0 * a->n * a->ho * a->wo, f = 8.0 * out;
        break;
    }
    case RF_SLOT_grid_sample_backward: {
        const rf_grid_sample_backward_args *a = args;
        double out = (double)a->n * a->c * a->ho * a->wo;
        b = 9.0 * out + 4.0 * a->n * a->ho * a->wo, f = 24.0 * out;
        break;
    }
    case RF_SLOT_deform_attn: {
        const rf_deform_attn_args *a = args;
        double samples = (double)a->batch * a->queries * a->heads * a->levels * a->points;
        b = 4.0 * samples * a->head_dim + 3.0 * samples + (double)a->batch * a->queries * a->heads * a->head_dim;
        f = 10.0 * samples * a->head_dim;
        break;
    }
    case RF_SLOT_deform_attn_backward: {
        const rf_deform_attn_backward_args *a = args;
        double samples = (double)a->batch * a->queries * a->heads * a->levels * a->points;
        b = 12.0 * samples * a->head_dim + 6.0 * samples + 2.0 * a->batch * a->queries * a->heads * a->head_dim;
        f = 30.0 * samples * a->head_dim;
        break;
    }
    case RF_SLOT_gather_rows: {
        const rf_gather_rows_args *a = args;
        b = 2.0 * a->batch * a->count * a->cols + (double)a->batch * a->count;
        break;
    }
    case RF_SLOT_gather_rows_backward: {
        const rf_gather_rows_backward_args *a = args;
        b = 3.0 * a->batch * a->count * a->cols + (double)a->batch * a->count, f = (double)a->batch * a->count * a->cols;
        break;
    }
    case RF_SLOT_topk: {
        const rf_topk_args *a = args;
        b = (double)a->rows * a->cols + 2.0 * a->rows * a->k, f = (double)a->rows * a->cols * (a->k < a->cols ? a->k : a->cols);
        break;
    }
    case RF_SLOT_bce: {
        const rf_bce_args *a = args;
        b = 4.0 * a->n, f = 20.0 * a->n;
        break;
    }
    case RF_SLOT_bce_backward: {
        const rf_bce_backward_args *a = args;
        b = (5.0 + a->accumulate + (a->has_dweights ? 4 : 0)) * a->n, f = 30.0 * a->n;
        break;
    }
    case RF_SLOT_box_loss: {
        const rf_box_loss_args *a = args;
        b = 10.0 * a->n, f = 40.0 * a->n;
        break;
    }
    case RF_SLOT_box_loss_backward: {
        const rf_box_loss_backward_args *a = args;
        b = (14.0 + 4 * a->accumulate) * a->n, f = 80.0 * a->n;
        break;
    }
    case RF_SLOT_adamw: {
        const rf_adamw_args *a = args;
        b = 7.0 * a->n, f = 16.0 * a->n;
        break;
    }
    case RF_SLOT_sumsq: {
        const rf_sumsq_args *a = args;
        b = (double)a->n, f = 2.0 * a->n;
        break;
    }
    case RF_SLOT_convert: {
        const rf_convert_args *a = args;
        b = 1.5 * a->n; /* a float and half a word per value */
        break;
    }
    case RF_SLOT_ema: {
        const rf_ema_args *a = args;
        b = 3.0 * a->n, f = 3.0 * a->n;
        break;
    }
    case RF_SLOT_attention: {
        const rf_attention_args *a = args;
        double bh = (double)a->batch * a->heads;
        b = bh * (a->lq * (a->head_dim + a->value_dim + 1.0) + a->lk * (double)(a->head_dim + a->value_dim));
        f = 2.0 * bh * a->lq * a->lk * (a->head_dim + a->value_dim);
        break;
    }
    case RF_SLOT_attention_backward: {
        const rf_attention_backward_args *a = args;
        double bh = (double)a->batch * a->heads;
        b = 2.0 * bh * (a->lq * (a->head_dim + 2.0 * a->value_dim + 1.0) + a->lk * (double)(a->head_dim + a->value_dim));
        f = 4.0 * bh * a->lq * a->lk * (a->head_dim + a->value_dim);
        break;
    }
    case RF_SLOT_fill: {
        const rf_rng_args *a = args;
        b = (double)a->n, f = 40.0 * a->n;
        break;
    }
    default: break;
    }
    *bytes = 4.0 * b;
    *flops = f;
}

/* order[0..n) (indices of rows `stride` bytes apart from `first`) sorted
 * longest total time first. */
static void longest_first(int *order, int n, const rf_kernel_stats *first, size_t stride) {
#define SECONDS(i) ((const rf_kernel_stats *)((const char *)first + (size_t)(i) * stride))->seconds
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && SECONDS(order[j]) > SECONDS(order[j - 1]); j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
#undef SECONDS
}

static void print_gemm_shapes(const struct rf_profile *p, FILE *out) {
    if (!p->shapes) return;
    int order[RF_PROFILE_GEMM_SHAPES];
    for (int i = 0; i < p->shapes; i++) order[i] = i;
    longest_first(order, p->shapes, &p->shape[0].stats, sizeof p->shape[0]);
    double all = p->kernel[RF_PROFILE_GEMM].seconds > 0 ? p->kernel[RF_PROFILE_GEMM].seconds : 1e-12;
    fprintf(out, "  gemm by shape (C m x n, k; batch; op(A), op(B) transposed; precision), longest first:\n");
    fprintf(out, "    %-34s %8s %10s %6s %9s\n", "shape", "calls", "time ms", "%", "GFLOP/s");
    /* The longest rows, then all the others in one. */
    enum { SHOWN = 24 };
    rf_kernel_stats rest = p->other_shapes;
    int rest_shapes = p->shapes == RF_PROFILE_GEMM_SHAPES && rest.calls ? 1 : 0;
    for (int i = SHOWN; i < p->shapes; i++, rest_shapes++) add_stats(&rest, &p->shape[order[i]].stats);
    int shown = p->shapes < SHOWN ? p->shapes : SHOWN;
    for (int i = 0; i <= shown; i++) {
        const rf_kernel_stats *s = i < shown ? &p->shape[order[i]].stats : &rest;
        if (!s->calls) continue;
        char name[64];
        if (i < shown) {
            const rf_gemm_shape_stats *r = &p->shape[order[i]];
            snprintf(name, sizeof name, "%lldx%lld k%lld b%lld %c%c %s", (long long)r->m, (long long)r->n, (long long)r->k,
                     (long long)r->batch, r->trans_a ? 'T' : 'N', r->trans_b ? 'T' : 'N',
                     rf_precision_name((rf_precision)r->compute));
        } else {
            snprintf(name, sizeof name, "%s%d other shapes", p->shapes == RF_PROFILE_GEMM_SHAPES ? ">= " : "", rest_shapes);
        }
        double sec = s->seconds > 0 ? s->seconds : 1e-12;
        fprintf(out, "    %-34s %8llu %10.2f %6.1f %9.2f\n", name, (unsigned long long)s->calls, s->seconds * 1e3,
                100.0 * s->seconds / all, s->flops / sec / 1e9);
    }
}

void rf_device_profile_print(const rf_device *dev, FILE *out) {
    if (!dev->profile) return;
    const rf_kernel_stats *k = dev->profile->kernel;
    int order[RF_SLOT_COUNT + 1], n = 0;
    for (int i = 0; i <= RF_SLOT_COUNT; i++)
        if (k[i].calls) order[n++] = i;
    longest_first(order, n, k, sizeof *k);
    rf_kernel_stats total = {0};
    for (int i = 0; i < n; i++) add_stats(&total, &k[order[i]]);
    fprintf(out, "kernel profile of %s (each call timed between device synchronizations)\n", dev->info.name);
    fprintf(out, "  %-22s %8s %9s %10s %6s %10s %10s %9s %9s\n", "kernel", "calls", "launches", "time ms", "%",
            "MB moved", "GFLOP", "GB/s", "GFLOP/s");
    for (int i = 0; i <= n; i++) {
        const rf_kernel_stats *s = i < n ? &k[order[i]] : &total;
        const char *name = i == n ? "total" : order[i] == RF_PROFILE_GEMM ? "gemm" : rf_kernel_slot_names[order[i]];
        double sec = s->seconds > 0 ? s->seconds : 1e-12;
        fprintf(out, "  %-22s %8llu %9llu %10.2f %6.1f %10.1f %10.3f %9.2f %9.2f\n", name, (unsigned long long)s->calls,
                (unsigned long long)s->launches, s->seconds * 1e3, total.seconds > 0 ? 100.0 * s->seconds / total.seconds : 0,
                s->bytes / 1e6, s->flops / 1e9, s->bytes / sec / 1e9, s->flops / sec / 1e9);
    }
    print_gemm_shapes(dev->profile, out);
}

/* ---- per step ------------------------------------------------------------------- */

#define STEP_FIELDS(X) X(kernel_launches) X(gemm_calls) X(uploads) X(bytes_uploaded) X(downloads) X(bytes_downloaded) \
    X(synchronizations) X(host_fallbacks)

void rf_step_profile_add(rf_step_profile *p, const rf_device_counters *before, const rf_device_counters *after,
                         uint64_t activation_peak, uint64_t saved_peak) {
    p->steps++;
    p->device_peak = after->bytes_peak;
    if (activation_peak > p->activation_peak) p->activation_peak = activation_peak;
    if (saved_peak > p->saved_peak) p->saved_peak = saved_peak;
#define ADD(field)                                                                                                  \
    {                                                                                                               \
        uint64_t d = after->field - before->field;                                                                  \
        p->sum.field += d;                                                                                          \
        if (d > p->max.field) p->max.field = d;                                                                     \
    }
    STEP_FIELDS(ADD)
#undef ADD
}

void rf_step_profile_print(const rf_step_profile *p, const char *device_name, FILE *out) {
    if (!p->steps) return;
    double n = (double)p->steps;
    fprintf(out, "per step on %s (mean and max over %llu steps)\n", device_name, (unsigned long long)p->steps);
#define ROW(field) fprintf(out, "  %-18s %14.1f %12llu\n", #field, (double)p->sum.field / n, (unsigned long long)p->max.field);
    STEP_FIELDS(ROW)
#undef ROW
    fprintf(out,
            "  peak device memory %.1f MB; activations kept for backward %.1f MB; a step's activations and gradients at "
            "their peak %.1f MB\n",
            p->device_peak / 1e6, p->saved_peak / 1e6, p->activation_peak / 1e6);
}
