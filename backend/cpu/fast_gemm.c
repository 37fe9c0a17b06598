/* fast_gemm.c — single-precision GEMM with AVX-512 for the fast cpu device.
 *
 * Why not always OpenBLAS: it picks its kernels once, at load time, from
 * OPENBLAS_CORETYPE or its CPU table, and 0.3.21 (Debian 12) does not know
 * AVX-512 AMD CPUs: it runs its AVX2 kernels there, at half the machine's
 * peak. GEMM is two thirds of a training step, so on CPUs with AVX-512 the
 * fast device uses this GEMM and OpenBLAS everywhere else.
 *
 * The method is GotoBLAS's: C is computed in MR x NR tiles by a micro-kernel
 * that keeps the whole tile in registers (12 rows x 2 vectors of 16 = 24
 * accumulators) and streams a packed MR-row panel of op(A) and a packed
 * NR-column panel of op(B) over a block of KC steps of k; op(B) is packed KC
 * x NC at a time (L2/L3), op(A) MC x KC at a time (L2), so the micro-kernel
 * reads memory only sequentially. Packing absorbs the transposes and pads
 * edge panels with zeros; edge tiles are stored with masks.
 *
 * Every element of C is the sum over k in a fixed order (KC blocks, each
 * accumulated in order), whatever part of C a call computes, so splitting
 * a product across threads never changes its bits. */
#include "backend/cpu/fast_gemm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#include "backend/cpu/avx512_transpose.h"
#define HAVE_AVX512_GEMM 1
#endif

#define MR 12
#define NR 32

/* ---- blocking from the caches of the CPU it runs on --------------------------------------
 * The blocks follow the caches' sizes, read once (sysconf, which glibc
 * answers from cpuid; else Linux's /sys/devices/system/cpu/cpu0/cache; else
 * 48 KiB L1d and 1 MiB L2):
 *   KC = L1d / (4 NR)      the B micro-panel (KC x NR floats) fills L1: every
 *                          MR-row tile of a block streams it again;
 *   MC = L2 / (8 KC)       the packed A block (MC x KC) takes half of L2, so
 *                          that a product of a few hundred rows (a ViT's
 *                          tokens) is one block and each panel of a weight
 *                          streams from memory once, not once per block;
 *   NC = 3 L2 / (8 KC)     the packed B block (KC x NC) is 1.5 L2, read from
 *                          L3 once per MC rows.
 * Rounded down to multiples of 16 (KC), MR (MC) and NR (NC) and kept within
 * sane bounds. On the AMD Zen 5 where constants were first tuned (48 KiB L1d,
 * 1 MiB L2) this gives KC 384, MC 336, NC 1024; on an Intel Xeon Emerald
 * Rapids (48 KiB, 2 MiB) 384, 672, 2048; on Zen 3 (32 KiB, 512 KiB) 256, 252,
 * 768. Blocking changes no result: every element of C sums over k in the
 * order the KC blocks set, and KC depends on the machine only, so one
 * machine gives the same bits every run. */
static struct {
    int64_t kc, mc, nc;
    long l1d, l2; /* bytes, as read */
} blocking;
static pthread_once_t blocking_once = PTHREAD_ONCE_INIT;

