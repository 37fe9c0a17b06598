/* cpu_gemm.c — the reference GEMM (double accumulation, the oracle every
 * other device is tested against) and the fast GEMM: OpenBLAS, split into
 * parts that the device's threads compute concurrently. */
#include <cblas.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "backend/cpu/amx_gemm.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/fast_gemm.h"
#include "backend/kernels/half.h"

/* x as the compute precision holds it (f32: itself). */
static inline float rounded(rf_precision p, float x) {
    return p == RF_PRECISION_BF16 ? rf_round_bf16(x) : p == RF_PRECISION_F16 ? rf_round_f16(x) : x;
}

void rf_cpu_gemm_reference(const rf_gemm_desc *d, const float *a, const float *b, float *c) {
    const float *bias = d->bias ? (const float *)d->bias->native + d->bias_offset : NULL;
    for (int64_t bt = 0; bt < d->batch; bt++) {
        const float *ab = a + bt * d->stride_a;
        const float *bb = b + bt * d->stride_b;
        float *cb = c + bt * d->stride_c;
        for (int64_t i = 0; i < d->m; i++) {
            for (int64_t j = 0; j < d->n; j++) {
                double acc = 0.0;
                for (int64_t p = 0; p < d->k; p++) {
                    double av = rounded(d->compute, d->trans_a ? ab[p * d->lda + i] : ab[i * d->lda + p]);
                    double bv = rounded(d->compute, d->trans_b ? bb[j * d->ldb + p] : bb[p * d->ldb + j]);
                    acc += av * bv;
                }
                float *cij = &cb[i * d->ldc + j];
                /* beta == 0 must not read C: it may hold NaN garbage. */
                double prior = d->beta == 0.0f ? 0.0 : (double)d->beta * (double)*cij;
                if (bias) prior = (double)bias[d->bias_rows ? i : j];
                *cij = (float)((double)d->alpha * acc + prior);
            }
        }
    }
}

/* ---- the fast GEMM ----------------------------------------------------------------------
 * fast_gemm.c's AVX-512 kernels where the CPU has them, else OpenBLAS.
 * A part is a range of batch entries, or of rows or columns of one product.
 * Splitting rows makes every part pack all of op(B) again (columns: op(A)),
 * so a product is split along its longer side and only when each part keeps
 * enough work to hide that.
 *
 * With OpenBLAS, part counts are a function of the shape alone (powers of
 * two, so that they spread evenly over 2, 4 or 8 threads): OpenBLAS picks
 * its kernels by the shape of each call, so the same shape must always meet
 * the same calls to give the same bits. fast_gemm.c computes every element
 * the same way whatever part of C a call covers, so there a single product
 * is split into exactly one part per thread: packing the other operand once
 * per thread instead of once per part saves a fifth of the time on ViT-sized
 * products. */

typedef struct gemm_job {
    const rf_gemm_desc *d;
    const float *a, *b;
    float *c;
    int64_t parts;
    int split; /* 0: batch entries, 1: rows of C, 2: columns of C */
    float *const *scratch; /* per thread for the AVX-512 GEMM; NULL: OpenBLAS */
    const float *bias;     /* d->bias's first element, or NULL */
    const void *packed_b;  /* op(B) packed once (all columns; bf16 pairs when bf16), or NULL */
    const void *packed_a;  /* bf16: op(A) packed once for parts that split the columns, or NULL */
    void *const *operands; /* per thread: bf16 operands, packed */
    bool bf16;             /* bf16 pairs, multiplied on AMX or with vdpbf16ps (amx_gemm.h) */
    bool amx;              /* which of the two */
} gemm_job;

/* One part: rows m and columns n of C at c (bias, when given, already
 * offset to the part's first row or column). */
static void sgemm(const rf_gemm_desc *d, int64_t m, int64_t n, const float *a, const float *b, float *c,
                  const float *bias, const float *packed_b, float *scratch) {
    if (m <= 0 || n <= 0) return;
    float beta = d->beta;
    if (bias && (!scratch || d->k == 0)) { /* OpenBLAS adds to C: start C as the bias */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * d->ldc + j] = bias[d->bias_rows ? i : j];
        beta = 1.0f;
    }
    if (d->k == 0) {
        /* BLAS implementations differ on k == 0; define it as C = beta * C. */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                float *cij = &c[i * d->ldc + j];
                *cij = beta == 0.0f ? 0.0f : beta * *cij;
            }
        return;
    }
    if (scratch) {
        rf_cpu_gemm_avx512(d, m, n, a, b, c, bias, packed_b, scratch);
        return;
    }
    cblas_sgemm(CblasRowMajor, d->trans_a ? CblasTrans : CblasNoTrans, d->trans_b ? CblasTrans : CblasNoTrans,
                (blasint)m, (blasint)n, (blasint)d->k, d->alpha, a, (blasint)d->lda, b, (blasint)d->ldb, beta, c,
                (blasint)d->ldc);
}

