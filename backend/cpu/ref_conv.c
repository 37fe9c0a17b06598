/* ref_conv.c — instantiates the conv reference kernels in float and double. */
#include "backend/cpu/ref_conv.h"
#include "backend/kernels/conv.h"

#define RF_REF_TEMPLATE "backend/cpu/ref_conv_impl.h"
#include "backend/cpu/ref_instantiate.h"
