/* ref_loss.c — instantiates the loss reference kernels in float and double,
 * on the GIoU algebra of backend/kernels/loss.h computed in double. */
#include <math.h>
#include <stddef.h>

#include "backend/cpu/ref_loss.h"
#include "backend/kernels/loss.h"

#define RF_REF_TEMPLATE "backend/cpu/ref_loss_impl.h"
#include "backend/cpu/ref_instantiate.h"
