/* kernel_harness.h — what a kernel test case is, for test_backend_ops.
 *
 * A case names its buffers (inputs, outputs, in-outs; f32 or int32, with
 * their initial contents) and a launch function that builds the kernel's
 * argument struct from (buffer, offset) pairs and calls the kernel slot.
 * The harness allocates every buffer with guard zones before and after (so
 * data starts at an odd element offset), fills everything identically on
 * every device, launches, and compares every output against the cpu
 * reference by NMSE with NaN/Inf agreement; guard zones and inputs must come
 * back bit for bit unchanged, and devices of the same kind must agree bit
 * for bit. Each kernel family adds its cases in kernel_cases_<family>.c. */
#ifndef RFDETR_KERNEL_HARNESS_H
#define RFDETR_KERNEL_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/kernels.h"

#define KC_MAX_BUFS 12
#define KC_PARAMS_BYTES 512

typedef enum kc_role { KC_IN = 0, KC_OUT, KC_INOUT } kc_role;
typedef enum kc_type { KC_F32 = 0, KC_I32 } kc_type;

typedef struct kc_buf {
    const char *name;
    kc_role role;
    kc_type type;
    size_t n;             /* elements */
    float lo, hi;         /* random initial values in [lo, hi) (ints: [lo, hi]) */
    const float *floats;  /* explicit initial values (n of them), or NULL */
    const int32_t *ints;  /* explicit initial values, or NULL */
    double max_nmse;      /* 0: the case's tolerance */
} kc_buf;

typedef struct kcase kcase;
/* mem[i] addresses buffer i's data (past its guard zone). */
typedef rf_status (*kc_launch_fn)(const kcase *c, rf_device *dev, const rf_mem *mem);

struct kcase {
    char desc[256];     /* canonical: KERNEL(param=value,...) */
    const char *family; /* "basic", "conv", ..., "gemm" */
    const char *kernel; /* slot name: "softmax_backward" */
    int nbufs;
    kc_buf bufs[KC_MAX_BUFS];
    kc_launch_fn launch;
    double max_nmse;
    double flops;       /* for --perf (0: report GB/s from bytes) */
    _Alignas(16) unsigned char params[KC_PARAMS_BYTES];
};

/* Case lists, one per family: append up to max cases, return how many. */
typedef int (*kc_generator)(kcase *cases, int max);
int kc_cases_gemm(kcase *cases, int max);
int kc_cases_basic(kcase *cases, int max);
int kc_cases_conv(kcase *cases, int max);
int kc_cases_sampling(kcase *cases, int max);
int kc_cases_loss(kcase *cases, int max);
int kc_cases_optim(kcase *cases, int max);
int kc_cases_rng(kcase *cases, int max);
int kc_cases_attention(kcase *cases, int max);

/* Helpers for case files. */
static inline kcase *kc_new(kcase *cases, int *n, int max, const char *family, const char *kernel, kc_launch_fn launch,
                            double max_nmse) {
    if (*n >= max) return NULL;
    kcase *c = &cases[(*n)++];
    memset(c, 0, sizeof *c);
    c->family = family;
    c->kernel = kernel;
    c->launch = launch;
    c->max_nmse = max_nmse;
    return c;
}

static inline kc_buf *kc_add(kcase *c, const char *name, kc_role role, kc_type type, size_t n, float lo, float hi) {
    kc_buf *b = &c->bufs[c->nbufs++];
    memset(b, 0, sizeof *b);
    b->name = name;
    b->role = role;
    b->type = type;
    b->n = n;
    b->lo = lo;
    b->hi = hi;
    return b;
}

#define KC_PARAMS(c, type) ((type *)(void *)(c)->params)
#define KC_CPARAMS(c, type) ((const type *)(const void *)(c)->params)
_Static_assert(KC_PARAMS_BYTES >= 256, "params space");

#endif
