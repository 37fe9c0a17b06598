/* core/philox.h — the counter-based RNG lives in backend/philox.h, the lowest
 * layer, because the device kernels of every backend mirror it; code above
 * the backend may include either name. */
#ifndef RFDETR_CORE_PHILOX_FORWARD_H
#define RFDETR_CORE_PHILOX_FORWARD_H
#include "backend/philox.h"
#endif
