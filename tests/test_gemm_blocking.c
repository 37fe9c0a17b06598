/* test_gemm_blocking.c — the fast cpu GEMM takes its blocking from the
 * caches of the CPU it runs on (backend/cpu/fast_gemm.c): the sizes it read
 * are the ones the system reports, and each block fits the cache it is
 * meant for. A blocking fixed at constants tuned on one CPU fails here on a
 * CPU whose caches differ. */
#include <unistd.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/fast_gemm.h"
#include "test_util.h"

/* C (m x n) = A (m x k) B^T (B n x k, as a linear's weight) on a cpu device
 * of the given mode; NULL on failure. */
static float *product(bool reference, int threads, int64_t m, int64_t n, int64_t k, const float *a, const float *b) {
    rf_device *dev = NULL;
    rf_device_options o = {.cpu_threads = threads, .cpu_reference = reference};
    if (rf_device_open_with("cpu", &o, &dev) != RF_OK) return NULL;
    rf_buffer *ba = NULL, *bb = NULL, *bc = NULL;
    float *c = malloc(sizeof *c * (size_t)(m * n));
    bool ok = c && rf_buffer_alloc(dev, sizeof(float) * (size_t)(m * k), &ba) == RF_OK &&
              rf_buffer_alloc(dev, sizeof(float) * (size_t)(n * k), &bb) == RF_OK &&
              rf_buffer_alloc(dev, sizeof(float) * (size_t)(m * n), &bc) == RF_OK &&
              rf_buffer_upload(ba, 0, a, sizeof(float) * (size_t)(m * k)) == RF_OK &&
              rf_buffer_upload(bb, 0, b, sizeof(float) * (size_t)(n * k)) == RF_OK;
    rf_gemm_desc d = {.trans_b = true, .m = m, .n = n, .k = k, .alpha = 1, .beta = 0, .a = ba, .lda = k, .b = bb,
                      .ldb = k, .c = bc, .ldc = n, .batch = 1};
    ok = ok && rf_gemm(dev, &d) == RF_OK && rf_buffer_download(bc, 0, c, sizeof(float) * (size_t)(m * n)) == RF_OK;
    rf_buffer_free(ba);
    rf_buffer_free(bb);
    rf_buffer_free(bc);
    rf_device_close(dev);
    if (!ok) free(c);
    return ok ? c : NULL;
}

/* A product past every block edge (two blocks of k, of rows and of
 * columns, ragged) against the reference GEMM, and the same bits on 1 and
 * 2 threads. */
static void check_blocked_product(int64_t kc, int64_t mc, int64_t nc) {
    int64_t m = mc + 7, n = nc + 45, k = kc + 19;
    float *a = malloc(sizeof *a * (size_t)(m * k)), *b = malloc(sizeof *b * (size_t)(n * k));
    unsigned long long s = 5;
    for (int64_t i = 0; i < m * k; i++) a[i] = (float)test_uniform(&s, -1, 1);
    for (int64_t i = 0; i < n * k; i++) b[i] = (float)test_uniform(&s, -1, 1);
    float *want = product(true, 1, m, n, k, a, b), *one = product(false, 1, m, n, k, a, b), *two = product(false, 2, m, n, k, a, b);
    CHECK(want && one && two, "GEMM %ldx%ldx%ld failed: %s", (long)m, (long)n, (long)k, rf_last_error());
    if (want && one && two) {
        double worst = 0;
        for (int64_t i = 0; i < m * n; i++) worst = fmax(worst, fabs((double)one[i] - (double)want[i]));
        CHECK(worst <= 1e-4, "GEMM %ldx%ldx%ld: fast differs from the reference by %.3g", (long)m, (long)n, (long)k, worst);
        CHECK(memcmp(one, two, sizeof *one * (size_t)(m * n)) == 0, "GEMM: 1 and 2 threads give different bits");
    }
    free(a);
    free(b);
    free(want);
    free(one);
    free(two);
}

int main(void) {
    int64_t kc, mc, nc;
    long l1, l2;
    rf_cpu_gemm_blocking(&kc, &mc, &nc, &l1, &l2);
    printf("L1d %ld KiB, L2 %ld KiB -> KC %ld, MC %ld, NC %ld\n", l1 / 1024, l2 / 1024, (long)kc, (long)mc, (long)nc);
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
    long sys_l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE), sys_l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (sys_l1 > 0) CHECK(l1 == sys_l1, "L1d read as %ld, the system says %ld", l1, sys_l1);
    if (sys_l2 > 0) CHECK(l2 == sys_l2, "L2 read as %ld, the system says %ld", l2, sys_l2);
#endif
    const int64_t nr = 32, mr = 12, f = (int64_t)sizeof(float);
    /* the B micro-panel (KC x NR) fills L1d: within one rounding step of it */
    CHECK(kc * nr * f <= l1 || kc == 128, "KC %ld: the B micro-panel (%ld bytes) overflows L1d (%ld)", (long)kc, (long)(kc * nr * f), l1);
    CHECK((kc + 16) * nr * f > l1 || kc == 768, "KC %ld leaves L1d (%ld) underused", (long)kc, l1);
    /* the packed A block (MC x KC) takes about half of L2 */
    CHECK(mc * kc * f <= l2 / 2 || mc == 4 * mr, "MC %ld: the A block overflows half of L2", (long)mc);
    CHECK((mc + mr) * kc * f > l2 / 2 || mc >= 948, "MC %ld leaves L2 underused", (long)mc);
    /* the packed B block (KC x NC) is about 1.5 L2 */
    CHECK(nc * kc * f <= 3 * l2 / 2 || nc == 8 * nr, "NC %ld: the B block exceeds 1.5 L2", (long)nc);
    CHECK((nc + nr) * kc * f > 3 * l2 / 2 || nc == 4096, "NC %ld leaves the B block short of 1.5 L2", (long)nc);
    CHECK(kc % 16 == 0 && mc % mr == 0 && nc % nr == 0, "blocks must be whole vectors and tiles");
    CHECK(rf_cpu_gemm_scratch_floats() == (size_t)(mc * kc + kc * nc), "scratch must hold both packed blocks");
    check_blocked_product(kc, mc, nc);
    return test_finish("test_gemm_blocking");
}