/* ---- products in bf16 / fp16 --------------------------------------------------------------
 * With AMX, bf16 operands are rounded as they are packed for the tile
 * product (or vdpbf16ps's, on AVX512_BF16 without AMX). Otherwise (fp16, or
 * a CPU with neither) A and B are rounded once,
 * by all threads, into f32 copies (a weight's kept with its packed panel),
 * and their f32 product is the same arithmetic: a product of two bf16 or
 * fp16 values is exact in f32. */

/* Bytes of per-thread operand memory one part of at most m x n needs in bf16 pairs. */
static size_t operand_bytes(int64_t m, int64_t n, int64_t k) {
    return 2 * (rf_cpu_amx_packed_a_elements(m, k) + rf_cpu_amx_packed_b_elements(k, n));
}

/* C starts as the bias, beta * C or nothing; true when the product adds to it. */
static bool start_c(const rf_gemm_desc *d, int64_t m, int64_t n, float *c, const float *bias) {
    if (bias) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * d->ldc + j] = bias[d->bias_rows ? i : j];
        return true;
    }
    if (d->beta == 0.0f) return false;
    if (d->beta != 1.0f)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * d->ldc + j] *= d->beta;
    return true;
}

/* packed_b: the weights' op(B), all columns, packed for AMX once, or NULL. */
static void bf16_gemm(const gemm_job *j, int64_t m, int64_t n, const float *a, const float *b, float *c,
                     const float *bias, const void *packed_b, void *operands) {
    const rf_gemm_desc *d = j->d;
    int64_t k = d->k;
    uint16_t *pa = operands, *pb = pa + rf_cpu_amx_packed_a_elements(m, k); /* 2 KiB multiples: aligned */
    if (j->packed_a)
        pa = (uint16_t *)j->packed_a;
    else
        rf_cpu_amx_pack_a(d->trans_a, m, k, a, d->lda, pa);
    if (packed_b)
        pb = (uint16_t *)packed_b;
    else
        rf_cpu_amx_pack_b(d->trans_b, k, n, b, d->ldb, pb);
    (j->amx ? rf_cpu_amx_gemm : rf_cpu_dpbf16_gemm)(m, n, k, pa, pb, c, d->ldc, start_c(d, m, n, c, bias));
}

static void run_part(const gemm_job *j, int thread, int64_t m, int64_t n, const float *a, const float *b, float *c,
                     const float *bias, const float *packed_b) {
    float *scratch = j->scratch ? j->scratch[thread] : NULL;
    if (j->bf16 && m > 0 && n > 0 && j->d->k > 0)
        bf16_gemm(j, m, n, a, b, c, bias, packed_b, j->operands[thread]);
    else
        sgemm(j->d, m, n, a, b, c, bias, (const float *)packed_b, scratch);
}

static void gemm_part(void *p, int64_t t, int thread) {
    const gemm_job *j = p;
    const rf_gemm_desc *d = j->d;
    const float *bias = j->bias;
    if (j->split == 0) {
        int64_t b0 = cpu_part_begin(d->batch, j->parts, t), b1 = cpu_part_begin(d->batch, j->parts, t + 1);
        for (int64_t bt = b0; bt < b1; bt++)
            run_part(j, thread, d->m, d->n, j->a + bt * d->stride_a, j->b + bt * d->stride_b, j->c + bt * d->stride_c,
                     bias, j->packed_b);
    } else if (j->split == 1) {
        /* Row blocks of 16 keep OpenBLAS's row micro-tiles whole. */
        int64_t blocks = (d->m + 15) / 16;
        int64_t r0 = cpu_part_begin(blocks, j->parts, t) * 16, r1 = cpu_part_begin(blocks, j->parts, t + 1) * 16;
        if (r1 > d->m) r1 = d->m;
        const float *a = j->a + (d->trans_a ? r0 : r0 * d->lda);
        run_part(j, thread, r1 - r0, d->n, a, j->b, j->c + r0 * d->ldc, bias && d->bias_rows ? bias + r0 : bias,
                 j->packed_b);
    } else {
        int64_t blocks = (d->n + 15) / 16;
        int64_t c0 = cpu_part_begin(blocks, j->parts, t) * 16, c1 = cpu_part_begin(blocks, j->parts, t + 1) * 16;
        if (c1 > d->n) c1 = d->n;
        const float *b = j->b + (d->trans_b ? c0 * d->ldb : c0);
        run_part(j, thread, d->m, c1 - c0, j->a, b, j->c + c0, bias && !d->bias_rows ? bias + c0 : bias, NULL);
    }
}

