/* peak_bf16.c — what one core of this CPU can multiply per second in f32
 * and in bf16, before any GEMM is written (issue 12 plans the cpu bf16 GEMM
 * from it): the f32 AVX-512 FMA rate is the baseline, measured in the same
 * run, against the AVX512_BF16 dot product (vdpbf16ps) and AMX's bf16 tile
 * product (tdpbf16ps), each where the CPU has it.
 *
 *   build/bench_peak_bf16 [--seconds S]
 *
 * Then the bf16 GEMMs (backend/cpu/amx_gemm.c, bf16 operands, f32
 * accumulation, B packed once as weights are: AMX's, and vdpbf16ps's for
 * CPUs without AMX), each where the CPU has it, against the f32 SGEMMs on
 * one thread, for square sizes and for the shape of a nano linear layer
 * (batch 1 at 384 px: 576 tokens x 384 -> 1536), in the same run.
 *
 * Each rate is the peak of a register-resident loop of independent
 * accumulators (12 vectors; 4 tiles for AMX), the issue rate of the
 * instruction with no memory traffic: an upper bound for a GEMM's inner
 * kernel, not a GEMM. One thread; every rate is the best of many short
 * timings (a preempted one only loses), still best read on an idle machine.
 * Linux hands out AMX's tile state only on request (arch_prctl
 * ARCH_REQ_XCOMP_PERM), so a kernel or hypervisor that refuses it shows as
 * "not allowed here" rather than as a missing instruction. */
#include <cblas.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/cpu/amx_gemm.h"
#include "backend/cpu/fast_gemm.h"

void openblas_set_num_threads(int threads);

#if defined(__GNUC__) && defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <unistd.h>
#define HAVE_X86 1
#endif

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#ifdef HAVE_X86

#define TWELVE(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

/* GFLOP/s of vfmadd on 12 independent zmm accumulators (2 FLOPs x 16 lanes). */
__attribute__((target("avx512f"))) static double f32_fma_rate(double seconds, float *sink) {
    __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
#define DECLARE(i) __m512 acc##i = _mm512_set1_ps(1.0f + (float)(i));
    TWELVE(DECLARE)
#undef DECLARE
    double start = now_seconds(), best = 1e30;
    while (now_seconds() - start < seconds) {
        double chunk = now_seconds();
        for (int k = 0; k < 100000; k++) {
#define STEP(i) acc##i = _mm512_fmadd_ps(acc##i, m, c);
            TWELVE(STEP)
#undef STEP
            /* Keeps the accumulators in registers, and live. */
            __asm__ volatile("" : "+v"(acc0), "+v"(acc5), "+v"(acc11));
        }
        chunk = now_seconds() - chunk;
        if (chunk < best) best = chunk;
    }
    __m512 sum = _mm512_setzero_ps();
#define ADD(i) sum = _mm512_add_ps(sum, acc##i);
    TWELVE(ADD)
#undef ADD
    *sink += _mm512_reduce_add_ps(sum);
    return 100000.0 * 12 * 16 * 2 / best / 1e9;
}

/* GFLOP/s of vdpbf16ps on 12 independent accumulators (each lane: two
 * products and two adds, 16 lanes). The accumulators start apart: equal
 * ones let GCC compute one chain for several (an earlier version ran 4
 * instructions per step and counted 12). */
__attribute__((target("avx512f,avx512bf16"))) static double bf16_dot_rate(double seconds, float *sink) {
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3c00);
#define DECLARE(i) __m512 acc##i = _mm512_set1_ps(1.0f + (float)(i));
    TWELVE(DECLARE)
#undef DECLARE
    double start = now_seconds(), best = 1e30;
    while (now_seconds() - start < seconds) {
        double chunk = now_seconds();
        for (int k = 0; k < 100000; k++) {
#define STEP(i) acc##i = _mm512_dpbf16_ps(acc##i, x, y);
            TWELVE(STEP)
#undef STEP
            __asm__ volatile("" : "+v"(acc0), "+v"(acc5), "+v"(acc11));
        }
        chunk = now_seconds() - chunk;
        if (chunk < best) best = chunk;
    }
    __m512 sum = _mm512_setzero_ps();
#define ADD(i) sum = _mm512_add_ps(sum, acc##i);
    TWELVE(ADD)
#undef ADD
    *sink += _mm512_reduce_add_ps(sum);
    return 100000.0 * 12 * 16 * 4 / best / 1e9;
}

/* From cpuid (leaf 7): __builtin_cpu_supports of GCC 12 and Clang 14 does
 * not know AMX in both. (rf_cpu_amx_bf16_available also asks Linux for the
 * tile state: "on this CPU, not allowed here" needs the two apart.) */
