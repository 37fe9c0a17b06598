/* test_amx_gemm.c — the bf16 GEMMs of backend/cpu/amx_gemm.c, AMX's tile
 * product and AVX512_BF16's vdpbf16ps on the same packed operands, each
 * where the CPU has it, against a double-precision product of the f32
 * operands rounded to bf16, either
 * operand transposed or not, for shapes that hit
 * every edge of its tiles and blocks (m, n around 16 and 32, k around 32,
 * single rows and columns, leading dimensions wider than the matrix), with
 * and without accumulation into C; the bound is f32 accumulation's over k
 * terms. Also: the same call twice gives the same bits. Skips on a CPU
 * with neither (or where Linux refuses AMX's tile state and there is no
 * AVX512_BF16). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/amx_gemm.h"
#include "backend/kernels/half.h"
#include "test_util.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double uniform(void) { /* splitmix64 -> [-1, 1) */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0 * 2 - 1;
}

static double as_bf16(float x) { return (double)rf_bf16_to_f32(rf_f32_to_bf16(x)); }

/* op(A) is m x k and op(B) k x n; A is stored k x m when ta, B n x k when tb. */
typedef void (*bf16_gemm)(int64_t m, int64_t n, int64_t k, const uint16_t *packed_a, const uint16_t *packed_b, float *c,
                          int64_t ldc, bool accumulate);

static const char *kernel_name = "";
static bf16_gemm kernel;

static void check_shape(int64_t m, int64_t n, int64_t k, int64_t pad, bool accumulate, bool ta, bool tb) {
    int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
    int64_t a_rows = ta ? k : m, b_rows = tb ? n : k;
    float *a = malloc(sizeof *a * (size_t)(a_rows * lda)), *b = malloc(sizeof *b * (size_t)(b_rows * ldb));
    uint16_t *pa = aligned_alloc(64, (rf_cpu_amx_packed_a_elements(m, k) * 2 + 63) / 64 * 64);
    uint16_t *pb = aligned_alloc(64, (rf_cpu_amx_packed_b_elements(k, n) * 2 + 63) / 64 * 64);
    float *c = malloc(sizeof *c * (size_t)(m * ldc)), *again = malloc(sizeof *again * (size_t)(m * ldc));
    /* Floats that bf16 cannot hold: packing must round them. */
    for (int64_t i = 0; i < a_rows * lda; i++) a[i] = (float)uniform();
    for (int64_t i = 0; i < b_rows * ldb; i++) b[i] = (float)(4 * uniform());
    for (int64_t i = 0; i < m * ldc; i++) c[i] = accumulate ? (float)uniform() : NAN;
    memcpy(again, c, sizeof *c * (size_t)(m * ldc));
    float *before = malloc(sizeof *before * (size_t)(m * ldc));
    memcpy(before, c, sizeof *c * (size_t)(m * ldc));
    rf_cpu_amx_pack_a(ta, m, k, a, lda, pa);
    rf_cpu_amx_pack_b(tb, k, n, b, ldb, pb);
    kernel(m, n, k, pa, pb, c, ldc, accumulate);
    kernel(m, n, k, pa, pb, again, ldc, accumulate);
    int bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double ref = accumulate ? before[i * ldc + j] : 0, magnitude = fabs(ref);
            for (int64_t t = 0; t < k; t++) {
                double p = as_bf16(ta ? a[t * lda + i] : a[i * lda + t]) * as_bf16(tb ? b[j * ldb + t] : b[t * ldb + j]);
                ref += p;
                magnitude += fabs(p);
            }
            /* f32 sums of k + 1 terms: each add rounds by at most 2^-24 of
             * a partial sum bounded by the sum of magnitudes. */
            double bound = (double)(k + 2) * ldexp(1, -24) * magnitude + 1e-30, err = fabs(c[i * ldc + j] - ref);
            if (!(err <= bound)) bad++;
            if (err / (bound > 0 ? bound : 1) > worst) worst = err / (bound > 0 ? bound : 1);
        }
    CHECK(bad == 0, "%s: m %lld n %lld k %lld pad %lld%s%s%s: %d elements outside f32 accumulation's bound (worst %.2f of it)",
          kernel_name, (long long)m, (long long)n, (long long)k, (long long)pad, accumulate ? " accumulate" : "", ta ? " ta" : "",
          tb ? " tb" : "", bad, worst);
    CHECK(memcmp(c, again, sizeof *c * (size_t)(m * ldc)) == 0, "%s: m %lld n %lld k %lld: two calls differ",
          kernel_name, (long long)m, (long long)n, (long long)k);
    /* Outside the m x n block (the padding columns) C is untouched. */
    int touched = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = n; j < ldc; j++) touched += memcmp(&c[i * ldc + j], &before[i * ldc + j], sizeof *c) != 0;
    CHECK(touched == 0, "%s: m %lld n %lld k %lld: %d elements beyond n written", kernel_name, (long long)m,
          (long long)n, (long long)k, touched);
    free(a), free(b), free(pa), free(pb), free(c), free(again), free(before);
}

