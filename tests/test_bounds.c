/* test_bounds.c — small untrusted files that once made us allocate
 * gigabytes or run for minutes (issue 14). Each bomb is generated here, fed
 * to the reader that took it, and must be refused with a message naming the
 * file, by a child process whose peak resident memory (wait4's ru_maxrss)
 * stays under 300 MB and whose run stays within a time bound. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stb/stb_image_write.h>
#include <zlib.h>

#include "core/fileio.h"
#include "core/pth.h"
#include "core/safetensors.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/yolo.h"
#include "io_test_util.h"
#include "model/config.h"
#include "model/model.h"
#include "test_util.h"

#define PEAK_LIMIT_KB (300L * 1024L)

static char scratch[4096];

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Runs fn in a child; its CHECKs count there and its exit status reports
 * them. The parent checks the exit, the peak memory and the time. */
static void run_bounded(const char *what, void (*fn)(void), double max_seconds) {
    fflush(NULL);
    double start = now_seconds();
    pid_t pid = fork();
    if (pid == 0) {
        test_passed_count = test_failed_count = 0;
        fn();
        fflush(NULL);
        _exit(test_failed_count ? 1 : 0);
    }
    int status = 0;
    struct rusage usage;
    memset(&usage, 0, sizeof usage);
    CHECK(pid > 0 && wait4(pid, &status, 0, &usage) == pid, "%s: fork/wait failed", what);
    double seconds = now_seconds() - start;
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: the child failed (status %d)", what, status);
    CHECK(usage.ru_maxrss < PEAK_LIMIT_KB, "%s: peak memory %ld MB, limit 300 MB", what, usage.ru_maxrss / 1024);
    CHECK(seconds < max_seconds, "%s: took %.1f s, limit %.0f s", what, seconds, max_seconds);
    printf("%-44s peak %4ld MB  %6.2f s\n", what, usage.ru_maxrss / 1024, seconds);
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
}

static void scratch_path(char *out, size_t size, const char *name) { snprintf(out, size, "%s/%s", scratch, name); }

/* Expects a refusal whose message holds every needle (NULL-terminated). */
static void expect_refused(rf_status s, rf_status want, const char *const *needles) {
    CHECK(s == want, "got %s, expected %s (%s)", rf_status_name(s), rf_status_name(want), rf_last_error());
    for (int i = 0; needles[i]; i++)
        CHECK(strstr(rf_last_error(), needles[i]) != NULL, "message lacks \"%s\": %s", needles[i], rf_last_error());
}

/* ---- images -------------------------------------------------------------------------------- */

/* A JPEG header declaring width x height with `components` components and
 * no entropy-coded data at all: SOI, quantisation table, frame, scan, EOI.
 * With `adobe_cmyk`, an Adobe marker says the 4 components are CMYK. */
static size_t jpeg_header_only(uint8_t *out, int width, int height, int components, int adobe_cmyk) {
    size_t n = 0;
    out[n++] = 0xFF, out[n++] = 0xD8;
    if (adobe_cmyk) {
        static const uint8_t adobe[] = {0xFF, 0xEE, 0x00, 0x0E, 'A', 'd', 'o', 'b', 'e', 0x00, 0x64, 0, 0, 0, 0, 0};
        memcpy(out + n, adobe, sizeof adobe);
        n += sizeof adobe;
    }
    out[n++] = 0xFF, out[n++] = 0xDB, out[n++] = 0x00, out[n++] = 0x43, out[n++] = 0x00;
    memset(out + n, 1, 64);
    n += 64;
    int sof_length = 8 + 3 * components;
    out[n++] = 0xFF, out[n++] = 0xC0, out[n++] = 0, out[n++] = (uint8_t)sof_length, out[n++] = 8;
    out[n++] = (uint8_t)(height >> 8), out[n++] = (uint8_t)height;
    out[n++] = (uint8_t)(width >> 8), out[n++] = (uint8_t)width;
    out[n++] = (uint8_t)components;
    for (int c = 0; c < components; c++) out[n++] = (uint8_t)(c + 1), out[n++] = 0x11, out[n++] = 0;
    out[n++] = 0xFF, out[n++] = 0xDA, out[n++] = 0, out[n++] = (uint8_t)(6 + 2 * components);
    out[n++] = (uint8_t)components;
    for (int c = 0; c < components; c++) out[n++] = (uint8_t)(c + 1), out[n++] = c ? 0x11 : 0x00;
    out[n++] = 0, out[n++] = 63, out[n++] = 0;
    out[n++] = 0xFF, out[n++] = 0xD9;
    return n;
}

