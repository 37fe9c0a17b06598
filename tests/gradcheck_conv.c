/* gradcheck_conv.c — finite-difference checks of the conv family: col2im
 * must be the adjoint (the transposed Jacobian) of im2col, for the
 * geometries convolution uses (3x3 pad 1 at strides 1 and 2, rectangular
 * kernels with unequal strides and pads, patch embeddings). */
#include "backend/cpu/ref_conv.h"
#include "gradcheck.h"

#define RTOL 1e-6

static void im2col_fwd(void *u, const double *x, double *col) { rf_ref_im2col_f64(u, x, col); }

static void im2col_bwd(void *u, const double *x, const double *dcol, double *dx) {
    rf_ref_col2im_f64(u, dcol, dx, false);
}

void gradcheck_conv(void) {
    /* n, c, h, w, kh, kw, sh, sw, ph, pw */
    static const int64_t geoms[][10] = {
        {1, 2, 5, 6, 3, 3, 1, 1, 1, 1}, {2, 2, 7, 6, 3, 3, 2, 2, 1, 1}, {1, 3, 6, 7, 2, 3, 2, 1, 0, 2},
        {1, 2, 8, 8, 4, 4, 4, 4, 0, 0}, {1, 1, 9, 8, 5, 5, 3, 3, 4, 3},
    };
    for (size_t i = 0; i < sizeof geoms / sizeof geoms[0]; i++) {
        const int64_t *q = geoms[i];
        rf_conv_geom g = {q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], 0, 0};
        g.ho = (g.h + 2 * g.pad_h - g.kh) / g.stride_h + 1;
        g.wo = (g.w + 2 * g.pad_w - g.kw) / g.stride_w + 1;
        int n_in = (int)(g.n * g.c * g.h * g.w), n_out = (int)(g.n * g.c * g.kh * g.kw * g.ho * g.wo);
        double *x = malloc((size_t)n_in * sizeof *x);
        unsigned long long s = 31 + i;
        for (int k = 0; k < n_in; k++) x[k] = test_uniform(&s, -2, 2);
        char name[96];
        snprintf(name, sizeof name, "col2im = im2col^T (k=%lldx%lld, stride=%lldx%lld, pad=%lldx%lld)", (long long)g.kh,
                 (long long)g.kw, (long long)g.stride_h, (long long)g.stride_w, (long long)g.pad_h, (long long)g.pad_w);
        gradcheck(name, n_in, n_out, im2col_fwd, im2col_bwd, &g, x, RTOL, n_in);
        free(x);
    }
}
