/* backend.h — the device contract: the only interface between rfdetr.c and a
 * vendor API. See docs/backend.md for the rules it encodes.
 *
 * Three objects:
 *   rf_backend  a static table entry per compiled-in backend (cpu, opencl, cuda)
 *   rf_device   an opened device: info, error record, counters, vtable
 *   rf_buffer   device memory: device + bytes + native handle
 *
 * Memory is addressed as (buffer, offset), never as a raw device pointer,
 * because OpenCL buffers have no pointer arithmetic. Raw memory operations
 * (upload, download, copy, fill) take byte offsets since they do not know a
 * dtype; GEMM and kernels take element offsets in their operand's dtype.
 *
 * There is no current device anywhere: every call receives its device (or a
 * buffer that knows it). The CUDA backend makes its own ordinal current at the
 * start of every call; OpenCL enqueues only on the device's own queue.
 *
 * A device handle is used by one host thread at a time.
 */
#ifndef RFDETR_BACKEND_H
#define RFDETR_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rfdetr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rf_backend rf_backend;
typedef struct rf_buffer rf_buffer;
typedef struct rf_device_ops rf_device_ops;
struct rf_kernels; /* per-op kernel table, backend/kernels.h */

/* ---- the per-device error record ------------------------------------------
 * Filled by the backend when a native call fails. rf_last_error() carries the
 * same text for the calling thread; this record keeps the structured parts. */
typedef struct rf_device_error {
    rf_status status;        /* RF_OK when no error has happened */
    long native_code;        /* cl_int, cudaError_t, cublasStatus_t, CLBlast code */
    char native_name[64];    /* "CL_MEM_OBJECT_ALLOCATION_FAILURE" */
    char call[64];           /* the failing call: "clCreateBuffer" */
    const char *file;        /* where in rfdetr.c it was detected */
    int line;
    char message[512];
    char *build_log;         /* OpenCL program build log, owned; NULL if none */
} rf_device_error;

/* ---- memory ---------------------------------------------------------------- */
struct rf_buffer {
    rf_device *device;
    size_t bytes;
    void *native; /* cpu: host pointer; opencl: cl_mem; cuda: device pointer */
    /* Weights (parameter slabs): the cpu GEMM may keep op(B) packed across
     * calls, valid while `writes` is unchanged. Every write to such a buffer
     * bumps `writes`: the dispatch helpers (upload, copy, fill, GEMM output)
     * do it themselves, and core's writers of parameter slabs (AdamW, EMA,
     * random initialisation) through rf_buffer_written. */
    bool holds_weights;
    uint64_t writes;
};

/* ---- GEMM ------------------------------------------------------------------
 * Row-major, strided-batched:
 *   for b in [0, batch):
 *     C_b = alpha * op(A_b) * op(B_b) + beta * C_b
 * op(A_b) is m x k, op(B_b) is k x n, C_b is m x n. A stored untransposed is
 * m x k with leading dimension lda >= k; transposed it is k x m, lda >= m
 * (likewise B). X_b starts at x_offset + b * stride_x elements of x.
 * stride 0 for A or B broadcasts one matrix over the batch; C's stride must
 * separate the batch entries (a zero C stride would race).
 * beta == 0 means C is write-only: its old contents (even NaN) are ignored.
 *
 * Optional bias (linear and convolution layers), only with beta == 0:
 *   C_b = alpha * op(A_b) * op(B_b) + bias broadcast
 * with bias[j] added to column j (bias_rows false: n elements) or bias[i] to
 * row i (bias_rows true: m elements), the same for every batch entry; bias
 * NULL for none. A device that sets rf_device.gemm_fuses_bias adds it as it
 * writes C (one pass over C less); for the others rf_gemm writes the bias
 * into C first and runs the product with beta = 1. */