/* Bytes of the level-`level` data or unified cache of cpu0 from /sys; 0 if unknown. */
static long sys_cache_bytes(int level) {
    for (int index = 0; index < 8; index++) {
        char path[96], text[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", index);
        FILE *f = fopen(path, "r");
        if (!f) return 0;
        int lv = 0;
        int got = fscanf(f, "%d", &lv) == 1;
        fclose(f);
        if (!got || lv != level) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", index);
        if (!(f = fopen(path, "r"))) continue;
        got = fgets(text, sizeof text, f) != NULL;
        fclose(f);
        if (!got || text[0] == 'I') continue; /* the instruction cache */
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
        if (!(f = fopen(path, "r"))) continue;
        long size = 0;
        char unit = 0;
        got = fscanf(f, "%ld%c", &size, &unit) >= 1;
        fclose(f);
        if (got) return unit == 'K' ? size * 1024 : unit == 'M' ? size * 1024 * 1024 : size;
    }
    return 0;
}

static int64_t clamp_down(int64_t v, int64_t lo, int64_t hi, int64_t multiple) {
    v = v < lo ? lo : (v > hi ? hi : v);
    return v / multiple * multiple;
}

static void read_blocking(void) {
    long l1 = 0, l2 = 0;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
    l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    if (l1 <= 0) l1 = sys_cache_bytes(1);
    if (l2 <= 0) l2 = sys_cache_bytes(2);
    if (l1 <= 0) l1 = 48 * 1024;
    if (l2 <= 0) l2 = 1024 * 1024;
    blocking.l1d = l1;
    blocking.l2 = l2;
    blocking.kc = clamp_down(l1 / (4 * NR), 128, 768, 16);
    blocking.mc = clamp_down(l2 / (8 * blocking.kc), 4 * MR, 960, MR);
    blocking.nc = clamp_down(3 * l2 / (8 * blocking.kc), 8 * NR, 4096, NR);
}

void rf_cpu_gemm_blocking(int64_t *kc, int64_t *mc, int64_t *nc, long *l1d_bytes, long *l2_bytes) {
    pthread_once(&blocking_once, read_blocking);
    *kc = blocking.kc, *mc = blocking.mc, *nc = blocking.nc;
    *l1d_bytes = blocking.l1d, *l2_bytes = blocking.l2;
}

size_t rf_cpu_gemm_scratch_floats(void) {
    pthread_once(&blocking_once, read_blocking);
    return (size_t)blocking.mc * blocking.kc + (size_t)blocking.kc * blocking.nc;
}

#ifdef HAVE_AVX512_GEMM

bool rf_cpu_gemm_avx512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

/* Function-level target attributes rather than `#pragma GCC target`, which
 * clang ignores: every function below that touches AVX-512 carries it. */
#define AVX512 __attribute__((target("avx512f")))

/* Packing reads rows of a matrix that is often not in cache; asking for
 * the row a few steps ahead hides most of the wait. (Prefetches never fault,
 * so reaching past the matrix is harmless.) */
#define PREFETCH_ROWS 4

AVX512
static inline void prefetch_row(const float *row, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) _mm_prefetch((const char *)(row + i), _MM_HINT_T0);
}