static void bomb_jpeg_no_scan(void) {
    uint8_t bytes[256];
    size_t n = jpeg_header_only(bytes, 16384, 16384, 3, 0);
    char path[4200];
    scratch_path(path, sizeof path, "noscan.jpg");
    write_bytes(path, bytes, n);
    rf_image img;
    expect_refused(rf_image_load(path, &img), RF_ERR_FORMAT, (const char *[]){path, "16384 x 16384", NULL});
}

/* CMYK goes to stb (libjpeg does not convert it); the size checks come
 * first there too. 65527 is past libjpeg's own 65500 limit, 65000 is not. */
static void bomb_jpeg_cmyk(void) {
    static const int widths[] = {65527, 65000};
    for (int i = 0; i < 2; i++) {
        uint8_t bytes[256];
        size_t n = jpeg_header_only(bytes, widths[i], 2296, 4, 1);
        char path[4200], dims[64];
        snprintf(dims, sizeof dims, "%d x 2296", widths[i]);
        scratch_path(path, sizeof path, i ? "cmyk-65000.jpg" : "cmyk.jpg");
        write_bytes(path, bytes, n);
        rf_image img;
        expect_refused(rf_image_load(path, &img), RF_ERR_FORMAT, (const char *[]){path, dims, NULL});
    }
}

static void put_be32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v; }

static void png_chunk(FILE *f, const char *type, const uint8_t *data, size_t n) {
    uint8_t head[8];
    put_be32(head, (uint32_t)n);
    memcpy(head + 4, type, 4);
    uLong crc = crc32(crc32(0, (const Bytef *)type, 4), data, (uInt)n);
    uint8_t tail[4];
    put_be32(tail, (uint32_t)crc);
    fwrite(head, 1, 8, f), fwrite(data, 1, n, f), fwrite(tail, 1, 4, f);
}

/* Raw-deflates `rows` zero rows of `row_bytes` ending in a full flush: a
 * byte-aligned piece that refers to nothing before it, so copies of it
 * concatenate into one valid stream. Returns its size. */
static size_t deflate_zero_rows(size_t rows, size_t row_bytes, uint8_t *out, size_t cap) {
    size_t n = rows * row_bytes;
    uint8_t *zeros = calloc(n ? n : 1, 1);
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
    z.next_in = zeros, z.avail_in = (uInt)n, z.next_out = out, z.avail_out = (uInt)cap;
    deflate(&z, Z_FULL_FLUSH);
    size_t produced = cap - z.avail_out;
    deflateEnd(&z);
    free(zeros);
    return produced;
}

/* A valid PNG of zero pixels (colour type 0 grey, 2 RGB, 6 RGBA), built in
 * milliseconds however large it declares itself. */
static void write_zero_png(const char *path, uint32_t width, uint32_t height, int colour, int depth) {
    int channels = colour == 0 ? 1 : colour == 2 ? 3 : 4;
    size_t row_bytes = 1 + ((size_t)width * (size_t)channels * (size_t)depth + 7) / 8;
    size_t rows_per_piece = row_bytes >= (1u << 20) ? 1 : (1u << 20) / row_bytes;
    if (rows_per_piece > height) rows_per_piece = height;
    size_t pieces = height / rows_per_piece, rest = height % rows_per_piece, cap = (1u << 21) + 2 * row_bytes;
    uint8_t *piece = malloc(cap), *last = malloc(cap);
    size_t piece_n = deflate_zero_rows(rows_per_piece, row_bytes, piece, cap);
    size_t last_n = rest ? deflate_zero_rows(rest, row_bytes, last, cap) : 0;
    uLong piece_adler = adler32(0, NULL, 0), adler = adler32(0, NULL, 0);
    uint8_t *zero_row = calloc(row_bytes, 1);
    for (size_t r = 0; r < rows_per_piece; r++) piece_adler = adler32(piece_adler, zero_row, (uInt)row_bytes);
    for (size_t p = 0; p < pieces; p++) adler = adler32_combine(adler, piece_adler, (z_off_t)(rows_per_piece * row_bytes));
    for (size_t r = 0; r < rest; r++) adler = adler32(adler, zero_row, (uInt)row_bytes);
    size_t total = 2 + pieces * piece_n + last_n + 2 + 4;
    uint8_t *idat = malloc(total), *at = idat;
    *at++ = 0x78, *at++ = 0xDA;
    for (size_t p = 0; p < pieces; p++) memcpy(at, piece, piece_n), at += piece_n;
    memcpy(at, last, last_n), at += last_n;
    *at++ = 0x03, *at++ = 0x00; /* an empty final block */
    put_be32(at, (uint32_t)adler);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    uint8_t ihdr[13];
    put_be32(ihdr, width), put_be32(ihdr + 4, height);
    ihdr[8] = (uint8_t)depth, ihdr[9] = (uint8_t)colour, ihdr[10] = ihdr[11] = ihdr[12] = 0;
    png_chunk(f, "IHDR", ihdr, 13);
    png_chunk(f, "IDAT", idat, total);
    png_chunk(f, "IEND", (const uint8_t *)"", 0);
    fclose(f);
    free(piece), free(last), free(zero_row), free(idat);
}

