/* test_image.c — decoding (every format and channel layout, every kind of
 * broken file) and the normalising resampler (identity, mirror, averaging,
 * and PIL's bilinear resize as the oracle when python3 + PIL are present). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "data/image.h"
#include "test_util.h"

typedef struct membuf {
    unsigned char *data;
    size_t size, cap;
} membuf;

static void membuf_write(void *ctx, void *data, int size) {
    membuf *m = ctx;
    if (m->size + (size_t)size > m->cap) {
        m->cap = (m->size + (size_t)size) * 2;
        m->data = realloc(m->data, m->cap);
    }
    memcpy(m->data + m->size, data, (size_t)size);
    m->size += (size_t)size;
}

enum { W = 37, H = 23 };

/* A test pattern with every channel different, so swapped channels show. */
static void pattern(unsigned char *px, int comp) {
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < comp; c++) px[(y * W + x) * comp + c] = (unsigned char)(x * 7 + y * 11 + c * 50);
}

static membuf encode(const char *fmt, int comp) {
    unsigned char px[W * H * 4];
    pattern(px, comp);
    membuf m = {0};
    if (strcmp(fmt, "png") == 0) stbi_write_png_to_func(membuf_write, &m, W, H, comp, px, W * comp);
    if (strcmp(fmt, "bmp") == 0) stbi_write_bmp_to_func(membuf_write, &m, W, H, comp, px);
    if (strcmp(fmt, "jpg") == 0) stbi_write_jpg_to_func(membuf_write, &m, W, H, comp, px, 95);
    return m;
}

static void test_decode_formats(void) {
    const char *fmts[] = {"png", "bmp", "jpg"};
    for (int f = 0; f < 3; f++)
        for (int comp = 1; comp <= 4; comp++) {
            membuf m = encode(fmts[f], comp);
            rf_image img;
            CHECK_OK(rf_image_decode(m.data, m.size, fmts[f], &img));
            CHECK(img.width == W && img.height == H, "%s/%d: %dx%d", fmts[f], comp, img.width, img.height);
            if (img.rgb && strcmp(fmts[f], "jpg") != 0) {
                /* Lossless formats: grey is replicated, alpha dropped. BMP
                 * stores grey as RGB and stb keeps alpha only for 32-bit BMP. */
                unsigned char px[W * H * 4];
                pattern(px, comp);
                int bad = 0;
                for (int i = 0; i < W * H; i++)
                    for (int c = 0; c < 3; c++) {
                        int want = comp >= 3 ? px[i * comp + c] : px[i * comp];
                        bad += img.rgb[i * 3 + c] != want;
                    }
                CHECK(bad == 0, "%s/%d: %d pixel values differ", fmts[f], comp, bad);
            }
            if (img.rgb && strcmp(fmts[f], "jpg") == 0) {
                unsigned char px[W * H * 4];
                pattern(px, comp);
                double err = 0;
                for (int i = 0; i < W * H; i++)
                    err += fabs((double)img.rgb[i * 3] - (comp >= 3 ? px[i * comp] : px[i * comp]));
                CHECK(err / (W * H) < 6.0, "jpg/%d: mean abs error %g", comp, err / (W * H));
            }
            rf_image_free(&img);
            free(m.data);
        }
}

