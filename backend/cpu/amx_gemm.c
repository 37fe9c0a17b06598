/* amx_gemm.c — see amx_gemm.h.
 *
 * Every tile is 16 rows of 64 bytes: A tiles 16 rows x 32 bf16 of k; B
 * tiles 16 pairs of k x 16 columns (each row holds, per column, the pair
 * B[2p][j], B[2p+1][j]: the layout the tile product reads); C tiles 16 x 16
 * f32. One configuration for all of them is set once per call. A block of
 * C of 32 x 32 lives in tiles 0-3 while k streams through A (tiles 4, 5)
 * and B (tiles 6, 7). Packed A is zero-padded (rows to 32, k to 32) so no
 * tile load reads outside it; so is packed B.
 * A C tile wholly inside C starts from C (when accumulating) and is stored
 * straight back; an edge tile goes through a 16 x 16 buffer and from there
 * into C under masks. */
#include "backend/cpu/amx_gemm.h"

#include "backend/kernels/half.h"

#include <pthread.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

#include "backend/cpu/avx512_round.h"
#include "backend/cpu/avx512_transpose.h"
#include <sys/syscall.h>
#include <unistd.h>
#define HAVE_AMX_GEMM 1
#endif

#define TILE_ROWS 16
#define TILE_K 32 /* bf16 per tile row */
#define BLOCK 32  /* rows and columns of C per block: 2 x 2 tiles */

static int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

size_t rf_cpu_amx_packed_a_elements(int64_t m, int64_t k) {
    return (size_t)round_up(m, BLOCK) * (size_t)round_up(k, TILE_K);
}

size_t rf_cpu_amx_packed_b_elements(int64_t k, int64_t n) {
    return (size_t)round_up(k, TILE_K) * (size_t)round_up(n, BLOCK);
}

#ifdef HAVE_AMX_GEMM

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static bool amx_usable;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void probe_amx(void) {
    unsigned a, b, c, d;
    /* cpuid leaf 7: AMX-BF16 (edx bit 22) and AMX-TILE (bit 24). */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d >> 22 & 1) || !(d >> 24 & 1)) return;
    /* Linux gives the 8 KiB tile state to a process only when asked. */
    amx_usable = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

bool rf_cpu_amx_bf16_available(void) {
    pthread_once(&amx_once, probe_amx);
    return amx_usable;
}

/* ---- packing: f32 to bf16, 16 at a time ----------------------------------------------
 * Every CPU with AMX has AVX-512 (F, BW, VL). The rounding is half.h's,
 * lane by lane: the bits equal rf_f32_to_bf16's for every input. */
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