AVX512
static inline __mmask16 first_lanes(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

/* dst[p * width + r] = src[r * ld + p] for r < rows (<= 16; zeros up to
 * `lanes`), p < kc: `rows` rows of a matrix stored along p become
 * step-major. The rows are read 16 steps at a time and turned in registers. */
AVX512
static void pack_rows_turned(const float *src, int64_t ld, int64_t rows, int64_t kc, float *dst, int64_t width,
                             int lanes) {
    __mmask16 keep = first_lanes(lanes);
    for (int64_t p0 = 0; p0 < kc; p0 += 16) {
        int64_t n = kc - p0 < 16 ? kc - p0 : 16;
        __mmask16 m = first_lanes(n);
        __m512 r[16];
        for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_maskz_loadu_ps(m, src + i * ld + p0) : _mm512_setzero_ps();
        transpose16(r);
        for (int64_t p = 0; p < n; p++) _mm512_mask_storeu_ps(dst + (p0 + p) * width, keep, r[p]);
    }
}

/* op(A)[i][p] of rows [i0, i0 + mc), steps [p0, p0 + kc) into MR-row panels,
 * step-major inside a panel: panel[p * MR + r]; rows past mc are zeros. */
AVX512
static void pack_a(const rf_gemm_desc *d, const float *a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float *dst) {
    if (d->trans_a) {
        /* op(A)[i][p] = A[p][i]: row p of A holds step p of every panel;
         * reading it whole keeps the loads sequential. */
        for (int64_t p = 0; p < kc; p++) {
            const float *src = a + (p0 + p) * d->lda + i0;
            prefetch_row(src + PREFETCH_ROWS * d->lda, mc);
            for (int64_t ir = 0; ir < mc; ir += MR) {
                __mmask16 m = first_lanes(mc - ir < MR ? mc - ir : MR);
                _mm512_mask_storeu_ps(dst + ir * kc + p * MR, 0x0FFF, _mm512_maskz_loadu_ps(m, src + ir));
            }
        }
        return;
    }
    for (int64_t ir = 0; ir < mc; ir += MR, dst += MR * kc)
        pack_rows_turned(a + (i0 + ir) * d->lda + p0, d->lda, mc - ir < MR ? mc - ir : MR, kc, dst, MR, MR);
}

/* op(B)[p][j] of steps [p0, p0 + kc), columns [j0, j0 + nc) into NR-column
 * panels, step-major inside a panel: panel[p * NR + c]; columns past nc are
 * zeros. */
AVX512
static void pack_b(const rf_gemm_desc *d, const float *b, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float *dst) {
    if (!d->trans_b) {
        /* Row p of B holds step p of every panel: read it whole. */
        for (int64_t p = 0; p < kc; p++) {
            const float *src = b + (p0 + p) * d->ldb + j0;
            prefetch_row(src + PREFETCH_ROWS * d->ldb, nc);
            for (int64_t jr = 0; jr < nc; jr += NR) {
                int64_t cols = nc - jr < NR ? nc - jr : NR;
                __mmask16 m0 = first_lanes(cols), m1 = first_lanes(cols - 16 > 0 ? cols - 16 : 0);
                float *o = dst + jr * kc + p * NR;
                _mm512_store_ps(o, _mm512_maskz_loadu_ps(m0, src + jr));
                _mm512_store_ps(o + 16, _mm512_maskz_loadu_ps(m1, src + jr + 16));
            }
        }
        return;
    }
    /* op(B)[p][j] = B[j][p]: each panel column is a row of B. */
    for (int64_t jr = 0; jr < nc; jr += NR, dst += NR * kc)
        for (int h = 0; h < NR / 16; h++) {
            int64_t rows = nc - jr - 16 * h;
            rows = rows < 0 ? 0 : (rows > 16 ? 16 : rows);
            pack_rows_turned(b + (j0 + jr + 16 * h) * d->ldb + p0, d->ldb, rows, kc, dst + 16 * h, NR, 16);
        }
}

/* Where the micro-kernel finds op(A): element (r, p) of a tile's panel is
 * at a[r * rs + p * ks] (packed: rs 1, ks MR; or A itself). */
typedef struct a_panel {
    const float *a;
    int64_t rs, ks;
} a_panel;

/* C tile (rows x cols valid of MR x NR) = alpha * op(A) Bp + (first ? beta : 1) * C;
 * beta 0 on the first block does not read C (it may hold NaN). Inlined
 * into two kernels, so that the packed one keeps constant strides. */
/* How the first block of k finishes C: beta * C, or a bias (per column:
 * the tile's NR entries; per row: its MR entries). */
typedef struct tile_start {
    float beta;
    const float *bias; /* NULL: beta * C */
    bool bias_rows;
} tile_start;

AVX512
static inline __attribute__((always_inline)) void tile(int64_t kc, a_panel ap, int a_rows, const float *bp, float *c,
                                                       int64_t ldc, int rows, int cols, float alpha, tile_start start,
                                                       bool first) {
    __m512 acc[MR][2];
    const float *ar[MR];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        /* Rows past a_rows repeat the last one: in bounds, never stored. */
        ar[r] = ap.a + (r < a_rows ? r : a_rows - 1) * ap.rs;
    }
    for (int64_t p = 0; p < kc; p++, bp += NR) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            __m512 av = _mm512_set1_ps(ar[r][p * ap.ks]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    __mmask16 m0 = first_lanes(cols), m1 = first_lanes(cols > 16 ? cols - 16 : 0);
    bool add_bias = first && start.bias;
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(first ? start.beta : 1.0f);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (add_bias && !start.bias_rows) {
        bias0 = _mm512_maskz_loadu_ps(m0, start.bias);
        bias1 = _mm512_maskz_loadu_ps(m1, start.bias + 16);
    }
    bool read_c = !first || (!start.bias && start.beta != 0.0f);
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        if (r >= rows) break;
        float *cr = c + r * ldc;
        __m512 v0 = _mm512_mul_ps(va, acc[r][0]), v1 = _mm512_mul_ps(va, acc[r][1]);
        if (read_c) {
            v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), v0);
            v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), v1);
        } else if (add_bias) {
            __m512 b0 = start.bias_rows ? _mm512_set1_ps(start.bias[r]) : bias0;
            __m512 b1 = start.bias_rows ? b0 : bias1;
            v0 = _mm512_add_ps(v0, b0);
            v1 = _mm512_add_ps(v1, b1);
        }
        _mm512_mask_storeu_ps(cr, m0, v0);
        _mm512_mask_storeu_ps(cr + 16, m1, v1);
    }
}

