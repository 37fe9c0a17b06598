/* cuda_backend.c — CUDA runtime + cuBLAS. Devices are runtime ordinals, so
 * CUDA_VISIBLE_DEVICES keeps its usual meaning. Every vtable entry first
 * makes the device's own ordinal current (RF_CUDA_ENTER): whatever another
 * library or thread set before, our work lands on the device named. Each
 * device owns a stream and a cuBLAS handle bound to it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/cuda_kernel_table.h"
#include "backend/gpu/launch.h"
#include "backend/kernels.h"
#include "backend/status.h"

static struct {
    pthread_once_t once;
    int count;
    rf_device_info *infos;
    char reason[256];
} probe = {.once = PTHREAD_ONCE_INIT};

static void probe_once(void) {
    /* Without a driver cudaGetDeviceCount returns an error and leaves the
     * count unwritten: start from 0. */
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        snprintf(probe.reason, sizeof probe.reason, "no CUDA device: %s (%s, %d)", cudaGetErrorString(err),
                 cudaGetErrorName(err), (int)err);
        cudaGetLastError(); /* clear the sticky-free error so later calls start clean */
        return;
    }
    if (n <= 0) {
        snprintf(probe.reason, sizeof probe.reason, "no CUDA device: the driver reports none");
        return;
    }
    probe.infos = calloc((size_t)n, sizeof *probe.infos);
    if (!probe.infos) {
        snprintf(probe.reason, sizeof probe.reason, "out of host memory listing %d CUDA devices", n);
        return;
    }
    int runtime = 0, driver = 0;
    cudaRuntimeGetVersion(&runtime);
    cudaDriverGetVersion(&driver);
    for (int i = 0; i < n; i++) {
        rf_device_info *info = &probe.infos[i];
        struct cudaDeviceProp prop;
        memset(&prop, 0, sizeof prop);
        if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) {
            snprintf(prop.name, sizeof prop.name, "CUDA device %d (properties unavailable)", i);
            cudaGetLastError();
        }
        snprintf(info->name, sizeof info->name, "cuda:%d", i);
        snprintf(info->backend, sizeof info->backend, "cuda");
        info->index = i;
        info->type = RF_DEVICE_GPU;
        snprintf(info->description, sizeof info->description, "%.200s (sm_%d%d)", prop.name, prop.major, prop.minor);
        snprintf(info->vendor, sizeof info->vendor, "NVIDIA Corporation");
        snprintf(info->driver_version, sizeof info->driver_version, "driver %d.%d", driver / 1000,
                 (driver % 1000) / 10);
        snprintf(info->platform, sizeof info->platform, "CUDA runtime %d.%d", runtime / 1000, (runtime % 1000) / 10);
        info->global_mem_bytes = prop.totalGlobalMem;
        info->max_alloc_bytes = prop.totalGlobalMem;
        info->compute_units = prop.multiProcessorCount;
        if (cudaDeviceGetPCIBusId(info->pci_bus_id, (int)sizeof info->pci_bus_id, i) != cudaSuccess) {
            info->pci_bus_id[0] = '\0';
            cudaGetLastError();
        }
    }
    probe.count = n;
}

static int cuda_device_count(void) {
    pthread_once(&probe.once, probe_once);
    return probe.count;
}

static const char *cuda_unavailable_reason(void) {
    pthread_once(&probe.once, probe_once);
    return probe.reason;
}

static rf_status cuda_device_info(int index, rf_device_info *out) {
    if (index < 0 || index >= cuda_device_count())
        return RF_ERROR(RF_ERR_NO_DEVICE, "cuda:%d does not exist (%d CUDA devices)", index, probe.count);
    *out = probe.infos[index];
    return RF_OK;
}

rf_status rf_cuda_fail(rf_device *dev, cudaError_t err, const char *call, const char *file, int line) {
    rf_status st = err == cudaErrorMemoryAllocation ? RF_ERR_OUT_OF_MEMORY : RF_ERR_BACKEND;
    cudaGetLastError(); /* reset non-sticky errors so the next call is judged on its own */
    return rf_device_fail(dev, st, err, cudaGetErrorName(err), call, file, line, "%s%s", cudaGetErrorString(err),
                          st == RF_ERR_OUT_OF_MEMORY ? "; try a smaller batch or resolution" : "");
}

rf_status rf_cublas_fail(rf_device *dev, cublasStatus_t s, const char *call, const char *file, int line) {
    rf_status st = s == CUBLAS_STATUS_ALLOC_FAILED ? RF_ERR_OUT_OF_MEMORY : RF_ERR_BACKEND;
    return rf_device_fail(dev, st, s, cublasGetStatusName(s), call, file, line, "%s", cublasGetStatusString(s));
}