AVX512 static inline __mmask16 first(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* dst[i][kk], rows padded to BLOCK and k to TILE_K with zeros. */
AVX512 void rf_cpu_amx_pack_a(bool trans, int64_t m, int64_t k, const float *a, int64_t lda, uint16_t *dst) {
    int64_t mp = round_up(m, BLOCK), kp = round_up(k, TILE_K);
    if (!trans) {
        for (int64_t i = 0; i < mp; i++)
            for (int64_t kk = 0; kk < kp; kk += 16) {
                __m512 x = _mm512_maskz_loadu_ps(i < m ? first(k - kk) : 0, a + i * lda + kk);
                _mm256_storeu_si256((__m256i *)(dst + i * kp + kk), _mm512_cvtepi32_epi16(bf16_lanes(x)));
            }
        return;
    }
    /* A is stored k x m: 16 of its rows (steps of k) by 16 columns (rows of
     * op(A)) turn in registers into 16 rows of op(A), 16 steps each. */
    for (int64_t kk = 0; kk < kp; kk += 16)
        for (int64_t i0 = 0; i0 < mp; i0 += 16) {
            __mmask16 cols = first(m - i0);
            __m512 r[16];
            for (int t = 0; t < 16; t++)
                r[t] = _mm512_maskz_loadu_ps(kk + t < k ? cols : 0, a + (kk + t) * lda + i0);
            transpose16(r);
            for (int c = 0; c < 16; c++)
                _mm256_storeu_si256((__m256i *)(dst + (i0 + c) * kp + kk), _mm512_cvtepi32_epi16(bf16_lanes(r[c])));
        }
}

/* dst[panel][pair][column][2]: panel = j / 16, pair = kk / 2; each pair of
 * a column one 32-bit word, k's even element in its low half. */
AVX512 void rf_cpu_amx_pack_b(bool trans, int64_t k, int64_t n, const float *b, int64_t ldb, uint16_t *dst) {
    int64_t kp = round_up(k, TILE_K), np = round_up(n, BLOCK);
    if (!trans) {
        /* Rows 2p and 2p + 1 of B, 16 columns each, interleaved; the rows
         * are read whole, in order (a panel at a time walked B's columns
         * with a row's stride, and waited on memory). */
        for (int64_t pair = 0; pair < kp / 2; pair++) {
            int64_t r = 2 * pair;
            for (int64_t panel = 0; panel < np / 16; panel++) {
                int64_t j0 = panel * 16;
                __mmask16 cols = first(n - j0);
                __m512 lo = _mm512_maskz_loadu_ps(r < k ? cols : 0, b + r * ldb + j0);
                __m512 hi = _mm512_maskz_loadu_ps(r + 1 < k ? cols : 0, b + (r + 1) * ldb + j0);
                __m512i word = _mm512_or_si512(bf16_lanes(lo), _mm512_slli_epi32(bf16_lanes(hi), 16));
                _mm512_storeu_si512((uint32_t *)dst + panel * (kp / 2) * 16 + pair * 16, word);
            }
        }
        return;
    }
    for (int64_t panel = 0; panel < np / 16; panel++) {
        uint32_t *out = (uint32_t *)dst + panel * (kp / 2) * 16;
        int64_t j0 = panel * 16;
        /* B transposed: column j of op(B) is row j of B. 32 elements of k
         * of each of the panel's 16 rows become 16 words (pairs); the 16 x 16
         * words then turn in registers, so each store writes one pair's
         * row of the panel (scattering each word to its place cost more than
         * the whole product on the projector's convolution gradients). */
        for (int64_t pair = 0; pair < kp / 2; pair += 16) {
            int64_t kk = 2 * pair;
            __m512 w[16];
            for (int64_t col = 0; col < 16; col++) {
                int64_t j = j0 + col;
                w[col] = _mm512_setzero_ps();
                if (j < n) {
                    __m512 x0 = _mm512_maskz_loadu_ps(first(k - kk), b + j * ldb + kk);
                    __m512 x1 = _mm512_maskz_loadu_ps(first(k - kk - 16), b + j * ldb + kk + 16);
                    /* 32 bf16 in order, as 16 words: element 2q in word q's low half. */
                    __m512i h = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(bf16_lanes(x0))),
                                                   _mm512_cvtepi32_epi16(bf16_lanes(x1)), 1);
                    w[col] = _mm512_castsi512_ps(h);
                }
            }
            transpose16(w);
            for (int q = 0; q < 16; q++) _mm512_storeu_ps((float *)(out + (pair + q) * 16), w[q]);
        }
    }
}

#undef AVX512

typedef struct tile_config {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
} tile_config;

__attribute__((target("amx-tile"))) void rf_cpu_amx_configure_tiles(void) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.rows[t] = TILE_ROWS, cfg.bytes_per_row[t] = 64;
    /* GCC 12 does not see that ldtilecfg reads the whole struct and drops
     * the stores above (a zero configuration then faults): say so. */
    __asm__ volatile("" : : "m"(cfg));
    _tile_loadconfig(&cfg);
}

/* C (rows x cols of this tile) = or += the 16 x 16 tile t. */
__attribute__((target("avx512f"))) static void store_tile(const float t[16 * 16], float *c, int64_t ldc, int64_t rows,
                                                          int64_t cols, bool accumulate) {
    __mmask16 keep = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
    for (int64_t r = 0; r < rows; r++) {
        __m512 v = _mm512_load_ps(t + r * 16);
        if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(keep, c + r * ldc), v);
        _mm512_mask_storeu_ps(c + r * ldc, keep, v);
    }
}

static int64_t min64(int64_t x, int64_t y) { return x < y ? x : y; }