/* Packing rounds every float exactly as half.h does: a sweep of 2^16 bit
 * patterns over all of float (NaNs, infinities, subnormals, ties between
 * neighbours included), through both packers and both layouts. */
static void check_rounding(void) {
    enum { N = 65536 + 8 };
    static float x[N];
    for (uint32_t i = 0; i < 65536; i++) {
        uint32_t bits = i * 65537u;
        memcpy(&x[i], &bits, 4);
    }
    const uint32_t specials[8] = {0x7f800000u, 0xff800000u, 0x7fc00001u, 0xffffffffu,
                                  0x00000001u, 0x3f808000u, 0x3f818000u, 0x7f7fffffu};
    for (int i = 0; i < 8; i++) memcpy(&x[65536 + i], &specials[i], 4);
    uint16_t *pa = aligned_alloc(64, (rf_cpu_amx_packed_a_elements(1, N) * 2 + 63) / 64 * 64);
    uint16_t *pb = aligned_alloc(64, (rf_cpu_amx_packed_b_elements(N, 1) * 2 + 63) / 64 * 64);
    int bad = 0;
    for (int trans = 0; trans < 2; trans++) {
        /* one row of op(A) / one column of op(B): A 1 x N or N x 1, B N x 1 or 1 x N */
        rf_cpu_amx_pack_a(trans, 1, N, x, trans ? 1 : N, pa);
        rf_cpu_amx_pack_b(trans, N, 1, x, trans ? N : 1, pb);
        for (int i = 0; i < N; i++) {
            uint16_t want = (uint16_t)rf_f32_to_bf16(x[i]);
            bad += pa[i] != want;
            bad += pb[(i / 2 * 16) * 2 + i % 2] != want; /* panel 0, pair i / 2, column 0 */
        }
    }
    CHECK(bad == 0, "%d of %d packed elements round differently from half.h", bad, 4 * N);
    free(pa), free(pb);
}

static void check_kernel(const char *name, bf16_gemm gemm) {
    kernel_name = name;
    kernel = gemm;
    const int64_t sizes[] = {1, 15, 16, 17, 31, 32, 33, 50};
    const int64_t depths[] = {1, 2, 31, 32, 33, 64, 100, 777};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++)
            for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++)
                check_shape(sizes[i], sizes[j], depths[d], (int64_t)((i + j + d) % 3), (i + j + d) % 2 == 1,
                            (i + d) % 2 == 0, (j + d) % 3 == 0);
    check_shape(200, 300, 1024, 5, false, false, true);
    check_shape(64, 96, 4096, 0, true, true, false);
}

int main(void) {
    bool amx = rf_cpu_amx_bf16_available(), dp = rf_cpu_avx512bf16_available();
    if (!amx && !dp)
        return test_skip("test_amx_gemm", "this CPU has neither AMX-BF16 (or Linux refused its tile state) nor AVX512_BF16",
                         "an Intel Xeon of the Sapphire Rapids generation or later, or an AMD Zen 4 or later");
    /* The packers are plain AVX-512: every CPU with either product has them. */
    check_rounding();
    if (amx) check_kernel("amx", rf_cpu_amx_gemm);
    else test_skip_part("test_amx_gemm", "the AMX product", "no AMX-BF16", "an Intel Xeon of the Sapphire Rapids generation or later");
    if (dp) check_kernel("avx512bf16", rf_cpu_dpbf16_gemm);
    else test_skip_part("test_amx_gemm", "the vdpbf16ps product", "no AVX512_BF16", "an AMD Zen 4 or an Intel Xeon of the Cooper Lake generation or later");
    return test_finish("test_amx_gemm");
}
