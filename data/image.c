#include "data/image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <setjmp.h>
#include <stb/stb_image.h>
#include <zlib.h>
#ifdef RFDETR_HAVE_LIBJPEG
#include <jpeglib.h>
#endif

#include "backend/status.h"
#include "core/fileio.h"

const float rf_imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
const float rf_imagenet_std[3] = {0.229f, 0.224f, 0.225f};

static uint32_t read_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* stb_image fills a JPEG that ends early with zero bits and a BMP that ends
 * early with zero bytes, and reports success. Catch both from the container:
 * a complete JPEG has its end-of-image marker (FF D9) after the scan data
 * (entropy-coded data never contains FF D9, so the last one is the real end;
 * trailing bytes after it are allowed), and an uncompressed BMP is as long as
 * its pixel offset plus its rows. Returns a reason, or NULL when complete. */
static const char *truncation_reason(const unsigned char *b, size_t n) {
    if (n >= 2 && b[0] == 0xFF && b[1] == 0xD8) {
        for (size_t i = n - 1; i >= 3; i--)
            if (b[i - 1] == 0xFF && b[i] == 0xD9) return NULL;
        return "JPEG without its end-of-image marker (truncated)";
    }
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') {
        if (n < 30) return "BMP header cut short (truncated)";
        uint32_t offset = read_le32(b + 10), header = read_le32(b + 14);
        if (header < 40 || n < 34) return NULL; /* old OS/2 headers: leave to stb */
        int32_t width = (int32_t)read_le32(b + 18), height = (int32_t)read_le32(b + 22);
        uint32_t bpp = (uint32_t)b[28] | (uint32_t)b[29] << 8, compression = read_le32(b + 30);
        if (compression != 0 && compression != 3) return NULL; /* RLE: length unknown up front */
        if (width <= 0 || height == 0 || bpp == 0) return NULL; /* stb rejects these itself */
        uint64_t rows = (uint64_t)(height < 0 ? -(int64_t)height : height);
        uint64_t stride = ((uint64_t)width * bpp + 31) / 32 * 4;
        if ((uint64_t)offset + stride * rows > n) return "BMP pixel data shorter than its header says (truncated)";
    }
    return NULL;
}

/* ---- bounds: what a file may make us allocate ------------------------------------
 *
 * An image header is a promise the pixels need not keep: a 152-byte JPEG can
 * declare 16384 x 16384 pixels and a 1 MB PNG can inflate to gigabytes. So
 * before any pixel buffer exists, the declared size is checked twice:
 *  - against the file's length: every format spends a minimum number of
 *    bits per pixel (a progressive JPEG at least one bit per 8 x 8 block of
 *    its DC scan; deflate at most 1032:1 on 1-bit rows), so more pixels per
 *    byte than that is a corrupt header or a bomb;
 *  - against a byte budget for the decoder's working memory (its own
 *    buffers, the 16-bit planes of 16-bit files, the RGB result), shared by
 *    every thread decoding at once: a decode waits until the others leave
 *    room, so N loader threads never hold more than one budget between them. */

typedef enum image_kind { KIND_JPEG, KIND_PNG, KIND_OTHER } image_kind;

typedef struct image_header {
    image_kind kind;
    int width, height;
    int channels;         /* in the file (a palette counts as 3) */
    int bytes_per_sample; /* 1, or 2 for 16-bit files */
    bool progressive;     /* JPEG: whole-image coefficient buffers */
} image_header;

/* Most pixels one byte of file can describe (see above, with a margin of 2). */
static uint64_t pixels_per_byte(image_kind kind) { return kind == KIND_JPEG ? 1024 : 16384; }
/* Small images are never implausible: their buffers are small whatever the header. */
#define SMALL_IMAGE_PIXELS (64u * 1024u)

static uint64_t decode_budget = RF_IMAGE_DECODE_BUDGET, budget_in_use;
static pthread_mutex_t budget_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t budget_freed = PTHREAD_COND_INITIALIZER;

