/* opencl_backend.c — every OpenCL platform and device type, flattened in
 * driver order (clGetPlatformIDs order, then clGetDeviceIDs order within a
 * platform), never re-sorted or filtered: opencl:N is the N-th device that
 * order yields. Each opened device owns its context and in-order queue. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CL/cl_ext.h>

#include "backend/gpu/launch.h"
#include "backend/opencl/opencl_internal.h"
#include "backend/status.h"

/* The one kernel source (the headers of backend/kernels), embedded at build time
 * (cmake/embed.cmake). */
extern const char *const rf_opencl_kernel_names[];
extern const char *const rf_opencl_kernel_sources[];
extern const size_t rf_opencl_kernel_count;

/* Each program is a family's file after the files it needs, in order:
 * OpenCL C cannot #include an embedded source, so the prelude travels as
 * the program's first strings. */
#define RF_CL_MAX_PROGRAM_FILES 6
static const char *const program_files[RF_OPENCL_PROGRAMS][RF_CL_MAX_PROGRAM_FILES + 1] = {
    {"basic", "device.h", "ops.h", "common.h", "half.h", "basic.h", NULL},
    {"conv", "device.h", "ops.h", "common.h", "conv.h", NULL},
    {"sampling", "device.h", "ops.h", "common.h", "sampling_taps.h", "sampling.h", NULL},
    {"loss", "device.h", "ops.h", "common.h", "loss.h", NULL},
    {"optim", "device.h", "ops.h", "common.h", "adamw_step.h", "optim.h", NULL},
    {"rng", "device.h", "ops.h", "common.h", "rng.h", NULL},
    {"memory", "device.h", "memory.h", NULL},
    {"attention", "device.h", "ops.h", "common.h", "attention_sizes.h", "attention.h", NULL},
    {"gemm", "device.h", "gemm.h", NULL},
};

/* Vendor queries for the PCI location, when cl_khr_pci_bus_info is absent. */
#define RF_CL_DEVICE_PCI_BUS_ID_NV 0x4008
#define RF_CL_DEVICE_PCI_SLOT_ID_NV 0x4009
#define RF_CL_DEVICE_PCI_DOMAIN_ID_NV 0x400A

typedef struct probed_device {
    cl_platform_id platform;
    cl_device_id id;
    rf_device_info info;
    bool is_pocl;
    bool is_oclgrind;
} probed_device;

/* Enumeration result: filled once, read-only afterwards. It is a cache of
 * what the driver reports, not a selection: nothing here is "current". */
static struct {
    pthread_once_t once;
    probed_device *devices;
    int count;
    char reason[256];
} probe = {.once = PTHREAD_ONCE_INIT};

static void get_string(cl_device_id d, cl_device_info what, char *out, size_t size) {
    out[0] = '\0';
    if (clGetDeviceInfo(d, what, size, out, NULL) != CL_SUCCESS) out[0] = '\0';
    out[size - 1] = '\0';
}

static void fill_pci_bus_id(cl_device_id d, char *out, size_t size) {
    out[0] = '\0';
    char ext[8192];
    get_string(d, CL_DEVICE_EXTENSIONS, ext, sizeof ext);
    if (strstr(ext, "cl_khr_pci_bus_info")) {
        cl_device_pci_bus_info_khr pci;
        if (clGetDeviceInfo(d, CL_DEVICE_PCI_BUS_INFO_KHR, sizeof pci, &pci, NULL) == CL_SUCCESS) {
            snprintf(out, size, "%04x:%02x:%02x.%x", pci.pci_domain, pci.pci_bus, pci.pci_device, pci.pci_function);
            return;
        }
    }
    if (strstr(ext, "cl_nv_device_attribute_query")) {
        cl_uint bus = 0, slot = 0, domain = 0;
        if (clGetDeviceInfo(d, RF_CL_DEVICE_PCI_BUS_ID_NV, sizeof bus, &bus, NULL) == CL_SUCCESS &&
            clGetDeviceInfo(d, RF_CL_DEVICE_PCI_SLOT_ID_NV, sizeof slot, &slot, NULL) == CL_SUCCESS) {
            clGetDeviceInfo(d, RF_CL_DEVICE_PCI_DOMAIN_ID_NV, sizeof domain, &domain, NULL);
            /* NVIDIA packs device and function into the slot id. */
            snprintf(out, size, "%04x:%02x:%02x.%x", domain, bus, slot >> 3, slot & 7);
            return;
        }
    }
    if (strstr(ext, "cl_amd_device_attribute_query")) {
        union {
            struct { cl_uint type; cl_uint data[5]; } raw;
            struct { cl_uint type; cl_char unused[17]; cl_char bus, device, function; } pcie;
        } topo;
        if (clGetDeviceInfo(d, CL_DEVICE_TOPOLOGY_AMD, sizeof topo, &topo, NULL) == CL_SUCCESS &&
            topo.raw.type == 1 /* CL_DEVICE_TOPOLOGY_TYPE_PCIE_AMD */) {
            snprintf(out, size, "0000:%02x:%02x.%x", (unsigned char)topo.pcie.bus, (unsigned char)topo.pcie.device,
                     (unsigned char)topo.pcie.function);
        }
    }
}

