/* launch.h — how the GPU backends run the one kernel source.
 *
 * The kernels of backend/kernels/ are launched by launchers written once
 * (backend/gpu/launch_<family>.c) against this interface; OpenCL and CUDA
 * each implement rf_gpu_ops (build or look up a kernel by program and name,
 * set its arguments, enqueue an N-d range). A launcher is a flat list of
 * rf_launch_* argument calls, in the kernel's parameter order, ending in one
 * geometry call:
 *
 *     rf_launch L;
 *     rf_launch_begin(&L, dev, "basic", "softmax_f32");
 *     rf_launch_long(&L, a->rows); ... rf_launch_mem(&L, a->x); ...
 *     return rf_launch_groups(&L, a->rows);
 *
 * Argument types match device.h: int, float, rf_long (int64), rf_ulong,
 * rf_uint, rf_long8, and a buffer as (pointer, rf_ulong element offset).
 */
#ifndef RFDETR_GPU_LAUNCH_H
#define RFDETR_GPU_LAUNCH_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/kernels.h"

#define RF_LAUNCH_MAX_ARGS 48

typedef struct rf_gpu_ops {
    /* Runs `kernel` from program `program` (a family of backend/kernels/)
     * over `dims` dimensions; global[d] is a non-zero multiple of local[d].
     * values[i] points at argument i, sizes[i] is its size in bytes. */
    rf_status (*launch)(rf_device *dev, const char *program, const char *kernel, int nargs, void *const *values,
                        const size_t *sizes, int dims, const size_t *global, const size_t *local);
    /* Compiles a program from source where the backend compiles at run time
     * (rf_device_build_program); NULL elsewhere. */
    rf_status (*build)(rf_device *dev, const char *label, const char *source);
    /* The most work-groups along dimensions 1 and 2 (CUDA: 65535), 0 for no
     * limit. Where there is one, RF_ND_LOOP's items stride over the rest. */
    size_t max_groups_yz;
} rf_gpu_ops;

typedef struct rf_launch {
    rf_device *dev;
    const char *program, *kernel;
    int nargs;
    bool overflow;
    size_t used;
    void *values[RF_LAUNCH_MAX_ARGS];
    size_t sizes[RF_LAUNCH_MAX_ARGS];
    alignas(64) unsigned char storage[RF_LAUNCH_MAX_ARGS * 16 + 8 * 64];
} rf_launch;

void rf_launch_begin(rf_launch *l, rf_device *dev, const char *program, const char *kernel);
void rf_launch_int(rf_launch *l, int v);
void rf_launch_uint(rf_launch *l, uint32_t v);
void rf_launch_float(rf_launch *l, float v);
void rf_launch_long(rf_launch *l, int64_t v);
void rf_launch_ulong(rf_launch *l, uint64_t v);
/* n rf_long arguments in a row (sizes a kernel takes one by one). */
void rf_launch_longs(rf_launch *l, const int64_t *v, int n);
/* Up to 8 values as an rf_long8 (unused lanes 0). */
void rf_launch_long8(rf_launch *l, const int64_t *v, int n);
/* A buffer (NULL allowed where the kernel ignores it) and its element offset. */
void rf_launch_mem(rf_launch *l, rf_mem m);

/* One work item per element: n items in groups of the default size. */
rf_status rf_launch_items(rf_launch *l, int64_t n);
/* One work-group per row: `groups` groups of rf_gpu_group_size(dev) items. */
rf_status rf_launch_groups(rf_launch *l, int64_t groups);
/* One work-group per row of a row reduction (softmax, layer norm,
 * reductions, arg-max, sums of squares): groups of rf_gpu_row_group_size. */
rf_status rf_launch_rows(rf_launch *l, int64_t rows);
/* The range of an N-d elementwise kernel (RF_ND_LOOP) over a collapsed
 * shape: rf_nd_extents gives n0 (the last axis, along dimension 0 so that
 * neighbouring items touch neighbouring addresses), n1 (the axis before,
 * dimension 1) and n2 (the leading axes, dimension 2), which the kernel
 * takes as arguments; ndim 0 is one element. */
void rf_nd_extents(int ndim, const int64_t *shape, int64_t n[3]);
rf_status rf_launch_nd(rf_launch *l, const int64_t n[3]);
/* An explicit range (dims <= 3; global[d] a multiple of local[d]). */
rf_status rf_launch_range(rf_launch *l, int dims, const size_t *global, const size_t *local);
/* A 2-D range: n0 items (in groups of the default size) by n1. */
rf_status rf_launch_2d(rf_launch *l, int64_t n0, int64_t n1);

/* The size of the groups that reduce a row together on this device: a
 * power of two, at most RF_GROUP. */
size_t rf_gpu_group_size(const rf_device *dev);

/* The raw memory kernels a GPU backend's vtable uses: fill_u32, and the
 * GEMM with k == 0 (C = beta * C). */
rf_status rf_gpu_fill_u32(rf_buffer *dst, size_t dst_byte_offset, size_t count, uint32_t pattern);
rf_status rf_gpu_gemm_scale_c(rf_device *dev, const rf_gemm_desc *d);

/* Work items per row in rf_launch_rows: the group size, except where the
 * backend says a row runs faster on one work item (a CPU-backed OpenCL,
 * whose work-groups are loops: barriers there cost more than they share). */
size_t rf_gpu_row_group_size(const rf_device *dev);

/* A device buffer of at least `bytes` for a launcher's intermediate results,
 * owned by the device and reused by later launches: valid until the next
 * call on the same device (launches are ordered on the device's queue). */
rf_status rf_gpu_scratch(rf_device *dev, size_t bytes, rf_buffer **out);

#endif /* RFDETR_GPU_LAUNCH_H */
