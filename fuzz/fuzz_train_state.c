/* training_state.safetensors, restored into a small parameter set of the
 * layout the seed files were written for (fuzz/make_seeds.c). */
#include "core/optim.h"
#include "core/tensor.h"
#include "fuzz_util.h"
#include "train/train_state.h"

#include "fuzz_seed_params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_seed_params p;
    if (!p.params && fuzz_seed_params_create(&p) != RF_OK) abort();
    const char *path = fuzz_write("training_state.safetensors", data, size);
    rf_train_state st;
    rf_train_state_load(&st, p.params, p.opt, (size & 1) ? p.ema : NULL, path);
    return 0;
}