typedef struct rf_gemm_desc {
    bool trans_a, trans_b;
    int64_t m, n, k;
    float alpha, beta;
    const rf_buffer *a; size_t a_offset; int64_t lda; int64_t stride_a;
    const rf_buffer *b; size_t b_offset; int64_t ldb; int64_t stride_b;
    rf_buffer *c;       size_t c_offset; int64_t ldc; int64_t stride_c;
    int64_t batch; /* >= 1 */
    const rf_buffer *bias; size_t bias_offset; bool bias_rows;
    /* RF_PRECISION_BF16 / F16: op(A) and op(B) rounded to that format, the
     * products summed in f32 (alpha must be 1). Only devices whose
     * rf_device.gemm_precisions has the bit see it; for the others rf_gemm
     * rounds the operands with the device's kernel and asks for an f32
     * product, the same arithmetic (a product of two bf16 or fp16 values is
     * exact in f32). */
    rf_precision compute;
} rf_gemm_desc;

/* ---- the device vtable: every slot is required ----------------------------- */
struct rf_device_ops {
    /* alloc leaves contents undefined. */
    rf_status (*alloc)(rf_device *dev, size_t bytes, rf_buffer **out);
    void (*free)(rf_buffer *buf);
    /* Blocking: returns once host memory may be reused / read. */
    rf_status (*upload)(rf_buffer *dst, size_t dst_byte_offset, const void *src, size_t bytes);
    rf_status (*download)(const rf_buffer *src, size_t src_byte_offset, void *dst, size_t bytes);
    /* Device-side, ordered with later work on the same device; src and dst
     * must not overlap when they are the same buffer. */
    rf_status (*copy)(rf_buffer *dst, size_t dst_byte_offset, const rf_buffer *src,
                      size_t src_byte_offset, size_t bytes);
    /* Writes `count` copies of a 32-bit pattern starting at a 4-byte aligned
     * offset (floats and int32 share it). */
    rf_status (*fill_u32)(rf_buffer *dst, size_t dst_byte_offset, size_t count, uint32_t pattern);
    rf_status (*synchronize)(rf_device *dev);
    rf_status (*gemm)(rf_device *dev, const rf_gemm_desc *desc);
    void (*close)(rf_device *dev);
};

/* ---- an opened device ------------------------------------------------------ */
struct rf_device {
    const rf_backend *backend;
    rf_device_info info;          /* info.name is the canonical name */
    const rf_device_ops *ops;
    const struct rf_kernels *kernels; /* op kernels; NULL until a backend provides them */
    void *native;                 /* backend-private state */
    rf_device_error error;
    rf_device_counters counters;
    uint64_t memory_limit_bytes;  /* rf_device_options.memory_limit_bytes, 0: none */
    bool gemm_fuses_bias;         /* ops->gemm handles rf_gemm_desc.bias itself */
    unsigned gemm_precisions;     /* bit p: ops->gemm takes rf_gemm_desc.compute == p itself (F32 always) */
    /* GPU backends (backend/gpu/launch.h): how to run the one kernel source,
     * the largest work-group the device takes, and the launchers' scratch
     * buffer (freed with the device). NULL / 0 on the cpu. */
    const struct rf_gpu_ops *gpu;
    size_t max_group_size;
    size_t row_group_size; /* work items that reduce one row together (0: the default group size) */
    rf_buffer *scratch;
    rf_buffer *gemm_operands; /* bf16 / fp16 operands rounded for an f32 product (dispatch.c) */
    /* Kernels the device lacks run on this cpu device (opened on first
     * need, closed with the device); which were warned about. */
    rf_device *host;
    uint64_t fallback_warned[2];
    /* Per-kernel profile (backend/profile.h), NULL when off. */
    struct rf_profile *profile;
};

/* ---- backends ------------------------------------------------------------- */
struct rf_backend {
    const char *name; /* "cpu", "opencl", "cuda" */
    /* Lazily enumerates devices once; never aborts, never fails: a missing
     * driver is 0 devices plus a reason. Safe to call repeatedly. */
    int (*device_count)(void);
    rf_status (*device_info)(int index, rf_device_info *out);
    rf_status (*open)(int index, const rf_device_options *options, rf_device **out);
    /* Why there are no devices ("" when there are). */
    const char *(*unavailable_reason)(void);
};