/* Multiply-adds per part below which splitting costs more than it saves. */
#define GEMM_GRAIN ((int64_t)1 << 20)
#define GEMM_MAX_PARTS 8

/* Powers of two up to `limit` parts with at least `grain` work each. */
static int64_t pow2_parts(int64_t work, int64_t limit, int64_t grain) {
    int64_t parts = 1;
    while (parts * 2 <= limit && parts * 2 <= GEMM_MAX_PARTS && work / (parts * 2) >= grain) parts *= 2;
    return parts;
}

/* Packing memory for each thread of the pool, kept by the handle (~2 MB a
 * thread: mapping and faulting that in on every call would cost more than
 * some products). False when it cannot be had: OpenBLAS then. */
static bool gemm_scratch(cpu_state *st) {
    int threads = rf_cpu_pool_threads(st->pool);
    if (!st->gemm_scratch) {
        st->gemm_scratch = calloc((size_t)threads, sizeof *st->gemm_scratch);
        if (!st->gemm_scratch) return false;
    }
    for (int t = 0; t < threads; t++)
        if (!st->gemm_scratch[t] &&
            !(st->gemm_scratch[t] = aligned_alloc(64, sizeof(float) * rf_cpu_gemm_scratch_floats())))
            return false;
    return true;
}

/* ---- weights packed once ------------------------------------------------------------------
 * A linear layer multiplies by the same weight matrix call after call; ONNX
 * Runtime packs such matrices once, when it loads a model. Here op(B) from a
 * weights buffer is packed on first use and kept, keyed by the buffer, the
 * operand's place and shape, and the buffer's write count: any write (a
 * load, an optimizer or EMA step, an initialisation; see rf_buffer) makes
 * the next call pack again, into the same memory. Freeing the buffer drops
 * its entries. At most CPU_PACKED_MAX_FLOATS are kept (least recently used
 * go first). The packed panels are those the GEMM would build per call, so
 * the results are the same bits either way. */
#define CPU_PACKED_MAX_FLOATS ((size_t)256 << 20) /* 1 GiB */

void rf_cpu_gemm_forget(cpu_state *st, const rf_buffer *buf) {
    int kept = 0;
    for (int i = 0; i < st->n_packed; i++) {
        cpu_packed_weight *e = &st->packed[i];
        if (!buf || e->buf == buf) {
            st->packed_floats -= e->floats;
            free(e->packed);
        } else {
            st->packed[kept++] = *e;
        }
    }
    st->n_packed = kept;
    if (!buf) {
        free(st->packed);
        st->packed = NULL;
        st->packed_cap = 0;
    }
}

/* Rows of op-stored X (rows x cols, row stride ld, `count` matrices `stride`
 * apart) rounded to p into dst, densely: the task's share of all rows. */
typedef struct round_job {
    rf_precision p;
    const float *src;
    float *dst;
    int64_t rows, cols, ld, stride, count;
    int64_t parts;
} round_job;

static void round_rows(void *arg, int64_t t, int thread) {
    (void)thread;
    const round_job *r = arg;
    int64_t all = r->rows * r->count, r0 = cpu_part_begin(all, r->parts, t), r1 = cpu_part_begin(all, r->parts, t + 1);
    for (int64_t row = r0; row < r1; row++) {
        int64_t matrix = row / r->rows, i = row % r->rows;
        rf_cpu_round_floats(r->p, r->src + matrix * r->stride + i * r->ld, r->dst + row * r->cols, r->cols);
    }
}

