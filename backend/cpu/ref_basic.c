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

#define REAL float
#define SUFFIX f32
#include "backend/cpu/ref_basic_impl.h"
#undef REAL
#undef SUFFIX

#define REAL double
#define SUFFIX f64
#include "backend/cpu/ref_basic_impl.h"
#undef REAL
#undef SUFFIX