static void bomb_png_large(void) {
    char path[4200];
    scratch_path(path, sizeof path, "large.png");
    write_zero_png(path, 16384, 16384, 6, 8);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size < 2 * 1024 * 1024, "the bomb should be about 1 MB, is %lld bytes",
          (long long)st.st_size);
    rf_image img;
    expect_refused(rf_image_load(path, &img), RF_ERR_FORMAT, (const char *[]){path, "16384 x 16384", "budget", NULL});
    CHECK(strstr(rf_last_error(), "unknown image type") == NULL, "reported by type, not size: %s", rf_last_error());
    int w = 0, h = 0;
    CHECK_OK(rf_image_probe(path, &w, &h));
    CHECK(w == 16384 && h == 16384, "probe: %d x %d", w, h);
}

/* 16-bit samples count double: with a budget between the two, the 8-bit
 * file decodes and the 16-bit one of the same size is refused. */
static void test_budget_counts_16_bit(void) {
    char path8[4200], path16[4200];
    scratch_path(path8, sizeof path8, "rgb8.png");
    scratch_path(path16, sizeof path16, "rgb16.png");
    write_zero_png(path8, 1000, 1000, 2, 8);
    write_zero_png(path16, 1000, 1000, 2, 16);
    rf_image_set_decode_budget(16u << 20);
    rf_image img;
    CHECK_OK(rf_image_load(path8, &img));
    CHECK(img.width == 1000 && img.height == 1000 && img.rgb && img.rgb[0] == 0, "8-bit: %d x %d", img.width,
          img.height);
    rf_image_free(&img);
    expect_refused(rf_image_load(path16, &img), RF_ERR_FORMAT, (const char *[]){path16, "1000 x 1000", "16-bit", NULL});
    rf_image_set_decode_budget(0);
    CHECK_OK(rf_image_load(path16, &img));
    rf_image_free(&img);
}

/* A JPEG whose scan data was cut out but whose end marker is still there:
 * libjpeg warns ("premature end") and would fill the rest in grey. */
static void test_jpeg_warning_is_corrupt(void) {
    enum { W = 64, H = 48 };
    static unsigned char px[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) px[i] = (unsigned char)(i * 7);
    char path[4200];
    scratch_path(path, sizeof path, "whole.jpg");
    CHECK(stbi_write_jpg(path, W, H, 3, px, 90), "cannot write %s", path);
    char *data = NULL;
    size_t n = 0;
    CHECK_OK(rf_read_file(path, &data, &n));
    if (!data) return;
    rf_image img;
    CHECK_OK(rf_image_decode(data, n, "whole.jpg", &img));
    rf_image_free(&img);
    size_t sos = 0;
    for (size_t i = 2; i + 1 < n; i++)
        if ((uint8_t)data[i] == 0xFF && (uint8_t)data[i + 1] == 0xDA) sos = i;
    size_t keep = sos + 14 + 40; /* the scan header and a little data */
    CHECK(sos > 0 && keep + 2 < n, "no scan found");
    data[keep] = (char)0xFF, data[keep + 1] = (char)0xD9;
    rf_status s = rf_image_decode(data, keep + 2, "cut.jpg", &img);
#ifdef RFDETR_HAVE_LIBJPEG
    expect_refused(s, RF_ERR_FORMAT, (const char *[]){"cut.jpg", "corrupt", NULL});
#else
    if (s == RF_OK) rf_image_free(&img); /* stb fills the gap silently; only libjpeg tells */
#endif
    free(data);
}

