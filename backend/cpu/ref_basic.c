/* ref_basic.c — instantiates the basic reference kernels in float and double,
 * on the device math of backend/kernels/basic.h computed in double. */
#define _GNU_SOURCE
#include <math.h>
#include <stddef.h>

#include "backend/cpu/ref_basic.h"
#include "backend/kernels/basic.h"

#define RF_REF_TEMPLATE "backend/cpu/ref_basic_impl.h"
#include "backend/cpu/ref_instantiate.h"