static bool cpu_has_amx_bf16(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d >> 22 & 1) && (d >> 24 & 1); /* AMX-BF16, AMX-TILE */
}


/* GFLOP/s of tdpbf16ps: four 16 x 16 f32 tiles, each += a 16 x 32 bf16 tile
 * times a 32 x 16 one (16 * 16 * 32 products and as many adds per op). */
__attribute__((target("amx-tile,amx-bf16"))) static double amx_bf16_rate(double seconds, float *sink) {
    static uint16_t a[16 * 32] __attribute__((aligned(64))), b[16 * 32] __attribute__((aligned(64)));
    static float c[16 * 16] __attribute__((aligned(64)));
    for (int i = 0; i < 16 * 32; i++) a[i] = 0x3f80, b[i] = 0x3c00; /* 1 and 2^-7 */
    rf_cpu_amx_configure_tiles();
    _tile_loadd(4, a, 64);
    _tile_loadd(5, b, 64);
    _tile_loadd(6, a, 64);
    _tile_loadd(7, b, 64);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    double start = now_seconds(), best = 1e30;
    while (now_seconds() - start < seconds) {
        double chunk = now_seconds();
        for (int k = 0; k < 10000; k++) {
            _tile_dpbf16ps(0, 4, 5);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 6, 5);
            _tile_dpbf16ps(3, 6, 7);
        }
        chunk = now_seconds() - chunk;
        if (chunk < best) best = chunk;
    }
    _tile_stored(0, c, 64);
    _tile_release();
    *sink += c[0];
    return 10000.0 * 4 * 16 * 16 * 32 * 2 / best / 1e9;
}

#endif

typedef struct gemm_case {
    int m, n, k;
    float *a, *b, *c, *packed_f32, *scratch_f32;
    rf_gemm_desc desc;
    uint16_t *packed_a, *packed;
} gemm_case;

static void run_sgemm(gemm_case *g) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->m, g->n, g->k, 1.0f, g->a, g->k, g->b, g->n, 0.0f, g->c,
                g->n);
}

/* The fast cpu device's own AVX-512 SGEMM, B packed once as for weights. */
static void run_own(gemm_case *g) {
    rf_cpu_gemm_avx512(&g->desc, g->m, g->n, g->a, g->b, g->c, NULL, g->packed_f32, g->scratch_f32);
}

/* A rounded and packed on every call, as the device does with activations. */
static void run_amx(gemm_case *g) {
    rf_cpu_amx_pack_a(false, g->m, g->k, g->a, g->k, g->packed_a);
    rf_cpu_amx_gemm(g->m, g->n, g->k, g->packed_a, g->packed, g->c, g->n, false);
}

/* The same packed operands through vdpbf16ps (CPUs with AVX512_BF16 and no AMX). */
static void run_dpbf16(gemm_case *g) {
    rf_cpu_amx_pack_a(false, g->m, g->k, g->a, g->k, g->packed_a);
    rf_cpu_dpbf16_gemm(g->m, g->n, g->k, g->packed_a, g->packed, g->c, g->n, false);
}

/* Seconds per call of fn: the best of repeated calls over ~seconds. */
static double best_seconds(void (*fn)(gemm_case *), gemm_case *g, double seconds) {
    double best = 1e30, start = now_seconds();
    fn(g); /* warm */
    do {
        double t = now_seconds();
        fn(g);
        t = now_seconds() - t;
        if (t < best) best = t;
    } while (now_seconds() - start < seconds);
    return best;
}

