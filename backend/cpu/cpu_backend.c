/* cpu_backend.c — the plain-C device: host memory, the two kernel modes of
 * cpu_backend.h and the handle's thread pool. Always compiled, always one
 * device ("cpu" == "cpu:0"). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cpu/amx_gemm.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/fast_gemm.h"
#include "backend/kernels.h"
#include "backend/status.h"

/* OpenBLAS exports these; cblas.h of other BLAS builds may not declare them. */
char *openblas_get_config(void);
char *openblas_get_corename(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int threads);

/* Cache-line alignment keeps vector loads aligned and lets OpenBLAS use its
 * aligned paths; buffers are rounded up to a whole line. */
#define CPU_ALIGN 64

static rf_status cpu_alloc(rf_device *dev, size_t bytes, rf_buffer **out) {
    rf_buffer *buf = malloc(sizeof *buf);
    size_t rounded = (bytes + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN;
    void *mem = buf ? aligned_alloc(CPU_ALIGN, rounded) : NULL;
    if (!mem) {
        free(buf);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory allocating %zu bytes (%.1f MiB)",
                        dev->info.name, bytes, bytes / 1048576.0);
    }
    buf->device = dev;
    buf->bytes = bytes;
    buf->native = mem;
    *out = buf;
    return RF_OK;
}

static void cpu_free(rf_buffer *buf) {
    if (buf->holds_weights) rf_cpu_gemm_forget(buf->device->native, buf);
    free(buf->native);
    free(buf);
}

static rf_status cpu_upload(rf_buffer *dst, size_t off, const void *src, size_t bytes) {
    memcpy((char *)dst->native + off, src, bytes);
    return RF_OK;
}

static rf_status cpu_download(const rf_buffer *src, size_t off, void *dst, size_t bytes) {
    memcpy(dst, (const char *)src->native + off, bytes);
    return RF_OK;
}

static rf_status cpu_copy(rf_buffer *dst, size_t dst_off, const rf_buffer *src, size_t src_off, size_t bytes) {
    memcpy((char *)dst->native + dst_off, (const char *)src->native + src_off, bytes);
    return RF_OK;
}

static rf_status cpu_fill_u32(rf_buffer *dst, size_t off, size_t count, uint32_t pattern) {
    uint32_t *p = (uint32_t *)((char *)dst->native + off);
    for (size_t i = 0; i < count; i++) p[i] = pattern;
    return RF_OK;
}

static rf_status cpu_synchronize(rf_device *dev) { return RF_OK; }

static rf_status cpu_gemm(rf_device *dev, const rf_gemm_desc *d) {
    const float *a = (const float *)d->a->native + d->a_offset;
    const float *b = (const float *)d->b->native + d->b_offset;
    float *c = (float *)d->c->native + d->c_offset;
    if (cpu_is_reference(dev)) {
        rf_cpu_gemm_reference(d, a, b, c);
        return RF_OK;
    }
    return rf_cpu_gemm_fast(dev, d, a, b, c);
}

static void cpu_close(rf_device *dev) {
    cpu_state *st = dev->native;
    for (int i = 0; st->gemm_scratch && i < rf_cpu_pool_threads(st->pool); i++) free(st->gemm_scratch[i]);
    free(st->gemm_scratch);
    free(st->rounded);
    for (int i = 0; st->task_memory && i < rf_cpu_pool_threads(st->pool); i++) free(st->task_memory[i]);
    free(st->task_memory);
    free(st->task_bytes);
    rf_cpu_gemm_forget(st, NULL);
    rf_cpu_pool_free(st->pool);
    free(st);
}

static const rf_device_ops cpu_ops = {
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .copy = cpu_copy,
    .fill_u32 = cpu_fill_u32,
    .synchronize = cpu_synchronize,
    .gemm = cpu_gemm,
    .close = cpu_close,
};

rf_status rf_cpu_set_reference(rf_device *dev, bool reference) {
    if (!dev || dev->backend != &rf_backend_cpu)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_cpu_set_reference: %s is not a cpu device",
                        dev ? dev->info.name : "(null)");
    ((cpu_state *)dev->native)->reference = reference;
    return RF_OK;
}

rf_status rf_cpu_set_split_divisor(rf_device *dev, int64_t divisor) {
    if (!dev || dev->backend != &rf_backend_cpu || divisor < 1)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_cpu_set_split_divisor: needs a cpu device and a divisor >= 1");
    ((cpu_state *)dev->native)->grain_divisor = divisor;
    return RF_OK;
}

