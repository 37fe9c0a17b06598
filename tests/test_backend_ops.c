/* test_backend_ops.c — every op case on every device against the cpu
 * reference, in the manner of ggml's test-backend-ops:
 *   - each case has a canonical parameter string, e.g.
 *     GEMM(m=7,n=33,k=257,ta=1,tb=0,pad=3,off=5,batch=3,sa=0,...)
 *   - outputs are compared by NMSE with NaN/Inf agreement;
 *   - every output buffer is surrounded by guard zones (and ld padding) that
 *     must come back bit for bit unchanged;
 *   - `-o OP` filters cases by op name prefix, `-d DEVICE` by device,
 *     `--perf` times each case instead (GFLOP/s);
 *   - exit status non-zero on any failure.
 */
#include <float.h>
#include <stdint.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "test_util.h"

/* ---- what one case produces ---------------------------------------------- */
typedef struct case_output {
    float *data;              /* the whole output buffer, guard zones included */
    unsigned char *is_output; /* 1 where the op writes, 0 where it must not */
    size_t n;
} case_output;

typedef struct op_case op_case;
struct op_case {
    char desc[200];
    const char *op;
    double max_nmse;
    double flops; /* for --perf */
    /* Runs the case on dev; fills out (caller frees). Returns RF_OK or the
     * failing status. The case itself verifies guard zones against the
     * values it wrote there (reported through *guards_ok). */
    rf_status (*run)(const op_case *c, rf_device *dev, case_output *out, bool *guards_ok, int repeat);
    union {
        struct {
            rf_gemm_desc d; /* buffers unset: the sizes, offsets and strides */
            bool nan_c;     /* C starts as NaN (beta == 0 must not read it) */
        } gemm;
    } p;
};

/* ---- GEMM ------------------------------------------------------------------ */

/* Guard elements before and after every operand region. */
#define GUARD 17
#define GUARD_VALUE 1234.5f

static void fill_random(float *x, size_t n, unsigned long long seed) {
    unsigned long long s = seed;
    for (size_t i = 0; i < n; i++) x[i] = test_uniform(&s, -1.0f, 1.0f);
}

static rf_status upload_new(rf_device *dev, const float *host, size_t n, rf_buffer **out) {
    rf_status s = rf_buffer_alloc(dev, n * sizeof(float), out);
    if (s != RF_OK) return s;
    return rf_buffer_upload(*out, 0, host, n * sizeof(float));
}