void rf_image_set_decode_budget(uint64_t bytes) {
    pthread_mutex_lock(&budget_lock);
    decode_budget = bytes ? bytes : RF_IMAGE_DECODE_BUDGET;
    pthread_mutex_unlock(&budget_lock);
}

uint64_t rf_image_decode_budget(void) {
    pthread_mutex_lock(&budget_lock);
    uint64_t b = decode_budget;
    pthread_mutex_unlock(&budget_lock);
    return b;
}

/* Reservations last one decode, never across calls, so a thread that holds
 * decoded images while it decodes more cannot wait on itself. */
static void budget_reserve(uint64_t bytes) {
    pthread_mutex_lock(&budget_lock);
    while (budget_in_use > 0 && budget_in_use + bytes > decode_budget) pthread_cond_wait(&budget_freed, &budget_lock);
    budget_in_use += bytes;
    pthread_mutex_unlock(&budget_lock);
}

static void budget_release(uint64_t bytes) {
    pthread_mutex_lock(&budget_lock);
    budget_in_use -= bytes;
    pthread_cond_broadcast(&budget_freed);
    pthread_mutex_unlock(&budget_lock);
}

/* Peak bytes the decoder that reads `h` allocates, from how each works:
 * libjpeg keeps only the RGB result (plus coefficients when progressive);
 * stb's PNG holds the inflated rows, the unfiltered image and the converted
 * result at once; its JPEG one plane per component (plus coefficients); the
 * rest decode into file-layout pixels (up to 4-byte floats for HDR) and
 * convert. The file itself is in memory too. */
static uint64_t decode_bytes(const image_header *h, size_t length, bool libjpeg) {
    uint64_t px = (uint64_t)h->width * (uint64_t)h->height, ch = (uint64_t)h->channels;
    uint64_t sample = (uint64_t)h->bytes_per_sample, per_pixel;
    if (h->kind == KIND_JPEG && libjpeg)
        per_pixel = 3 + (h->progressive ? 2 * ch : 0);
    else if (h->kind == KIND_JPEG)
        per_pixel = ch + 2 * ch + 3;
    else if (h->kind == KIND_PNG)
        per_pixel = 2 * ch * sample + 3 * sample + 3;
    else
        per_pixel = 4 * ch + 4 + 3;
    return px * per_pixel + (uint64_t)h->height * 8 + length;
}

static rf_status check_bounds(const image_header *h, size_t length, bool libjpeg, const char *label,
                              uint64_t *bytes) {
    if (h->width <= 0 || h->height <= 0)
        return RF_ERROR(RF_ERR_FORMAT, "%s: image has zero size (%d x %d)", label, h->width, h->height);
    uint64_t px = (uint64_t)h->width * (uint64_t)h->height;
    if (px > SMALL_IMAGE_PIXELS && px / pixels_per_byte(h->kind) > length)
        return RF_ERROR(RF_ERR_FORMAT,
                        "%s: corrupt image: its header declares %d x %d pixels, more than a %zu-byte file can hold "
                        "(a damaged header or a decompression bomb)",
                        label, h->width, h->height, length);
    *bytes = decode_bytes(h, length, libjpeg);
    uint64_t budget = rf_image_decode_budget();
    if (*bytes > budget)
        return RF_ERROR(RF_ERR_FORMAT,
                        "%s: image of %d x %d pixels (%d channel%s, %d-bit) needs about %llu MiB to decode, more than "
                        "the %llu MiB decode budget",
                        label, h->width, h->height, h->channels, h->channels == 1 ? "" : "s", 8 * h->bytes_per_sample,
                        (unsigned long long)(*bytes >> 20), (unsigned long long)(budget >> 20));
    return RF_OK;
}

static uint32_t read_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static bool is_png(const unsigned char *b, size_t n) {
    return n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0;
}

/* The header of a PNG from its IHDR chunk, read here rather than by stb,
 * whose reader gives up on images over 1 GiB with "unknown image type". */