/* The compiled-in backends in listing order (cpu, opencl, cuda). */
int rf_backend_table_count(void);
const rf_backend *rf_backend_table_at(int i);
const rf_backend *rf_backend_find(const char *name);

/* Parses "cpu", "cpu:0", "opencl:3", "cuda:0" strictly. Out-of-range indices
 * and unknown backends are RF_ERR_NO_DEVICE with the device list in the
 * message. */
rf_status rf_device_parse_name(const char *name, const rf_backend **backend, int *index);

/* ---- dispatch helpers every caller above the backend uses -------------------
 * They validate (same device, bounds, alignment), update counters and call
 * the vtable. Nothing above backend/ calls ops-> directly. */
rf_status rf_buffer_alloc(rf_device *dev, size_t bytes, rf_buffer **out);
void rf_buffer_free(rf_buffer *buf);
rf_status rf_buffer_upload(rf_buffer *dst, size_t dst_byte_offset, const void *src, size_t bytes);
rf_status rf_buffer_download(const rf_buffer *src, size_t src_byte_offset, void *dst, size_t bytes);
rf_status rf_buffer_copy(rf_buffer *dst, size_t dst_byte_offset, const rf_buffer *src,
                         size_t src_byte_offset, size_t bytes);
rf_status rf_buffer_fill_u32(rf_buffer *dst, size_t dst_byte_offset, size_t count, uint32_t pattern);
rf_status rf_buffer_fill_f32(rf_buffer *dst, size_t dst_byte_offset, size_t count, float value);
/* For code that writes a buffer through a kernel: anything the device
 * keeps derived from its contents (packed weights) is stale now. */
static inline void rf_buffer_written(rf_buffer *buf) {
    if (buf) buf->writes++;
}
rf_status rf_device_synchronize(rf_device *dev);
rf_status rf_gemm(rf_device *dev, const rf_gemm_desc *desc);

/* Elements (of elem_bytes each) one GEMM operand spans from its offset:
 * used for bounds checks and guard-zone tests. */
size_t rf_gemm_operand_extent(int64_t rows, int64_t cols, int64_t ld, int64_t stride, int64_t batch);

/* Compiles a kernel program from source on a device that compiles kernels
 * at run time (OpenCL): a failure carries the build log in the device's
 * error record. RF_ERR_UNSUPPORTED elsewhere. For tests of that path. */
rf_status rf_device_build_program(rf_device *dev, const char *label, const char *source);

/* Same device, or RF_ERR_DEVICE_MISMATCH naming both devices. */
rf_status rf_check_same_device(const rf_device *dev, const rf_buffer *buf, const char *what);

/* ---- for backend implementations --------------------------------------------- */
/* Allocates an rf_device with info filled and counters zeroed. */
rf_status rf_device_new(const rf_backend *backend, const rf_device_info *info,
                        const rf_device_ops *ops, void *native, rf_device **out);
/* Records a native failure in dev->error and in the thread's last error. */
rf_status rf_device_fail(rf_device *dev, rf_status status, long native_code, const char *native_name,
                         const char *call, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
/* Takes ownership of a build log (malloc'd) for the device's error record. */
void rf_device_set_build_log(rf_device *dev, char *log);
static inline void rf_device_count_launch(rf_device *dev) { dev->counters.kernel_launches++; }

/* Backends that exist in this build. */
extern const rf_backend rf_backend_cpu;
#ifdef RFDETR_HAVE_OPENCL
extern const rf_backend rf_backend_opencl;
#endif
#ifdef RFDETR_HAVE_CUDA
extern const rf_backend rf_backend_cuda;
#endif

#ifdef __cplusplus
}
#endif

#endif /* RFDETR_BACKEND_H */
