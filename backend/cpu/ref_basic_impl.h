/* ref_basic_impl.h — template body of the basic reference kernels.
 * Included by ref_basic.c once per precision through ref_instantiate.h
 * (REAL, FN). No include guard on purpose. */


void FN(rf_ref_unary)(rf_unary_op op, int64_t n, const REAL *x, REAL *y, double alpha, double beta) {
    for (int64_t i = 0; i < n; i++) y[i] = (REAL)rf_unary_value(op, (double)x[i], alpha, beta);
}

void FN(rf_ref_unary_backward)(rf_unary_op op, int64_t n, const REAL *x, const REAL *y, const REAL *dy, REAL *dx,
                               double alpha, double beta, bool accumulate) {
    for (int64_t i = 0; i < n; i++) {
        double g = rf_unary_derivative(op, (double)x[i], (double)y[i], alpha) * (double)dy[i];
        dx[i] = (REAL)(accumulate ? (double)dx[i] + g : g);
    }
}


/* Offset of multi-index idx under strides s. */
static int64_t FN(offset)(int ndim, const int64_t *idx, const int64_t *s) {
    int64_t o = 0;
    for (int k = 0; k < ndim; k++) o += idx[k] * s[k];
    return o;
}

/* Advances a row-major multi-index; returns false after the last one. */
static bool FN(next_index)(int ndim, const int64_t *shape, int64_t *idx) {
    for (int k = ndim - 1; k >= 0; k--) {
        if (++idx[k] < shape[k]) return true;
        idx[k] = 0;
    }
    return false;
}

static int64_t FN(count)(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int k = 0; k < ndim; k++) n *= shape[k];
    return n;
}

void FN(rf_ref_binary)(rf_binary_op op, int ndim, const int64_t *shape, const REAL *a, const int64_t *sa,
                       const REAL *b, const int64_t *sb, REAL *y, const int64_t *sy, bool accumulate) {
    if (FN(count)(ndim, shape) == 0) return;
    int64_t idx[RF_MAX_DIMS] = {0};
    do {
        double v = rf_binary_value(op, (double)a[FN(offset)(ndim, idx, sa)], (double)b[FN(offset)(ndim, idx, sb)]);
        REAL *out = &y[FN(offset)(ndim, idx, sy)];
        *out = (REAL)(accumulate ? (double)*out + v : v);
    } while (FN(next_index)(ndim, shape, idx));
}

void FN(rf_ref_copy)(int ndim, const int64_t *shape, const REAL *src, const int64_t *ss, REAL *dst, const int64_t *sd,
                     bool accumulate) {
    if (FN(count)(ndim, shape) == 0) return;
    int64_t idx[RF_MAX_DIMS] = {0};
    do {
        REAL v = src[FN(offset)(ndim, idx, ss)];
        REAL *out = &dst[FN(offset)(ndim, idx, sd)];
        *out = accumulate ? (REAL)((double)*out + (double)v) : v;
    } while (FN(next_index)(ndim, shape, idx));
}

void FN(rf_ref_reduce)(rf_reduce_op op, int ndim, const int64_t *shape, unsigned mask, const REAL *x,
                       const int64_t *sx, REAL *y, bool accumulate) {
    int64_t kept_shape[RF_MAX_DIMS], kept_stride[RF_MAX_DIMS], red_shape[RF_MAX_DIMS], red_stride[RF_MAX_DIMS];
    int nk = 0, nr = 0;
    for (int k = 0; k < ndim; k++) {
        if (mask & (1u << k)) {
            red_shape[nr] = shape[k];
            red_stride[nr++] = sx[k];
        } else {
            kept_shape[nk] = shape[k];
            kept_stride[nk++] = sx[k];
        }
    }
    int64_t n_out = FN(count)(nk, kept_shape), n_red = FN(count)(nr, red_shape);
    int64_t kidx[RF_MAX_DIMS] = {0};
    for (int64_t o = 0; o < n_out; o++) {
        int64_t base = FN(offset)(nk, kidx, kept_stride);
        double acc = 0;
        if (n_red > 0) {
            int64_t ridx[RF_MAX_DIMS] = {0};
            do {
                double v = (double)x[base + FN(offset)(nr, ridx, red_stride)];
                acc += op == RF_REDUCE_SUMSQ ? v * v : v;
            } while (FN(next_index)(nr, red_shape, ridx));
        }
        if (op == RF_REDUCE_MEAN) acc = n_red ? acc / (double)n_red : NAN;
        y[o] = (REAL)(accumulate ? (double)y[o] + acc : acc);
        FN(next_index)(nk, kept_shape, kidx);
    }
}

void FN(rf_ref_max_last)(int64_t rows, int64_t cols, const REAL *x, REAL *values, int32_t *indices) {
    for (int64_t r = 0; r < rows; r++) {
        const REAL *row = x + r * cols;
        int64_t best = 0;
        for (int64_t c = 1; c < cols; c++) {
            if (isnan(row[best])) break; /* the first NaN is the maximum */
            if (isnan(row[c]) || row[c] > row[best]) best = c;
        }
        values[r] = row[best];
        indices[r] = (int32_t)best;
    }
}