static rf_status png_header(const unsigned char *b, size_t n, const char *label, image_header *h) {
    if (n < 33 || memcmp(b + 12, "IHDR", 4) != 0 || read_be32(b + 8) != 13)
        return RF_ERROR(RF_ERR_FORMAT, "%s: corrupt image: a PNG without its IHDR header", label);
    uint32_t width = read_be32(b + 16), height = read_be32(b + 20);
    int depth = b[24], colour = b[25];
    static const int channels_of_colour[7] = {1, 0, 3, 3, 2, 0, 4};
    if (colour > 6 || !channels_of_colour[colour] || (depth != 1 && depth != 2 && depth != 4 && depth != 8 && depth != 16))
        return RF_ERROR(RF_ERR_FORMAT, "%s: corrupt image: PNG colour type %d with bit depth %d", label, colour, depth);
    if (width > 0x7fffffff || height > 0x7fffffff)
        return RF_ERROR(RF_ERR_FORMAT, "%s: corrupt image: PNG of %u x %u pixels", label, width, height);
    *h = (image_header){KIND_PNG, (int)width, (int)height, channels_of_colour[colour], depth == 16 ? 2 : 1, false};
    return RF_OK;
}

/* stb's inflater grows its output buffer without limit and reads zeros
 * past the end of its input, so a damaged stream of a few bytes can make it
 * allocate gigabytes (found by fuzz_image). So the PNG's pixel stream is
 * inflated here first, with zlib into a small scratch buffer that is thrown
 * away: it must end cleanly inside the IDAT chunks and produce no more than
 * the image's rows (plus Adam7's extra filter bytes) before stb sees it. */
static rf_status png_check_stream(const unsigned char *b, size_t n, const char *label, const image_header *h,
                                  bool interlaced) {
    /* IHDR's bit depth (b[24]); a palette counts as 3 channels: an upper bound. */
    uint64_t row = 1 + ((uint64_t)h->width * (uint64_t)h->channels * (uint64_t)b[24] + 7) / 8;
    uint64_t most = (uint64_t)h->height * row + (interlaced ? 14 * (uint64_t)h->height + 64 : 0);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory (zlib)", label);
    unsigned char scratch[16384];
    uint64_t produced = 0;
    int rc = Z_OK;
    for (size_t at = 8; rc == Z_OK && at + 12 <= n;) {
        uint32_t length = read_be32(b + at);
        if (length > n - at - 12) break; /* a chunk cut short: the stream cannot end inside the file */
        if (memcmp(b + at + 4, "IDAT", 4) == 0) {
            z.next_in = (Bytef *)(b + at + 8);
            z.avail_in = length;
            while (rc == Z_OK && z.avail_in > 0 && produced <= most) {
                z.next_out = scratch;
                z.avail_out = sizeof scratch;
                rc = inflate(&z, Z_NO_FLUSH);
                produced += sizeof scratch - z.avail_out;
                if (rc == Z_BUF_ERROR) rc = Z_OK; /* needs the next chunk */
            }
            if (produced > most) break;
        }
        at += 12 + (size_t)length;
    }
    inflateEnd(&z);
    if (produced > most)
        return RF_ERROR(RF_ERR_FORMAT, "%s: corrupt image: its pixel data inflates past the %llu bytes of a %d x %d PNG",
                        label, (unsigned long long)most, h->width, h->height);
    if (rc != Z_STREAM_END)
        return RF_ERROR(RF_ERR_FORMAT, "%s: corrupt image: PNG pixel data %s", label,
                        rc == Z_OK ? "ends early (truncated)" : z.msg ? z.msg : "is not a zlib stream");
    return RF_OK;
}

