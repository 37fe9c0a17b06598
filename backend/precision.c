/* precision.c — the names of rf_precision (rfdetr.h). */
#include <string.h>

#include "backend/backend.h"
#include "backend/status.h"

static const char *const names[RF_PRECISION_COUNT] = {"f32", "bf16", "fp16"};

const char *rf_precision_name(rf_precision precision) {
    return precision >= RF_PRECISION_F32 && precision < RF_PRECISION_COUNT ? names[precision] : "?";
}

rf_status rf_precision_parse(const char *text, rf_precision *out) {
    static const struct {
        const char *text;
        rf_precision precision;
    } spellings[] = {{"f32", RF_PRECISION_F32},   {"float32", RF_PRECISION_F32}, {"fp32", RF_PRECISION_F32},
                     {"bf16", RF_PRECISION_BF16}, {"bfloat16", RF_PRECISION_BF16}, {"fp16", RF_PRECISION_F16},
                     {"f16", RF_PRECISION_F16},   {"float16", RF_PRECISION_F16}};
    for (size_t i = 0; text && i < sizeof spellings / sizeof spellings[0]; i++)
        if (strcmp(text, spellings[i].text) == 0) {
            *out = spellings[i].precision;
            return RF_OK;
        }
    return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "unknown precision '%s': use f32, bf16 or fp16", text ? text : "(null)");
}
