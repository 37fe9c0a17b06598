/* PyTorch .pth: the ZIP container, the pickle, and reading every tensor. */
#include "core/pth.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rf_pth *pth = NULL;
    if (rf_pth_open_memory(data, size, "fuzz.pth", NULL, &pth) != RF_OK) return 0;
    for (int i = 0; i < rf_pth_count(pth); i++) {
        rf_tensor_info info;
        if (rf_pth_info_at(pth, i, &info) != RF_OK) continue;
        float *values = malloc((size_t)info.numel * sizeof *values + 1);
        if (values) rf_pth_read_f32(pth, info.name, values, (size_t)info.numel);
        free(values);
    }
    rf_pth_close(pth);
    return 0;
}
