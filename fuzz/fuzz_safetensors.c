/* safetensors: the header, the metadata, and reading every tensor. */
#include "core/safetensors.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rf_safetensors *st = NULL;
    if (rf_safetensors_open_memory(data, size, "fuzz.safetensors", &st) != RF_OK) return 0;
    for (int i = 0; i < rf_safetensors_count(st); i++) {
        rf_tensor_info info;
        if (rf_safetensors_info_at(st, i, &info) != RF_OK) continue;
        float *values = malloc((size_t)info.numel * sizeof *values + 1);
        if (values) rf_safetensors_get_f32(st, info.name, values, (size_t)info.numel);
        free(values);
    }
    for (int i = 0; i < rf_safetensors_metadata_count(st); i++) {
        const char *key, *value;
        rf_safetensors_metadata_at(st, i, &key, &value);
    }
    rf_safetensors_close(st);
    return 0;
}
