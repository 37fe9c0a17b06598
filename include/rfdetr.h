/* rfdetr.h — the public C API of rfdetr.c.
 *
 * Conventions: every function returns an rf_status (RF_OK == 0); outputs go
 * through pointer arguments; every object a call creates is released by its
 * own *_free / *_close. The detail of the most recent failure on the calling
 * thread is available from rf_last_error(). The library never exits or
 * aborts, never reads an environment variable to pick a device and has no
 * "current device": every call that touches memory names its device.
 */
#ifndef RFDETR_H
#define RFDETR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes ---------------------------------------------------------
 * Numbered and stable: scripts may rely on the numbers. */
typedef enum rf_status {
    RF_OK = 0,
    RF_ERR_INVALID_ARGUMENT = 1, /* a caller passed something the API rejects */
    RF_ERR_NO_DEVICE = 2,        /* unknown device name, index out of range, no driver */
    RF_ERR_OUT_OF_MEMORY = 3,    /* host or device allocation failed */
    RF_ERR_DEVICE_MISMATCH = 4,  /* operands live on different devices */
    RF_ERR_KERNEL_BUILD = 5,     /* a device kernel failed to compile (see build log) */
    RF_ERR_BACKEND = 6,          /* a driver / vendor library call failed */
    RF_ERR_IO = 7,               /* reading or writing a file failed */
    RF_ERR_FORMAT = 8,           /* a file's contents are malformed */
    RF_ERR_UNSUPPORTED = 9,      /* valid request this build or device cannot do */
    RF_ERR_NUMERIC = 10,         /* NaN / Inf where a finite value is required */
    RF_ERR_INTERRUPTED = 11,     /* stopped by a signal (Ctrl-C) at a safe point */
    RF_ERR_INTERNAL = 12,        /* a broken invariant: a bug in rfdetr.c */
    RF_STATUS_COUNT
} rf_status;

/* "RF_ERR_NO_DEVICE" etc. Never NULL. */
const char *rf_status_name(rf_status status);

/* Human-readable detail of the last failure on this thread ("" when none).
 * Valid until the next failing call on the same thread. */
const char *rf_last_error(void);

/* Source location (file:line inside rfdetr.c) where the last failure on this
 * thread was raised; useful in bug reports. */
const char *rf_last_error_location(void);

/* ---- devices --------------------------------------------------------------
 * A device is named canonically: "cpu" (== "cpu:0"), "opencl:N", "cuda:N",
 * N 0-based per backend in driver order. */
typedef struct rf_device rf_device;

typedef enum rf_device_type {
    RF_DEVICE_CPU = 0,
    RF_DEVICE_GPU = 1,
    RF_DEVICE_ACCELERATOR = 2,
    RF_DEVICE_OTHER = 3
} rf_device_type;

typedef struct rf_device_info {
    char name[32];            /* canonical: "opencl:1" */
    char backend[16];         /* "cpu", "opencl", "cuda" */
    int index;                /* N in backend:N */
    rf_device_type type;
    char description[256];    /* the driver's device name */
    char vendor[128];
    char driver_version[128];
    char platform[128];       /* OpenCL platform name; runtime version for CUDA */
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes;
    int compute_units;
    char pci_bus_id[32];      /* "0000:65:00.0" when the driver tells, else "" */
} rf_device_info;

/* Number of devices every compiled-in backend reports, in listing order
 * (cpu first, then opencl:0.., then cuda:0..). Probing never fails: a backend
 * without a driver contributes 0 devices (see rf_backend_unavailable_reason). */
int rf_device_count(void);
/* Info of the i-th device in listing order. */
rf_status rf_device_info_at(int i, rf_device_info *out);

/* Checks a name strictly: RF_OK when it names an existing device. Junk,
 * unknown backends and out-of-range indices are RF_ERR_NO_DEVICE with a
 * message listing the available devices. Never clamps to 0. */
rf_status rf_device_check_name(const char *name, rf_device_info *info_out);

/* Opens a device by canonical name. Each open creates its own context and
 * queue/stream; close with rf_device_close. */
rf_status rf_device_open(const char *name, rf_device **out);

typedef struct rf_device_options {
    /* OpenCL: keep CLBlast's stock GEMM parameters instead of the tuned ones
     * rfdetr.c ships for devices CLBlast has no tuning for (PoCL on x86).
     * CLBlast keeps parameters per driver device for the whole process. */
    int opencl_stock_gemm;
    /* Refuse allocations that would bring this handle's live device memory
     * above this many bytes (0: only the device's own limits). Lets a user
     * share a GPU, and lets tests provoke out-of-memory deterministically. */
    uint64_t memory_limit_bytes;
    /* cpu: threads the device's kernels use, the calling thread included
     * (0: one per online core). Results do not depend on it. */
    int cpu_threads;
    /* cpu: run the reference kernels (double accumulation, one thread) that
     * tests use as the oracle, instead of the fast float kernels. */
    int cpu_reference;
} rf_device_options;
/* rf_device_open with options; NULL options == rf_device_open. */
rf_status rf_device_open_with(const char *name, const rf_device_options *options, rf_device **out);
void rf_device_close(rf_device *device);
const rf_device_info *rf_device_get_info(const rf_device *device);

/* Names of compiled-in backends, and why a backend has no devices ("" when it
 * has some, or has not been probed yet). */
int rf_backend_compiled_count(void);
const char *rf_backend_compiled_name(int i);
const char *rf_backend_unavailable_reason(const char *backend_name);

/* Counters a device keeps about itself: lets a caller prove that work on one
 * device never touched another. */
typedef struct rf_device_counters {
    uint64_t allocations;      /* successful buffer allocations */
    uint64_t frees;
    uint64_t bytes_allocated;  /* sum of all allocation sizes */
    uint64_t bytes_live;       /* currently allocated */
    uint64_t bytes_peak;       /* high-water mark of bytes_live */
    uint64_t uploads, downloads, copies, fills;
    uint64_t bytes_uploaded, bytes_downloaded;
    uint64_t kernel_launches;  /* compute kernels and GEMMs enqueued */
    uint64_t gemm_calls;
    uint64_t synchronizations;
} rf_device_counters;

void rf_device_get_counters(const rf_device *device, rf_device_counters *out);

/* How many times this process has opened the named device (a diagnostic,
 * process-wide, read-only for callers): a test can prove that a run on
 * opencl:1 never opened opencl:0 at all, not only that one handle stayed
 * idle. Unknown names count 0. */
uint64_t rf_device_open_count(const char *name);
/* The sum of every counter; 0 proves the device was never used. */
uint64_t rf_device_counters_total(const rf_device_counters *c);

#ifdef __cplusplus
}
#endif
#endif /* RFDETR_H */
