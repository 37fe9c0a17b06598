/* Model checkpoints: the configuration a file carries (or implies), then
 * building the model it describes and loading the weights into it, as
 * `rfdetr predict --weights` and `train --resume` do. */
#include "fuzz_util.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static rf_device *cpu;
    if (!cpu && rf_device_open("cpu", &cpu) != RF_OK) abort();
    const char *path = fuzz_write("checkpoint.safetensors", data, size);
    rfdetr_config cfg;
    if (rfdetr_config_from_weights(path, NULL, &cfg) != RF_OK) return 0;
    rfdetr_model *m = NULL;
    if (rfdetr_model_open(cpu, path, NULL, 0, &m) == RF_OK) rfdetr_model_free(m);
    return 0;
}