void FN(rf_ref_max_last_backward)(int64_t rows, int64_t cols, const REAL *dy, const int32_t *indices, REAL *dx,
                                  bool accumulate) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            REAL g = c == indices[r] ? dy[r] : (REAL)0;
            REAL *out = &dx[r * cols + c];
            *out = accumulate ? (REAL)((double)*out + (double)g) : g;
        }
}

void FN(rf_ref_softmax)(int64_t rows, int64_t cols, const REAL *x, const REAL *mask, int64_t mask_rows, REAL *y) {
    for (int64_t r = 0; r < rows; r++) {
        const REAL *row = x + r * cols;
        const REAL *mrow = mask ? mask + (r % mask_rows) * cols : NULL;
        REAL *out = y + r * cols;
        double mx = -INFINITY;
        for (int64_t c = 0; c < cols; c++) {
            double v = (double)row[c] + (mrow ? (double)mrow[c] : 0.0);
            if (v > mx) mx = v;
        }
        if (mx == -INFINITY) { /* fully masked row: zeros, not NaN */
            for (int64_t c = 0; c < cols; c++) out[c] = 0;
            continue;
        }
        double sum = 0;
        for (int64_t c = 0; c < cols; c++) sum += exp((double)row[c] + (mrow ? (double)mrow[c] : 0.0) - mx);
        for (int64_t c = 0; c < cols; c++) out[c] = (REAL)(exp((double)row[c] + (mrow ? (double)mrow[c] : 0.0) - mx) / sum);
    }
}

void FN(rf_ref_softmax_backward)(int64_t rows, int64_t cols, const REAL *y, const REAL *dy, REAL *dx, bool accumulate) {
    for (int64_t r = 0; r < rows; r++) {
        const REAL *yr = y + r * cols, *dyr = dy + r * cols;
        REAL *dxr = dx + r * cols;
        double dot = 0;
        for (int64_t c = 0; c < cols; c++) dot += (double)yr[c] * (double)dyr[c];
        for (int64_t c = 0; c < cols; c++) {
            double g = (double)yr[c] * ((double)dyr[c] - dot);
            dxr[c] = (REAL)(accumulate ? (double)dxr[c] + g : g);
        }
    }
}


void FN(rf_ref_layernorm)(int64_t rows, int64_t cols, int64_t inner, int64_t outer_stride, int64_t col_stride, double eps,
                          const REAL *x, const REAL *gamma, const REAL *beta, REAL *y, REAL *mean, REAL *rstd) {
    for (int64_t r = 0; r < rows; r++) {
        int64_t base = rf_ln_base(r, inner, outer_stride);
        double sum = 0, sq = 0;
        for (int64_t c = 0; c < cols; c++) sum += (double)x[base + c * col_stride];
        double mu = sum / (double)cols;
        for (int64_t c = 0; c < cols; c++) {
            double d = (double)x[base + c * col_stride] - mu;
            sq += d * d;
        }
        double rs = 1.0 / sqrt(sq / (double)cols + eps);
        mean[r] = (REAL)mu;
        rstd[r] = (REAL)rs;
        for (int64_t c = 0; c < cols; c++) {
            double v = ((double)x[base + c * col_stride] - mu) * rs;
            if (gamma) v = v * (double)gamma[c] + (double)beta[c];
            y[base + c * col_stride] = (REAL)v;
        }
    }
}

void FN(rf_ref_layernorm_backward)(int64_t rows, int64_t cols, int64_t inner, int64_t outer_stride, int64_t col_stride,
                                   const REAL *x, const REAL *mean, const REAL *rstd, const REAL *dy, const REAL *gamma,
                                   REAL *dx, REAL *dgamma, REAL *dbeta, bool accumulate) {
    for (int64_t r = 0; r < rows; r++) {
        int64_t base = rf_ln_base(r, inner, outer_stride);
        double mu = (double)mean[r], rs = (double)rstd[r];
        double sum_g = 0, sum_gx = 0;
        for (int64_t c = 0; c < cols; c++) {
            double xhat = ((double)x[base + c * col_stride] - mu) * rs;
            double g = (double)dy[base + c * col_stride] * (gamma ? (double)gamma[c] : 1.0);
            sum_g += g;
            sum_gx += g * xhat;
        }
        double mg = sum_g / (double)cols, mgx = sum_gx / (double)cols;
        for (int64_t c = 0; c < cols; c++) {
            double xhat = ((double)x[base + c * col_stride] - mu) * rs;
            double g = (double)dy[base + c * col_stride] * (gamma ? (double)gamma[c] : 1.0);
            double v = rs * (g - mg - xhat * mgx);
            REAL *out = &dx[base + c * col_stride];
            *out = (REAL)(accumulate ? (double)*out + v : v);
        }
    }
    if (!gamma) return;
    /* Parameter gradients: one pass per column, rows in order. */
    for (int64_t c = 0; c < cols; c++) {
        double sg = 0, sb = 0;
        for (int64_t r = 0; r < rows; r++) {
            int64_t at = rf_ln_base(r, inner, outer_stride) + c * col_stride;
            double d = (double)dy[at];
            sg += d * ((double)x[at] - (double)mean[r]) * (double)rstd[r];
            sb += d;
        }
        dgamma[c] = (REAL)((double)dgamma[c] + sg);
        dbeta[c] = (REAL)((double)dbeta[c] + sb);
    }
}