/* Rounds on the device's threads: about 64 K elements a part. */
static void round_matrices(const rf_device *dev, round_job *r) {
    int64_t all = r->rows * r->count, per_row = r->cols > 0 ? r->cols : 1;
    int64_t rows_per_part = ((int64_t)1 << 16) / per_row > 0 ? ((int64_t)1 << 16) / per_row : 1;
    r->parts = (all + rows_per_part - 1) / rows_per_part;
    if (r->parts > CPU_MAX_PARTS) r->parts = CPU_MAX_PARTS;
    if (r->parts < 1) r->parts = 1;
    cpu_parallel_tasks(dev, r->parts, round_rows, r);
}

/* The handle's operand memory shared by all parts of one product, grown to
 * `floats`: rounded copies (fp16, or bf16 without bf16 products) or a bf16
 * operand packed once for every part (shared_bf16_operand). */
static float *rounded_memory(cpu_state *st, size_t floats) {
    if (floats > st->rounded_floats) {
        free(st->rounded);
        st->rounded = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
        st->rounded_floats = st->rounded ? floats : 0;
    }
    return st->rounded;
}

/* op(B) packed once: for the f32 GEMM (its values rounded to `rounding`
 * first, unless f32), or rounded to bf16 and packed in pairs (bf16_pairs) for
 * AMX or vdpbf16ps. */
static const void *packed_weight(const rf_device *dev, cpu_state *st, const rf_gemm_desc *d, const float *b,
                                 rf_precision rounding, bool bf16_pairs) {
    cpu_packed_weight *e = NULL;
    for (int i = 0; i < st->n_packed && !e; i++) {
        cpu_packed_weight *x = &st->packed[i];
        if (x->buf == d->b && x->off == d->b_offset && x->k == d->k && x->n == d->n && x->ldb == d->ldb &&
            x->trans_b == d->trans_b && x->rounding == rounding && x->bf16_pairs == bf16_pairs)
            e = x;
    }
    size_t floats = bf16_pairs ? (rf_cpu_amx_packed_b_elements(d->k, d->n) + 1) / 2 : rf_cpu_gemm_packed_b_floats(d->k, d->n);
    if (!e) {
        if (floats == 0 || floats > CPU_PACKED_MAX_FLOATS / 4) return NULL;
        while (st->n_packed && st->packed_floats + floats > CPU_PACKED_MAX_FLOATS) {
            int oldest = 0;
            for (int i = 1; i < st->n_packed; i++)
                if (st->packed[i].used < st->packed[oldest].used) oldest = i;
            st->packed_floats -= st->packed[oldest].floats;
            free(st->packed[oldest].packed);
            st->packed[oldest] = st->packed[--st->n_packed];
        }
        if (st->n_packed == st->packed_cap) {
            int cap = st->packed_cap ? 2 * st->packed_cap : 64;
            cpu_packed_weight *grown = realloc(st->packed, sizeof *grown * (size_t)cap);
            if (!grown) return NULL;
            st->packed = grown;
            st->packed_cap = cap;
        }
        float *mem = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
        if (!mem) return NULL;
        e = &st->packed[st->n_packed++];
        *e = (cpu_packed_weight){d->b, d->b_offset, d->k, d->n, d->ldb, d->trans_b, rounding, bf16_pairs, 0, 0, mem, floats};
        st->packed_floats += floats;
        e->writes = d->b->writes + 1; /* not yet packed */
    }
    e->used = ++st->packed_clock;
    if (e->writes != d->b->writes) {
        if (bf16_pairs) {
            rf_cpu_amx_pack_b(d->trans_b, d->k, d->n, b, d->ldb, e->packed);
        } else if (rounding != RF_PRECISION_F32) {
            int64_t rows = d->trans_b ? d->n : d->k, cols = d->trans_b ? d->k : d->n;
            /* The handle's rounding memory, free until the caller rounds A. */
            float *copy = rounded_memory(st, (size_t)(rows * cols));
            if (!copy) return NULL;
            round_job r = {rounding, b, copy, rows, cols, d->ldb, 0, 1, 0};
            round_matrices(dev, &r);
            rf_gemm_desc dense = *d;
            dense.ldb = cols;
            rf_cpu_gemm_pack_b(&dense, d->n, copy, e->packed);
        } else {
            rf_cpu_gemm_pack_b(d, d->n, b, e->packed);
        }
        e->writes = d->b->writes;
    }
    return e->packed;
}

/* Each thread's operand memory for a bf16 product: its working memory
 * (cpu_task_memory), grown to `bytes` before the parts start. */
