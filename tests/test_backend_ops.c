/* test_backend_ops.c — every kernel case on every device against the cpu
 * reference, in the manner of ggml's test-backend-ops (see
 * kernel_harness.h for what a case is):
 *   - outputs compared by NMSE with NaN/Inf agreement, integers exactly;
 *   - guard zones around every buffer and every input checked bit for bit;
 *   - devices of the same kind (opencl:0 and opencl:1) must agree bit for bit,
 *     and so must the cpu's fast mode on 1 and on 3 threads with every
 *     kernel split into small parts (cpu/split/1t, cpu/split/3t); the fast
 *     mode with OpenBLAS's GEMM (cpu/openblas) is checked too, with bf16
 *     products on AVX512_BF16 and as rounded f32 copies (cpu/bf16-avx512bf16,
 *     cpu/bf16-rounded: how CPUs without AMX multiply), and so is
 *     CLBlast on the first CPU-backed OpenCL device (opencl:0/clblast),
 *     which otherwise multiplies with the project's own GEMM;
 *   - every kernel slot of every device's table must exist;
 *   -o KERNEL filters by kernel name prefix (or family: -o basic), -d DEVICE
 *     by device, --row-items gives OpenCL devices PoCL's one-item-per-row
 *     kernels, --perf times each case on every device against the cpu
 *     device instead of checking it (--largest: only each kernel's biggest
 *     case; this is bench/ops), --list prints the cases. Exit status non-zero on any failure. */
#include <math.h>
#include <stdint.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/kernels.h"
#include "kernel_harness.h"
#include "test_util.h"

#define MAX_CASES 4096
#define GUARD 17 /* elements before and after each buffer: data starts at an odd offset */
static const uint32_t GUARD_BITS = 0x7FC0DEADu; /* a NaN payload nobody computes */

typedef struct run_result {
    rf_status status;
    void *data[KC_MAX_BUFS]; /* the whole buffer incl. guards, downloaded */
} run_result;

static void free_result(run_result *r, int nbufs) {
    for (int i = 0; i < nbufs; i++) free(r->data[i]);
    memset(r, 0, sizeof *r);
}

/* The initial contents of buffer b of case c, guards included. */
static void *initial_contents(const kcase *c, int b, unsigned long long seed) {
    const kc_buf *kb = &c->bufs[b];
    size_t total = kb->n + 2 * GUARD;
    uint32_t *words = malloc(total * 4);
    if (!words) return NULL;
    for (size_t i = 0; i < total; i++) words[i] = GUARD_BITS;
    unsigned long long s = seed * 1000003ULL + (unsigned long long)b * 7919ULL + 1;
    for (size_t i = 0; i < kb->n; i++) {
        if (kb->type == KC_F32) {
            float v = kb->floats ? kb->floats[i] : test_uniform(&s, kb->lo, kb->hi);
            memcpy(&words[GUARD + i], &v, 4);
        } else {
            int32_t v = kb->ints ? kb->ints[i]
                                 : (int32_t)floorf(test_uniform(&s, kb->lo, kb->hi + 1.0f - 1e-6f));
            memcpy(&words[GUARD + i], &v, 4);
        }
    }
    return words;
}