static void describe(probed_device *p, int index) {
    rf_device_info *info = &p->info;
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "opencl:%d", index);
    snprintf(info->backend, sizeof info->backend, "opencl");
    info->index = index;
    cl_device_type type = 0;
    clGetDeviceInfo(p->id, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->type = (type & CL_DEVICE_TYPE_GPU)           ? RF_DEVICE_GPU
                 : (type & CL_DEVICE_TYPE_CPU)         ? RF_DEVICE_CPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? RF_DEVICE_ACCELERATOR
                                                       : RF_DEVICE_OTHER;
    get_string(p->id, CL_DEVICE_NAME, info->description, sizeof info->description);
    get_string(p->id, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    get_string(p->id, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    info->platform[0] = '\0';
    clGetPlatformInfo(p->platform, CL_PLATFORM_NAME, sizeof info->platform, info->platform, NULL);
    info->platform[sizeof info->platform - 1] = '\0';
    cl_ulong mem = 0, max_alloc = 0;
    clGetDeviceInfo(p->id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    clGetDeviceInfo(p->id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    info->global_mem_bytes = mem;
    info->max_alloc_bytes = max_alloc;
    cl_uint units = 0;
    clGetDeviceInfo(p->id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    info->compute_units = (int)units;
    fill_pci_bus_id(p->id, info->pci_bus_id, sizeof info->pci_bus_id);
    p->is_pocl = strstr(info->platform, "Portable Computing Language") != NULL;
    p->is_oclgrind = strstr(info->platform, "Oclgrind") != NULL;
}

static void probe_once(void) {
    cl_uint nplat = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &nplat);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR: the ICD loader found no driver */ || (err == CL_SUCCESS && nplat == 0)) {
        snprintf(probe.reason, sizeof probe.reason,
                 "no OpenCL platform installed (install a driver, e.g. pocl-opencl-icd; PoCL needs "
                 "POCL_DEVICES unset or spelled like \"pthread pthread\")");
        return;
    }
    if (err != CL_SUCCESS) {
        snprintf(probe.reason, sizeof probe.reason, "clGetPlatformIDs failed with %s (%d)", rf_opencl_error_name(err),
                 err);
        return;
    }
    cl_platform_id *plats = calloc(nplat, sizeof *plats);
    if (!plats || clGetPlatformIDs(nplat, plats, NULL) != CL_SUCCESS) {
        free(plats);
        snprintf(probe.reason, sizeof probe.reason, "clGetPlatformIDs failed listing %u platforms", nplat);
        return;
    }
    int capacity = 0;
    for (cl_uint p = 0; p < nplat; p++) {
        cl_uint ndev = 0;
        /* A platform without devices answers CL_DEVICE_NOT_FOUND: skip it. */
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &ndev) != CL_SUCCESS || ndev == 0) continue;
        cl_device_id *ids = calloc(ndev, sizeof *ids);
        if (!ids || clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, ndev, ids, NULL) != CL_SUCCESS) {
            free(ids);
            continue;
        }
        for (cl_uint d = 0; d < ndev; d++) {
            if (probe.count == capacity) {
                capacity = capacity ? capacity * 2 : 8;
                probed_device *grown = realloc(probe.devices, (size_t)capacity * sizeof *grown);
                if (!grown) break;
                probe.devices = grown;
            }
            probed_device *pd = &probe.devices[probe.count];
            pd->platform = plats[p];
            pd->id = ids[d];
            describe(pd, probe.count);
            probe.count++;
        }
        free(ids);
    }
    free(plats);
    if (probe.count == 0)
        snprintf(probe.reason, sizeof probe.reason,
                 "%u OpenCL platform%s but no devices (for PoCL, POCL_DEVICES must be unset or a list of driver "
                 "names such as \"pthread pthread\")",
                 nplat, nplat == 1 ? "" : "s");
}