static rf_status run_gemm(const op_case *c, rf_device *dev, case_output *out, bool *guards_ok, int repeat) {
    rf_gemm_desc d = c->p.gemm.d;
    int64_t a_rows = d.trans_a ? d.k : d.m, a_cols = d.trans_a ? d.m : d.k;
    int64_t b_rows = d.trans_b ? d.n : d.k, b_cols = d.trans_b ? d.k : d.n;
    size_t na = d.a_offset + rf_gemm_operand_extent(a_rows, a_cols, d.lda, d.stride_a, d.batch) + GUARD;
    size_t nb = d.b_offset + rf_gemm_operand_extent(b_rows, b_cols, d.ldb, d.stride_b, d.batch) + GUARD;
    size_t nc = d.c_offset + rf_gemm_operand_extent(d.m, d.n, d.ldc, d.stride_c, d.batch) + GUARD;
    float *ha = malloc(na * sizeof *ha), *hb = malloc(nb * sizeof *hb), *hc = malloc(nc * sizeof *hc);
    unsigned char *mask = calloc(nc, 1);
    rf_buffer *a = NULL, *b = NULL, *cb = NULL;
    rf_status s = RF_ERR_OUT_OF_MEMORY;
    if (!ha || !hb || !hc || !mask) goto done;
    fill_random(ha, na, 1 + na);
    fill_random(hb, nb, 2 + nb);
    for (size_t i = 0; i < nc; i++) hc[i] = GUARD_VALUE;
    for (int64_t bt = 0; bt < d.batch; bt++)
        for (int64_t i = 0; i < d.m; i++)
            for (int64_t j = 0; j < d.n; j++) {
                size_t at = d.c_offset + (size_t)(bt * d.stride_c + i * d.ldc + j);
                mask[at] = 1;
                unsigned long long seed = at * 2654435761ULL + 7;
                hc[at] = c->p.gemm.nan_c ? NAN : test_uniform(&seed, -1.0f, 1.0f);
            }
    if ((s = upload_new(dev, ha, na, &a)) != RF_OK) goto done;
    if ((s = upload_new(dev, hb, nb, &b)) != RF_OK) goto done;
    if ((s = upload_new(dev, hc, nc, &cb)) != RF_OK) goto done;
    d.a = a;
    d.b = b;
    d.c = cb;
    for (int r = 0; r < repeat; r++)
        if ((s = rf_gemm(dev, &d)) != RF_OK) goto done;
    if ((s = rf_device_synchronize(dev)) != RF_OK) goto done;
    out->data = malloc(nc * sizeof(float));
    if (!out->data) {
        s = RF_ERR_OUT_OF_MEMORY;
        goto done;
    }
    if ((s = rf_buffer_download(cb, 0, out->data, nc * sizeof(float))) != RF_OK) goto done;
    *guards_ok = true;
    for (size_t i = 0; i < nc; i++)
        if (!mask[i] && memcmp(&out->data[i], &hc[i], sizeof(float)) != 0) *guards_ok = false;
    /* Inputs are read-only: they must come back untouched as well. */
    float *check = malloc((na > nb ? na : nb) * sizeof(float));
    if (check && rf_buffer_download(a, 0, check, na * sizeof(float)) == RF_OK && memcmp(check, ha, na * sizeof(float)))
        *guards_ok = false;
    if (check && rf_buffer_download(b, 0, check, nb * sizeof(float)) == RF_OK && memcmp(check, hb, nb * sizeof(float)))
        *guards_ok = false;
    free(check);
    out->is_output = mask;
    out->n = nc;
    mask = NULL;
done:
    rf_buffer_free(a);
    rf_buffer_free(b);
    rf_buffer_free(cb);
    free(ha);
    free(hb);
    free(hc);
    free(mask);
    return s;
}

static int add_gemm_case(op_case *cases, int n, int64_t m, int64_t nn, int64_t k, bool ta, bool tb, int pad,
                         size_t off, int64_t batch, bool bcast_a, bool bcast_b, float alpha, float beta, bool nan_c) {
    op_case *c = &cases[n];
    memset(c, 0, sizeof *c);
    rf_gemm_desc *d = &c->p.gemm.d;
    d->trans_a = ta;
    d->trans_b = tb;
    d->m = m;
    d->n = nn;
    d->k = k;
    d->alpha = alpha;
    d->beta = beta;
    int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
    int64_t b_rows = tb ? nn : k, b_cols = tb ? k : nn;
    d->lda = (a_cols > 0 ? a_cols : 1) + pad;
    d->ldb = (b_cols > 0 ? b_cols : 1) + pad;
    d->ldc = (nn > 0 ? nn : 1) + pad;
    d->a_offset = off + GUARD;
    d->b_offset = off * 2 + GUARD;
    d->c_offset = off + GUARD;
    /* Batch strides leave a gap of `pad` rows' worth so that padding between
     * entries is also a guard. */
    d->stride_a = bcast_a ? 0 : a_rows * d->lda + pad;
    d->stride_b = bcast_b ? 0 : b_rows * d->ldb + pad;
    d->stride_c = m * d->ldc + pad;
    d->batch = batch;
    c->p.gemm.nan_c = nan_c;
    c->op = "GEMM";
    c->run = run_gemm;
    c->max_nmse = 5e-4;
    c->flops = 2.0 * (double)m * (double)nn * (double)k * (double)batch;
    snprintf(c->desc, sizeof c->desc,
             "GEMM(m=%lld,n=%lld,k=%lld,ta=%d,tb=%d,pad=%d,off=%zu,batch=%lld,sa=%lld,sb=%lld,alpha=%g,beta=%g%s)",
             (long long)m, (long long)nn, (long long)k, ta, tb, pad, off, (long long)batch, (long long)d->stride_a,
             (long long)d->stride_b, alpha, beta, nan_c ? ",c=nan" : "");
    return n + 1;
}

