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
#define RF_OPENCL_PROGRAMS 9 /* the families of backend/kernels/ (opencl_backend.c) */

typedef struct rf_opencl_kernel_entry {
    const char *name; /* points into embedded data or a literal: never freed */
    cl_kernel kernel;
} rf_opencl_kernel_entry;

typedef struct rf_opencl_state {
    cl_platform_id platform;
    cl_device_id device_id;
    cl_context context;
    cl_command_queue queue;
    cl_program programs[RF_OPENCL_PROGRAMS]; /* one per kernel family, built on first use */
    rf_opencl_kernel_entry kernels[RF_OPENCL_MAX_KERNELS];
    int kernel_count;
    size_t max_work_group_size;
    bool is_pocl;
    /* GEMM by backend/kernels/gemm.h instead of CLBlast (CPU devices), and
     * its buffer for transposed B operands, packed row-major. */
    bool own_gemm;
    rf_buffer *gemm_pack;
    /* Oclgrind only: buffers released by the caller, released for real at
     * close (see opencl_free). */
    bool defer_release;
    cl_mem *released;
    size_t released_count, released_capacity;
} rf_opencl_state;

const char *rf_opencl_error_name(cl_int code);

/* Records a failed cl* call on the device and returns its rf_status. */
rf_status rf_opencl_fail(rf_device *dev, cl_int code, const char *call, const char *file, int line);
#define RF_CL_CHECK(dev, call_expr, call_name)                                             \
    do {                                                                                   \
        cl_int rf_cl_err_ = (call_expr);                                                   \
        if (rf_cl_err_ != CL_SUCCESS) return rf_opencl_fail((dev), rf_cl_err_, (call_name), __FILE__, __LINE__); \
    } while (0)

/* Builds a program from several source strings, in order; a failure
 * leaves the build log in the device's error record. */
rf_status rf_opencl_build_sources(rf_device *dev, const char *label, cl_uint count, const char **sources,
                                  cl_program *out);

rf_status rf_opencl_gemm(rf_device *dev, const rf_gemm_desc *d);
/* Applies the shipped CLBlast tuning for devices we have parameters for. */
void rf_opencl_gemm_tune_device(rf_device *dev);

static inline cl_mem rf_cl_buffer(const rf_buffer *b) { return (cl_mem)b->native; }

#endif
