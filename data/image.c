#include "data/image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stb/stb_image.h>
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

#ifdef RFDETR_HAVE_LIBJPEG
/* JPEG through libjpeg-turbo: its SIMD decoder is 2.4-2.7x faster than
 * stb_image's here (bench/RESULTS.md), and decoding is most of the loader's
 * time on camera-sized photos. It is also the decoder PIL uses, so pixels
 * match RF-DETR's more closely. libjpeg's default error handler calls
 * exit(); ours jumps back instead. */
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

static void jpeg_quiet(j_common_ptr cinfo) { (void)cinfo; } /* warnings: corrupt bytes it skipped */

typedef struct jpeg_job {
    struct jpeg_decompress_struct cinfo;
    jpeg_failure failure;
    unsigned char *rgb;
} jpeg_job;

/* Returns 1 and fills out on success; 0 with `why` set otherwise. Every
 * state that outlives a longjmp is reached through `j`, never a local
 * changed after setjmp. */
static int decode_jpeg(const unsigned char *b, size_t length, rf_image *out, char *why, size_t why_size) {
    jpeg_job job = {0}, *const j = &job;
    j->cinfo.err = jpeg_std_error(&j->failure.manager);
    j->failure.manager.error_exit = jpeg_fail;
    j->failure.manager.output_message = jpeg_quiet;
    if (setjmp(j->failure.back)) {
        snprintf(why, why_size, "%s", j->failure.message);
        jpeg_destroy_decompress(&j->cinfo);
        free(j->rgb);
        return 0;
    }
    jpeg_create_decompress(&j->cinfo);
    jpeg_mem_src(&j->cinfo, b, (unsigned long)length);
    jpeg_read_header(&j->cinfo, TRUE);
    j->cinfo.out_color_space = JCS_EXT_RGB; /* grey and YCbCr both come out RGB */
    jpeg_start_decompress(&j->cinfo);
    size_t stride = (size_t)j->cinfo.output_width * 3;
    j->rgb = malloc(stride * j->cinfo.output_height);
    if (!j->rgb) {
        snprintf(why, why_size, "outofmem");
        jpeg_destroy_decompress(&j->cinfo);
        return 0;
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
    return 1;
}
#endif

rf_status rf_image_decode(const void *bytes, size_t length, const char *label, rf_image *out) {
    memset(out, 0, sizeof *out);
    if (length == 0) return RF_ERROR(RF_ERR_FORMAT, "%s: empty file (0 bytes), not an image", label);
    if (length > 0x7fffffff) return RF_ERROR(RF_ERR_FORMAT, "%s: file of %zu bytes is too large to decode", label, length);
    const unsigned char *b = bytes;
    int w = 0, h = 0, channels = 0;
    if (!stbi_info_from_memory(b, (int)length, &w, &h, &channels))
        return RF_ERROR(RF_ERR_FORMAT, "%s: not a readable image (%s)", label, stbi_failure_reason());
    if (w <= 0 || h <= 0) return RF_ERROR(RF_ERR_FORMAT, "%s: image has zero size (%d x %d)", label, w, h);
    if ((uint64_t)w * (uint64_t)h > RF_IMAGE_MAX_PIXELS)
        return RF_ERROR(RF_ERR_FORMAT, "%s: image of %d x %d pixels is larger than the %u-pixel limit", label, w, h,
                        RF_IMAGE_MAX_PIXELS);
    const char *truncated = truncation_reason(b, length);
    if (truncated) return RF_ERROR(RF_ERR_FORMAT, "%s: corrupt image: %s", label, truncated);
#ifdef RFDETR_HAVE_LIBJPEG
    char jpeg_why[256] = "";
    if (b[0] == 0xFF && b[1] == 0xD8 && decode_jpeg(b, length, out, jpeg_why, sizeof jpeg_why)) return RF_OK;
    /* What libjpeg refuses (CMYK, say) stb may still read. */
#endif
    unsigned char *rgb = stbi_load_from_memory(b, (int)length, &w, &h, &channels, 3);
    if (!rgb) {
#ifdef RFDETR_HAVE_LIBJPEG
        if (jpeg_why[0] && strcmp(jpeg_why, "outofmem") != 0)
            return RF_ERROR(RF_ERR_FORMAT, "%s: corrupt image (%s)", label, jpeg_why);
#endif
        const char *why = stbi_failure_reason();
        if (why && strcmp(why, "outofmem") == 0)
            return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory decoding %d x %d pixels", label, w, h);
        return RF_ERROR(RF_ERR_FORMAT, "%s: corrupt image (%s)", label, why ? why : "unknown reason");
    }
    out->width = w;
    out->height = h;
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
    int channels = 0;
    int ok = stbi_info_from_file(f, width, height, &channels);
    long size = (fseek(f, 0, SEEK_END) == 0) ? ftell(f) : -1;
    fclose(f);
    if (size == 0) return RF_ERROR(RF_ERR_FORMAT, "%s: empty file (0 bytes), not an image", path);
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