__attribute__((target("amx-tile,amx-bf16"))) void rf_cpu_amx_tiles(int64_t m, int64_t n, int64_t k,
                                                                    const uint16_t *packed_a, int64_t a_row,
                                                                    const uint16_t *packed_b, int64_t b_panel,
                                                                    float *c, int64_t ldc, bool accumulate) {
    if (m <= 0 || n <= 0) return;
    int64_t mp = round_up(m, BLOCK), kp = round_up(k, TILE_K), np = round_up(n, BLOCK);
    float out[16 * 16] __attribute__((aligned(64)));
    const int64_t a_stride = a_row * 2; /* bytes */
    for (int64_t i = 0; i < mp; i += BLOCK)
        for (int64_t j = 0; j < np; j += BLOCK) {
            /* Tile (r, s) holds rows i + 16r, columns j + 16s. A whole tile
             * inside C starts from C (accumulate) and goes back to it
             * directly; an edge tile goes through `out`. (Tile numbers
             * must be constants.) */
            bool whole[4];
            for (int t = 0; t < 4; t++) whole[t] = i + 16 * (t / 2) + 16 <= m && j + 16 * (t % 2) + 16 <= n;
#define START(t)                                                                                       \
    if (whole[t] && accumulate)                                                                        \
        _tile_loadd(t, c + (i + 16 * (t / 2)) * ldc + j + 16 * (t % 2), ldc * 4);                      \
    else                                                                                               \
        _tile_zero(t)
            START(0);
            START(1);
            START(2);
            START(3);
#undef START
            const uint16_t *a0 = packed_a + i * a_row, *a1 = a0 + TILE_ROWS * a_row;
            const uint16_t *b0 = packed_b + (j / 16) * b_panel, *b1 = b0 + b_panel;
            for (int64_t kk = 0; kk < kp; kk += TILE_K) {
                _tile_loadd(4, a0 + kk, a_stride);
                _tile_loadd(5, a1 + kk, a_stride);
                _tile_loadd(6, b0 + kk * 16, 64);
                _tile_loadd(7, b1 + kk * 16, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
#define FINISH(t)                                                                                      \
    do {                                                                                               \
        int64_t row = i + 16 * (t / 2), col = j + 16 * (t % 2);                                        \
        if (whole[t]) {                                                                                \
            _tile_stored(t, c + row * ldc + col, ldc * 4);                                             \
        } else if (row < m && col < n) {                                                               \
            _tile_stored(t, out, 64);                                                                  \
            store_tile(out, c + row * ldc + col, ldc, min64(16, m - row), min64(16, n - col), accumulate); \
        }                                                                                              \
    } while (0)
            FINISH(0);
            FINISH(1);
            FINISH(2);
            FINISH(3);
#undef FINISH
        }
}

__attribute__((target("amx-tile,amx-bf16"))) void rf_cpu_amx_gemm(int64_t m, int64_t n, int64_t k,
                                                                   const uint16_t *packed_a, const uint16_t *packed_b,
                                                                   float *c, int64_t ldc, bool accumulate) {
    if (m <= 0 || n <= 0) return;
    int64_t kp = round_up(k, TILE_K);
    rf_cpu_amx_configure_tiles();
    rf_cpu_amx_tiles(m, n, k, packed_a, kp, packed_b, kp * 16, c, ldc, accumulate);
    _tile_release();
}

__attribute__((target("amx-tile"))) void rf_cpu_amx_release_tiles(void) { _tile_release(); }

/* ---- the same packed operands on AVX512_BF16 ----------------------------------------------
 * vdpbf16ps multiplies 16 pairs of bf16 and adds both products to 16 f32
 * sums: a row of op(A)'s pair, broadcast, against a packed B panel's pair
 * row. ROWS x 32 of C stay in registers while k streams through, in chunks
 * of DP_CHUNK pairs so the two B panels' chunk (16 KiB) stays in L1 across
 * the row blocks; C takes each chunk's sums in k order, so every element's
 * sum has one order whatever the split into parts. Like the tile product,
 * vdpbf16ps treats denormal inputs and outputs as zero. */
#define DP_ROWS 8     /* rows of C per block: 16 accumulators */
#define DP_CHUNK 128  /* pairs of k per chunk */

bool rf_cpu_avx512bf16_available(void) {
    /* cpuid leaf 7, sub-leaf 1, eax bit 5: GCC 12 and Clang 14 do not both
     * know the name for __builtin_cpu_supports. Their avx512bw / avx512vl
     * also check that the OS saves AVX-512 state. */
    unsigned a, b, c, d;
    __builtin_cpu_init();
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 5 & 1) && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void rf_cpu_dpbf16_gemm(int64_t m, int64_t n, int64_t k,
                                                                      const uint16_t *packed_a,
                                                                      const uint16_t *packed_b, float *c, int64_t ldc,
                                                                      bool accumulate) {
    if (m <= 0 || n <= 0) return;
    int64_t pairs = round_up(k, TILE_K) / 2, np = round_up(n, BLOCK);
    const uint32_t *a_words = (const uint32_t *)packed_a, *b_words = (const uint32_t *)packed_b;
    for (int64_t p0 = 0; p0 < pairs; p0 += DP_CHUNK) {
        int64_t p1 = p0 + DP_CHUNK < pairs ? p0 + DP_CHUNK : pairs;
        bool add = accumulate || p0 > 0;
        for (int64_t j = 0; j < np; j += 32) {
            const uint32_t *b0 = b_words + (j / 16) * pairs * 16, *b1 = b0 + pairs * 16;
            __mmask16 keep0 = j >= n ? 0 : first(n - j), keep1 = j + 16 >= n ? 0 : first(n - j - 16);
            /* Packed A has its rows padded to 32: whole blocks read zeros past m. */
            for (int64_t i = 0; i < m; i += DP_ROWS) {
                __m512 acc[DP_ROWS][2];
                for (int r = 0; r < DP_ROWS; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
                const uint32_t *a_row = a_words + i * pairs;
                for (int64_t p = p0; p < p1; p++) {
                    __m512bh w0 = (__m512bh)_mm512_loadu_si512(b0 + p * 16);
                    __m512bh w1 = (__m512bh)_mm512_loadu_si512(b1 + p * 16);
                    for (int r = 0; r < DP_ROWS; r++) {
                        __m512bh x = (__m512bh)_mm512_set1_epi32((int)a_row[r * pairs + p]);
                        acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, w0);
                        acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, w1);
                    }
                }
                int64_t rows = m - i < DP_ROWS ? m - i : DP_ROWS;
                for (int64_t r = 0; r < rows; r++) {
                    float *out = c + (i + r) * ldc + j;
                    __m512 v0 = acc[r][0], v1 = acc[r][1];
                    if (add) {
                        v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(keep0, out), v0);
                        v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(keep1, out + 16), v1);
                    }
                    _mm512_mask_storeu_ps(out, keep0, v0);
                    _mm512_mask_storeu_ps(out + 16, keep1, v1);
                }
            }
        }
    }
}

