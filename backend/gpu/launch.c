/* launch.c — argument packing and launch geometry shared by the GPU
 * backends (see launch.h). */
#include <stdint.h>
#include <string.h>

#include "backend/gpu/launch.h"
#include "backend/kernels/device.h"
#include "backend/status.h"

void rf_launch_begin(rf_launch *l, rf_device *dev, const char *program, const char *kernel) {
    l->dev = dev;
    l->program = program;
    l->kernel = kernel;
    l->nargs = 0;
    l->overflow = false;
    l->used = 0;
}

static void push(rf_launch *l, const void *value, size_t size, size_t align) {
    size_t at = (l->used + align - 1) / align * align;
    if (l->nargs == RF_LAUNCH_MAX_ARGS || at + size > sizeof l->storage) {
        l->overflow = true;
        return;
    }
    memcpy(l->storage + at, value, size);
    l->values[l->nargs] = l->storage + at;
    l->sizes[l->nargs] = size;
    l->nargs++;
    l->used = at + size;
}

void rf_launch_int(rf_launch *l, int v) {
    int32_t x = v;
    push(l, &x, 4, 4);
}
void rf_launch_uint(rf_launch *l, uint32_t v) { push(l, &v, 4, 4); }
void rf_launch_float(rf_launch *l, float v) { push(l, &v, 4, 4); }
void rf_launch_long(rf_launch *l, int64_t v) { push(l, &v, 8, 8); }
void rf_launch_ulong(rf_launch *l, uint64_t v) { push(l, &v, 8, 8); }

void rf_launch_longs(rf_launch *l, const int64_t *v, int n) {
    for (int i = 0; i < n; i++) rf_launch_long(l, v[i]);
}

void rf_launch_long8(rf_launch *l, const int64_t *v, int n) {
    int64_t x[8] = {0};
    for (int i = 0; i < n && i < 8; i++) x[i] = v[i];
    push(l, x, sizeof x, 64);
}

void rf_launch_mem(rf_launch *l, rf_mem m) {
    void *native = m.buf ? m.buf->native : NULL;
    push(l, &native, sizeof native, sizeof native);
    rf_launch_ulong(l, m.buf ? m.off : 0);
}

size_t rf_gpu_group_size(const rf_device *dev) {
    size_t g = RF_GROUP;
    while (g > 1 && g > dev->max_group_size) g >>= 1;
    return g;
}

static rf_status run(rf_launch *l, int dims, const size_t *global, const size_t *local) {
    if (l->overflow)
        return RF_ERROR(RF_ERR_INTERNAL, "%s: kernel %s: more arguments than RF_LAUNCH_MAX_ARGS", l->dev->info.name,
                        l->kernel);
    for (int d = 0; d < dims; d++)
        if (global[d] == 0) return RF_OK; /* nothing to do; neither API takes an empty range */
    return l->dev->gpu->launch(l->dev, l->program, l->kernel, l->nargs, l->values, l->sizes, dims, global, local);
}

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

rf_status rf_launch_items(rf_launch *l, int64_t n) {
    size_t local = rf_gpu_group_size(l->dev);
    size_t global = round_up((size_t)n, local);
    return run(l, 1, &global, &local);
}

rf_status rf_launch_groups(rf_launch *l, int64_t groups) {
    size_t local = rf_gpu_group_size(l->dev);
    size_t global = (size_t)groups * local;
    return run(l, 1, &global, &local);
}

size_t rf_gpu_row_group_size(const rf_device *dev) {
    return dev->row_group_size ? dev->row_group_size : rf_gpu_group_size(dev);
}

rf_status rf_launch_rows(rf_launch *l, int64_t rows) {
    size_t local = rf_gpu_row_group_size(l->dev);
    size_t global = (size_t)rows * local;
    return run(l, 1, &global, &local);
}

rf_status rf_launch_range(rf_launch *l, int dims, const size_t *global, const size_t *local) {
    return run(l, dims, global, local);
}

void rf_nd_extents(int ndim, const int64_t *shape, int64_t n[3]) {
    n[0] = ndim >= 1 ? shape[ndim - 1] : 1;
    n[1] = ndim >= 2 ? shape[ndim - 2] : 1;
    n[2] = 1;
    for (int d = 0; d < ndim - 2; d++) n[2] *= shape[d];
}

static size_t pow2_at_least(int64_t n, size_t cap) {
    size_t p = 1;
    while (p < cap && (int64_t)p < n) p <<= 1;
    return p;
}

rf_status rf_launch_nd(rf_launch *l, const int64_t n[3]) {
    size_t max_outer = l->dev->gpu->max_groups_yz ? l->dev->gpu->max_groups_yz : SIZE_MAX;
    size_t group = rf_gpu_group_size(l->dev);
    size_t local[3], global[3];
    local[0] = pow2_at_least(n[0], group);
    local[1] = pow2_at_least(n[1], group / local[0]);
    local[2] = 1;
    global[0] = round_up((size_t)n[0], local[0]);
    global[1] = round_up((size_t)n[1], local[1]);
    if (global[1] / local[1] > max_outer) global[1] = max_outer * local[1];
    global[2] = (size_t)n[2] < max_outer ? (size_t)n[2] : max_outer;
    return run(l, 3, global, local);
}

rf_status rf_launch_2d(rf_launch *l, int64_t n0, int64_t n1) {
    size_t local[2] = {rf_gpu_group_size(l->dev), 1};
    size_t global[2] = {round_up((size_t)n0, local[0]), (size_t)n1};
    return run(l, 2, global, local);
}

rf_status rf_gpu_scratch(rf_device *dev, size_t bytes, rf_buffer **out) {
    if (!dev->scratch || dev->scratch->bytes < bytes) {
        if (dev->scratch) rf_buffer_free(dev->scratch);
        dev->scratch = NULL;
        RF_TRY(rf_buffer_alloc(dev, bytes, &dev->scratch));
    }
    *out = dev->scratch;
    return RF_OK;
}

rf_status rf_device_build_program(rf_device *dev, const char *label, const char *source) {
    if (!dev->gpu || !dev->gpu->build)
        return RF_ERROR(RF_ERR_UNSUPPORTED, "%s compiles no kernels at run time", dev->info.name);
    return dev->gpu->build(dev, label, source);
}