static void test_decode_broken(void) {
    rf_image img;
    CHECK_STATUS(rf_image_decode("", 0, "empty.jpg", &img), RF_ERR_FORMAT);
    CHECK(strstr(rf_last_error(), "empty.jpg") && strstr(rf_last_error(), "empty"), "message: %s", rf_last_error());
    const char junk[] = "this is not an image at all, just some text";
    CHECK_STATUS(rf_image_decode(junk, sizeof junk, "junk.png", &img), RF_ERR_FORMAT);
    CHECK(strstr(rf_last_error(), "junk.png") != NULL, "message: %s", rf_last_error());

    const char *fmts[] = {"png", "bmp", "jpg"};
    for (int f = 0; f < 3; f++) {
        membuf m = encode(fmts[f], 3);
        /* Cut at several points: header only, mid-data, in the last pixels.
         * (A PNG cut inside its IEND trailer still holds every pixel and
         * decodes; that is not truncation worth refusing.) */
        size_t cuts[] = {10, m.size / 2, m.size - (f == 0 ? 16 : 3)};
        for (int k = 0; k < 3; k++) {
            char label[32];
            snprintf(label, sizeof label, "cut.%s", fmts[f]);
            rf_status s = rf_image_decode(m.data, cuts[k], label, &img);
            CHECK(s == RF_ERR_FORMAT, "%s cut at %zu of %zu: %s", fmts[f], cuts[k], m.size, rf_status_name(s));
            CHECK(strstr(rf_last_error(), label) != NULL, "message names the file: %s", rf_last_error());
            if (s == RF_OK) rf_image_free(&img);
        }
        /* Flipped bytes in the middle of a PNG break its CRC/zlib stream. */
        if (f == 0) {
            for (size_t i = m.size / 2; i < m.size / 2 + 16; i++) m.data[i] ^= 0x5a;
            rf_status s = rf_image_decode(m.data, m.size, "corrupt.png", &img);
            CHECK(s == RF_ERR_FORMAT, "corrupt png: %s", rf_status_name(s));
            if (s == RF_OK) rf_image_free(&img);
        }
        free(m.data);
    }
    /* A JPEG whose frame header is damaged: the decoder's reason, with the file. */
    membuf bad = encode("jpg", 3);
    for (size_t i = 2; i + 1 < bad.size; i++)
        if (bad.data[i] == 0xFF && bad.data[i + 1] == 0xC0) { /* SOF0: zero the precision and sizes */
            memset(bad.data + i + 4, 0, 5);
            break;
        }
    rf_status bs = rf_image_decode(bad.data, bad.size, "badframe.jpg", &img);
    CHECK(bs == RF_ERR_FORMAT && strstr(rf_last_error(), "badframe.jpg"), "damaged frame header: %s: %s",
          rf_status_name(bs), rf_last_error());
    if (bs == RF_OK) rf_image_free(&img);
    free(bad.data);
    /* Trailing bytes after a JPEG's end marker are fine (some cameras add them). */
    membuf m = encode("jpg", 3);
    membuf_write(&m, "trailer", 7);
    CHECK_OK(rf_image_decode(m.data, m.size, "trailer.jpg", &img));
    rf_image_free(&img);
    free(m.data);

    CHECK_STATUS(rf_image_load("/nonexistent/dir/x.jpg", &img), RF_ERR_IO);
    CHECK(strstr(rf_last_error(), "/nonexistent/dir/x.jpg") != NULL, "message: %s", rf_last_error());
}

/* Un-normalise one value of plane c back to the 0..255 scale. */
static float to_level(float v, int c) { return (v * rf_imagenet_std[c] + rf_imagenet_mean[c]) * 255.0f; }

static void test_resample_identity_and_flip(void) {
    unsigned char px[W * H * 3];
    pattern(px, 3);
    rf_image img = {W, H, px};
    rf_resampler sc = {0};
    float *out = malloc(sizeof(float) * 3 * W * H), *flip = malloc(sizeof(float) * 3 * W * H);
    rf_resample_region all = {0, 0, W, H, false};
    CHECK_OK(rf_image_resample_normalized(&img, &all, W, H, &sc, out));
    double max_err = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < W * H; i++) {
            double e = fabs(to_level(out[c * W * H + i], c) - px[i * 3 + c]);
            if (e > max_err) max_err = e;
        }
    CHECK(max_err < 1e-3, "identity resample error %g", max_err);

    rf_resample_region mirrored = {0, 0, W, H, true};
    CHECK_OK(rf_image_resample_normalized(&img, &mirrored, W, H, &sc, flip));
    int bad = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                bad += fabsf(flip[(c * H + y) * W + x] - out[(c * H + y) * W + (W - 1 - x)]) > 1e-6f;
    CHECK(bad == 0, "mirror: %d values differ", bad);

    /* A mirrored region: the right half of the mirrored image is the left half
     * of the original, reversed. */
    rf_resample_region right = {W - 20, 0, W, H, true};
    float part[3 * 20 * H];
    CHECK_OK(rf_image_resample_normalized(&img, &right, 20, H, &sc, part));
    bad = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < 20; x++)
                bad += fabsf(part[(c * H + y) * 20 + x] - out[(c * H + y) * W + (19 - x)]) > 1e-6f;
    CHECK(bad == 0, "mirrored region: %d values differ", bad);

    /* Halving averages 4 source pixels with PIL's bilinear weights 1/8 3/8 3/8 1/8. */
    unsigned char flat[8 * 8 * 3];
    for (int i = 0; i < 8 * 8 * 3; i++) flat[i] = (unsigned char)((i / 3) % 8 * 10);
    rf_image ramp = {8, 8, flat};
    rf_resample_region ramp_all = {0, 0, 8, 8, false};
    float half[3 * 4 * 4];
    CHECK_OK(rf_image_resample_normalized(&ramp, &ramp_all, 4, 4, &sc, half));
    /* Column 1 reads source columns 1..4 (values 10..40): 10/8 + 60/8 + 90/8 + 40/8 = 25. */
    CHECK(fabsf(to_level(half[1], 0) - 25.0f) < 1e-3f, "halved value %g", to_level(half[1], 0));

    CHECK_STATUS(rf_image_resample_normalized(&img, &(rf_resample_region){5, 0, 5, H, false}, 4, 4, &sc, half),
                 RF_ERR_INVALID_ARGUMENT);
    rf_resampler_free(&sc);
    free(out);
    free(flip);
}