static int opencl_device_count(void) {
    pthread_once(&probe.once, probe_once);
    return probe.count;
}

static const char *opencl_unavailable_reason(void) {
    pthread_once(&probe.once, probe_once);
    return probe.reason;
}

static rf_status opencl_device_info(int index, rf_device_info *out) {
    if (index < 0 || index >= opencl_device_count())
        return RF_ERROR(RF_ERR_NO_DEVICE, "opencl:%d does not exist (%d OpenCL devices)", index, probe.count);
    *out = probe.devices[index].info;
    return RF_OK;
}

/* ---- memory ---------------------------------------------------------------- */

static rf_status opencl_alloc(rf_device *dev, size_t bytes, rf_buffer **out) {
    rf_opencl_state *st = dev->native;
    rf_buffer *buf = malloc(sizeof *buf);
    if (!buf) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    cl_int err = CL_SUCCESS;
    cl_mem mem = clCreateBuffer(st->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        free(buf);
        rf_opencl_fail(dev, err, "clCreateBuffer", __FILE__, __LINE__);
        return rf_error_prefix(dev->error.status, "allocating %zu bytes (%.1f MiB, %.1f MiB already live): ", bytes,
                               bytes / 1048576.0, dev->counters.bytes_live / 1048576.0);
    }
    buf->device = dev;
    buf->bytes = bytes;
    buf->native = mem;
    *out = buf;
    return RF_OK;
}

/* Oclgrind (21.10 and its current source) hands a released buffer's index
 * to the next buffer created, but its uninitialised-value plugin keeps the
 * old buffer's shadow memory, sized as the old buffer was: a larger new
 * buffer then drops the shadow of every store past the old size, and reads
 * there are reported as uninitialised although a kernel wrote them (the
 * attention backward pass's dq -> dk/dv hand-over through the device's
 * scratch buffer, the GEMM's packed panels). Under Oclgrind no index is
 * reused: the device keeps released buffers until it closes. */
static void opencl_free(rf_buffer *buf) {
    rf_opencl_state *st = buf->device->native;
    cl_mem mem = rf_cl_buffer(buf);
    free(buf);
    if (st->defer_release) {
        if (st->released_count == st->released_capacity) {
            size_t capacity = st->released_capacity ? 2 * st->released_capacity : 64;
            cl_mem *grown = realloc(st->released, capacity * sizeof *grown);
            if (grown) {
                st->released = grown;
                st->released_capacity = capacity;
            }
        }
        if (st->released_count < st->released_capacity) {
            st->released[st->released_count++] = mem;
            return;
        }
    }
    clReleaseMemObject(mem);
}

static rf_status opencl_upload(rf_buffer *dst, size_t off, const void *src, size_t bytes) {
    rf_device *dev = dst->device;
    rf_opencl_state *st = dev->native;
    RF_CL_CHECK(dev, clEnqueueWriteBuffer(st->queue, rf_cl_buffer(dst), CL_TRUE, off, bytes, src, 0, NULL, NULL),
                "clEnqueueWriteBuffer");
    return RF_OK;
}

static rf_status opencl_download(const rf_buffer *src, size_t off, void *dst, size_t bytes) {
    rf_device *dev = src->device;
    rf_opencl_state *st = dev->native;
    RF_CL_CHECK(dev, clEnqueueReadBuffer(st->queue, rf_cl_buffer(src), CL_TRUE, off, bytes, dst, 0, NULL, NULL),
                "clEnqueueReadBuffer");
    return RF_OK;
}

static rf_status opencl_copy(rf_buffer *dst, size_t dst_off, const rf_buffer *src, size_t src_off, size_t bytes) {
    rf_device *dev = dst->device;
    rf_opencl_state *st = dev->native;
    RF_CL_CHECK(dev,
                clEnqueueCopyBuffer(st->queue, rf_cl_buffer(src), rf_cl_buffer(dst), src_off, dst_off, bytes, 0, NULL, NULL),
                "clEnqueueCopyBuffer");
    return RF_OK;
}

static rf_status opencl_synchronize(rf_device *dev) {
    rf_opencl_state *st = dev->native;
    RF_CL_CHECK(dev, clFinish(st->queue), "clFinish");
    return RF_OK;
}

/* ---- programs and launches ----------------------------------------------------- */

/* -cl-std=CL1.2 keeps kernels portable to every 1.2 driver; no fast-math
 * flags, so results stay within the tolerances tests hold them to. */
