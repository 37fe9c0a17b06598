/* registry.c — the table of compiled-in backends, canonical device names,
 * strict parsing and the device listing every error message shows. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/status.h"

static const rf_backend *const backend_table[] = {
    &rf_backend_cpu,
#ifdef RFDETR_HAVE_OPENCL
    &rf_backend_opencl,
#endif
#ifdef RFDETR_HAVE_CUDA
    &rf_backend_cuda,
#endif
};
#define BACKEND_TABLE_COUNT ((int)(sizeof backend_table / sizeof backend_table[0]))

/* Backends rfdetr.c knows about, compiled in or not: naming one that is not
 * compiled in gets a different message than naming junk. */
static const char *const known_backends[] = {"cpu", "opencl", "cuda"};

int rf_backend_table_count(void) { return BACKEND_TABLE_COUNT; }

const rf_backend *rf_backend_table_at(int i) {
    return (i >= 0 && i < BACKEND_TABLE_COUNT) ? backend_table[i] : NULL;
}

const rf_backend *rf_backend_find(const char *name) {
    for (int i = 0; i < BACKEND_TABLE_COUNT; i++)
        if (strcmp(backend_table[i]->name, name) == 0) return backend_table[i];
    return NULL;
}

int rf_backend_compiled_count(void) { return BACKEND_TABLE_COUNT; }
const char *rf_backend_compiled_name(int i) {
    const rf_backend *b = rf_backend_table_at(i);
    return b ? b->name : NULL;
}

const char *rf_backend_unavailable_reason(const char *backend_name) {
    const rf_backend *b = rf_backend_find(backend_name);
    if (!b) return "not compiled into this build";
    return b->unavailable_reason();
}

int rf_device_count(void) {
    int n = 0;
    for (int i = 0; i < BACKEND_TABLE_COUNT; i++) n += backend_table[i]->device_count();
    return n;
}

rf_status rf_device_info_at(int i, rf_device_info *out) {
    if (i < 0) return RF_ERROR(RF_ERR_NO_DEVICE, "device listing index %d is negative", i);
    for (int b = 0; b < BACKEND_TABLE_COUNT; b++) {
        int n = backend_table[b]->device_count();
        if (i < n) return backend_table[b]->device_info(i, out);
        i -= n;
    }
    return RF_ERROR(RF_ERR_NO_DEVICE, "device listing index out of range");
}

/* "available devices: cpu, opencl:0, opencl:1" plus why empty backends are. */
static void describe_available(char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "available devices:");
    int total = rf_device_count();
    for (int i = 0; i < total && used < size; i++) {
        rf_device_info info;
        if (rf_device_info_at(i, &info) == RF_OK)
            used += (size_t)snprintf(buf + used, size - used, "%s %s", i ? "," : "", info.name);
    }
    for (int b = 0; b < BACKEND_TABLE_COUNT && used < size; b++) {
        const char *why = backend_table[b]->unavailable_reason();
        if (why && *why)
            used += (size_t)snprintf(buf + used, size - used, "; %s: %s", backend_table[b]->name, why);
    }
    for (size_t k = 0; k < sizeof known_backends / sizeof known_backends[0] && used < size; k++)
        if (!rf_backend_find(known_backends[k]))
            used += (size_t)snprintf(buf + used, size - used, "; %s: not compiled into this build",
                                     known_backends[k]);
}

static rf_status no_such_device(const char *name, const char *why) {
    char avail[2048];
    describe_available(avail, sizeof avail);
    return RF_ERROR(RF_ERR_NO_DEVICE, "unknown device '%s': %s (%s)", name, why, avail);
}

rf_status rf_device_parse_name(const char *name, const rf_backend **backend_out, int *index_out) {
    if (!name || !*name) return no_such_device("", "empty device name");
    const char *colon = strchr(name, ':');
    size_t blen = colon ? (size_t)(colon - name) : strlen(name);
    char bname[32];
    if (blen == 0 || blen >= sizeof bname) return no_such_device(name, "expected BACKEND or BACKEND:N");
    memcpy(bname, name, blen);
    bname[blen] = '\0';

    long index = 0;
    if (colon) {
        const char *digits = colon + 1;
        /* Only plain decimal: no sign, no spaces, no hex, no trailing junk. */
        if (!*digits) return no_such_device(name, "missing index after ':'");
        for (const char *p = digits; *p; p++)
            if (!isdigit((unsigned char)*p)) return no_such_device(name, "index must be a decimal number");
        if (digits[0] == '0' && digits[1]) return no_such_device(name, "write the index without leading zeros");
        if (strlen(digits) > 6) return no_such_device(name, "index out of range");
        index = strtol(digits, NULL, 10);
    } else if (strcmp(bname, "cpu") != 0) {
        /* "opencl" alone would silently mean device 0: refuse, name it. */
        return no_such_device(name, "give an index, e.g. opencl:0");
    }

    const rf_backend *b = rf_backend_find(bname);
    if (!b) {
        for (size_t k = 0; k < sizeof known_backends / sizeof known_backends[0]; k++)
            if (strcmp(known_backends[k], bname) == 0)
                return no_such_device(name, "that backend is not compiled into this build");
        return no_such_device(name, "unknown backend (known: cpu, opencl, cuda)");
    }
    int count = b->device_count();
    if (index >= count) {
        char why[256];
        if (count == 0) {
            /* The reason follows in the device list. */
            snprintf(why, sizeof why, "backend '%s' has no devices", bname);
        } else {
            snprintf(why, sizeof why, "index %ld out of range, backend '%s' has %d device%s", index, bname,
                     count, count == 1 ? "" : "s");
        }
        return no_such_device(name, why);
    }
    *backend_out = b;
    *index_out = (int)index;
    return RF_OK;
}

