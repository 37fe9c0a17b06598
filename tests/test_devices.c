/* test_devices.c — the device contract: name parsing, listing, memory round
 * trips at odd sizes and offsets, device-mismatch errors, per-device
 * counters that prove isolation, and error records. */
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/profile.h"
#include "backend/status.h"
#include "test_util.h"

static void test_parsing(void) {
    const rf_backend *b;
    int index;
    CHECK_OK(rf_device_parse_name("cpu", &b, &index));
    CHECK(index == 0 && strcmp(b->name, "cpu") == 0, "cpu parsed as %s:%d", b->name, index);
    CHECK_OK(rf_device_parse_name("cpu:0", &b, &index));

    const char *bad[] = {"", "gpu", "cpu:1", "cpu:-1", "opencl", "opencl:", "opencl:x", "opencl:-1", "opencl:+1",
                         "opencl:0x1", "opencl:1 ", " opencl:0", "OpenCL:0", "opencl:01", "opencl:99999999999",
                         "cuda", "cuda:", "metal:0", "opencl:0:0", ":0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rf_status s = rf_device_parse_name(bad[i], &b, &index);
        CHECK(s == RF_ERR_NO_DEVICE, "'%s' parsed as valid (%s)", bad[i], rf_status_name(s));
        /* Every refusal tells the user what exists. */
        CHECK(strstr(rf_last_error(), "available devices: cpu") != NULL, "message for '%s' lacks the device list: %s",
              bad[i], rf_last_error());
    }
    CHECK_STATUS(rf_device_parse_name(NULL, &b, &index), RF_ERR_NO_DEVICE);

    /* Every listed device parses back to itself, in listing order. */
    int total = rf_device_count();
    CHECK(total >= 1, "no devices at all");
    int opencl_seen = 0;
    for (int i = 0; i < total; i++) {
        rf_device_info info;
        CHECK_OK(rf_device_info_at(i, &info));
        CHECK_OK(rf_device_parse_name(info.name, &b, &index));
        CHECK(strcmp(b->name, info.backend) == 0 && index == info.index, "%s parsed to %s:%d", info.name, b->name,
              index);
        if (strcmp(info.backend, "opencl") == 0) {
            CHECK(info.index == opencl_seen, "opencl devices out of driver order: %s at position %d", info.name,
                  opencl_seen);
            opencl_seen++;
        }
    }
    rf_device_info info;
    CHECK_STATUS(rf_device_info_at(total, &info), RF_ERR_NO_DEVICE);

    /* CI runs with POCL_DEVICES="pthread pthread": fewer than two OpenCL
     * devices there means a misspelt driver list, which must fail loudly. */
    const char *min = getenv("RFDETR_TEST_MIN_OPENCL_DEVICES");
    if (min && *min) {
        int need = atoi(min);
        CHECK(opencl_seen >= need, "found %d OpenCL devices, the run requires %d (%s)", opencl_seen, need,
              rf_backend_unavailable_reason("opencl"));
    }
    printf("devices: %d listed, %d OpenCL\n", total, opencl_seen);
}

/* Uploads a pattern at an odd offset, then reads back a window around it:
 * bytes outside the written range must keep their fill value. */