/* With the budget in force, four threads decoding at once take turns: the
 * peak is about one decode, not four. (Skipped under AddressSanitizer,
 * whose quarantine keeps freed buffers resident.) */
static const char *threads_png;

static void *decode_twice(void *arg) {
    (void)arg;
    for (int k = 0; k < 2; k++) {
        rf_image img;
        if (rf_image_load(threads_png, &img) != RF_OK) return (void *)1;
        rf_image_free(&img);
    }
    return NULL;
}

static void decode_in_four_threads(void) {
    rf_image_set_decode_budget(256u << 20); /* one 4000 x 4000 RGB decode (~192 MB estimated), not two */
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, decode_twice, NULL);
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        CHECK(r == NULL, "thread %d: %s", i, rf_last_error());
    }
}

static void test_budget_shared_by_threads(void) {
#if defined(__SANITIZE_ADDRESS__)
    printf("budget shared by threads: skipped under AddressSanitizer (its quarantine keeps freed memory resident)\n");
#else
    static char path[4200];
    scratch_path(path, sizeof path, "threads.png");
    /* Buffers over glibc's 32 MB mmap ceiling go back to the system when
     * freed, so the peak shows what was live at once. Unbudgeted, four
     * decodes of 2 x 48 MB each would be resident together. */
    write_zero_png(path, 4000, 4000, 2, 8);
    threads_png = path;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        test_passed_count = test_failed_count = 0;
        decode_in_four_threads();
        _exit(test_failed_count ? 1 : 0);
    }
    int status = 0;
    struct rusage usage;
    wait4(pid, &status, 0, &usage);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "decoding threads failed");
    CHECK(usage.ru_maxrss < 200L * 1024L, "4 threads peaked at %ld MB; one decode is ~100 MB",
          usage.ru_maxrss / 1024);
    printf("%-44s peak %4ld MB\n", "4 threads, one budget", usage.ru_maxrss / 1024);
#endif
}

/* Found by fuzz_image: 105 bytes of 16-bit PNG whose deflate stream runs
 * past its end; stb's inflater read zeros there and grew its output to
 * 805 MB. The stream is now checked (zlib, output discarded) first. */
static void bomb_png_stream_past_end(void) {
    char path[4200];
    snprintf(path, sizeof path, "%s/fuzz/regressions/image/fuzz-png-16bit-stream-past-end.png", io_source_dir());
    rf_image img;
    expect_refused(rf_image_load(path, &img), RF_ERR_FORMAT, (const char *[]){path, "ends early", NULL});
}

/* ---- .pth ---------------------------------------------------------------------------------- */

static void put_le16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put_le32(uint8_t *p, uint32_t v) { put_le16(p, v & 0xffff), put_le16(p + 2, v >> 16); }

typedef struct zip_entry_spec {
    const char *name;
    const uint8_t *data;
    size_t length;   /* bytes stored in the archive */
    uint32_t size;   /* declared uncompressed size */
    unsigned method; /* 0 stored, 8 deflate */
} zip_entry_spec;

static void write_zip(const char *path, const zip_entry_spec *e, int count) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    uint8_t directory[4096];
    size_t dn = 0, offset = 0;
    for (int i = 0; i < count; i++) {
        size_t nl = strlen(e[i].name);
        uint8_t l[30] = {0};
        put_le32(l, 0x04034b50), put_le16(l + 8, e[i].method), put_le32(l + 18, (uint32_t)e[i].length);
        put_le32(l + 22, e[i].size), put_le16(l + 26, (unsigned)nl);
        fwrite(l, 1, 30, f), fwrite(e[i].name, 1, nl, f), fwrite(e[i].data, 1, e[i].length, f);
        uint8_t *c = directory + dn;
        memset(c, 0, 46);
        put_le32(c, 0x02014b50), put_le16(c + 10, e[i].method), put_le32(c + 20, (uint32_t)e[i].length);
        put_le32(c + 24, e[i].size), put_le16(c + 28, (unsigned)nl), put_le32(c + 42, (uint32_t)offset);
        memcpy(c + 46, e[i].name, nl);
        dn += 46 + nl;
        offset += 30 + nl + e[i].length;
    }
    fwrite(directory, 1, dn, f);
    uint8_t end[22] = {0};
    put_le32(end, 0x06054b50), put_le16(end + 8, (unsigned)count), put_le16(end + 10, (unsigned)count);
    put_le32(end + 12, (uint32_t)dn), put_le32(end + 16, (uint32_t)offset);
    fwrite(end, 1, 22, f);
    fclose(f);
}