static rf_cuda_state *state(const rf_device *dev) { return dev->native; }

static rf_status cuda_alloc(rf_device *dev, size_t bytes, rf_buffer **out) {
    RF_CUDA_ENTER(dev);
    rf_buffer *buf = malloc(sizeof *buf);
    if (!buf) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    void *ptr = NULL;
    cudaError_t err = cudaMalloc(&ptr, bytes);
    if (err != cudaSuccess) {
        free(buf);
        rf_cuda_fail(dev, err, "cudaMalloc", __FILE__, __LINE__);
        return rf_error_prefix(dev->error.status, "allocating %zu bytes (%.1f MiB, %.1f MiB already live): ", bytes,
                               bytes / 1048576.0, dev->counters.bytes_live / 1048576.0);
    }
    buf->device = dev;
    buf->bytes = bytes;
    buf->native = ptr;
    *out = buf;
    return RF_OK;
}

static void cuda_free(rf_buffer *buf) {
    rf_device *dev = buf->device;
    if (cudaSetDevice(state(dev)->ordinal) == cudaSuccess) {
        /* Work still queued may read the buffer: cudaFree synchronizes. */
        cudaFree(buf->native);
    }
    free(buf);
}

static rf_status cuda_upload(rf_buffer *dst, size_t off, const void *src, size_t bytes) {
    rf_device *dev = dst->device;
    RF_CUDA_ENTER(dev);
    RF_CUDA_CHECK(dev, cudaMemcpyAsync((char *)dst->native + off, src, bytes, cudaMemcpyHostToDevice, state(dev)->stream),
                  "cudaMemcpyAsync");
    RF_CUDA_CHECK(dev, cudaStreamSynchronize(state(dev)->stream), "cudaStreamSynchronize");
    return RF_OK;
}

static rf_status cuda_download(const rf_buffer *src, size_t off, void *dst, size_t bytes) {
    rf_device *dev = src->device;
    RF_CUDA_ENTER(dev);
    RF_CUDA_CHECK(dev,
                  cudaMemcpyAsync(dst, (const char *)src->native + off, bytes, cudaMemcpyDeviceToHost, state(dev)->stream),
                  "cudaMemcpyAsync");
    RF_CUDA_CHECK(dev, cudaStreamSynchronize(state(dev)->stream), "cudaStreamSynchronize");
    return RF_OK;
}

static rf_status cuda_copy(rf_buffer *dst, size_t dst_off, const rf_buffer *src, size_t src_off, size_t bytes) {
    rf_device *dev = dst->device;
    RF_CUDA_ENTER(dev);
    RF_CUDA_CHECK(dev,
                  cudaMemcpyAsync((char *)dst->native + dst_off, (const char *)src->native + src_off, bytes,
                                  cudaMemcpyDeviceToDevice, state(dev)->stream),
                  "cudaMemcpyAsync");
    return RF_OK;
}

static rf_status cuda_synchronize(rf_device *dev) {
    RF_CUDA_ENTER(dev);
    RF_CUDA_CHECK(dev, cudaStreamSynchronize(state(dev)->stream), "cudaStreamSynchronize");
    return RF_OK;
}

static rf_status cuda_gemm(rf_device *dev, const rf_gemm_desc *d) {
    RF_CUDA_ENTER(dev);
    rf_cuda_state *st = state(dev);
    if (d->k == 0) return rf_gpu_gemm_scale_c(dev, d);
    const float *a = (const float *)d->a->native + d->a_offset;
    const float *b = (const float *)d->b->native + d->b_offset;
    float *c = (float *)d->c->native + d->c_offset;
    /* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap
     * the operands and m/n, keep each operand's own transpose flag. */
    cublasStatus_t s = cublasSgemmStridedBatched(
        st->cublas, d->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, d->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)d->n,
        (int)d->m, (int)d->k, &d->alpha, b, (int)d->ldb, d->stride_b, a, (int)d->lda, d->stride_a, &d->beta, c,
        (int)d->ldc, d->stride_c, (int)d->batch);
    if (s != CUBLAS_STATUS_SUCCESS) return rf_cublas_fail(dev, s, "cublasSgemmStridedBatched", __FILE__, __LINE__);
    return RF_OK;
}

/* ---- the one kernel source, compiled by nvcc (backend/cuda/kernels_*.cu) ---- */

extern const rf_cuda_kernel rf_cuda_program_basic[], rf_cuda_program_conv[], rf_cuda_program_sampling[],
    rf_cuda_program_loss[], rf_cuda_program_optim[], rf_cuda_program_rng[], rf_cuda_program_memory[],
    rf_cuda_program_attention[];