static void name_gemm(cpu_state *st) {
    char f32[96];
    if (st->own_gemm) {
        int64_t kc, mc, nc;
        long l1, l2;
        rf_cpu_gemm_blocking(&kc, &mc, &nc, &l1, &l2);
        snprintf(f32, sizeof f32, "rfdetr.c AVX-512, KC %ld MC %ld NC %ld (L1d %ld KiB, L2 %ld KiB)", (long)kc, (long)mc,
                 (long)nc, l1 / 1024, l2 / 1024);
    } else {
        snprintf(f32, sizeof f32, "OpenBLAS %s", openblas_get_corename());
    }
    snprintf(st->gemm_name, sizeof st->gemm_name, "%s; bf16 %s", f32, rf_cpu_bf16_products_name(st->bf16_products));
}

/* AMX wherever Linux grants it. Then vdpbf16ps on AMD (Zen 4 and later),
 * whose cores issue it at the f32 FMA's instruction rate, twice its flops
 * (published instruction tables; no AMD machine has measured it here). An
 * Intel core issues it at about half the FMA's flops (bench_peak_bf16 on an
 * Emerald Rapids Xeon: ~75 against ~150 GFLOP/s), so an Intel CPU without
 * AMX (Cooper Lake) multiplies bf16 faster as rounded f32. Decided from the
 * CPU alone, never by timing: the products' bits must not depend on a
 * measurement. */
static rf_cpu_bf16_products default_bf16_products(void) {
    if (rf_cpu_amx_bf16_available()) return RF_CPU_BF16_AMX;
#if defined(__GNUC__) && defined(__x86_64__)
    __builtin_cpu_init();
    if (rf_cpu_avx512bf16_available() && __builtin_cpu_is("amd")) return RF_CPU_BF16_AVX512BF16;
#endif
    return RF_CPU_BF16_ROUNDED;
}

const char *rf_cpu_bf16_products_name(rf_cpu_bf16_products how) {
    switch (how) {
    case RF_CPU_BF16_AMX: return "on AMX";
    case RF_CPU_BF16_AVX512BF16: return "on AVX512_BF16";
    default: return "as rounded f32";
    }
}

rf_status rf_cpu_set_bf16_products(rf_device *dev, rf_cpu_bf16_products how) {
    if (!dev || dev->backend != &rf_backend_cpu)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_cpu_set_bf16_products: %s is not a cpu device",
                        dev ? dev->info.name : "(null)");
    bool has = how == RF_CPU_BF16_ROUNDED || (how == RF_CPU_BF16_AMX && rf_cpu_amx_bf16_available()) ||
               (how == RF_CPU_BF16_AVX512BF16 && rf_cpu_avx512bf16_available());
    if (!has)
        return RF_ERROR(RF_ERR_UNSUPPORTED, "bf16 products %s: this CPU lacks the instructions",
                        rf_cpu_bf16_products_name(how));
    cpu_state *st = dev->native;
    st->bf16_products = how;
    name_gemm(st);
    return RF_OK;
}

rf_status rf_cpu_use_openblas(rf_device *dev, bool openblas) {
    if (!dev || dev->backend != &rf_backend_cpu)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_cpu_use_openblas: %s is not a cpu device",
                        dev ? dev->info.name : "(null)");
    cpu_state *st = dev->native;
    st->own_gemm = !openblas && rf_cpu_gemm_avx512_available();
    name_gemm(st);
    return RF_OK;
}

bool rf_cpu_is_reference(const rf_device *dev) {
    return dev && dev->backend == &rf_backend_cpu && cpu_is_reference(dev);
}

int rf_cpu_threads(const rf_device *dev) {
    if (!dev || dev->backend != &rf_backend_cpu) return 0;
    return cpu_is_reference(dev) ? 1 : rf_cpu_pool_threads(cpu_pool(dev));
}

const char *rf_cpu_gemm_name(const rf_device *dev) {
    if (!dev || dev->backend != &rf_backend_cpu) return "";
    const cpu_state *st = dev->native;
    return st->reference ? "reference" : st->gemm_name;
}

typedef struct range_job {
    int64_t n, parts;
    cpu_range_fn fn;
    void *ctx;
} range_job;

static void range_task(void *p, int64_t t, int thread) {
    (void)thread;
    const range_job *j = p;
    j->fn(j->ctx, cpu_part_begin(j->n, j->parts, t), cpu_part_begin(j->n, j->parts, t + 1));
}