/* {"w": a 4-element float tensor over storage "0" of 4 elements}. CRCs are
 * 0 (torch's "not recorded"), so nothing but the sizes guards the entry. */
static const char tensor_pickle[] = "\x80\x02}X\x01\x00\x00\x00w"
                                    "ctorch._utils\n_rebuild_tensor_v2\n("
                                    "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00"
                                    "0X\x03\x00\x00\x00"
                                    "cpuK\x04tQ"
                                    "K\x00K\x04\x85K\x01\x85"
                                    "\x89)tRs.";

static void bomb_pth_deflate(void) {
    /* 2 GiB of zeros in about 2 MB: 2048 copies of a deflated MiB. */
    size_t cap = 1u << 16;
    uint8_t *piece = malloc(cap);
    size_t piece_n = deflate_zero_rows(1, 1u << 20, piece, cap);
    size_t n = 2048 * piece_n + 2;
    uint8_t *stream = malloc(n);
    for (int i = 0; i < 2048; i++) memcpy(stream + (size_t)i * piece_n, piece, piece_n);
    stream[n - 2] = 0x03, stream[n - 1] = 0x00;
    zip_entry_spec entries[] = {
        {"archive/data.pkl", (const uint8_t *)tensor_pickle, sizeof tensor_pickle - 1, sizeof tensor_pickle - 1, 0},
        {"archive/data/0", stream, n, 0x80000000u, 8},
    };
    char path[4200];
    scratch_path(path, sizeof path, "bomb.pth");
    write_zip(path, entries, 2);
    free(piece), free(stream);
    rf_pth *pth = NULL;
    CHECK_OK(rf_pth_open(path, &pth)); /* the pickle is fine; the storage entry is the bomb */
    if (!pth) return;
    float values[4];
    expect_refused(rf_pth_read_f32(pth, "w", values, 4), RF_ERR_FORMAT,
                   (const char *[]){path, "archive/data/0", "2147483648", NULL});
    rf_pth_close(pth);
}

/* ---- class ids ------------------------------------------------------------------------------ */

/* A one-image COCO dataset whose one category has id `id`. */
static void write_class_dataset(const char *dir, long long id) {
    char path[4200];
    snprintf(path, sizeof path, "%s/train", dir);
    mkdir(dir, 0755);
    mkdir(path, 0755);
    static unsigned char px[16 * 16 * 3];
    snprintf(path, sizeof path, "%s/train/a.jpg", dir);
    stbi_write_jpg(path, 16, 16, 3, px, 90);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 16, \"height\": 16}],\n"
             " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": %lld, \"bbox\": [1, 1, 4, 4],"
             " \"area\": 16, \"iscrowd\": 0}],\n"
             " \"categories\": [{\"id\": %lld, \"name\": \"thing\", \"supercategory\": \"things\"}]}\n",
             id, id);
    snprintf(path, sizeof path, "%s/train/_annotations.coco.json", dir);
    write_bytes(path, json, strlen(json));
}

static void expect_class_id_refused(long long id) {
    char dir[4200], id_text[32], file[4300];
    snprintf(dir, sizeof dir, "%s/classes-%lld", scratch, id);
    snprintf(id_text, sizeof id_text, "%lld", id);
    snprintf(file, sizeof file, "%s/train/_annotations.coco.json", dir);
    write_class_dataset(dir, id);
    /* check-data: the problem names the id and the file. */
    rf_dataset *ds = NULL;
    CHECK_OK(rf_dataset_inspect(dir, &ds));
    bool reported = false;
    for (size_t i = 0; ds && i < ds->problems.count; i++) {
        const rf_coco_problem *p = &ds->problems.items[i];
        if (p->severity == RF_COCO_ERROR && strstr(p->message, id_text) && strstr(p->message, file) &&
            strstr(p->message, "4095"))
            reported = true;
    }
    CHECK(reported, "check-data does not report category id %lld in %s", id, file);
    rf_dataset_free(ds);
    /* training: refused when the dataset opens, before any model exists. */
    ds = NULL;
    expect_refused(rf_dataset_open(dir, RF_SPLIT_BIT(RF_SPLIT_TRAIN), &ds), RF_ERR_FORMAT,
                   (const char *[]){id_text, file, NULL});
    rf_dataset_free(ds);
}

