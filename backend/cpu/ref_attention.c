/* ref_attention.c — instantiates the reference attention kernels in float
 * and double. */
#include <math.h>
#include <stdlib.h>

#include "backend/cpu/ref_attention.h"

#define RF_REF_TEMPLATE "backend/cpu/ref_attention_impl.h"
#include "backend/cpu/ref_instantiate.h"