static int make_gemm_cases(op_case *cases) {
    int n = 0;
    const int64_t small[] = {1, 7, 33};
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                for (int l = 0; l < 3; l++)
                    n = add_gemm_case(cases, n, small[i], small[j], small[l], ta, tb, (i + j + l) % 2 ? 3 : 0,
                                      (size_t)((i + l) % 2 ? 5 : 0), 1, false, false, 1.0f, 0.0f, false);
        /* Larger and odd: sizes CLBlast routes to its indirect kernels. */
        n = add_gemm_case(cases, n, 257, 33, 129, ta, tb, 0, 0, 1, false, false, 1.0f, 0.0f, false);
        n = add_gemm_case(cases, n, 65, 257, 96, ta, tb, 3, 5, 1, false, false, 0.5f, 2.0f, false);
        n = add_gemm_case(cases, n, 256, 128, 257, ta, tb, 1, 1, 1, false, false, -1.0f, 1.0f, false);
        /* Batched, contiguous and padded, then broadcast A or B (stride 0). */
        n = add_gemm_case(cases, n, 33, 7, 65, ta, tb, 0, 0, 3, false, false, 1.0f, 0.0f, false);
        n = add_gemm_case(cases, n, 17, 40, 33, ta, tb, 3, 5, 4, false, false, 1.0f, 0.5f, false);
        n = add_gemm_case(cases, n, 33, 7, 65, ta, tb, 2, 5, 3, true, false, 1.0f, 0.0f, false);
        n = add_gemm_case(cases, n, 7, 129, 33, ta, tb, 0, 1, 5, false, true, 1.0f, 1.0f, false);
        /* beta == 0 treats C as write-only, even when it holds NaN. */
        n = add_gemm_case(cases, n, 7, 33, 7, ta, tb, 1, 0, 2, false, false, 1.0f, 0.0f, true);
    }
    /* k == 0: C = beta * C. */
    n = add_gemm_case(cases, n, 7, 5, 0, false, false, 2, 3, 2, false, false, 1.0f, 0.5f, false);
    n = add_gemm_case(cases, n, 7, 5, 0, true, true, 0, 0, 1, false, false, 1.0f, 0.0f, true);
    return n;
}

/* ---- the harness ------------------------------------------------------------------- */

#define MAX_CASES 1024

static double nmse(const case_output *got, const case_output *want, int *nonfinite_mismatch) {
    double err = 0, ref = 0;
    *nonfinite_mismatch = 0;
    for (size_t i = 0; i < want->n; i++) {
        if (!want->is_output[i]) continue;
        float a = got->data[i], b = want->data[i];
        bool fa = isfinite(a), fb = isfinite(b);
        if (!fa || !fb) {
            /* NaN must match NaN, +Inf must match +Inf. */
            if (!(isnan(a) && isnan(b)) && !(isinf(a) && isinf(b) && signbit(a) == signbit(b))) (*nonfinite_mismatch)++;
            continue;
        }
        err += ((double)a - b) * ((double)a - b);
        ref += (double)b * b;
    }
    if (ref == 0) return err == 0 ? 0 : err;
    return err / ref;
}

