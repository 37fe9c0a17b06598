/* ref_conv_impl.h — template body of the conv reference kernels, compiled
 * per precision by ref_conv.c through ref_instantiate.h (REAL, FN). No
 * include guard on purpose. */

void FN(rf_ref_im2col)(const rf_conv_geom *g, const REAL *x, REAL *col) {
    int64_t rows = g->c * g->kh * g->kw, cols = g->ho * g->wo;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t r = 0; r < rows; r++) {
            int64_t c = r / (g->kh * g->kw), i = (r / g->kw) % g->kh, j = r % g->kw;
            const REAL *plane = x + (n * g->c + c) * g->h * g->w;
            REAL *out = col + (n * rows + r) * cols;
            for (int64_t oy = 0; oy < g->ho; oy++) {
                int64_t y = oy * g->stride_h - g->pad_h + i;
                for (int64_t ox = 0; ox < g->wo; ox++) {
                    int64_t xx = ox * g->stride_w - g->pad_w + j;
                    bool inside = y >= 0 && y < g->h && xx >= 0 && xx < g->w;
                    out[oy * g->wo + ox] = inside ? plane[y * g->w + xx] : (REAL)0;
                }
            }
        }
}

/* A gather: input pixel (y, x) sums the col entries that read it, kernel
 * taps in row-major order — the order every device uses. */
void FN(rf_ref_col2im)(const rf_conv_geom *g, const REAL *col, REAL *x, bool accumulate) {
    int64_t rows = g->c * g->kh * g->kw, cols = g->ho * g->wo;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t c = 0; c < g->c; c++)
            for (int64_t y = 0; y < g->h; y++)
                for (int64_t xx = 0; xx < g->w; xx++) {
                    double acc = 0;
                    for (int64_t i = 0; i < g->kh; i++)
                        for (int64_t j = 0; j < g->kw; j++) {
                            int64_t at = rf_col2im_source(y, xx, i, j, g->stride_h, g->stride_w, g->pad_h, g->pad_w,
                                                          g->ho, g->wo);
                            if (at >= 0) acc += (double)col[(n * rows + (c * g->kh + i) * g->kw + j) * cols + at];
                        }
                    REAL *out = &x[((n * g->c + c) * g->h + y) * g->w + xx];
                    *out = (REAL)(accumulate ? (double)*out + acc : acc);
                }
}
