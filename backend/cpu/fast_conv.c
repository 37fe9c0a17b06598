/* fast_conv.c — im2col / col2im in fast mode (fast.h): one task per output
 * row of col (im2col) or per input row (col2im), contiguous runs copied or
 * added a row at a time. col2im stays a gather (each input pixel sums the
 * taps that read it, in the reference's tap order), so it needs no atomics
 * and its result does not depend on the split. */
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/fast.h"
#include "backend/cpu/fast_math.h"

/* ---- im2col ------------------------------------------------------------------------------- */

CPU_CLONES static void im2col_row(const rf_im2col_args *a, const float *plane, int64_t i, int64_t j, float *out) {
    for (int64_t oy = 0; oy < a->ho; oy++) {
        int64_t y = oy * a->stride_h - a->pad_h + i;
        float *o = out + oy * a->wo;
        if (y < 0 || y >= a->h) {
            memset(o, 0, sizeof *o * (size_t)a->wo);
            continue;
        }
        const float *src = plane + y * a->w;
        if (a->stride_w == 1) {
            /* Columns ox read x = ox - pad + j: zeros outside [0, w). */
            int64_t lo = a->pad_w - j, hi = a->w + a->pad_w - j; /* ox range inside */
            if (lo < 0) lo = 0;
            if (hi > a->wo) hi = a->wo;
            if (hi < lo) hi = lo;
            for (int64_t ox = 0; ox < lo; ox++) o[ox] = 0.0f;
            if (hi > lo) memcpy(o + lo, src + lo - a->pad_w + j, sizeof *o * (size_t)(hi - lo));
            for (int64_t ox = hi; ox < a->wo; ox++) o[ox] = 0.0f;
        } else {
            for (int64_t ox = 0; ox < a->wo; ox++) {
                int64_t xx = ox * a->stride_w - a->pad_w + j;
                o[ox] = xx >= 0 && xx < a->w ? src[xx] : 0.0f;
            }
        }
    }
}

static void im2col_range(void *p, int64_t b, int64_t e) {
    const rf_im2col_args *a = p;
    int64_t rows = a->c * a->kh * a->kw;
    for (int64_t t = b; t < e; t++) {
        int64_t n = t / rows, r = t % rows;
        int64_t c = r / (a->kh * a->kw), i = (r / a->kw) % a->kh, j = r % a->kw;
        im2col_row(a, CPU_CF(a->x) + (n * a->c + c) * a->h * a->w, i, j, CPU_F(a->col) + t * a->ho * a->wo);
    }
}

bool cpu_fast_im2col(rf_device *dev, const rf_im2col_args *a) {
    int64_t tasks = a->n * a->c * a->kh * a->kw;
    cpu_parallel_range(dev, tasks, CPU_GRAIN / (a->ho * a->wo + 1) + 1, im2col_range, (void *)a);
    return true;
}

/* ---- col2im ------------------------------------------------------------------------------- */

CPU_CLONES static void add_run(float *acc, const float *src, int64_t n) {
    for (int64_t k = 0; k < n; k++) acc[k] += src[k];
}

/* Input row y of plane (n, c): sums over taps (i, j) in row-major order. */
static void col2im_row(const rf_col2im_args *a, int64_t n, int64_t c, int64_t y, float *acc) {
    int64_t rows = a->c * a->kh * a->kw, cols = a->ho * a->wo;
    const float *col = CPU_CF(a->col);
    for (int64_t xx = 0; xx < a->w; xx++) acc[xx] = 0.0f;
    for (int64_t i = 0; i < a->kh; i++) {
        int64_t ty = y + a->pad_h - i;
        if (ty < 0 || ty % a->stride_h || ty / a->stride_h >= a->ho) continue;
        int64_t oy = ty / a->stride_h;
        for (int64_t j = 0; j < a->kw; j++) {
            const float *src = col + (n * rows + (c * a->kh + i) * a->kw + j) * cols + oy * a->wo;
            if (a->stride_w == 1) {
                /* x reads column tx = x + pad - j: a contiguous run. */
                int64_t lo = j - a->pad_w, hi = a->wo + j - a->pad_w;
                if (lo < 0) lo = 0;
                if (hi > a->w) hi = a->w;
                if (hi > lo) add_run(acc + lo, src + lo + a->pad_w - j, hi - lo);
            } else {
                for (int64_t xx = 0; xx < a->w; xx++) {
                    int64_t tx = xx + a->pad_w - j;
                    if (tx < 0 || tx % a->stride_w || tx / a->stride_w >= a->wo) continue;
                    acc[xx] += src[tx / a->stride_w];
                }
            }
        }
    }
}

typedef struct col2im_job {
    const rf_col2im_args *a;
} col2im_job;

static void col2im_range(void *p, int64_t b, int64_t e) {
    const rf_col2im_args *a = ((const col2im_job *)p)->a;
    float acc[4096];
    for (int64_t t = b; t < e; t++) {
        int64_t y = t % a->h, nc = t / a->h;
        col2im_row(a, nc / a->c, nc % a->c, y, acc);
        float *out = CPU_F(a->x) + t * a->w;
        if (a->accumulate)
            add_run(out, acc, a->w);
        else
            memcpy(out, acc, sizeof *out * (size_t)a->w);
    }
}

bool cpu_fast_col2im(rf_device *dev, const rf_col2im_args *a) {
    if (a->w > 4096) return false; /* wider than the row scratch */
    col2im_job j = {a};
    int64_t tasks = a->n * a->c * a->h;
    cpu_parallel_range(dev, tasks, CPU_GRAIN / (a->w * a->kh * a->kw + 1) + 1, col2im_range, &j);
    return true;
}