static void free_output(case_output *o) {
    free(o->data);
    free(o->is_output);
    memset(o, 0, sizeof *o);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void usage(void) {
    printf("usage: test_backend_ops [-o OP] [-d DEVICE] [--perf] [--list]\n"
           "  -o OP      only cases whose op name starts with OP (e.g. GEMM)\n"
           "  -d DEVICE  only this device (cpu, opencl:1, ...); the reference always runs\n"
           "  --perf     time each case on each device instead of checking it\n"
           "  --list     print the case strings and exit\n");
}

int main(int argc, char **argv) {
    const char *only_op = NULL, *only_dev = NULL;
    bool perf = false, list = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) only_op = argv[++i];
        else if (!strcmp(argv[i], "-d") && i + 1 < argc) only_dev = argv[++i];
        else if (!strcmp(argv[i], "--perf")) perf = true;
        else if (!strcmp(argv[i], "--list")) list = true;
        else {
            usage();
            return 2;
        }
    }
    static op_case cases[MAX_CASES];
    int ncases = 0;
    ncases += make_gemm_cases(cases + ncases);
    if (list) {
        for (int i = 0; i < ncases; i++)
            if (!only_op || !strncmp(cases[i].op, only_op, strlen(only_op))) printf("%s\n", cases[i].desc);
        return 0;
    }

    /* The oracle: the cpu device with double-accumulating reference kernels. */
    rf_device *ref = NULL;
    CHECK_OK(rf_device_open("cpu", &ref));
    if (!ref) return test_finish("test_backend_ops");
    CHECK_OK(rf_cpu_set_gemm_impl(ref, RF_CPU_GEMM_REFERENCE));

    char names[16][32];
    int ndev = test_device_names(names, 16);
    for (int di = 0; di < ndev; di++) {
        if (only_dev && strcmp(only_dev, names[di]) != 0) continue;
        rf_device *dev = NULL;
        CHECK_OK(rf_device_open(names[di], &dev));
        if (!dev) continue;
        int dev_pass = 0, dev_fail = 0;
        double t_dev = now_seconds();
        for (int ci = 0; ci < ncases; ci++) {
            const op_case *c = &cases[ci];
            if (only_op && strncmp(c->op, only_op, strlen(only_op)) != 0) continue;
            if (perf) {
                case_output o = {0};
                bool guards = false;
                c->run(c, dev, &o, &guards, 1); /* warm: compiles kernels */
                free_output(&o);
                int reps = 1;
                double t = 0;
                for (;;) {
                    double t0 = now_seconds();
                    rf_status s = c->run(c, dev, &o, &guards, reps);
                    t = now_seconds() - t0;
                    free_output(&o);
                    if (s != RF_OK || t > 0.2 || reps >= 1 << 12) break;
                    reps *= 4;
                }
                printf("%-10s %-90s %10.3f ms %8.2f GFLOP/s\n", names[di], c->desc, 1e3 * t / reps,
                       c->flops / (t / reps) * 1e-9);
                continue;
            }
            case_output want = {0}, got = {0};
            bool guards_ref = false, guards = false;
            rf_status sr = c->run(c, ref, &want, &guards_ref, 1);
            rf_status sd = c->run(c, dev, &got, &guards, 1);
            bool ok = sr == RF_OK && sd == RF_OK && guards_ref && guards;
            double e = 0;
            int nf = 0;
            if (ok) {
                e = nmse(&got, &want, &nf);
                ok = e <= c->max_nmse && nf == 0;
            }
            if (ok) {
                dev_pass++;
                test_passed_count++;
            } else {
                dev_fail++;
                test_failed_count++;
                fprintf(stderr, "FAIL %s %s: status=%s/%s guards=%d nmse=%.3g (max %.1g) nonfinite_mismatch=%d %s\n",
                        names[di], c->desc, rf_status_name(sr), rf_status_name(sd), guards, e, c->max_nmse, nf,
                        sd != RF_OK ? rf_last_error() : "");
            }
            free_output(&want);
            free_output(&got);
        }
        if (!perf)
            printf("%-10s %d passed, %d failed (%.1f s)\n", names[di], dev_pass, dev_fail, now_seconds() - t_dev);
        rf_device_close(dev);
    }
    rf_device_close(ref);
    return test_finish("test_backend_ops");
}
