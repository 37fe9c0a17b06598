/* fuzz_seed_params.h — the parameter set whose training state the
 * train_state seeds hold: two small tensors, AdamW and EMA over them. */
#ifndef RFDETR_FUZZ_SEED_PARAMS_H
#define RFDETR_FUZZ_SEED_PARAMS_H

#include "core/optim.h"
#include "core/tensor.h"
#include "rfdetr.h"

typedef struct fuzz_seed_params {
    rf_device *cpu;
    rf_params *params;
    rf_adamw *opt;
    rf_ema *ema;
} fuzz_seed_params;

static inline rf_status fuzz_seed_params_create(fuzz_seed_params *p) {
    rf_status s = rf_device_open("cpu", &p->cpu);
    if (s == RF_OK) s = rf_params_create(p->cpu, &p->params);
    if (s == RF_OK) {
        rf_params_add(p->params, "head.weight", 2, (int64_t[]){3, 4});
        rf_params_add(p->params, "head.bias", 1, (int64_t[]){3});
        s = rf_params_finalize(p->params);
    }
    rf_adamw_config config = rf_adamw_default_config();
    if (s == RF_OK) s = rf_adamw_create(p->params, &config, &p->opt);
    if (s == RF_OK) s = rf_ema_create(p->params, 0.993, 100, &p->ema);
    return s;
}

static inline void fuzz_seed_params_free(fuzz_seed_params *p) {
    rf_ema_free(p->ema);
    rf_adamw_free(p->opt);
    rf_params_free(p->params);
    rf_device_close(p->cpu);
}

#endif /* RFDETR_FUZZ_SEED_PARAMS_H */
