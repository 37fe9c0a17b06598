/* ref_sampling.c — instantiates the sampling reference kernels in float and
 * double, on the taps and orders of backend/kernels/sampling*.h. */
#include <math.h>

#include "backend/cpu/ref_sampling.h"
#include "backend/kernels/sampling.h"

#define RF_REF_TEMPLATE "backend/cpu/ref_sampling_impl.h"
#include "backend/cpu/ref_instantiate.h"