static bool operand_memory(const rf_device *dev, size_t bytes) {
    for (int t = 0; t < rf_cpu_pool_threads(cpu_pool(dev)); t++)
        if (!cpu_task_memory(dev, t, bytes)) return false;
    return true;
}

/* A bf16 operand that every part reads whole, packed once by all threads
 * into the handle's shared memory: op(B) when the parts split the rows, op(A)
 * when they split the columns. Each part used to pack it itself, and
 * packing reads f32 operands from memory: on tiny's training step it cost
 * more than the tile products. Slices of 32 rows or columns (the packed
 * blocks' padding) so that no two tasks write one block. */
typedef struct shared_pack {
    const rf_gemm_desc *d;
    const float *src;
    uint16_t *dst;
    bool is_a;
    int64_t slices, length; /* rows of op(A) or columns of op(B) */
} shared_pack;

#define SHARED_SLICE 32

static void shared_pack_part(void *p, int64_t t, int thread) {
    (void)thread;
    const shared_pack *s = p;
    const rf_gemm_desc *d = s->d;
    int64_t blocks = (s->length + SHARED_SLICE - 1) / SHARED_SLICE;
    int64_t i0 = cpu_part_begin(blocks, s->slices, t) * SHARED_SLICE, i1 = cpu_part_begin(blocks, s->slices, t + 1) * SHARED_SLICE;
    if (i1 > s->length) i1 = s->length;
    if (i0 >= i1) return;
    if (s->is_a) {
        int64_t kp = (int64_t)rf_cpu_amx_packed_a_elements(1, d->k) / SHARED_SLICE; /* k rounded to the tile */
        rf_cpu_amx_pack_a(d->trans_a, i1 - i0, d->k, s->src + (d->trans_a ? i0 : i0 * d->lda), d->lda,
                          s->dst + i0 * kp);
    } else {
        int64_t kp = (int64_t)rf_cpu_amx_packed_b_elements(d->k, 1) / SHARED_SLICE;
        rf_cpu_amx_pack_b(d->trans_b, d->k, i1 - i0, s->src + (d->trans_b ? i0 * d->ldb : i0), d->ldb,
                          s->dst + i0 * kp);
    }
}

static void shared_bf16_operand(const rf_device *dev, cpu_state *st, gemm_job *j) {
    const rf_gemm_desc *d = j->d;
    shared_pack s = {d, j->split == 2 ? j->a : j->b, NULL, j->split == 2, 0, j->split == 2 ? d->m : d->n};
    size_t elements = s.is_a ? rf_cpu_amx_packed_a_elements(d->m, d->k) : rf_cpu_amx_packed_b_elements(d->k, d->n);
    float *memory = rounded_memory(st, (elements + 1) / 2);
    if (!memory) return; /* each part packs its own, as before */
    s.dst = (uint16_t *)memory;
    int64_t blocks = (s.length + SHARED_SLICE - 1) / SHARED_SLICE;
    s.slices = blocks < rf_cpu_pool_threads(st->pool) ? blocks : rf_cpu_pool_threads(st->pool);
    cpu_parallel_tasks(dev, s.slices, shared_pack_part, &s);
    if (s.is_a)
        j->packed_a = s.dst;
    else
        j->packed_b = s.dst;
}

/* Splits the product into parts for the device's threads and runs them. */
static void run_gemm(const rf_device *dev, cpu_state *st, gemm_job *j, bool own) {
    const rf_gemm_desc *d = j->d;
    int64_t per = d->m * d->n * (d->k > 0 ? d->k : 1);
    int64_t divisor = st->grain_divisor;
    int64_t grain = GEMM_GRAIN / divisor > 0 ? GEMM_GRAIN / divisor : 1;
    /* At least 4 blocks of 16 per part (1 when tests ask for small parts). */
    int64_t min_blocks = divisor > 1 ? 1 : 4;
    int64_t threads = rf_cpu_pool_threads(st->pool);
    if (d->batch > 1) {
        /* Whole products per part: nothing is packed twice. */
        j->parts = pow2_parts(per * d->batch, d->batch, grain);
    } else {
        j->split = d->m >= d->n || j->packed_b ? 1 : 2;
        int64_t blocks = ((j->split == 1 ? d->m : d->n) + 15) / 16 / min_blocks;
        j->parts = pow2_parts(per, blocks, grain);
        if (own && j->parts > 1) {
            j->parts = per / grain < threads ? per / grain : threads;
            if (j->parts > blocks) j->parts = blocks;
            if (j->parts < 1) j->parts = 1;
        }
    }
    if (j->parts == 1) j->split = 0;
    if (j->bf16 && j->split != 0 && !(j->split == 1 && j->packed_b)) shared_bf16_operand(dev, st, j);
    if (own) j->scratch = st->gemm_scratch;
    cpu_parallel_tasks(dev, j->parts, gemm_part, j);
}

