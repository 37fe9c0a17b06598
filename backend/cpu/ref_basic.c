/* ref_basic.c — instantiates the basic reference kernels in float and double. */
#define _GNU_SOURCE
#include <math.h>
#include <stddef.h>

#include "backend/cpu/ref_basic.h"

/* sigmoid without overflow for large |x| */
static inline double rf_ref_sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

#define RF_REF_TEMPLATE "backend/cpu/ref_basic_impl.h"
#include "backend/cpu/ref_instantiate.h"