rf_status rf_device_check_name(const char *name, rf_device_info *info_out) {
    const rf_backend *b;
    int index;
    RF_TRY(rf_device_parse_name(name, &b, &index));
    rf_device_info info;
    RF_TRY(b->device_info(index, &info));
    if (info_out) *info_out = info;
    return RF_OK;
}

/* Opens per (backend, index): diagnostics only, never consulted to pick a
 * device. Indices past the table are counted in its last slot. */
#define OPEN_COUNT_SLOTS 64
static _Atomic uint64_t open_counts[BACKEND_TABLE_COUNT][OPEN_COUNT_SLOTS];

uint64_t rf_device_open_count(const char *name) {
    const rf_backend *b;
    int index;
    /* Parse quietly: a diagnostic must not replace the caller's last error. */
    char saved[512];
    snprintf(saved, sizeof saved, "%s", rf_last_error());
    rf_status s = rf_device_parse_name(name, &b, &index);
    rf_error_set(RF_OK, NULL, 0, "%s", saved);
    if (s != RF_OK) return 0;
    for (int i = 0; i < BACKEND_TABLE_COUNT; i++)
        if (backend_table[i] == b) return open_counts[i][index < OPEN_COUNT_SLOTS ? index : OPEN_COUNT_SLOTS - 1];
    return 0;
}

rf_status rf_device_open_with(const char *name, const rf_device_options *options, rf_device **out) {
    if (!out) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_device_open: out is NULL");
    *out = NULL;
    const rf_backend *b;
    int index;
    RF_TRY(rf_device_parse_name(name, &b, &index));
    static const rf_device_options defaults = {0};
    rf_status s = b->open(index, options ? options : &defaults, out);
    if (s == RF_OK && options) (*out)->memory_limit_bytes = options->memory_limit_bytes;
    if (s == RF_OK)
        for (int i = 0; i < BACKEND_TABLE_COUNT; i++)
            if (backend_table[i] == b) open_counts[i][index < OPEN_COUNT_SLOTS ? index : OPEN_COUNT_SLOTS - 1]++;
    return s;
}

rf_status rf_device_open(const char *name, rf_device **out) { return rf_device_open_with(name, NULL, out); }

void rf_device_close(rf_device *dev) {
    if (!dev) return;
    if (dev->scratch) rf_buffer_free(dev->scratch);
    if (dev->gemm_operands) rf_buffer_free(dev->gemm_operands);
    rf_device_close(dev->host);
    free(dev->profile);
    dev->ops->close(dev); /* frees native state */
    free(dev->error.build_log);
    free(dev);
}

const rf_device_info *rf_device_get_info(const rf_device *dev) { return &dev->info; }

rf_status rf_device_new(const rf_backend *backend, const rf_device_info *info, const rf_device_ops *ops,
                        void *native, rf_device **out) {
    rf_device *dev = calloc(1, sizeof *dev);
    if (!dev) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory opening %s", info->name);
    dev->backend = backend;
    dev->info = *info;
    dev->ops = ops;
    dev->native = native;
    *out = dev;
    return RF_OK;
}

rf_status rf_device_fail(rf_device *dev, rf_status status, long native_code, const char *native_name,
                         const char *call, const char *file, int line, const char *fmt, ...) {
    rf_device_error *e = &dev->error;
    e->status = status;
    e->native_code = native_code;
    snprintf(e->native_name, sizeof e->native_name, "%s", native_name ? native_name : "");
    snprintf(e->call, sizeof e->call, "%s", call ? call : "");
    e->file = file;
    e->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return rf_error_set(status, file, line, "%s: %s failed with %s (%ld): %s", dev->info.name, e->call,
                        e->native_name, native_code, e->message);
}

void rf_device_set_build_log(rf_device *dev, char *log) {
    free(dev->error.build_log);
    dev->error.build_log = log;
}

void rf_device_get_counters(const rf_device *dev, rf_device_counters *out) { *out = dev->counters; }

uint64_t rf_device_counters_total(const rf_device_counters *c) {
    return c->allocations + c->frees + c->bytes_allocated + c->bytes_live + c->bytes_peak + c->uploads +
           c->downloads + c->copies + c->fills + c->bytes_uploaded + c->bytes_downloaded +
           c->kernel_launches + c->gemm_calls + c->synchronizations + c->host_fallbacks;
}