/* fp16, or bf16 without AMX or AVX512_BF16: A and B rounded into dense f32 copies (a
 * weight's B into its packed panel, kept), then the f32 product of those. */
static rf_status rounded_gemm(const rf_device *dev, cpu_state *st, const rf_gemm_desc *d, const float *a,
                              const float *b, float *c, bool own) {
    int64_t a_rows = d->trans_a ? d->k : d->m, a_cols = d->trans_a ? d->m : d->k;
    int64_t b_rows = d->trans_b ? d->n : d->k, b_cols = d->trans_b ? d->k : d->n;
    /* A matrix shared by the batch (stride 0) is rounded once. */
    int64_t a_count = d->stride_a ? d->batch : 1, b_count = d->stride_b ? d->batch : 1;
    const void *packed = own && d->batch == 1 && d->b->holds_weights
                             ? packed_weight(dev, st, d, b, d->compute, false) : NULL;
    size_t a_floats = (size_t)(a_rows * a_cols * a_count), b_floats = packed ? 0 : (size_t)(b_rows * b_cols * b_count);
    float *ra = rounded_memory(st, a_floats + b_floats + 1), *rb = ra ? ra + a_floats : NULL;
    if (!ra)
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "gemm: out of host memory for %s operands (%lld x %lld x %lld, batch %lld)",
                        rf_precision_name(d->compute), (long long)d->m, (long long)d->n, (long long)d->k,
                        (long long)d->batch);
    round_job r = {d->compute, a, ra, a_rows, a_cols, d->lda, d->stride_a, a_count, 0};
    round_matrices(dev, &r);
    if (!packed) {
        r = (round_job){d->compute, b, rb, b_rows, b_cols, d->ldb, d->stride_b, b_count, 0};
        round_matrices(dev, &r);
    }
    rf_gemm_desc e = *d;
    e.compute = RF_PRECISION_F32;
    e.lda = a_cols, e.stride_a = d->stride_a ? a_rows * a_cols : 0;
    e.ldb = b_cols, e.stride_b = d->stride_b ? b_rows * b_cols : 0;
    gemm_job j = {&e, ra, packed ? b : rb, c, 1, 0, NULL, d->bias ? (const float *)d->bias->native + d->bias_offset : NULL,
                  packed};
    run_gemm(dev, st, &j, own);
    return RF_OK;
}

rf_status rf_cpu_gemm_fast(const rf_device *dev, const rf_gemm_desc *d, const float *a, const float *b, float *c) {
    cpu_state *st = dev->native;
    gemm_job j = {d, a, b, c, 1, 0, NULL, d->bias ? (const float *)d->bias->native + d->bias_offset : NULL, NULL};
    bool own = st->own_gemm && gemm_scratch(st);
    bool empty = d->m == 0 || d->n == 0 || d->k == 0 || d->batch == 0;
    if (d->compute != RF_PRECISION_F32 && !empty) {
        j.bf16 = d->compute == RF_PRECISION_BF16 && st->bf16_products != RF_CPU_BF16_ROUNDED;
        j.amx = st->bf16_products == RF_CPU_BF16_AMX;
        if (!j.bf16) return rounded_gemm(dev, st, d, a, b, c, own);
        /* Parts never exceed the whole product. */
        if (!operand_memory(dev, operand_bytes(d->m, d->n, d->k)))
            return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "gemm: out of host memory for %s operands (%lld x %lld x %lld)",
                            rf_precision_name(d->compute), (long long)d->m, (long long)d->n, (long long)d->k);
        j.operands = st->task_memory;
    }
    /* Packed weights serve parts that span all columns: such products are split by rows. */
    if (d->batch == 1 && d->k > 0 && d->b->holds_weights) {
        if (own && d->compute == RF_PRECISION_F32) j.packed_b = packed_weight(dev, st, d, b, RF_PRECISION_F32, false);
        if (j.bf16) j.packed_b = packed_weight(dev, st, d, b, RF_PRECISION_BF16, true);
    }
    run_gemm(dev, st, &j, own);
    return RF_OK;
}
