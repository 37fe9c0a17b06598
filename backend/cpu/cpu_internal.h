/* cpu_internal.h — the cpu device's private state, shared by its files.
 *
 * Two modes (cpu_backend.h): reference (the double-accumulating ref_*.c
 * kernels and the reference GEMM, one thread: what tests compare against)
 * and fast (float kernels in fast_*.c, OpenBLAS GEMM, work split across the
 * handle's thread pool). In fast mode every kernel splits its work by a rule
 * that depends only on the shapes (cpu_parts), so results are the same run
 * after run and whatever the thread count. */
#ifndef RFDETR_CPU_INTERNAL_H
#define RFDETR_CPU_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_pool.h"

/* op(B) of a GEMM whose B lives in a weights buffer (rf_buffer.holds_weights),
 * packed once for fast_gemm.c and reused while the buffer's write count
 * stays the same (cpu_gemm.c). */
typedef struct cpu_packed_weight {
    const rf_buffer *buf;
    size_t off;
    int64_t k, n, ldb;
    bool trans_b;
    rf_precision rounding; /* the values were rounded to this first (f32: as they are) */
    bool bf16_pairs; /* packed in bf16 pairs for AMX / vdpbf16ps (amx_gemm.h), else for the f32 GEMM */
    uint64_t writes; /* buf->writes when packed */
    uint64_t used;   /* for evicting the least recently used */
    void *packed;
    size_t floats;   /* its size in floats (4 bytes) */
} cpu_packed_weight;

typedef struct cpu_state {
    bool reference;
    rf_cpu_pool *pool;
    int64_t grain_divisor; /* 1; larger splits small work too (rf_cpu_set_split_divisor) */
    bool own_gemm;         /* fast_gemm.c's AVX-512 GEMM instead of OpenBLAS */
    rf_cpu_bf16_products bf16_products; /* how bf16 products run (cpu_backend.h) */
    float **gemm_scratch;  /* packing memory per pool thread, allocated on first use */
    float *rounded;        /* operands shared by a product's parts: rounded f32 copies, or packed bf16 (cpu_gemm.c) */
    size_t rounded_floats;
    char gemm_name[128];   /* rf_cpu_gemm_name */
    cpu_packed_weight *packed; /* packed weights, `n_packed` of `packed_cap` */
    int n_packed, packed_cap;
    size_t packed_floats;      /* their total */
    uint64_t packed_clock;
    /* Per pool thread: working memory that kernels' tasks reuse from call to
     * call (cpu_task_memory: the fused attention's scratch, the bf16 GEMM's
     * packed operands), `task_bytes` each. Fresh blocks of a few hundred KiB
     * come from mmap, and faulting their pages in cost the fused attention
     * as much as its arithmetic. */
    void **task_memory;
    size_t *task_bytes;
} cpu_state;

static inline bool cpu_is_reference(const rf_device *dev) { return ((const cpu_state *)dev->native)->reference; }
static inline rf_cpu_pool *cpu_pool(const rf_device *dev) { return ((const cpu_state *)dev->native)->pool; }

/* At most this many parts per kernel: enough to balance a few cores and to
 * keep a descheduled worker from holding the rest up. */
#define CPU_MAX_PARTS 64

/* Parts for n units of work, each about `grain` units (at least 1 part, at
 * most CPU_MAX_PARTS, never more than n). A function of (n, grain) and the
 * handle's grain divisor only. */
static inline int64_t cpu_parts(const rf_device *dev, int64_t n, int64_t grain) {
    grain /= ((const cpu_state *)dev->native)->grain_divisor;
    if (grain < 1) grain = 1;
    int64_t parts = n / grain;
    if (parts > CPU_MAX_PARTS) parts = CPU_MAX_PARTS;
    if (parts > n) parts = n;
    return parts < 1 ? 1 : parts;
}

/* Part p of `parts` equal parts of [0, n). */
static inline int64_t cpu_part_begin(int64_t n, int64_t parts, int64_t p) { return n * p / parts; }

/* fn(ctx, begin, end) over the parts of [0, n), on the device's threads. */
typedef void (*cpu_range_fn)(void *ctx, int64_t begin, int64_t end);
void cpu_parallel_range(const rf_device *dev, int64_t n, int64_t grain, cpu_range_fn fn, void *ctx);
/* fn(ctx, task) for task in [0, tasks). */
void cpu_parallel_tasks(const rf_device *dev, int64_t tasks, rf_cpu_task_fn fn, void *ctx);

/* At least `bytes` (64-byte aligned) of thread `thread`'s working memory,
 * kept for the next call; what it held before is gone. NULL when out of
 * memory. Only the task running on `thread` may use it, until it returns. */
void *cpu_task_memory(const rf_device *dev, int thread, size_t bytes);

/* bytes rounded up to whole 64-byte lines: what cpu_carve takes of them. */
static inline size_t cpu_lines(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* The next `bytes` of working memory at *at, 64-byte aligned; advances *at. */
static inline void *cpu_carve(char **at, size_t bytes) {
    void *p = *at;
    *at += cpu_lines(bytes);
    return p;
}

/* The fast GEMM: OpenBLAS, one call per part, parts fixed by the shape. */
rf_status rf_cpu_gemm_fast(const rf_device *dev, const rf_gemm_desc *d, const float *a, const float *b, float *c);
/* Drops the packed weights of buf (being freed), or all (buf NULL). */
void rf_cpu_gemm_forget(cpu_state *st, const rf_buffer *buf);
/* y[i] = x[i] rounded to p (bf16 or fp16: half.h's bits) and back; f32 copies.
 * x == y is allowed. (fast_round.c) */
void rf_cpu_round_floats(rf_precision p, const float *x, float *y, int64_t n);
/* n floats to bf16 / fp16 values, value i in 16-bit slot i, and back
 * (half.h's bits; AVX-512 where the CPU has it). */
void rf_cpu_pack_half(rf_precision p, const float *x, uint16_t *y, int64_t n);
void rf_cpu_unpack_half(rf_precision p, const uint16_t *x, float *y, int64_t n);

/* Elements below which elementwise work stays on one thread (a part costs
 * a few microseconds to hand out). */
#define CPU_GRAIN 32768

#endif