#else

bool rf_cpu_amx_bf16_available(void) { return false; }
bool rf_cpu_avx512bf16_available(void) { return false; }

void rf_cpu_dpbf16_gemm(int64_t m, int64_t n, int64_t k, const uint16_t *packed_a, const uint16_t *packed_b, float *c,
                        int64_t ldc, bool accumulate) {
    (void)m, (void)n, (void)k, (void)packed_a, (void)packed_b, (void)c, (void)ldc, (void)accumulate;
}

void rf_cpu_amx_configure_tiles(void) {}
void rf_cpu_amx_release_tiles(void) {}

void rf_cpu_amx_tiles(int64_t m, int64_t n, int64_t k, const uint16_t *packed_a, int64_t a_row,
                      const uint16_t *packed_b, int64_t b_panel, float *c, int64_t ldc, bool accumulate) {
    (void)m, (void)n, (void)k, (void)packed_a, (void)a_row, (void)packed_b, (void)b_panel, (void)c, (void)ldc,
        (void)accumulate;
}

/* Never called without AMX; kept for the interface. */
void rf_cpu_amx_pack_a(bool trans, int64_t m, int64_t k, const float *a, int64_t lda, uint16_t *dst) {
    (void)trans, (void)m, (void)k, (void)a, (void)lda, (void)dst;
}

void rf_cpu_amx_pack_b(bool trans, int64_t k, int64_t n, const float *b, int64_t ldb, uint16_t *dst) {
    (void)trans, (void)k, (void)n, (void)b, (void)ldb, (void)dst;
}

void rf_cpu_amx_gemm(int64_t m, int64_t n, int64_t k, const uint16_t *packed_a, const uint16_t *packed_b, float *c,
                     int64_t ldc, bool accumulate) {
    (void)m, (void)n, (void)k, (void)packed_a, (void)packed_b, (void)c, (void)ldc, (void)accumulate;
}

#endif