static run_result run_case(const kcase *c, rf_device *dev, unsigned long long seed, int repeat, double *seconds) {
    run_result r = {0};
    rf_buffer *bufs[KC_MAX_BUFS] = {0};
    rf_mem mem[KC_MAX_BUFS];
    for (int b = 0; b < c->nbufs; b++) {
        size_t total = c->bufs[b].n + 2 * GUARD;
        void *init = initial_contents(c, b, seed);
        r.status = init ? rf_buffer_alloc(dev, total * 4, &bufs[b]) : RF_ERR_OUT_OF_MEMORY;
        if (r.status == RF_OK) r.status = rf_buffer_upload(bufs[b], 0, init, total * 4);
        free(init);
        if (r.status != RF_OK) goto done;
        mem[b] = (rf_mem){bufs[b], GUARD};
    }
    double t0 = 0;
    for (int rep = 0; rep < repeat; rep++) {
        if (rep == 1 || repeat == 1) {
            if ((r.status = rf_device_synchronize(dev)) != RF_OK) goto done;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            t0 = ts.tv_sec + ts.tv_nsec * 1e-9;
        }
        if ((r.status = c->launch(c, dev, mem)) != RF_OK) goto done;
    }
    if ((r.status = rf_device_synchronize(dev)) != RF_OK) goto done;
    if (seconds) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        *seconds = (ts.tv_sec + ts.tv_nsec * 1e-9 - t0) / (repeat > 1 ? repeat - 1 : 1);
    }
    for (int b = 0; b < c->nbufs; b++) {
        size_t total = c->bufs[b].n + 2 * GUARD;
        r.data[b] = malloc(total * 4);
        if (!r.data[b]) {
            r.status = RF_ERR_OUT_OF_MEMORY;
            goto done;
        }
        if ((r.status = rf_buffer_download(bufs[b], 0, r.data[b], total * 4)) != RF_OK) goto done;
    }
done:
    for (int b = 0; b < c->nbufs; b++) rf_buffer_free(bufs[b]);
    return r;
}

/* Compares one device's result with the reference's; prints why on failure. */
static bool compare(const kcase *c, const char *dev_name, const run_result *got, const run_result *want,
                    unsigned long long seed) {
    bool ok = true;
    for (int b = 0; b < c->nbufs; b++) {
        const kc_buf *kb = &c->bufs[b];
        size_t total = kb->n + 2 * GUARD;
        const uint32_t *g = got->data[b], *w = want->data[b];
        /* Guards: never written, on either side. */
        for (size_t i = 0; i < total; i++) {
            if (i >= GUARD && i < GUARD + kb->n) continue;
            if (g[i] != GUARD_BITS) {
                fprintf(stderr, "FAIL %s %s: buffer %s guard element %zd overwritten\n", dev_name, c->desc, kb->name,
                        (ssize_t)i - GUARD);
                ok = false;
                break;
            }
        }
        if (kb->role == KC_IN) {
            uint32_t *init = initial_contents(c, b, seed);
            if (init && memcmp(init, g, total * 4) != 0) {
                fprintf(stderr, "FAIL %s %s: input %s was modified\n", dev_name, c->desc, kb->name);
                ok = false;
            }
            free(init);
            continue;
        }
        if (kb->type == KC_I32) {
            size_t bad = 0;
            for (size_t i = GUARD; i < GUARD + kb->n; i++) bad += g[i] != w[i];
            if (bad) {
                fprintf(stderr, "FAIL %s %s: %zu of %zu int entries of %s differ\n", dev_name, c->desc, bad, kb->n, kb->name);
                ok = false;
            }
            continue;
        }
        const float *gf = (const float *)got->data[b] + GUARD, *wf = (const float *)want->data[b] + GUARD;
        double err = 0, ref = 0;
        size_t nonfinite = 0;
        for (size_t i = 0; i < kb->n; i++) {
            float a = gf[i], e = wf[i];
            if (!isfinite(a) || !isfinite(e)) {
                bool same = (isnan(a) && isnan(e)) || (isinf(a) && isinf(e) && signbit(a) == signbit(e));
                nonfinite += !same;
                continue;
            }
            err += ((double)a - e) * ((double)a - e);
            ref += (double)e * e;
        }
        double nmse = ref > 0 ? err / ref : err;
        double tol = kb->max_nmse > 0 ? kb->max_nmse : c->max_nmse;
        if (nmse > tol || nonfinite) {
            fprintf(stderr, "FAIL %s %s: output %s nmse=%.3g (max %.1g), %zu NaN/Inf mismatches\n", dev_name, c->desc,
                    kb->name, nmse, tol, nonfinite);
            ok = false;
        }
    }
    return ok;
}

static bool same_bits(const kcase *c, const run_result *a, const run_result *b) {
    for (int i = 0; i < c->nbufs; i++)
        if (memcmp(a->data[i], b->data[i], (c->bufs[i].n + 2 * GUARD) * 4) != 0) return false;
    return true;
}

