/* profile.h — a per-device kernel profile: for every kernel slot and for
 * GEMM, the calls, device launches, time, bytes moved and FLOPs.
 *
 * Off by default (no cost). When on, every kernel call is timed between two
 * device synchronizations, so the time is the kernel's own and the whole run
 * is slower: a tool for finding where the time goes, not for measuring the
 * run. Those synchronizations are not counted in the device's counters, so
 * per-step figures (launches, bytes up and down, host synchronizations)
 * stay those of the unprofiled run. Bytes and FLOPs are the kernel's
 * compulsory traffic and arithmetic from its arguments (each operand read
 * once, each output written once), not hardware counters. */
#ifndef RFDETR_BACKEND_PROFILE_H
#define RFDETR_BACKEND_PROFILE_H

#include <stdbool.h>
#include <stdio.h>

#include "backend/kernels.h"

#define RF_PROFILE_GEMM RF_SLOT_COUNT /* the profile's row for rf_gemm */

typedef struct rf_kernel_stats {
    uint64_t calls, launches;
    double seconds, bytes, flops;
} rf_kernel_stats;

/* GEMM time by problem shape: which products are slow, not only that GEMM is. */
#define RF_PROFILE_GEMM_SHAPES 256 /* distinct shapes kept (a nano training step has 64); the rest share one row */

typedef struct rf_gemm_shape_stats {
    int64_t m, n, k, batch;
    bool trans_a, trans_b;
    int compute; /* rf_precision */
    rf_kernel_stats stats;
} rf_gemm_shape_stats;

struct rf_profile {
    rf_kernel_stats kernel[RF_SLOT_COUNT + 1];
    rf_gemm_shape_stats shape[RF_PROFILE_GEMM_SHAPES];
    int shapes;
    rf_kernel_stats other_shapes;
};

/* Turns the profile on (zeroed) or off (discarded). */
rf_status rf_device_set_profiling(rf_device *dev, bool on);
void rf_device_profile_reset(rf_device *dev);
/* One row per kernel that ran, longest total time first, and the totals;
 * then GEMM by shape, longest first. */
void rf_device_profile_print(const rf_device *dev, FILE *out);

/* What one training (or inference) step asks of the device, from its
 * counters before and after each step: launches, bytes uploaded and
 * downloaded, host synchronizations, GEMMs. */
typedef struct rf_step_profile {
    uint64_t steps;
    rf_device_counters sum, max;
    uint64_t device_peak;     /* bytes: the device's peak so far (rf_device_counters.bytes_peak) */
    uint64_t activation_peak; /* bytes: the largest step's activations and gradients (its context's arena) */
    uint64_t saved_peak;      /* bytes: the most activations a forward pass kept for its backward */
} rf_step_profile;

/* `activation_peak` and `saved_peak`: rf_ctx_arena_peak_bytes and
 * rf_ctx_saved_bytes of the step's context. */
void rf_step_profile_add(rf_step_profile *p, const rf_device_counters *before, const rf_device_counters *after,
                         uint64_t activation_peak, uint64_t saved_peak);
void rf_step_profile_print(const rf_step_profile *p, const char *device_name, FILE *out);

/* Compulsory bytes and FLOPs of one call of `slot` with `args`. */
void rf_kernel_cost(rf_kernel_slot slot, const void *args, double *bytes, double *flops);

/* What the call wrappers run when the profile is on. */
rf_status rf_kernel_profiled(rf_device *dev, rf_kernel_slot slot, const void *args);
rf_status rf_gemm_profiled(rf_device *dev, const rf_gemm_desc *d);
/* rf_gemm after its checks (backend/dispatch.c). */
rf_status rf_gemm_run(rf_device *dev, const rf_gemm_desc *d);

#endif