static void bomb_class_ids(void) {
    expect_class_id_refused(200000);
    expect_class_id_refused(4294967296LL);     /* 2^32: once cast to class 0 */
    expect_class_id_refused(4294967297LL);     /* 2^32 + 1: once class 1 */
    expect_class_id_refused(2147483647LL);     /* 2^31 - 1: once "num_classes -2147483648" */
    expect_class_id_refused(RF_MAX_CLASSES);   /* the first id past the limit */
    /* The largest allowed id opens. */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/classes-ok", scratch);
    write_class_dataset(dir, RF_MAX_CLASSES - 1);
    rf_dataset *ds = NULL;
    CHECK_OK(rf_dataset_open(dir, RF_SPLIT_BIT(RF_SPLIT_TRAIN), &ds));
    CHECK(ds && ds->num_classes == RF_MAX_CLASSES, "num_classes %lld", ds ? (long long)ds->num_classes : -1LL);
    rf_dataset_free(ds);
}

/* ---- checkpoint metadata -------------------------------------------------------------------- */

static rf_status set_metadata(void *user, const char *key, const char *value) {
    return rf_safetensors_writer_set_metadata(user, key, value);
}

/* A safetensors file holding the tiny configuration with num_classes set
 * to `classes`, and (with_head) a class head of that width. */
static void write_config_file(const char *path, int classes, bool with_head) {
    rfdetr_config cfg;
    CHECK_OK(rfdetr_config_preset("tiny", &cfg));
    rf_safetensors_writer *w = NULL;
    CHECK_OK(rf_safetensors_writer_create(&w));
    if (!w) return;
    CHECK_OK(rfdetr_config_to_metadata(&cfg, set_metadata, w));
    char text[32];
    snprintf(text, sizeof text, "%d", classes);
    CHECK_OK(rf_safetensors_writer_set_metadata(w, "rfdetr.num_classes", text));
    static float bias[8];
    if (with_head) CHECK_OK(rf_safetensors_writer_add(w, "class_embed.bias", RF_FILE_F32, 1, (int64_t[]){classes}, bias));
    CHECK_OK(rf_safetensors_writer_save(w, path));
    rf_safetensors_writer_free(w);
}

static void bomb_config_classes(void) {
    char path[4200];
    scratch_path(path, sizeof path, "million.safetensors");
    write_config_file(path, 1000000, false);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size < 2048, "the bomb should be under 2 KB, is %lld", (long long)st.st_size);
    rfdetr_config cfg;
    expect_refused(rfdetr_config_from_weights(path, NULL, &cfg), RF_ERR_FORMAT,
                   (const char *[]){path, "num_classes", "1000000", NULL});
    rf_device *cpu = NULL;
    CHECK_OK(rf_device_open("cpu", &cpu));
    rfdetr_model *m = NULL;
    expect_refused(rfdetr_model_open(cpu, path, NULL, 0, &m), RF_ERR_FORMAT, (const char *[]){path, NULL});
    /* A plausible configuration over a file without its tensors is refused
     * from the names and shapes, before the model is allocated. */
    scratch_path(path, sizeof path, "headless.safetensors");
    write_config_file(path, 5, true);
    expect_refused(rfdetr_model_open(cpu, path, NULL, 0, &m), RF_ERR_FORMAT,
                   (const char *[]){path, "class_embed.weight", NULL});
    rfdetr_model_free(m);
    rf_device_close(cpu);
}

/* A header of many tiny metadata entries: keys are found by a scan, so
 * their number is bounded rather than their cost quadratic. */
static void bomb_safetensors_metadata(void) {
    enum { ENTRIES = 200000 }; /* uncapped: 2e10 key comparisons */
    size_t cap = (size_t)ENTRIES * 16 + 64, n = 8;
    char *file = malloc(cap);
    n += (size_t)snprintf(file + n, cap - n, "{\"__metadata__\":{");
    for (int i = 0; i < ENTRIES; i++) n += (size_t)snprintf(file + n, cap - n, "%s\"%x\":\"\"", i ? "," : "", i);
    n += (size_t)snprintf(file + n, cap - n, "}}");
    uint64_t header = n - 8;
    for (int i = 0; i < 8; i++) file[i] = (char)(header >> (8 * i));
    rf_safetensors *st = NULL;
    expect_refused(rf_safetensors_open_memory(file, n, "keys.safetensors", &st), RF_ERR_FORMAT,
                   (const char *[]){"keys.safetensors", "__metadata__", NULL});
    rf_safetensors_close(st);
    free(file);
}