/* Every slot of the kernel list must be filled on every device: a missing
 * kernel is a failure, never a skip (the host fallback that would run it is
 * for bringing a backend up, not for shipping). */
static void check_kernel_table(const rf_device *dev) {
    const rf_kernels *k = dev->kernels;
    CHECK(k != NULL, "%s has no kernel table", dev->info.name);
    if (!k) return;
    for (int slot = 0; slot < RF_SLOT_COUNT; slot++)
        CHECK(rf_kernels_has(k, (rf_kernel_slot)slot), "%s: kernel %s (%s) missing: it would run on the host",
              dev->info.name, rf_kernel_slot_names[slot], rf_kernel_slot_families[slot]);
}

static double case_bytes(const kcase *c) {
    double bytes = 0;
    for (int b = 0; b < c->nbufs; b++) bytes += (double)c->bufs[b].n;
    return bytes;
}

/* The biggest case of its kernel (the first of equals): what --perf --largest times. */
static bool is_largest_of_kernel(const kcase *cases, int n, int i) {
    for (int j = 0; j < n; j++) {
        if (j == i || strcmp(cases[j].kernel, cases[i].kernel) != 0) continue;
        double bj = case_bytes(&cases[j]), bi = case_bytes(&cases[i]);
        if (bj > bi || (bj == bi && j < i)) return false;
    }
    return true;
}

/* --simulator: the cases a device simulator (Oclgrind) can afford: every
 * case of our own kernels, the GEMM kernel included, up to `max_elements`
 * elements in all. */
static bool simulator = false;
/* --row-items: OpenCL devices reduce rows on one work item, with the kernels
 * PoCL uses (rf_device_options.opencl_row_items), so that a simulator run
 * checks those too. */
static bool row_items = false;
static size_t max_elements = 0;

static size_t case_elements(const kcase *c) {
    size_t n = 0;
    for (int b = 0; b < c->nbufs; b++) n += c->bufs[b].n;
    return n;
}

static bool selected(const kcase *c, const char *only) {
    if (simulator && case_elements(c) > max_elements) return false;
    if (!only) return true;
    return strncmp(c->kernel, only, strlen(only)) == 0 || strcmp(c->family, only) == 0;
}