static void gemm_rates(double seconds, bool amx, bool dp) {
    const int shapes[][3] = {{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {576, 1536, 384}, {576, 384, 1536}};
    openblas_set_num_threads(1);
    printf("  GEMM, one thread, GFLOP/s: OpenBLAS SGEMM and the fast cpu device's AVX-512 SGEMM (f32), against the\n"
           "  bf16 GEMMs on AMX and on AVX512_BF16 (f32 accumulation); ours with B packed once, as for weights\n");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        gemm_case g = {shapes[s][0], shapes[s][1], shapes[s][2]};
        size_t am = (size_t)g.m * g.k, bm = (size_t)g.k * g.n;
        g.a = malloc(am * sizeof *g.a), g.b = malloc(bm * sizeof *g.b), g.c = malloc((size_t)g.m * g.n * sizeof *g.c);
        g.packed = aligned_alloc(64, (rf_cpu_amx_packed_b_elements(g.k, g.n) * 2 + 63) / 64 * 64);
        g.packed_a = aligned_alloc(64, (rf_cpu_amx_packed_a_elements(g.m, g.k) * 2 + 63) / 64 * 64);
        if (!g.a || !g.b || !g.c || !g.packed || !g.packed_a) {
            fprintf(stderr, "bench_peak_bf16: out of memory\n");
            exit(1);
        }
        unsigned seed = 7;
        for (size_t i = 0; i < am; i++) {
            seed = seed * 1664525u + 1013904223u;
            g.a[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
        }
        for (size_t i = 0; i < bm; i++) {
            seed = seed * 1664525u + 1013904223u;
            g.b[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
        }
        rf_cpu_amx_pack_b(false, g.k, g.n, g.b, g.n, g.packed);
        g.desc = (rf_gemm_desc){.m = g.m, .n = g.n, .k = g.k, .alpha = 1, .beta = 0, .lda = g.k, .ldb = g.n,
                                .ldc = g.n, .batch = 1};
        g.packed_f32 = aligned_alloc(64, (rf_cpu_gemm_packed_b_floats(g.k, g.n) * 4 + 63) / 64 * 64);
        g.scratch_f32 = aligned_alloc(64, (rf_cpu_gemm_scratch_floats() * 4 + 63) / 64 * 64);
        if (!g.packed_f32 || !g.scratch_f32) {
            fprintf(stderr, "bench_peak_bf16: out of memory\n");
            exit(1);
        }
        rf_cpu_gemm_pack_b(&g.desc, g.n, g.b, g.packed_f32);
        double flops = 2.0 * g.m * g.n * g.k;
        double blas = flops / best_seconds(run_sgemm, &g, seconds / 3) / 1e9;
        double own = flops / best_seconds(run_own, &g, seconds / 3) / 1e9;
        printf("    %4d x %4d x %4d   OpenBLAS %6.1f   own AVX-512 %6.1f", g.m, g.n, g.k, blas, own);
        if (amx) {
            double rate = flops / best_seconds(run_amx, &g, seconds / 3) / 1e9;
            printf("   bf16 AMX %6.1f (%.2fx own)", rate, rate / own);
        }
        if (dp) {
            double rate = flops / best_seconds(run_dpbf16, &g, seconds / 3) / 1e9;
            printf("   bf16 vdpbf16ps %6.1f (%.2fx own)", rate, rate / own);
        }
        printf("\n");
        free(g.a), free(g.b), free(g.c), free(g.packed), free(g.packed_a);
        free(g.packed_f32), free(g.scratch_f32);
    }
}

int main(int argc, char **argv) {
    double seconds = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_peak_bf16 [--seconds S]\n");
            return 2;
        }
    }
    if (!(seconds > 0 && seconds <= 600)) {
        fprintf(stderr, "bench_peak_bf16: --seconds takes a number in (0, 600]\n");
        return 2;
    }
#ifndef HAVE_X86
    printf("bench_peak_bf16: x86-64 only (AVX-512, AVX512_BF16, AMX); nothing measured on this CPU\n");
    return 0;
#else
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) {
        printf("bench_peak_bf16: this CPU has no AVX-512: no f32 baseline to measure against\n");
        return 0;
    }
    float sink = 0;
    double f32 = f32_fma_rate(seconds, &sink);
    printf("bench_peak_bf16: one core, %.0f s per rate\n", seconds);
    printf("  f32 AVX-512 FMA (vfmadd)        %8.1f GFLOP/s   1.00x (baseline)\n", f32);
    bool amx_gemm = false, dp_gemm = rf_cpu_avx512bf16_available();
    if (dp_gemm) {
        double dot = bf16_dot_rate(seconds, &sink);
        printf("  bf16 AVX512_BF16 (vdpbf16ps)    %8.1f GFLOP/s   %.2fx\n", dot, dot / f32);
    } else {
        printf("  bf16 AVX512_BF16 (vdpbf16ps)    not on this CPU\n");
    }
    if (cpu_has_amx_bf16()) {
        if (!rf_cpu_amx_bf16_available()) { /* asks Linux for the tile state */
            printf("  bf16 AMX (tdpbf16ps)            on this CPU, not allowed here (arch_prctl refused the tile state)\n");
        } else {
            double amx = amx_bf16_rate(seconds, &sink);
            printf("  bf16 AMX (tdpbf16ps)            %8.1f GFLOP/s   %.2fx\n", amx, amx / f32);
            amx_gemm = true;
        }
    } else {
        printf("  bf16 AMX (tdpbf16ps)            not on this CPU\n");
    }
    if (amx_gemm || dp_gemm) gemm_rates(seconds, amx_gemm, dp_gemm);
    return sink == 12345.0f ? 1 : 0; /* uses the results, so no loop is removed */
#endif
}