/* What the checks must still accept: a complete checkpoint our own save
 * wrote (a shrunk model, the checkpoint fuzzer's seed), and a CMYK JPEG,
 * which stb decodes since libjpeg does not convert it. */
static void test_valid_files_pass(void) {
    char path[4200];
    snprintf(path, sizeof path, "%s/fuzz/corpus/checkpoint/seed.safetensors", io_source_dir());
    rf_device *cpu = NULL;
    CHECK_OK(rf_device_open("cpu", &cpu));
    rfdetr_model *m = NULL;
    CHECK_OK(rfdetr_model_open(cpu, path, NULL, 0, &m));
    CHECK(m && m->cfg.vit_depth == 2 && m->cfg.num_classes == 2, "the seed's configuration");
    rfdetr_model_free(m);
    rf_device_close(cpu);
    snprintf(path, sizeof path, "%s/fuzz/corpus/image/cmyk.jpg", io_source_dir());
    rf_image img;
    CHECK_OK(rf_image_load(path, &img));
    CHECK(img.width == 13 && img.height == 9, "cmyk.jpg: %d x %d", img.width, img.height);
    rf_image_free(&img);
}

/* ---- data.yaml ------------------------------------------------------------------------------ */

/* 160k names in a flow list spread over as many lines (once 36 s), and as
 * many in a mapping (the duplicate-id check was quadratic). */
static void bomb_yaml(void) {
    enum { NAMES = 160000 };
    size_t cap = (size_t)NAMES * 24 + 64, n = 0;
    char *text = malloc(cap);
    n += (size_t)snprintf(text + n, cap - n, "nc: %d\nnames: [\n", NAMES);
    for (int i = 0; i < NAMES; i++) n += (size_t)snprintf(text + n, cap - n, "  'c%d',\n", i);
    n += (size_t)snprintf(text + n, cap - n, "]\n");
    rf_yolo_yaml y;
    CHECK_OK(rf_yolo_yaml_parse(text, n, "list.yaml", &y));
    CHECK(y.name_count == NAMES && y.names && strcmp(y.names[NAMES - 1], "c159999") == 0, "%zu names", y.name_count);
    rf_yolo_yaml_free(&y);
    n = (size_t)snprintf(text, cap, "names:\n");
    for (int i = 0; i < NAMES; i++) n += (size_t)snprintf(text + n, cap - n, "  %d: c%d\n", i, i);
    CHECK_OK(rf_yolo_yaml_parse(text, n, "map.yaml", &y));
    CHECK(y.name_count == NAMES, "%zu names", y.name_count);
    rf_yolo_yaml_free(&y);
    n += (size_t)snprintf(text + n, cap - n, "  %d: again\n", NAMES / 2);
    expect_refused(rf_yolo_yaml_parse(text, n, "dup.yaml", &y), RF_ERR_FORMAT,
                   (const char *[]){"dup.yaml", "80000", "twice", NULL});
    free(text);
}

int main(void) {
    io_scratch_make(scratch, sizeof scratch);
    run_bounded("JPEG 16384 x 16384, no scan data", bomb_jpeg_no_scan, 20);
    run_bounded("CMYK JPEG 65527 x 2296 in a few bytes", bomb_jpeg_cmyk, 20);
    run_bounded("valid 1 MB PNG of 16384 x 16384", bomb_png_large, 30);
    run_bounded("16-bit samples in the decode budget", test_budget_counts_16_bit, 60);
    run_bounded("libjpeg warning means corrupt", test_jpeg_warning_is_corrupt, 20);
    run_bounded("PNG deflate stream running past its end", bomb_png_stream_past_end, 20);
    test_budget_shared_by_threads();
    run_bounded(".pth entry inflating to 2 GiB", bomb_pth_deflate, 30);
    run_bounded("class ids 200000, 2^31-1, 2^32, 2^32+1", bomb_class_ids, 60);
    run_bounded("safetensors claiming 1,000,000 classes", bomb_config_classes, 30);
    run_bounded("safetensors with 200k metadata entries", bomb_safetensors_metadata, 20);
    run_bounded("data.yaml with 160k names", bomb_yaml, 20);
    test_valid_files_pass();
    io_scratch_remove(scratch);
    return test_finish("test_bounds");
}