static rf_status stb_header(const unsigned char *b, size_t n, const char *label, image_header *h) {
    if (is_png(b, n)) return png_header(b, n, label, h);
    int w = 0, hh = 0, channels = 0;
    if (!stbi_info_from_memory(b, (int)n, &w, &hh, &channels))
        return RF_ERROR(RF_ERR_FORMAT, "%s: not a readable image (%s)", label, stbi_failure_reason());
    bool jpeg = n >= 2 && b[0] == 0xFF && b[1] == 0xD8;
    *h = (image_header){jpeg ? KIND_JPEG : KIND_OTHER, w, hh, channels, stbi_is_16_bit_from_memory(b, (int)n) ? 2 : 1,
                        jpeg};
    return RF_OK;
}

#ifdef RFDETR_HAVE_LIBJPEG
/* JPEG through libjpeg-turbo: its SIMD decoder is 2.4-2.7x faster than
 * stb_image's here (bench/RESULTS.md), and decoding is most of the loader's
 * time on camera-sized photos. It is also the decoder PIL uses, so pixels
 * match RF-DETR's more closely. libjpeg's default error handler calls
 * exit(); ours jumps back instead. Its warnings (corrupt data it skipped,
 * data that ended early and was filled in) end the decode too: a file that
 * needs them is corrupt, and the filling-in is how a header-only file of a
 * few bytes would cost the whole declared image. */
typedef struct jpeg_failure {
    struct jpeg_error_mgr manager;
    jmp_buf back;
    char message[JMSG_LENGTH_MAX];
} jpeg_failure;

static void jpeg_fail(j_common_ptr cinfo) {
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    f->manager.format_message(cinfo, f->message);
    longjmp(f->back, 1);
}

static void jpeg_message(j_common_ptr cinfo, int level) {
    if (level < 0) jpeg_fail(cinfo); /* a warning; levels >= 0 are traces */
}

typedef struct jpeg_job {
    struct jpeg_decompress_struct cinfo;
    jpeg_failure failure;
    unsigned char *rgb;
    uint64_t reserved;
    rf_status status;
} jpeg_job;

typedef enum jpeg_outcome { JPEG_DECODED, JPEG_FAILED, JPEG_NOT_CONVERTIBLE } jpeg_outcome;

/* JPEG_DECODED fills out; JPEG_FAILED sets *failure and the message; JPEG_NOT_CONVERTIBLE
 * (CMYK and YCCK, which libjpeg does not turn into RGB) is for stb. Every
 * state that outlives a longjmp is reached through `j`, never a local
 * changed after setjmp. */
static jpeg_outcome decode_jpeg(const unsigned char *b, size_t length, const char *label, rf_image *out,
                                rf_status *failure) {
    jpeg_job job = {0}, *const j = &job;
    j->cinfo.err = jpeg_std_error(&j->failure.manager);
    j->failure.manager.error_exit = jpeg_fail;
    j->failure.manager.emit_message = jpeg_message;
    if (setjmp(j->failure.back)) {
        if (j->status == RF_OK && j->cinfo.image_width > 0)
            j->status = RF_ERROR(RF_ERR_FORMAT, "%s: corrupt image (%s; its header declares %u x %u pixels)", label,
                                 j->failure.message, j->cinfo.image_width, j->cinfo.image_height);
        else if (j->status == RF_OK)
            j->status = RF_ERROR(RF_ERR_FORMAT, "%s: corrupt image (%s)", label, j->failure.message);
        jpeg_destroy_decompress(&j->cinfo);
        free(j->rgb);
        if (j->reserved) budget_release(j->reserved);
        *failure = j->status;
        return JPEG_FAILED;
    }
    jpeg_create_decompress(&j->cinfo);
    jpeg_mem_src(&j->cinfo, b, (unsigned long)length);
    jpeg_read_header(&j->cinfo, TRUE);
    if (j->cinfo.jpeg_color_space == JCS_CMYK || j->cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&j->cinfo);
        return JPEG_NOT_CONVERTIBLE;
    }
    image_header h = {KIND_JPEG, (int)j->cinfo.image_width, (int)j->cinfo.image_height, j->cinfo.num_components, 1,
                      jpeg_has_multiple_scans(&j->cinfo)};
    uint64_t bytes = 0;
    j->status = check_bounds(&h, length, true, label, &bytes);
    if (j->status != RF_OK) longjmp(j->failure.back, 1);
    budget_reserve(bytes);
    j->reserved = bytes;
    j->cinfo.out_color_space = JCS_EXT_RGB; /* grey and YCbCr both come out RGB */
    jpeg_start_decompress(&j->cinfo);
    size_t stride = (size_t)j->cinfo.output_width * 3;
    j->rgb = malloc(stride * j->cinfo.output_height);
    if (!j->rgb) {
        j->status = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory decoding %d x %d pixels", label, h.width,
                             h.height);
        longjmp(j->failure.back, 1);
    }
    while (j->cinfo.output_scanline < j->cinfo.output_height) {
        JSAMPROW row = j->rgb + stride * j->cinfo.output_scanline;
        jpeg_read_scanlines(&j->cinfo, &row, 1);
    }
    jpeg_finish_decompress(&j->cinfo);
    out->width = (int)j->cinfo.output_width;
    out->height = (int)j->cinfo.output_height;
    out->rgb = j->rgb;
    jpeg_destroy_decompress(&j->cinfo);
    budget_release(j->reserved);
    return JPEG_DECODED;
}
#endif

