/* ref_attention_impl.h — template of the reference attention kernels (see
 * ref_attention.h and ref_instantiate.h; REAL and FN come from there). */

static const REAL *FN(attn_row)(const REAL *base, const int64_t *stride, int64_t b, int64_t h, int64_t r) {
    return base + b * stride[0] + h * stride[1] + r * stride[2];
}

/* Row i's scores into s[lk] (scaled, masked); returns their maximum. */
static double FN(attn_scores)(const rf_ref_attention_shape *sh, const REAL *q, const REAL *k, const REAL *mask,
                              int64_t b, int64_t h, int64_t i, double *s) {
    const REAL *qi = FN(attn_row)(q, sh->q_stride, b, h, i);
    double mx = -INFINITY;
    for (int64_t j = 0; j < sh->lk; j++) {
        const REAL *kj = FN(attn_row)(k, sh->k_stride, b, h, j);
        double dot = 0;
        for (int64_t c = 0; c < sh->head_dim; c++) dot += (double)qi[c] * (double)kj[c];
        s[j] = sh->scale * dot + (mask ? (double)mask[i * sh->lk + j] : 0.0);
        if (s[j] > mx) mx = s[j];
    }
    return mx;
}

/* s becomes the row's probabilities; returns the log-sum-exp (-inf and
 * zeros for a fully masked row). */
static double FN(attn_softmax)(int64_t lk, double mx, double *s) {
    if (mx == -INFINITY) {
        for (int64_t j = 0; j < lk; j++) s[j] = 0;
        return -INFINITY;
    }
    double sum = 0;
    for (int64_t j = 0; j < lk; j++) sum += (s[j] = exp(s[j] - mx));
    for (int64_t j = 0; j < lk; j++) s[j] /= sum;
    return mx + log(sum);
}

bool FN(rf_ref_attention)(const rf_ref_attention_shape *sh, const REAL *q, const REAL *k, const REAL *v,
                          const REAL *mask, REAL *o, REAL *lse) {
    double *p = malloc(sizeof *p * (size_t)(sh->lk > 0 ? sh->lk : 1));
    if (!p) return false;
    for (int64_t b = 0; b < sh->batch; b++)
        for (int64_t h = 0; h < sh->heads; h++)
            for (int64_t i = 0; i < sh->lq; i++) {
                double l = FN(attn_softmax)(sh->lk, FN(attn_scores)(sh, q, k, mask, b, h, i, p), p);
                if (lse) lse[(b * sh->heads + h) * sh->lq + i] = (REAL)l;
                REAL *oi = (REAL *)FN(attn_row)(o, sh->o_stride, b, h, i);
                for (int64_t c = 0; c < sh->value_dim; c++) {
                    double acc = 0;
                    for (int64_t j = 0; j < sh->lk; j++) acc += p[j] * (double)FN(attn_row)(v, sh->v_stride, b, h, j)[c];
                    oi[c] = (REAL)acc;
                }
            }
    free(p);
    return true;
}

/* Per (b, h): dv_j = sum_i p_ij dout_i; ds_ij = p_ij (dout_i . v_j - sum_j' p_ij' dout_i . v_j');
 * dq_i = scale sum_j ds_ij k_j; dk_j = scale sum_i ds_ij q_i. dk and dv
 * collect over the rows in double before they are written. */
bool FN(rf_ref_attention_backward)(const rf_ref_attention_shape *sh, const REAL *q, const REAL *k, const REAL *v,
                                   const REAL *mask, const REAL *dout, REAL *dq, REAL *dk, REAL *dv) {
    int64_t lk = sh->lk, d = sh->head_dim, dvd = sh->value_dim;
    double *p = malloc(sizeof *p * (size_t)(lk > 0 ? lk : 1)), *dp = malloc(sizeof *dp * (size_t)(lk > 0 ? lk : 1));
    double *gk = calloc((size_t)(lk * d > 0 ? lk * d : 1), sizeof *gk), *gv = calloc((size_t)(lk * dvd > 0 ? lk * dvd : 1), sizeof *gv);
    bool ok = p && dp && gk && gv;
    for (int64_t b = 0; ok && b < sh->batch; b++)
        for (int64_t h = 0; h < sh->heads; h++) {
            for (int64_t x = 0; x < lk * d; x++) gk[x] = 0;
            for (int64_t x = 0; x < lk * dvd; x++) gv[x] = 0;
            for (int64_t i = 0; i < sh->lq; i++) {
                FN(attn_softmax)(lk, FN(attn_scores)(sh, q, k, mask, b, h, i, p), p);
                const REAL *gi = FN(attn_row)(dout, sh->do_stride, b, h, i), *qi = FN(attn_row)(q, sh->q_stride, b, h, i);
                double dot = 0;
                for (int64_t j = 0; j < lk; j++) {
                    const REAL *vj = FN(attn_row)(v, sh->v_stride, b, h, j);
                    double acc = 0;
                    for (int64_t c = 0; c < dvd; c++) {
                        acc += (double)gi[c] * (double)vj[c];
                        gv[j * dvd + c] += p[j] * (double)gi[c];
                    }
                    dp[j] = acc;
                    dot += p[j] * acc;
                }
                REAL *dqi = (REAL *)FN(attn_row)(dq, sh->dq_stride, b, h, i);
                for (int64_t c = 0; c < d; c++) {
                    double acc = 0;
                    for (int64_t j = 0; j < lk; j++)
                        acc += p[j] * (dp[j] - dot) * (double)FN(attn_row)(k, sh->k_stride, b, h, j)[c];
                    dqi[c] = (REAL)(sh->scale * acc);
                }
                for (int64_t j = 0; j < lk; j++) {
                    double ds = sh->scale * p[j] * (dp[j] - dot);
                    for (int64_t c = 0; c < d; c++) gk[j * d + c] += ds * (double)qi[c];
                }
            }
            for (int64_t j = 0; j < lk; j++) {
                REAL *dkj = (REAL *)FN(attn_row)(dk, sh->dk_stride, b, h, j);
                REAL *dvj = (REAL *)FN(attn_row)(dv, sh->dv_stride, b, h, j);
                for (int64_t c = 0; c < d; c++) dkj[c] = (REAL)gk[j * d + c];
                for (int64_t c = 0; c < dvd; c++) dvj[c] = (REAL)gv[j * dvd + c];
            }
        }
    free(p);
    free(dp);
    free(gk);
    free(gv);
    return ok;
}
