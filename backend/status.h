/* status.h — raising and propagating rf_status with a message.
 *
 * A failing function records a human-readable message for the calling thread
 * and returns its status; callers either handle it or return it upwards,
 * optionally adding context in front ("loading ckpt.safetensors: ...").
 * The thread-local message is an error detail like errno/dlerror, not device
 * state: nothing here selects a device. */
#ifndef RFDETR_STATUS_H
#define RFDETR_STATUS_H

#include <stdarg.h>

#include "rfdetr.h"

#ifdef __cplusplus
extern "C" {
#endif

rf_status rf_error_set(rf_status status, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
rf_status rf_error_setv(rf_status status, const char *file, int line, const char *fmt, va_list ap);
/* Prepends context to the current message and returns `status`. */
rf_status rf_error_prefix(rf_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rf_error_clear(void);

#define RF_ERROR(status, ...) rf_error_set((status), __FILE__, __LINE__, __VA_ARGS__)
#define RF_TRY(expr)                                   \
    do {                                               \
        rf_status rf_try_status_ = (expr);             \
        if (rf_try_status_ != RF_OK) return rf_try_status_; \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif /* RFDETR_STATUS_H */
