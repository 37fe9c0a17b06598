/* opencl_internal.h — shared by the OpenCL backend's files; nothing outside
 * backend/opencl includes it. */
#ifndef RFDETR_OPENCL_INTERNAL_H
#define RFDETR_OPENCL_INTERNAL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "backend/backend.h"
#include "backend/kernels.h"

#define RF_OPENCL_MAX_KERNELS 128

typedef struct rf_opencl_kernel_entry {
    const char *name; /* points into embedded data or a literal: never freed */
    cl_kernel kernel;
} rf_opencl_kernel_entry;

typedef struct rf_opencl_state {
    cl_platform_id platform;
    cl_device_id device_id;
    cl_context context;
    cl_command_queue queue;
    cl_program *programs; /* one per embedded source, built on first use */
    rf_opencl_kernel_entry kernels[RF_OPENCL_MAX_KERNELS];
    int kernel_count;
    size_t max_work_group_size;
    bool is_pocl;
} rf_opencl_state;

const char *rf_opencl_error_name(cl_int code);

/* Records a failed cl* call on the device and returns its rf_status. */
rf_status rf_opencl_fail(rf_device *dev, cl_int code, const char *call, const char *file, int line);
#define RF_CL_CHECK(dev, call_expr, call_name)                                             \
    do {                                                                                   \
        cl_int rf_cl_err_ = (call_expr);                                                   \
        if (rf_cl_err_ != CL_SUCCESS) return rf_opencl_fail((dev), rf_cl_err_, (call_name), __FILE__, __LINE__); \
    } while (0)

/* The kernel `kernel_name` from the embedded source file `source_name`
 * (e.g. "memory.cl"), compiling that program for this device on first use. */
rf_status rf_opencl_kernel(rf_device *dev, const char *source_name, const char *kernel_name, cl_kernel *out);

/* Compiles an arbitrary source for this device (tests use it to prove build
 * errors carry the build log). */
rf_status rf_opencl_build_source(rf_device *dev, const char *label, const char *source, cl_program *out);

/* Enqueues a 1-D launch of `global` work items, rounded up to the work-group
 * size (kernels bounds-check their index), and counts it. */
rf_status rf_opencl_launch_1d(rf_device *dev, cl_kernel kernel, size_t global);
rf_status rf_opencl_launch(rf_device *dev, cl_kernel kernel, cl_uint dims, const size_t *global, const size_t *local);

rf_status rf_opencl_gemm(rf_device *dev, const rf_gemm_desc *d);
/* Applies the shipped CLBlast tuning for devices we have parameters for. */
void rf_opencl_gemm_tune_device(rf_device *dev);

static inline cl_mem rf_cl_buffer(const rf_buffer *b) { return (cl_mem)b->native; }

#endif

/* ---- kernel argument helper ---------------------------------------------------
 * Sets arguments in order and remembers the first failure, so a launcher is a
 * flat list of rf_cl_* calls followed by one launch. */
typedef struct rf_cl_call {
    rf_device *dev;
    cl_kernel kernel;
    const char *name;
    cl_uint next;
    cl_int err;
} rf_cl_call;

rf_status rf_cl_begin(rf_device *dev, const char *source, const char *kernel, rf_cl_call *call);
void rf_cl_arg(rf_cl_call *call, size_t size, const void *value);
void rf_cl_int(rf_cl_call *call, int v);
void rf_cl_long(rf_cl_call *call, int64_t v);
void rf_cl_float(rf_cl_call *call, float v);
/* n long arguments in a row (sizes a kernel takes one by one). */
void rf_cl_longs(rf_cl_call *call, const int64_t *v, int n);
/* Two arguments: the buffer (or NULL) and its element offset as ulong. */
void rf_cl_mem(rf_cl_call *call, rf_mem m);
/* A long8 holding up to 8 values (unused lanes 0). */
void rf_cl_long8(rf_cl_call *call, const int64_t *v, int n);
/* 1-D launch of `global` work items (rounded up to the work-group size). */
rf_status rf_cl_run_1d(rf_cl_call *call, size_t global);
