#include "backend/nd.h"

int rf_nd_collapse(int ndim, int64_t *shape, int nops, int64_t (*const *strides)) {
    int out = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 1) continue; /* contributes nothing to any offset */
        if (out > 0) {
            bool merge = true;
            for (int k = 0; k < nops; k++)
                if (strides[k][out - 1] != strides[k][i] * shape[i]) merge = false;
            if (merge) {
                shape[out - 1] *= shape[i];
                for (int k = 0; k < nops; k++) strides[k][out - 1] = strides[k][i];
                continue;
            }
        }
        shape[out] = shape[i];
        for (int k = 0; k < nops; k++) strides[k][out] = strides[k][i];
        out++;
    }
    for (int i = out; i < RF_MAX_DIMS; i++) {
        shape[i] = 1;
        for (int k = 0; k < nops; k++) strides[k][i] = 0;
    }
    return out;
}