/* PIL as the oracle: Image.resize(size, BILINEAR, box=region) on random pixels. */
static void test_resample_vs_pil(void) {
    if (system("python3 -c 'import PIL, numpy' >/dev/null 2>&1") != 0) {
        test_skip_part("test_image", "resampling against PIL", "python3 cannot import PIL and numpy",
                       "pip install pillow numpy");
        return;
    }
    enum { SW = 97, SH = 61 };
    static unsigned char px[SW * SH * 3];
    unsigned long long state = 7;
    for (int i = 0; i < SW * SH * 3; i++) px[i] = (unsigned char)test_uniform(&state, 0, 256);
    char dir[] = "/tmp/rfdetr_test_image_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    char png[256], raw[256], cmd[1024];
    snprintf(png, sizeof png, "%s/src.png", dir);
    snprintf(raw, sizeof raw, "%s/out.raw", dir);
    stbi_write_png(png, SW, SH, 3, px, SW * 3);
    struct {
        rf_resample_region r;
        int ow, oh;
    } cases[] = {
        {{0, 0, SW, SH, false}, 40, 40},       /* downscale, unequal factors */
        {{0, 0, SW, SH, false}, 150, 130},     /* upscale */
        {{10, 5, 73, 50, false}, 32, 32},      /* a crop */
        {{12.5, 3.25, 90.75, 58.5, false}, 48, 24}, /* fractional crop */
    };
    rf_image img = {SW, SH, px};
    rf_resampler sc = {0};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const rf_resample_region *r = &cases[k].r;
        int ow = cases[k].ow, oh = cases[k].oh;
        snprintf(cmd, sizeof cmd,
                 "python3 -c 'from PIL import Image; im=Image.open(\"%s\"); "
                 "open(\"%s\",\"wb\").write(im.resize((%d,%d), Image.BILINEAR, box=(%.17g,%.17g,%.17g,%.17g)).tobytes())'",
                 png, raw, ow, oh, r->x0, r->y0, r->x1, r->y1);
        CHECK(system(cmd) == 0, "python failed: %s", cmd);
        unsigned char *want = malloc((size_t)ow * oh * 3);
        FILE *f = fopen(raw, "rb");
        size_t got = f ? fread(want, 1, (size_t)ow * oh * 3, f) : 0;
        if (f) fclose(f);
        CHECK(got == (size_t)ow * oh * 3, "PIL output size %zu", got);
        float *out = malloc(sizeof(float) * 3 * ow * oh);
        CHECK_OK(rf_image_resample_normalized(&img, r, ow, oh, &sc, out));
        double max_err = 0;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < ow * oh; i++) {
                double e = fabs(to_level(out[c * ow * oh + i], c) - want[i * 3 + c]);
                if (e > max_err) max_err = e;
            }
        /* PIL rounds to 8 bits and uses fixed-point weights: within one level. */
        CHECK(max_err <= 1.0, "case %zu: max difference from PIL %g levels", k, max_err);
        free(want);
        free(out);
    }
    rf_resampler_free(&sc);
    unlink(png);
    unlink(raw);
    rmdir(dir);
}

int main(void) {
    test_decode_formats();
    test_decode_broken();
    test_resample_identity_and_flip();
    test_resample_vs_pil();
    return test_finish("test_image");
}