int main(int argc, char **argv) {
    const char *only = NULL, *only_dev = NULL;
    bool perf = false, list = false, largest_only = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "-d") && i + 1 < argc) only_dev = argv[++i];
        else if (!strcmp(argv[i], "--perf")) perf = true;
        else if (!strcmp(argv[i], "--largest")) largest_only = true;
        else if (!strcmp(argv[i], "--list")) list = true;
        else if (!strcmp(argv[i], "--row-items")) row_items = true;
        else if (!strcmp(argv[i], "--simulator") && i + 1 < argc) {
            simulator = true;
            max_elements = (size_t)strtoull(argv[++i], NULL, 10);
        } else {
            printf("usage: test_backend_ops [-o KERNEL|FAMILY] [-d DEVICE] [--perf [--largest]] [--list]\n"
                   "                        [--simulator MAX_ELEMENTS] [--row-items]\n");
            return 2;
        }
    }
    static kcase cases[MAX_CASES];
    int ncases = 0;
    const kc_generator generators[] = {kc_cases_gemm, kc_cases_basic, kc_cases_conv, kc_cases_sampling,
                                       kc_cases_loss, kc_cases_optim, kc_cases_rng, kc_cases_attention};
    for (size_t g = 0; g < sizeof generators / sizeof generators[0]; g++)
        ncases += generators[g](cases + ncases, MAX_CASES - ncases);
    if (list) {
        for (int i = 0; i < ncases; i++)
            if (selected(&cases[i], only)) printf("%s\n", cases[i].desc);
        return 0;
    }

    rf_device *ref = NULL;
    CHECK_OK(rf_device_open("cpu", &ref));
    if (!ref) return test_finish("test_backend_ops");
    CHECK_OK(rf_cpu_set_reference(ref, true));
    check_kernel_table(ref);

    char names[16][32];
    int ndev = test_device_names(names, 16);
    rf_device *devs[16] = {0};
    /* Devices in one group must agree bit for bit: devices of one kind, and
     * the cpu's fast mode with every kernel split into many small parts on
     * 1 and on 3 threads (results must not depend on the thread count). */
    int group[16] = {0};
    for (int d = 0; d < ndev; d++) {
        group[d] = d;
        if (only_dev && strcmp(only_dev, names[d]) != 0) continue;
        /* Under the simulator the OpenCL device multiplies with the own
         * GEMM kernel (Oclgrind is a "GPU", which would get CLBlast), so
         * that kernel is checked there too. */
        rf_device_options opts = {.opencl_gemm = simulator ? RF_OPENCL_GEMM_OWN : RF_OPENCL_GEMM_AUTO,
                                  .opencl_row_items = row_items};
        CHECK_OK(rf_device_open_with(names[d], &opts, &devs[d]));
        if (devs[d] && !perf) check_kernel_table(devs[d]);
        for (int e = 0; devs[d] && e < d; e++)
            if (devs[e] && strcmp(names[d], "cpu") && !strcmp(devs[e]->info.backend, devs[d]->info.backend) &&
                !strcmp(devs[e]->info.description, devs[d]->info.description))
                group[d] = group[e];
    }
    if (!perf && (!only_dev || !strcmp(only_dev, "cpu"))) {
        const int threads[2] = {1, 3};
        for (int t = 0; t < 2 && ndev < 16; t++) {
            rf_device_options opts = {.cpu_threads = threads[t]};
            snprintf(names[ndev], sizeof names[ndev], "cpu/split/%dt", threads[t]);
            CHECK_OK(rf_device_open_with("cpu", &opts, &devs[ndev]));
            if (devs[ndev]) CHECK_OK(rf_cpu_set_split_divisor(devs[ndev], 1 << 20));
            group[ndev] = t == 0 ? ndev : ndev - 1;
            ndev++;
        }
        /* The fast mode with OpenBLAS's GEMM, as CPUs without AVX-512 run it. */
        if (ndev < 16) {
            snprintf(names[ndev], sizeof names[ndev], "cpu/openblas");
            CHECK_OK(rf_device_open("cpu", &devs[ndev]));
            if (devs[ndev]) CHECK_OK(rf_cpu_use_openblas(devs[ndev], true));
            group[ndev] = ndev;
            ndev++;
        }
        /* bf16 products as CPUs without AMX run them: vdpbf16ps (AMD Zen 4
         * and later), or rounded f32 copies (any other CPU). */
        const rf_cpu_bf16_products others[2] = {RF_CPU_BF16_AVX512BF16, RF_CPU_BF16_ROUNDED};
        const char *other_names[2] = {"cpu/bf16-avx512bf16", "cpu/bf16-rounded"};
        for (int o = 0; o < 2 && ndev < 16; o++) {
            rf_device *dev = NULL;
            CHECK_OK(rf_device_open("cpu", &dev));
            if (!dev) continue;
            if (rf_cpu_set_bf16_products(dev, others[o]) != RF_OK) {
                test_skip_part("test_backend_ops", other_names[o], rf_last_error(), "a CPU with AVX512_BF16");
                rf_device_close(dev);
                continue;
            }
            snprintf(names[ndev], sizeof names[ndev], "%s", other_names[o]);
            devs[ndev] = dev;
            group[ndev] = ndev;
            ndev++;
        }
    }
    /* CPU-backed OpenCL multiplies with the project's own GEMM kernel; the
     * CLBlast path that GPUs take is checked there too. */
    for (int d = 0; !perf && !simulator && d < ndev && ndev < 16; d++)
        if (devs[d] && !strcmp(devs[d]->info.backend, "opencl") && devs[d]->info.type == RF_DEVICE_CPU) {
            rf_device_options opts = {.opencl_gemm = RF_OPENCL_GEMM_CLBLAST};
            char base[sizeof names[0]];
            snprintf(base, sizeof base, "%s", names[d]);
            snprintf(names[ndev], sizeof names[ndev], "%.23s/clblast", base);
            CHECK_OK(rf_device_open_with(base, &opts, &devs[ndev]));
            group[ndev] = ndev;
            ndev++;
            break;
        }
    if (simulator) /* small enough must still mean every kernel */
        for (int slot = 0; slot < RF_SLOT_COUNT; slot++) {
            int n = 0;
            for (int ci = 0; ci < ncases; ci++)
                n += !strcmp(cases[ci].kernel, rf_kernel_slot_names[slot]) && selected(&cases[ci], only);
            CHECK(n > 0 || only, "--simulator %zu: no case of kernel %s is that small", max_elements,
                  rf_kernel_slot_names[slot]);
        }
    int pass[16] = {0}, fail[16] = {0};
    for (int ci = 0; ci < ncases; ci++) {
        const kcase *c = &cases[ci];
        if (!selected(c, only)) continue;
        unsigned long long seed = (unsigned long long)ci + 1;
        if (perf) {
            if (largest_only && !is_largest_of_kernel(cases, ncases, ci)) continue;
            double bytes = 0;
            for (int b = 0; b < c->nbufs; b++) bytes += (double)c->bufs[b].n * 4 * (c->bufs[b].role == KC_INOUT ? 2 : 1);
            printf("%s\n", c->desc);
            double cpu_time = 0;
            for (int d = 0; d < ndev; d++) {
                if (!devs[d]) continue;
                double t = 0;
                run_result r = run_case(c, devs[d], seed, 1, NULL); /* warm-up: compiles kernels */
                free_result(&r, c->nbufs);
                int reps = 2;
                for (;;) {
                    r = run_case(c, devs[d], seed, reps, &t);
                    free_result(&r, c->nbufs);
                    if (r.status != RF_OK || t * (reps - 1) > 0.2 || reps > 1000) break;
                    reps *= 4;
                }
                if (!strcmp(names[d], "cpu")) cpu_time = t;
                printf("  %-10s %10.4f ms %9.2f %-7s", names[d], t * 1e3, c->flops > 0 ? c->flops / t * 1e-9 : bytes / t * 1e-9,
                       c->flops > 0 ? "GFLOP/s" : "GB/s");
                if (cpu_time > 0 && strcmp(names[d], "cpu")) printf("  %.2fx the cpu device", cpu_time / t);
                printf("\n");
            }
            continue;
        }
        run_result want = run_case(c, ref, seed, 1, NULL);
        if (want.status != RF_OK) {
            fprintf(stderr, "FAIL reference %s: %s: %s\n", c->desc, rf_status_name(want.status), rf_last_error());
            test_failed_count++;
            free_result(&want, c->nbufs);
            continue;
        }
        run_result results[16] = {{0}};
        for (int d = 0; d < ndev; d++) {
            if (!devs[d]) continue;
            results[d] = run_case(c, devs[d], seed, 1, NULL);
            bool ok = results[d].status == RF_OK;
            if (!ok)
                fprintf(stderr, "FAIL %s %s: %s: %s\n", names[d], c->desc, rf_status_name(results[d].status), rf_last_error());
            else
                ok = compare(c, names[d], &results[d], &want, seed);
            /* Devices of one group must compute the very same bits. */
            for (int e = 0; ok && e < d; e++)
                if (devs[e] && results[e].status == RF_OK && results[e].data[0] && group[e] == group[d] &&
                    !same_bits(c, &results[e], &results[d])) {
                    fprintf(stderr, "FAIL %s %s: results differ bitwise from %s\n", names[d], c->desc, names[e]);
                    ok = false;
                }
            if (ok) {
                pass[d]++;
                test_passed_count++;
            } else {
                fail[d]++;
                test_failed_count++;
            }
        }
        for (int d = 0; d < ndev; d++) free_result(&results[d], c->nbufs);
        free_result(&want, c->nbufs);
    }
    if (!perf)
        for (int d = 0; d < ndev; d++)
            if (devs[d]) printf("%-13s %d passed, %d failed\n", names[d], pass[d], fail[d]);
    for (int d = 0; d < ndev; d++) rf_device_close(devs[d]);
    rf_device_close(ref);
    return test_finish("test_backend_ops");
}
