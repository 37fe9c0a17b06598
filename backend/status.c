#include "backend/status.h"

#include <stdio.h>
#include <string.h>

/* Large enough for a file path, a JSON position and a device list. */
#define RF_ERROR_MESSAGE_MAX 4096

static _Thread_local char last_message[RF_ERROR_MESSAGE_MAX];
static _Thread_local char last_location[256];

static const char *const status_names[RF_STATUS_COUNT] = {
    [RF_OK] = "RF_OK",
    [RF_ERR_INVALID_ARGUMENT] = "RF_ERR_INVALID_ARGUMENT",
    [RF_ERR_NO_DEVICE] = "RF_ERR_NO_DEVICE",
    [RF_ERR_OUT_OF_MEMORY] = "RF_ERR_OUT_OF_MEMORY",
    [RF_ERR_DEVICE_MISMATCH] = "RF_ERR_DEVICE_MISMATCH",
    [RF_ERR_KERNEL_BUILD] = "RF_ERR_KERNEL_BUILD",
    [RF_ERR_BACKEND] = "RF_ERR_BACKEND",
    [RF_ERR_IO] = "RF_ERR_IO",
    [RF_ERR_FORMAT] = "RF_ERR_FORMAT",
    [RF_ERR_UNSUPPORTED] = "RF_ERR_UNSUPPORTED",
    [RF_ERR_NUMERIC] = "RF_ERR_NUMERIC",
    [RF_ERR_INTERRUPTED] = "RF_ERR_INTERRUPTED",
    [RF_ERR_INTERNAL] = "RF_ERR_INTERNAL",
};

const char *rf_status_name(rf_status status) {
    if ((int)status < 0 || status >= RF_STATUS_COUNT || !status_names[status]) return "RF_ERR_UNKNOWN";
    return status_names[status];
}

const char *rf_last_error(void) { return last_message; }
const char *rf_last_error_location(void) { return last_location; }

void rf_error_clear(void) {
    last_message[0] = '\0';
    last_location[0] = '\0';
}

rf_status rf_error_setv(rf_status status, const char *file, int line, const char *fmt, va_list ap) {
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    snprintf(last_location, sizeof last_location, "%s:%d", file ? file : "?", line);
    return status;
}

rf_status rf_error_set(rf_status status, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rf_error_setv(status, file, line, fmt, ap);
    va_end(ap);
    return status;
}

rf_status rf_error_prefix(rf_status status, const char *fmt, ...) {
    char prefix[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Keep the newest context and as much of the old message as fits. */
    char joined[RF_ERROR_MESSAGE_MAX];
    size_t plen = strlen(prefix), mlen = strlen(last_message);
    if (plen >= sizeof joined) plen = sizeof joined - 1;
    if (mlen > sizeof joined - 1 - plen) mlen = sizeof joined - 1 - plen;
    memcpy(joined, prefix, plen);
    memcpy(joined + plen, last_message, mlen);
    joined[plen + mlen] = '\0';
    memcpy(last_message, joined, plen + mlen + 1);
    return status;
}