AVX512
static void tile_packed(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int rows, int cols,
                        float alpha, tile_start start, bool first) {
    /* Packed panels are zero-padded: all MR rows can be read. */
    tile(kc, (a_panel){ap, 1, MR}, MR, bp, c, ldc, rows, cols, alpha, start, first);
}

AVX512
static void tile_direct(int64_t kc, a_panel ap, const float *bp, float *c, int64_t ldc, int rows, int cols,
                        float alpha, tile_start start, bool first) {
    tile(kc, ap, rows, bp, c, ldc, rows, cols, alpha, start, first);
}

size_t rf_cpu_gemm_packed_b_floats(int64_t k, int64_t n) {
    pthread_once(&blocking_once, read_blocking);
    return (size_t)k * (size_t)((n + NR - 1) / NR * NR);
}

/* The same blocks, in the same order, as rf_cpu_gemm_avx512 packs them. */
AVX512
void rf_cpu_gemm_pack_b(const rf_gemm_desc *d, int64_t n, const float *b, float *dst) {
    pthread_once(&blocking_once, read_blocking);
    const int64_t KC = blocking.kc, NC = blocking.nc;
    int64_t kblocks = (d->k + KC - 1) / KC, kb = (d->k + kblocks - 1) / kblocks;
    for (int64_t jc = 0; jc < n; jc += NC) {
        int64_t nc = n - jc < NC ? n - jc : NC;
        for (int64_t pc = 0; pc < d->k; pc += kb) {
            int64_t kc = d->k - pc < kb ? d->k - pc : kb;
            pack_b(d, b, pc, kc, jc, nc, dst);
            dst += kc * ((nc + NR - 1) / NR * NR);
        }
    }
}