rf_status rf_image_decode(const void *bytes, size_t length, const char *label, rf_image *out) {
    memset(out, 0, sizeof *out);
    if (length == 0) return RF_ERROR(RF_ERR_FORMAT, "%s: empty file (0 bytes), not an image", label);
    if (length > 0x7fffffff) return RF_ERROR(RF_ERR_FORMAT, "%s: file of %zu bytes is too large to decode", label, length);
    const unsigned char *b = bytes;
    const char *truncated = truncation_reason(b, length);
    if (truncated) return RF_ERROR(RF_ERR_FORMAT, "%s: corrupt image: %s", label, truncated);
#ifdef RFDETR_HAVE_LIBJPEG
    if (b[0] == 0xFF && length >= 2 && b[1] == 0xD8) {
        rf_status failure = RF_OK;
        jpeg_outcome o = decode_jpeg(b, length, label, out, &failure);
        if (o == JPEG_DECODED) return RF_OK;
        if (o == JPEG_FAILED) return failure;
    }
#endif
    image_header h;
    RF_TRY(stb_header(b, length, label, &h));
    uint64_t need = 0;
    RF_TRY(check_bounds(&h, length, false, label, &need));
    if (h.kind == KIND_PNG) RF_TRY(png_check_stream(b, length, label, &h, b[28] != 0));
    budget_reserve(need);
    int w = 0, hh = 0, channels = 0;
    unsigned char *rgb = stbi_load_from_memory(b, (int)length, &w, &hh, &channels, 3);
    budget_release(need);
    if (!rgb) {
        const char *why = stbi_failure_reason();
        if (why && strcmp(why, "outofmem") == 0)
            return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory decoding %d x %d pixels", label, h.width,
                            h.height);
        return RF_ERROR(RF_ERR_FORMAT, "%s: corrupt image (%s)", label, why ? why : "unknown reason");
    }
    out->width = w;
    out->height = hh;
    out->rgb = rgb;
    return RF_OK;
}

rf_status rf_image_load(const char *path, rf_image *out) {
    memset(out, 0, sizeof *out);
    char *data = NULL;
    size_t length = 0;
    RF_TRY(rf_read_file(path, &data, &length));
    rf_status s = rf_image_decode(data, length, path, out);
    free(data);
    return s;
}