static void test_memory(const char *name) {
    rf_device *dev = NULL;
    CHECK_OK(rf_device_open(name, &dev));
    if (!dev) return;
    const size_t sizes[] = {1, 3, 7, 33, 257, 4099};
    const size_t offsets[] = {0, 1, 5, 64};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t oi = 0; oi < sizeof offsets / sizeof offsets[0]; oi++) {
            size_t n = sizes[si], off = offsets[oi], guard = 16, total = off + n + guard;
            rf_buffer *buf = NULL, *other = NULL;
            CHECK_OK(rf_buffer_alloc(dev, total * sizeof(float), &buf));
            CHECK_OK(rf_buffer_alloc(dev, total * sizeof(float), &other));
            if (!buf || !other) {
                rf_buffer_free(buf);
                rf_buffer_free(other);
                continue;
            }
            float *host = malloc(total * sizeof *host), *back = malloc(total * sizeof *back);
            for (size_t i = 0; i < total; i++) host[i] = (float)i * 0.5f - 3.0f;
            CHECK_OK(rf_buffer_fill_f32(buf, 0, total, -7.25f));
            CHECK_OK(rf_buffer_upload(buf, off * sizeof(float), host, n * sizeof(float)));
            CHECK_OK(rf_buffer_download(buf, 0, back, total * sizeof(float)));
            bool ok = true;
            for (size_t i = 0; i < total; i++) {
                float want = (i >= off && i < off + n) ? host[i - off] : -7.25f;
                if (back[i] != want) ok = false;
            }
            CHECK(ok, "%s: upload/fill round trip n=%zu offset=%zu", name, n, off);

            /* copy between buffers at different odd offsets */
            CHECK_OK(rf_buffer_fill_u32(other, 0, total, 0xDEADBEEFu));
            size_t dst_off = (off + 3) % (guard + 1);
            CHECK_OK(rf_buffer_copy(other, dst_off * sizeof(float), buf, off * sizeof(float), n * sizeof(float)));
            uint32_t *bits = (uint32_t *)back;
            CHECK_OK(rf_buffer_download(other, 0, back, total * sizeof(float)));
            ok = true;
            for (size_t i = 0; i < total; i++) {
                if (i >= dst_off && i < dst_off + n) {
                    if (back[i] != host[i - dst_off]) ok = false;
                } else if (bits[i] != 0xDEADBEEFu) {
                    ok = false;
                }
            }
            CHECK(ok, "%s: copy n=%zu src_offset=%zu dst_offset=%zu", name, n, off, dst_off);

            /* partial download at an odd byte offset */
            memset(back, 0, total * sizeof(float));
            CHECK_OK(rf_buffer_download(buf, (off + n / 2) * sizeof(float), back, (n - n / 2) * sizeof(float)));
            ok = memcmp(back, host + n / 2, (n - n / 2) * sizeof(float)) == 0;
            CHECK(ok, "%s: partial download n=%zu offset=%zu", name, n, off);

            free(host);
            free(back);
            rf_buffer_free(buf);
            rf_buffer_free(other);
        }

    /* Bounds and argument checks happen before any device call. */
    rf_buffer *buf = NULL;
    CHECK_OK(rf_buffer_alloc(dev, 64, &buf));
    float tmp[32] = {0};
    CHECK_STATUS(rf_buffer_upload(buf, 60, tmp, 8), RF_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(rf_buffer_download(buf, 65, tmp, 0), RF_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(rf_buffer_fill_u32(buf, 2, 1, 0), RF_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(rf_buffer_fill_u32(buf, 0, 17, 0), RF_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(rf_buffer_copy(buf, 0, buf, 8, 16), RF_ERR_INVALID_ARGUMENT); /* overlap */
    rf_buffer *empty = NULL;
    CHECK_STATUS(rf_buffer_alloc(dev, 0, &empty), RF_ERR_INVALID_ARGUMENT);
    rf_buffer *huge = NULL;
    CHECK_STATUS(rf_buffer_alloc(dev, (size_t)1 << 62, &huge), RF_ERR_OUT_OF_MEMORY);
    CHECK(strstr(rf_last_error(), name) != NULL, "out-of-memory message does not name the device: %s", rf_last_error());
    rf_buffer_free(buf);

    rf_device_counters c;
    rf_device_get_counters(dev, &c);
    CHECK(c.bytes_live == 0, "%s: %llu bytes still live after freeing everything", name,
          (unsigned long long)c.bytes_live);
    CHECK(c.allocations == c.frees, "%s: %llu allocations, %llu frees", name, (unsigned long long)c.allocations,
          (unsigned long long)c.frees);
    rf_device_close(dev);
}

/* Operands on two devices are refused, never migrated. Work on one device
 * leaves every other device's counters at zero. */
static void test_isolation(const char *a_name, const char *b_name) {
    uint64_t opens_a = rf_device_open_count(a_name), opens_b = rf_device_open_count(b_name);
    rf_device *a = NULL, *b = NULL;
    CHECK_OK(rf_device_open(a_name, &a));
    CHECK_OK(rf_device_open(b_name, &b));
    if (!a || !b) goto done;
    rf_buffer *x = NULL, *y = NULL, *z = NULL;
    CHECK_OK(rf_buffer_alloc(b, 16 * 16 * sizeof(float), &x));
    CHECK_OK(rf_buffer_alloc(b, 16 * 16 * sizeof(float), &y));
    CHECK_OK(rf_buffer_alloc(b, 16 * 16 * sizeof(float), &z));
    float host[256];
    for (int i = 0; i < 256; i++) host[i] = (float)(i % 7);
    CHECK_OK(rf_buffer_upload(x, 0, host, sizeof host));
    CHECK_OK(rf_buffer_upload(y, 0, host, sizeof host));
    rf_gemm_desc d = {.m = 16, .n = 16, .k = 16, .alpha = 1, .beta = 0, .a = x, .lda = 16, .b = y, .ldb = 16,
                      .c = z, .ldc = 16, .batch = 1};
    CHECK_OK(rf_gemm(b, &d));
    CHECK_OK(rf_device_synchronize(b));
    CHECK_OK(rf_buffer_download(z, 0, host, sizeof host));

    rf_device_counters ca, cb;
    rf_device_get_counters(a, &ca);
    rf_device_get_counters(b, &cb);
    CHECK(rf_device_counters_total(&ca) == 0, "%s was touched by work on %s", a_name, b_name);
    CHECK(rf_device_open_count(a_name) == opens_a + 1 && rf_device_open_count(b_name) == opens_b + 1,
          "open counts: %s %llu -> %llu, %s %llu -> %llu", a_name, (unsigned long long)opens_a,
          (unsigned long long)rf_device_open_count(a_name), b_name, (unsigned long long)opens_b,
          (unsigned long long)rf_device_open_count(b_name));
    CHECK(cb.gemm_calls == 1 && cb.allocations == 3 && cb.kernel_launches >= 1,
          "%s counters: gemm=%llu alloc=%llu launches=%llu", b_name, (unsigned long long)cb.gemm_calls,
          (unsigned long long)cb.allocations, (unsigned long long)cb.kernel_launches);

    /* Now mix devices: every entry point refuses. */
    rf_buffer *w = NULL;
    CHECK_OK(rf_buffer_alloc(a, 16 * 16 * sizeof(float), &w));
    rf_gemm_desc mixed = d;
    mixed.a = w;
    CHECK_STATUS(rf_gemm(b, &mixed), RF_ERR_DEVICE_MISMATCH);
    CHECK(strstr(rf_last_error(), a_name) && strstr(rf_last_error(), b_name), "mismatch message names both: %s",
          rf_last_error());
    mixed = d;
    mixed.c = w;
    CHECK_STATUS(rf_gemm(b, &mixed), RF_ERR_DEVICE_MISMATCH);
    CHECK_STATUS(rf_gemm(a, &d), RF_ERR_DEVICE_MISMATCH);
    CHECK_STATUS(rf_buffer_copy(w, 0, x, 0, 64), RF_ERR_DEVICE_MISMATCH);
    CHECK_STATUS(rf_buffer_copy(x, 0, w, 0, 64), RF_ERR_DEVICE_MISMATCH);
    rf_buffer_free(w);
    rf_buffer_free(x);
    rf_buffer_free(y);
    rf_buffer_free(z);
done:
    rf_device_close(a);
    rf_device_close(b);
}

/* The profile's GEMM rows by shape: one row per shape with its calls, and
 * shapes beyond what it keeps folded into one row, none lost. */
static void test_profile_shapes(const char *name) {
    rf_device *dev = NULL;
    CHECK_OK(rf_device_open(name, &dev));
    if (!dev) return;
    rf_buffer *x = NULL, *y = NULL, *z = NULL;
    CHECK_OK(rf_buffer_alloc(dev, 64 * 64 * sizeof(float), &x));
    CHECK_OK(rf_buffer_alloc(dev, 64 * 64 * sizeof(float), &y));
    CHECK_OK(rf_buffer_alloc(dev, 64 * 64 * sizeof(float), &z));
    CHECK_OK(rf_buffer_fill_u32(x, 0, 64 * 64, 0x3f800000u));
    CHECK_OK(rf_buffer_fill_u32(y, 0, 64 * 64, 0x3f800000u));
    CHECK_OK(rf_device_set_profiling(dev, true));
    rf_gemm_desc d = {.m = 16, .n = 16, .k = 16, .alpha = 1, .a = x, .lda = 16, .b = y, .ldb = 16, .c = z, .ldc = 16, .batch = 1};
    CHECK_OK(rf_gemm(dev, &d));
    rf_gemm_desc t = {.m = 8, .n = 12, .k = 16, .alpha = 1, .a = x, .lda = 16, .b = y, .ldb = 16, .c = z, .ldc = 12,
                      .batch = 1, .trans_b = true};
    CHECK_OK(rf_gemm(dev, &t));
    CHECK_OK(rf_gemm(dev, &t));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    rf_device_profile_print(dev, f);
    fclose(f);
    const char *row = text ? strstr(text, "8x12 k16 b1 NT f32") : NULL;
    unsigned long long calls = 0;
    CHECK(row && sscanf(row + strlen("8x12 k16 b1 NT f32"), "%llu", &calls) == 1 && calls == 2,
          "%s: the 8x12 shape's row (2 calls): %s", name, text ? text : "(nothing)");
    CHECK(text && strstr(text, "16x16 k16 b1 NN f32"), "%s: no row for the 16x16 shape: %s", name, text ? text : "");
    free(text);
    /* More shapes than the profile keeps: the rest share a row. */
    rf_device_profile_reset(dev);
    int shapes = RF_PROFILE_GEMM_SHAPES + 5;
    for (int m = 1; m <= shapes; m++) {
        rf_gemm_desc e = {.m = m, .n = 4, .k = 4, .alpha = 1, .a = x, .lda = 4, .b = y, .ldb = 4, .c = z, .ldc = 4, .batch = 1};
        CHECK_OK(rf_gemm(dev, &e));
    }
    f = open_memstream(&text, &len);
    rf_device_profile_print(dev, f);
    fclose(f);
    /* Rows are "    <shape, 34 wide> <calls> ...", after a header row. */
    unsigned long long listed = 0, folded = 0;
    const char *line = text ? strstr(text, "gemm by shape") : NULL;
    while (line && (line = strchr(line, '\n')) && strncmp(++line, "    ", 4) == 0) {
        unsigned long long c = 0;
        const char *eol = strchr(line, '\n'), *other = strstr(line, "other shapes");
        if (strlen(line) < 38 || sscanf(line + 38, "%llu", &c) != 1) continue; /* the header */
        if (other && (!eol || other < eol))
            folded += c;
        else
            listed += c;
    }
    CHECK(listed + folded == (unsigned long long)shapes && folded > 0,
          "%s: %d one-call shapes printed as %llu listed + %llu folded: %s", name, shapes, listed, folded,
          text ? text : "");
    free(text);
    CHECK_OK(rf_device_set_profiling(dev, false));
    rf_buffer_free(x);
    rf_buffer_free(y);
    rf_buffer_free(z);
    rf_device_close(dev);
}

/* A memory limit refuses what would exceed it, naming the device and sizes. */
static void test_memory_limit(const char *name) {
    rf_device_options opts = {.memory_limit_bytes = 1 << 20};
    rf_device *dev = NULL;
    CHECK_OK(rf_device_open_with(name, &opts, &dev));
    if (!dev) return;
    rf_buffer *a = NULL, *b = NULL;
    CHECK_OK(rf_buffer_alloc(dev, 768 << 10, &a));
    CHECK_STATUS(rf_buffer_alloc(dev, 512 << 10, &b), RF_ERR_OUT_OF_MEMORY);
    CHECK(strstr(rf_last_error(), name) && strstr(rf_last_error(), "524288 bytes") && strstr(rf_last_error(), "smaller batch"),
          "message: %s", rf_last_error());
    rf_buffer_free(a);
    CHECK_OK(rf_buffer_alloc(dev, 512 << 10, &b)); /* fits again once freed */
    rf_buffer_free(b);
    rf_device_close(dev);
}

static void test_status_names(void) {
    for (int s = 0; s < RF_STATUS_COUNT; s++)
        CHECK(strncmp(rf_status_name((rf_status)s), "RF_", 3) == 0 && strcmp(rf_status_name((rf_status)s), "RF_ERR_UNKNOWN") != 0,
              "status %d has no name", s);
    CHECK(strcmp(rf_status_name((rf_status)999), "RF_ERR_UNKNOWN") == 0, "out-of-range status name");
    rf_status s = RF_ERROR(RF_ERR_FORMAT, "inner %d", 7);
    rf_error_prefix(s, "outer: ");
    CHECK(strcmp(rf_last_error(), "outer: inner 7") == 0, "prefix: %s", rf_last_error());
    CHECK(strstr(rf_last_error_location(), "test_devices.c:") != NULL, "location: %s", rf_last_error_location());
}

#ifdef RFDETR_HAVE_OPENCL
/* A kernel that fails to compile leaves its build log in the error record. */
static void test_build_log(const char *name) {
    rf_device *dev = NULL;
    CHECK_OK(rf_device_open(name, &dev));
    if (!dev) return;
    rf_status s = rf_device_build_program(dev, "broken.cl", "__kernel void k(__global float *x) { x[0] = y; }");
    CHECK(s == RF_ERR_KERNEL_BUILD, "broken kernel gave %s", rf_status_name(s));
    CHECK(dev->error.build_log && strstr(dev->error.build_log, "y"), "no build log recorded");
    CHECK(strcmp(dev->error.call, "clBuildProgram") == 0, "failing call recorded as '%s'", dev->error.call);
    CHECK(strcmp(dev->error.native_name, "CL_BUILD_PROGRAM_FAILURE") == 0, "native name '%s'", dev->error.native_name);
    CHECK(dev->error.file && dev->error.line > 0, "no file:line");
    CHECK(strstr(rf_last_error(), "broken.cl") && strstr(rf_last_error(), name), "message: %s", rf_last_error());
    rf_device_close(dev);
}
#endif

int main(void) {
    test_status_names();
    test_parsing();
    char names[16][32];
    int n = test_device_names(names, 16);
    for (int i = 0; i < n; i++) test_memory(names[i]);
    for (int i = 0; i < n; i++) test_memory_limit(names[i]);
    for (int i = 0; i < n; i++) test_profile_shapes(names[i]);
    /* Isolation between every ordered pair of listed devices. */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j) test_isolation(names[i], names[j]);
#ifdef RFDETR_HAVE_OPENCL
    for (int i = 0; i < n; i++)
        if (strncmp(names[i], "opencl:", 7) == 0) test_build_log(names[i]);
#endif
    return test_finish("test_devices");
}
