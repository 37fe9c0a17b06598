/* opencl_call.c — argument setting and launching for kernel launchers. */
#include <stdio.h>

#include "backend/opencl/opencl_internal.h"
#include "backend/status.h"

rf_status rf_cl_begin(rf_device *dev, const char *source, const char *kernel, rf_cl_call *call) {
    *call = (rf_cl_call){.dev = dev, .name = kernel};
    return rf_opencl_kernel(dev, source, kernel, &call->kernel);
}

void rf_cl_arg(rf_cl_call *call, size_t size, const void *value) {
    if (call->err != CL_SUCCESS) return;
    call->err = clSetKernelArg(call->kernel, call->next, size, value);
    call->next++;
}

void rf_cl_int(rf_cl_call *call, int v) {
    cl_int x = v;
    rf_cl_arg(call, sizeof x, &x);
}

void rf_cl_long(rf_cl_call *call, int64_t v) {
    cl_long x = v;
    rf_cl_arg(call, sizeof x, &x);
}

void rf_cl_longs(rf_cl_call *call, const int64_t *v, int n) {
    for (int i = 0; i < n; i++) rf_cl_long(call, v[i]);
}

void rf_cl_float(rf_cl_call *call, float v) {
    cl_float x = v;
    rf_cl_arg(call, sizeof x, &x);
}

void rf_cl_mem(rf_cl_call *call, rf_mem m) {
    cl_mem mem = m.buf ? (cl_mem)m.buf->native : NULL;
    cl_ulong off = m.off;
    rf_cl_arg(call, sizeof mem, m.buf ? (const void *)&mem : NULL);
    rf_cl_arg(call, sizeof off, &off);
}

void rf_cl_long8(rf_cl_call *call, const int64_t *v, int n) {
    cl_long8 x;
    for (int i = 0; i < 8; i++) x.s[i] = i < n ? v[i] : 0;
    rf_cl_arg(call, sizeof x, &x);
}

rf_status rf_cl_run_1d(rf_cl_call *call, size_t global) {
    if (call->err != CL_SUCCESS) {
        rf_opencl_fail(call->dev, call->err, "clSetKernelArg", __FILE__, __LINE__);
        char what[160];
        snprintf(what, sizeof what, "kernel %s argument %u: ", call->name, call->next - 1);
        return rf_error_prefix(call->dev->error.status, "%s", what);
    }
    if (global == 0) return RF_OK;
    return rf_opencl_launch_1d(call->dev, call->kernel, global);
}