static const struct {
    const char *name;
    const rf_cuda_kernel *kernels;
} programs[] = {
    {"basic", rf_cuda_program_basic}, {"conv", rf_cuda_program_conv},   {"sampling", rf_cuda_program_sampling},
    {"loss", rf_cuda_program_loss},   {"optim", rf_cuda_program_optim}, {"rng", rf_cuda_program_rng},
    {"memory", rf_cuda_program_memory}, {"attention", rf_cuda_program_attention},
};

static const void *find_kernel(const char *program, const char *kernel) {
    for (size_t p = 0; p < sizeof programs / sizeof programs[0]; p++)
        if (strcmp(programs[p].name, program) == 0)
            for (const rf_cuda_kernel *k = programs[p].kernels; k->name; k++)
                if (strcmp(k->name, kernel) == 0) return k->function;
    return NULL;
}

static rf_status cuda_launch(rf_device *dev, const char *program, const char *kernel, int nargs, void *const *values,
                             const size_t *sizes, int dims, const size_t *global, const size_t *local) {
    (void)nargs;
    (void)sizes; /* cudaLaunchKernel reads each argument by the function's own parameter types */
    RF_CUDA_ENTER(dev);
    const void *function = find_kernel(program, kernel);
    if (!function) return RF_ERROR(RF_ERR_INTERNAL, "%s: no CUDA kernel %s in %s", dev->info.name, kernel, program);
    size_t grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
    for (int d = 0; d < dims; d++) {
        block[d] = local[d];
        grid[d] = global[d] / local[d];
    }
    if (grid[0] > 0x7FFFFFFFu || grid[1] > 65535 || grid[2] > 65535)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: kernel %s: %zu x %zu x %zu blocks exceed CUDA's grid", dev->info.name,
                        kernel, grid[0], grid[1], grid[2]);
    dim3 g = {(unsigned)grid[0], (unsigned)grid[1], (unsigned)grid[2]};
    dim3 b = {(unsigned)block[0], (unsigned)block[1], (unsigned)block[2]};
    RF_CUDA_CHECK(dev, cudaLaunchKernel(function, g, b, (void **)values, 0, state(dev)->stream), "cudaLaunchKernel");
    rf_device_count_launch(dev);
    return RF_OK;
}

static const rf_gpu_ops cuda_gpu_ops = {.launch = cuda_launch, .max_groups_yz = 65535};

static void cuda_close(rf_device *dev) {
    rf_cuda_state *st = dev->native;
    if (!st) return;
    if (cudaSetDevice(st->ordinal) == cudaSuccess) {
        if (st->stream) cudaStreamSynchronize(st->stream);
        if (st->cublas) cublasDestroy(st->cublas);
        if (st->stream) cudaStreamDestroy(st->stream);
    }
    free(st);
    dev->native = NULL;
}

static const rf_device_ops cuda_ops = {
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .copy = cuda_copy,
    .fill_u32 = rf_gpu_fill_u32,
    .synchronize = cuda_synchronize,
    .gemm = cuda_gemm,
    .close = cuda_close,
};

static rf_status cuda_open(int index, const rf_device_options *options, rf_device **out) {
    rf_device_info info;
    RF_TRY(cuda_device_info(index, &info));
    rf_cuda_state *st = calloc(1, sizeof *st);
    if (!st) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory opening %s", info.name);
    st->ordinal = index;
    rf_device *dev;
    rf_status s = rf_device_new(&rf_backend_cuda, &info, &cuda_ops, st, &dev);
    if (s != RF_OK) {
        free(st);
        return s;
    }
    cudaError_t err = cudaSetDevice(index);
    if (err == cudaSuccess) err = cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking);
    if (err != cudaSuccess) {
        s = rf_cuda_fail(dev, err, "cudaStreamCreateWithFlags", __FILE__, __LINE__);
        rf_device_close(dev);
        return s;
    }
    cublasStatus_t cs = cublasCreate(&st->cublas);
    if (cs == CUBLAS_STATUS_SUCCESS) cs = cublasSetStream(st->cublas, st->stream);
    if (cs != CUBLAS_STATUS_SUCCESS) {
        s = rf_cublas_fail(dev, cs, "cublasCreate", __FILE__, __LINE__);
        rf_device_close(dev);
        return s;
    }
    int threads = 0;
    if (cudaDeviceGetAttribute(&threads, cudaDevAttrMaxThreadsPerBlock, index) != cudaSuccess || threads < 1) threads = 256;
    dev->kernels = &rf_gpu_kernels;
    dev->gpu = &cuda_gpu_ops;
    dev->max_group_size = (size_t)threads;
    *out = dev;
    return RF_OK;
}

const rf_backend rf_backend_cuda = {
    .name = "cuda",
    .device_count = cuda_device_count,
    .device_info = cuda_device_info,
    .open = cuda_open,
    .unavailable_reason = cuda_unavailable_reason,
};