AVX512
void rf_cpu_gemm_avx512(const rf_gemm_desc *d, int64_t m, int64_t n, const float *a, const float *b, float *c,
                        const float *bias, const float *packed_b, float *scratch) {
    pthread_once(&blocking_once, read_blocking);
    const int64_t KC = blocking.kc, MC = blocking.mc, NC = blocking.nc;
    float *ap = scratch, *bp = scratch + (size_t)MC * KC; /* 64-byte aligned: KC is a multiple of 16 */
    /* Blocks of k as even as possible: a short last block would cost a pass
     * over C for little work. A function of k alone, so the order of each
     * element's sum is too. */
    int64_t kblocks = (d->k + KC - 1) / KC, kb = (d->k + kblocks - 1) / kblocks;
    /* The micro-kernel reads op(A) in place rather than packed when packing
     * would not pay: with at most two panels of columns each row serves one
     * or two tiles. A transposed A holds the MR values of a step side by
     * side, as a packed panel does, but a step's values lie a row of A
     * apart: weight gradients (X^T dY, k the tokens) ran 8-18% faster packed. */
    bool direct_a = n <= 2 * NR;
    /* Blocks of rows as even as possible (580 rows: 2 x 292, not 336 + 244),
     * in whole tiles. */
    int64_t mblocks = m > 0 ? (m + MC - 1) / MC : 1, mb = ((m + mblocks - 1) / mblocks + MR - 1) / MR * MR;
    for (int64_t jc = 0; jc < n; jc += NC) {
        int64_t nc = n - jc < NC ? n - jc : NC;
        for (int64_t pc = 0; pc < d->k; pc += kb) {
            int64_t kc = d->k - pc < kb ? d->k - pc : kb;
            if (packed_b) {
                bp = (float *)packed_b; /* read only */
                packed_b += kc * ((nc + NR - 1) / NR * NR);
            } else {
                pack_b(d, b, pc, kc, jc, nc, bp);
            }
            for (int64_t ic = 0; ic < m; ic += mb) {
                int64_t mc = m - ic < mb ? m - ic : mb;
                if (!direct_a) pack_a(d, a, ic, mc, pc, kc, ap);
                /* While a panel of B serves its column of tiles, each tile
                 * asks for a slice of the next panel (a weight's panels come
                 * from memory, not from cache) ... */
                int64_t tiles = (mc + MR - 1) / MR, lines = kc * NR / 16, slice = (lines + tiles - 1) / tiles;
                for (int64_t jr = 0; jr < nc; jr += NR)
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int rows = (int)(mc - ir < MR ? mc - ir : MR), cols = (int)(nc - jr < NR ? nc - jr : NR);
                        float *ct = c + (ic + ir) * d->ldc + jc + jr;
                        if (jr + NR < nc) {
                            const char *next = (const char *)(bp + (jr + NR) * kc);
                            int64_t l = ir / MR * slice, end = l + slice < lines ? l + slice : lines;
                            for (; l < end; l++) _mm_prefetch(next + 64 * l, _MM_HINT_T1);
                        }
                        /* ... and its own rows of C for writing, which are rarely in cache. */
                        for (int r = 0; r < rows; r++) {
                            _mm_prefetch((const char *)(ct + r * d->ldc), _MM_HINT_ET0);
                            _mm_prefetch((const char *)(ct + r * d->ldc + 16), _MM_HINT_ET0);
                        }
                        bool first = pc == 0;
                        tile_start start = {d->beta, NULL, d->bias_rows};
                        if (bias) start.bias = d->bias_rows ? bias + ic + ir : bias + jc + jr;
                        if (!direct_a) {
                            tile_packed(kc, ap + ir * kc, bp + jr * kc, ct, d->ldc, rows, cols, d->alpha, start, first);
                        } else {
                            int64_t i = ic + ir;
                            a_panel at = d->trans_a ? (a_panel){a + pc * d->lda + i, 1, d->lda}
                                                    : (a_panel){a + i * d->lda + pc, d->lda, 1};
                            tile_direct(kc, at, bp + jr * kc, ct, d->ldc, rows, cols, d->alpha, start, first);
                        }
                    }
            }
        }
    }
}

#undef AVX512

#else

bool rf_cpu_gemm_avx512_available(void) { return false; }

void rf_cpu_gemm_avx512(const rf_gemm_desc *d, int64_t m, int64_t n, const float *a, const float *b, float *c,
                        const float *bias, const float *packed_b, float *scratch) {
    (void)d, (void)m, (void)n, (void)a, (void)b, (void)c, (void)bias, (void)packed_b, (void)scratch;
}

size_t rf_cpu_gemm_packed_b_floats(int64_t k, int64_t n) {
    (void)k, (void)n;
    return 0;
}

void rf_cpu_gemm_pack_b(const rf_gemm_desc *d, int64_t n, const float *b, float *dst) { (void)d, (void)n, (void)b, (void)dst; }

#endif