void rf_image_free(rf_image *img) {
    if (!img) return;
    /* Both decoders allocate with malloc (Debian's libstb keeps STBI_MALLOC). */
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

rf_status rf_image_probe(const char *path, int *width, int *height) {
    *width = *height = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return RF_ERROR(RF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char start[33];
    size_t got = fread(start, 1, sizeof start, f);
    rewind(f);
    int channels = 0;
    int ok = is_png(start, got) ? 1 : stbi_info_from_file(f, width, height, &channels);
    long size = (fseek(f, 0, SEEK_END) == 0) ? ftell(f) : -1;
    fclose(f);
    if (size == 0) return RF_ERROR(RF_ERR_FORMAT, "%s: empty file (0 bytes), not an image", path);
    if (is_png(start, got)) {
        image_header h;
        RF_TRY(png_header(start, got, path, &h));
        *width = h.width;
        *height = h.height;
    }
    if (!ok) return RF_ERROR(RF_ERR_FORMAT, "%s: not a readable image (%s)", path, stbi_failure_reason());
    if (*width <= 0 || *height <= 0)
        return RF_ERROR(RF_ERR_FORMAT, "%s: image has zero size (%d x %d)", path, *width, *height);
    return RF_OK;
}

/* ---- resampling ----------------------------------------------------------------- */

static rf_status grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return RF_OK;
    void *p = realloc(*buf, need * elem);
    if (!p) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for %zu resampling values", need);
    *buf = p;
    *cap = need;
    return RF_OK;
}

/* Filter taps along one axis, PIL style: output pixel o covers source span
 * [start + o*scale, start + (o+1)*scale); a triangle of radius max(scale, 1)
 * centred on it weighs the source pixels, whose centres are at k + 0.5.
 * With `mirror`, k counts in the mirrored axis and is stored as the source
 * index in_size-1-k, taps reversed so every output reads increasing indices. */
static void axis_taps(int in_size, double start, double end, int out_size, bool mirror, int max_taps, float *weights,
                     int *first, int *count) {
    double scale = (end - start) / out_size;
    double fs = scale > 1.0 ? scale : 1.0;
    for (int o = 0; o < out_size; o++) {
        double center = start + (o + 0.5) * scale;
        int lo = (int)floor(center - fs + 0.5), hi = (int)floor(center + fs + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        if (hi <= lo) { /* a region entirely off the image: use the nearest edge pixel */
            lo = center < 0 ? 0 : in_size - 1;
            hi = lo + 1;
        }
        if (hi - lo > max_taps) hi = lo + max_taps;
        float *w = weights + (size_t)o * max_taps;
        double total = 0;
        for (int k = lo; k < hi; k++) {
            double d = fabs((k + 0.5 - center) / fs);
            double t = d < 1.0 ? 1.0 - d : 0.0;
            w[k - lo] = (float)t;
            total += t;
        }
        int n = hi - lo;
        if (total <= 0) { /* only when every tap sits exactly on the triangle's rim */
            for (int t = 0; t < n; t++) w[t] = 1.0f / (float)n;
        } else {
            for (int t = 0; t < n; t++) w[t] = (float)(w[t] / total);
        }
        if (mirror) {
            for (int a = 0, b = n - 1; a < b; a++, b--) {
                float x = w[a];
                w[a] = w[b];
                w[b] = x;
            }
            first[o] = in_size - hi;
        } else {
            first[o] = lo;
        }
        count[o] = n;
    }
}

rf_status rf_image_resample_normalized(const rf_image *img, const rf_resample_region *r, int out_w, int out_h,
                                       rf_resampler *sc, float *out) {
    if (!img || !img->rgb || img->width <= 0 || img->height <= 0 || out_w <= 0 || out_h <= 0 || !out)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "resample: empty image or output");
    if (!(r->x1 > r->x0) || !(r->y1 > r->y0) || !isfinite(r->x0) || !isfinite(r->x1) || !isfinite(r->y0) ||
        !isfinite(r->y1))
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "resample: empty region [%g, %g) x [%g, %g)", r->x0, r->x1, r->y0,
                        r->y1);
    double sx = (r->x1 - r->x0) / out_w, sy = (r->y1 - r->y0) / out_h;
    int taps_x = (int)ceil(2.0 * (sx > 1 ? sx : 1)) + 2, taps_y = (int)ceil(2.0 * (sy > 1 ? sy : 1)) + 2;
    size_t nw = (size_t)out_w * taps_x + (size_t)out_h * taps_y, ni = (size_t)out_w + (size_t)out_h;
    RF_TRY(grow((void **)&sc->weights, &sc->weights_cap, nw, sizeof(float)));
    RF_TRY(grow((void **)&sc->index, &sc->index_cap, 2 * ni, sizeof(int)));
    float *wx = sc->weights, *wy = sc->weights + (size_t)out_w * taps_x;
    int *fx = sc->index, *fy = fx + out_w, *cx = fy + out_h, *cy = cx + out_w;
    axis_taps(img->width, r->x0, r->x1, out_w, r->hflip, taps_x, wx, fx, cx);
    axis_taps(img->height, r->y0, r->y1, out_h, false, taps_y, wy, fy, cy);

    /* Horizontal pass over only the source rows some output row reads. */
    int row_lo = fy[0], row_hi = fy[out_h - 1] + cy[out_h - 1];
    for (int o = 0; o < out_h; o++) {
        if (fy[o] < row_lo) row_lo = fy[o];
        if (fy[o] + cy[o] > row_hi) row_hi = fy[o] + cy[o];
    }
    size_t row_len = (size_t)out_w * 3;
    RF_TRY(grow((void **)&sc->rows, &sc->rows_cap, (size_t)(row_hi - row_lo + 1) * row_len, sizeof(float)));
    for (int y = row_lo; y < row_hi; y++) {
        const uint8_t *src = img->rgb + (size_t)y * img->width * 3;
        float *dst = sc->rows + (size_t)(y - row_lo) * row_len;
        for (int o = 0; o < out_w; o++) {
            const float *w = wx + (size_t)o * taps_x;
            const uint8_t *p = src + (size_t)fx[o] * 3;
            float a0 = 0, a1 = 0, a2 = 0;
            for (int t = 0; t < cx[o]; t++, p += 3) {
                a0 += w[t] * p[0];
                a1 += w[t] * p[1];
                a2 += w[t] * p[2];
            }
            dst[3 * o] = a0;
            dst[3 * o + 1] = a1;
            dst[3 * o + 2] = a2;
        }
    }

    /* Vertical pass into one interleaved row, then normalise into planes. */
    float *acc = sc->rows + (size_t)(row_hi - row_lo) * row_len;
    float gain[3], bias[3];
    for (int c = 0; c < 3; c++) {
        gain[c] = 1.0f / (255.0f * rf_imagenet_std[c]);
        bias[c] = -rf_imagenet_mean[c] / rf_imagenet_std[c];
    }
    size_t plane = (size_t)out_w * out_h;
    for (int o = 0; o < out_h; o++) {
        const float *w = wy + (size_t)o * taps_y;
        const float *src = sc->rows + (size_t)(fy[o] - row_lo) * row_len;
        for (size_t i = 0; i < row_len; i++) acc[i] = w[0] * src[i];
        for (int t = 1; t < cy[o]; t++) {
            src += row_len;
            for (size_t i = 0; i < row_len; i++) acc[i] += w[t] * src[i];
        }
        float *r0 = out + (size_t)o * out_w, *r1 = r0 + plane, *r2 = r1 + plane;
        for (int x = 0; x < out_w; x++) {
            r0[x] = acc[3 * x] * gain[0] + bias[0];
            r1[x] = acc[3 * x + 1] * gain[1] + bias[1];
            r2[x] = acc[3 * x + 2] * gain[2] + bias[2];
        }
    }
    return RF_OK;
}

void rf_resampler_free(rf_resampler *sc) {
    if (!sc) return;
    free(sc->weights);
    free(sc->index);
    free(sc->rows);
    memset(sc, 0, sizeof *sc);
}