static const char *const build_options = "-cl-std=CL1.2";

rf_status rf_opencl_build_sources(rf_device *dev, const char *label, cl_uint count, const char **sources,
                                  cl_program *out) {
    rf_opencl_state *st = dev->native;
    cl_int err = CL_SUCCESS;
    cl_program prog = clCreateProgramWithSource(st->context, count, sources, NULL, &err);
    if (err != CL_SUCCESS) return rf_opencl_fail(dev, err, "clCreateProgramWithSource", __FILE__, __LINE__);
    err = clBuildProgram(prog, 1, &st->device_id, build_options, NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t log_size = 0;
        clGetProgramBuildInfo(prog, st->device_id, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size);
        char *log = malloc(log_size + 1);
        if (log) {
            log[0] = '\0';
            clGetProgramBuildInfo(prog, st->device_id, CL_PROGRAM_BUILD_LOG, log_size, log, NULL);
            log[log_size] = '\0';
        }
        clReleaseProgram(prog);
        rf_device_set_build_log(dev, log);
        rf_opencl_fail(dev, err, "clBuildProgram", __FILE__, __LINE__);
        return rf_error_prefix(dev->error.status, "building %s: ", label);
    }
    *out = prog;
    return RF_OK;
}

static rf_status build_program(rf_device *dev, int program, cl_program *out) {
    const char *sources[RF_CL_MAX_PROGRAM_FILES];
    cl_uint count = 0;
    for (const char *const *file = &program_files[program][1]; *file; file++) {
        size_t src = 0;
        while (src < rf_opencl_kernel_count && strcmp(rf_opencl_kernel_names[src], *file) != 0) src++;
        if (src == rf_opencl_kernel_count)
            return RF_ERROR(RF_ERR_INTERNAL, "%s: no embedded kernel source named %s", dev->info.name, *file);
        sources[count++] = rf_opencl_kernel_sources[src];
    }
    return rf_opencl_build_sources(dev, program_files[program][0], count, sources, out);
}

/* The kernel `kernel_name` of `program` (a family: "basic"), building the
 * program for this device on first use. */
static rf_status find_kernel(rf_device *dev, const char *program, const char *kernel_name, cl_kernel *out) {
    rf_opencl_state *st = dev->native;
    for (int i = 0; i < st->kernel_count; i++)
        if (strcmp(st->kernels[i].name, kernel_name) == 0) {
            *out = st->kernels[i].kernel;
            return RF_OK;
        }
    int prog = 0;
    while (prog < RF_OPENCL_PROGRAMS && strcmp(program_files[prog][0], program) != 0) prog++;
    if (prog == RF_OPENCL_PROGRAMS)
        return RF_ERROR(RF_ERR_INTERNAL, "%s: no kernel program named %s", dev->info.name, program);
    if (!st->programs[prog]) RF_TRY(build_program(dev, prog, &st->programs[prog]));
    if (st->kernel_count == RF_OPENCL_MAX_KERNELS)
        return RF_ERROR(RF_ERR_INTERNAL, "%s: more than %d OpenCL kernels; raise RF_OPENCL_MAX_KERNELS", dev->info.name,
                        RF_OPENCL_MAX_KERNELS);
    cl_int err = CL_SUCCESS;
    cl_kernel k = clCreateKernel(st->programs[prog], kernel_name, &err);
    if (err != CL_SUCCESS) {
        rf_opencl_fail(dev, err, "clCreateKernel", __FILE__, __LINE__);
        return rf_error_prefix(dev->error.status, "kernel %s in %s: ", kernel_name, program);
    }
    st->kernels[st->kernel_count].name = kernel_name;
    st->kernels[st->kernel_count].kernel = k;
    st->kernel_count++;
    *out = k;
    return RF_OK;
}

static rf_status opencl_launch(rf_device *dev, const char *program, const char *kernel, int nargs, void *const *values,
                               const size_t *sizes, int dims, const size_t *global, const size_t *local) {
    rf_opencl_state *st = dev->native;
    cl_kernel k = NULL;
    RF_TRY(find_kernel(dev, program, kernel, &k));
    for (int i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(k, (cl_uint)i, sizes[i], values[i]);
        if (err != CL_SUCCESS) {
            rf_opencl_fail(dev, err, "clSetKernelArg", __FILE__, __LINE__);
            return rf_error_prefix(dev->error.status, "kernel %s argument %d: ", kernel, i);
        }
    }
    RF_CL_CHECK(dev, clEnqueueNDRangeKernel(st->queue, k, (cl_uint)dims, NULL, global, local, 0, NULL, NULL),
                "clEnqueueNDRangeKernel");
    rf_device_count_launch(dev);
    return RF_OK;
}

