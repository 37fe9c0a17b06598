/* op_harness.h — testing ops through the tensor layer: a case builds a small
 * graph from fixed inputs; the harness runs it on every device and on the cpu
 * device, compares the output and the gradients of every input (autograd
 * seeded with a fixed random dL/dy) by NMSE, and checks the cpu gradients
 * against central finite differences of L = sum(r * y). */
#ifndef RFDETR_OP_HARNESS_H
#define RFDETR_OP_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tensor.h"

#define OP_MAX_INPUTS 6

typedef struct op_input {
    int ndim;
    int64_t shape[RF_MAX_DIMS];
    float lo, hi;
    bool grad;            /* is this input differentiated */
    const float *values;  /* explicit values, or NULL for uniform [lo, hi) */
} op_input;

typedef struct op_test op_test;
/* Builds the graph from the inputs; returns the output (NULL on failure). */
typedef rf_tensor *(*op_build_fn)(rf_ctx *ctx, rf_tensor **in, const op_test *t);

struct op_test {
    const char *name;
    int n_in;
    op_input in[OP_MAX_INPUTS];
    op_build_fn build;
    double tol;          /* NMSE between devices */
    double fd_tol;       /* relative tolerance of the finite-difference check; 0 skips it */
    int iparam[8];       /* case parameters the builder reads */
    float fparam[4];
};

/* Runs every test on every device; returns the number of failures. */
int op_harness_run(const op_test *tests, int count, const char *only);

#endif