void cpu_parallel_range(const rf_device *dev, int64_t n, int64_t grain, cpu_range_fn fn, void *ctx) {
    if (n <= 0) return;
    range_job j = {n, cpu_parts(dev, n, grain), fn, ctx};
    if (j.parts == 1) {
        fn(ctx, 0, n);
        return;
    }
    rf_cpu_pool_run(cpu_pool(dev), j.parts, range_task, &j);
}

void cpu_parallel_tasks(const rf_device *dev, int64_t tasks, rf_cpu_task_fn fn, void *ctx) {
    rf_cpu_pool_run(cpu_pool(dev), tasks, fn, ctx);
}

void *cpu_task_memory(const rf_device *dev, int thread, size_t bytes) {
    cpu_state *st = dev->native;
    bytes = (bytes + 63) / 64 * 64;
    if (bytes > st->task_bytes[thread]) {
        free(st->task_memory[thread]);
        st->task_memory[thread] = aligned_alloc(64, bytes);
        st->task_bytes[thread] = st->task_memory[thread] ? bytes : 0;
    }
    return st->task_memory[thread];
}

static int cpu_device_count(void) { return 1; }

/* Reads "key : value" from /proc/cpuinfo; leaves out untouched if absent. */
static void read_cpuinfo_field(const char *key, char *out, size_t size) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0) continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(out, size, "%s", colon);
        break;
    }
    fclose(f);
}

static rf_status cpu_device_info(int index, rf_device_info *out) {
    if (index != 0) return RF_ERROR(RF_ERR_NO_DEVICE, "cpu:%d does not exist (only cpu:0)", index);
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "cpu");
    snprintf(out->backend, sizeof out->backend, "cpu");
    out->index = 0;
    out->type = RF_DEVICE_CPU;
    snprintf(out->description, sizeof out->description, "host CPU");
    read_cpuinfo_field("model name", out->description, sizeof out->description);
    read_cpuinfo_field("vendor_id", out->vendor, sizeof out->vendor);
    const char *config = openblas_get_config();
    snprintf(out->driver_version, sizeof out->driver_version, "%s", config ? config : "OpenBLAS");
    snprintf(out->platform, sizeof out->platform, "rfdetr.c reference kernels");
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page_size > 0) out->global_mem_bytes = (uint64_t)pages * (uint64_t)page_size;
    out->max_alloc_bytes = out->global_mem_bytes;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    out->compute_units = cores > 0 ? (int)cores : 1;
    return RF_OK;
}

static rf_status cpu_open(int index, const rf_device_options *options, rf_device **out) {
    rf_device_info info;
    RF_TRY(cpu_device_info(index, &info));
    cpu_state *st = calloc(1, sizeof *st);
    if (!st) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory opening cpu");
    st->reference = options && options->cpu_reference;
    st->grain_divisor = 1;
    st->own_gemm = rf_cpu_gemm_avx512_available();
    st->bf16_products = default_bf16_products();
    name_gemm(st);
    int threads = options && options->cpu_threads > 0 ? options->cpu_threads : info.compute_units;
    rf_status s = rf_cpu_pool_create(threads, &st->pool);
    if (s == RF_OK) {
        int n = rf_cpu_pool_threads(st->pool);
        st->task_memory = calloc((size_t)n, sizeof *st->task_memory);
        st->task_bytes = calloc((size_t)n, sizeof *st->task_bytes);
        if (!st->task_memory || !st->task_bytes) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory opening cpu");
    }
    if (s == RF_OK) s = rf_device_new(&rf_backend_cpu, &info, &cpu_ops, st, out);
    if (s != RF_OK) {
        free(st->task_memory);
        free(st->task_bytes);
        rf_cpu_pool_free(st->pool);
        free(st);
        return s;
    }
    (*out)->gemm_fuses_bias = true; /* both modes add rf_gemm_desc.bias themselves */
    /* Both modes round bf16 / fp16 operands themselves (cpu_gemm.c): bf16 on AMX or AVX512_BF16 where the CPU has it. */
    (*out)->gemm_precisions = 1u << RF_PRECISION_F32 | 1u << RF_PRECISION_BF16 | 1u << RF_PRECISION_F16;
    /* Our threads split the work; OpenBLAS computes each part on the thread
     * that calls it instead of waking (and spinning) its own. */
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    (*out)->kernels = &rf_cpu_kernels;
    return RF_OK;
}

static const char *cpu_unavailable_reason(void) { return ""; }

const rf_backend rf_backend_cpu = {
    .name = "cpu",
    .device_count = cpu_device_count,
    .device_info = cpu_device_info,
    .open = cpu_open,
    .unavailable_reason = cpu_unavailable_reason,
};