static rf_status opencl_build(rf_device *dev, const char *label, const char *source) {
    cl_program prog;
    RF_TRY(rf_opencl_build_sources(dev, label, 1, &source, &prog));
    clReleaseProgram(prog);
    return RF_OK;
}

static const rf_gpu_ops opencl_gpu_ops = {.launch = opencl_launch, .build = opencl_build};

/* ---- open / close ---------------------------------------------------------------- */

static void opencl_close(rf_device *dev) {
    rf_opencl_state *st = dev->native;
    if (!st) return;
    if (st->gemm_pack) rf_buffer_free(st->gemm_pack);
    if (st->queue) clFinish(st->queue);
    for (size_t i = 0; i < st->released_count; i++) clReleaseMemObject(st->released[i]);
    free(st->released);
    for (int i = 0; i < st->kernel_count; i++) clReleaseKernel(st->kernels[i].kernel);
    for (int i = 0; i < RF_OPENCL_PROGRAMS; i++)
        if (st->programs[i]) clReleaseProgram(st->programs[i]);
    if (st->queue) clReleaseCommandQueue(st->queue);
    if (st->context) clReleaseContext(st->context);
    free(st);
    dev->native = NULL;
}

static const rf_device_ops opencl_ops = {
    .alloc = opencl_alloc,
    .free = opencl_free,
    .upload = opencl_upload,
    .download = opencl_download,
    .copy = opencl_copy,
    .fill_u32 = rf_gpu_fill_u32,
    .synchronize = opencl_synchronize,
    .gemm = rf_opencl_gemm,
    .close = opencl_close,
};

static rf_status opencl_open(int index, const rf_device_options *options, rf_device **out) {
    rf_device_info info;
    RF_TRY(opencl_device_info(index, &info));
    const probed_device *pd = &probe.devices[index];
    rf_opencl_state *st = calloc(1, sizeof *st);
    if (!st) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory opening %s", info.name);
    st->platform = pd->platform;
    st->device_id = pd->id;
    st->is_pocl = pd->is_pocl;
    st->defer_release = pd->is_oclgrind;
    rf_device *dev;
    rf_status s = rf_device_new(&rf_backend_opencl, &info, &opencl_ops, st, &dev);
    if (s != RF_OK) {
        free(st);
        return s;
    }
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)pd->platform, 0};
    cl_int err = CL_SUCCESS;
    st->context = clCreateContext(props, 1, &pd->id, NULL, NULL, &err);
    if (err == CL_SUCCESS) st->queue = clCreateCommandQueue(st->context, pd->id, 0, &err);
    if (err != CL_SUCCESS) {
        s = rf_opencl_fail(dev, err, st->context ? "clCreateCommandQueue" : "clCreateContext", __FILE__, __LINE__);
        rf_device_close(dev);
        return s;
    }
    clGetDeviceInfo(pd->id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof st->max_work_group_size, &st->max_work_group_size,
                    NULL);
    if (st->max_work_group_size == 0) st->max_work_group_size = 1;
    if (!options->opencl_stock_gemm) rf_opencl_gemm_tune_device(dev);
    /* CLBlast's GPU-shaped kernels run 7-25 GFLOP/s on a CPU-backed OpenCL,
     * the project's own GEMM 85-180 (bench/RESULTS.md). */
    st->own_gemm = options->opencl_gemm == RF_OPENCL_GEMM_OWN ||
                   (options->opencl_gemm == RF_OPENCL_GEMM_AUTO && info.type == RF_DEVICE_CPU);
    dev->gemm_fuses_bias = st->own_gemm;
    dev->kernels = &rf_gpu_kernels;
    dev->gpu = &opencl_gpu_ops;
    dev->max_group_size = st->max_work_group_size;
    /* PoCL runs a work-group as loops over its items: a row reduced by one
     * item beats one shared by 256 with barriers (bench/RESULTS.md). */
    if (st->is_pocl || options->opencl_row_items) dev->row_group_size = 1;
    *out = dev;
    return RF_OK;
}

const rf_backend rf_backend_opencl = {
    .name = "opencl",
    .device_count = opencl_device_count,
    .device_info = opencl_device_info,
    .open = opencl_open,
    .unavailable_reason = opencl_unavailable_reason,
};
