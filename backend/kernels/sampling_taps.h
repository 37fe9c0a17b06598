/* sampling_taps.h — the bilinear taps of grid sample and deformable
 * attention, for every device: a template over the scalar RF_S and the
 * names RF_SN(name) (device.h), included once per type where a file needs
 * several (the cpu reference runs storage precision, float and double). No
 * include guard on purpose.
 *
 * Coordinates, weights and the floor that picks the corners are computed
 * in RF_S without fused multiply-adds on every device (OpenCL: FP_CONTRACT
 * OFF; CUDA: -fmad=false; C: -ffp-contract=off), so a point on a pixel
 * boundary picks the same corners everywhere. */
#ifdef __OPENCL_VERSION__
#pragma OPENCL FP_CONTRACT OFF
#endif

/* The four taps (nw, ne, sw, se) around pixel coordinates (px, py) of an
 * h x w plane with zero padding: tap k sits at row y0 + k/2, column
 * x0 + k%2 and is used only when inside[k] (at[k] is its row-major offset).
 * A NaN or infinite coordinate leaves every tap outside. */
typedef struct RF_SN(rf_taps) {
    RF_S fx, fy; /* px - x0, py - y0 */
    RF_S wt[4];
    rf_long at[4];
    int inside[4];
} RF_SN(rf_taps);

RF_FN RF_SN(rf_taps) RF_SN(rf_bilinear_taps)(RF_S px, RF_S py, rf_long h, rf_long w) {
    RF_SN(rf_taps) t;
    RF_S x0 = (RF_S)floor(px), y0 = (RF_S)floor(py);
    t.fx = px - x0;
    t.fy = py - y0;
    RF_S gx = RF_C(1.0) - t.fx, gy = RF_C(1.0) - t.fy;
    t.wt[0] = gx * gy;
    t.wt[1] = t.fx * gy;
    t.wt[2] = gx * t.fy;
    t.wt[3] = t.fx * t.fy;
    for (int k = 0; k < 4; k++) {
        RF_S xk = x0 + (RF_S)(k & 1), yk = y0 + (RF_S)(k >> 1);
        t.inside[k] = xk >= RF_C(0.0) && xk <= (RF_S)(w - 1) && yk >= RF_C(0.0) && yk <= (RF_S)(h - 1);
        t.at[k] = t.inside[k] ? (rf_long)yk * w + (rf_long)xk : 0;
    }
    return t;
}

/* d(weight of tap k)/d(px) and /d(py). */
RF_FN RF_S RF_SN(rf_tap_dx)(const RF_SN(rf_taps) *t, int k) {
    RF_S s = (k >> 1) ? t->fy : RF_C(1.0) - t->fy;
    return (k & 1) ? s : -s;
}
RF_FN RF_S RF_SN(rf_tap_dy)(const RF_SN(rf_taps) *t, int k) {
    RF_S s = (k & 1) ? t->fx : RF_C(1.0) - t->fx;
    return (k >> 1) ? s : -s;
}

/* PyTorch's unnormalization for align_corners=False: grid -1 and +1 are
 * the outer edges of the border pixels. */
RF_FN RF_S RF_SN(rf_grid_to_pixel)(RF_S g, rf_long size) {
    return ((g + RF_C(1.0)) * (RF_S)size - RF_C(1.0)) * RF_C(0.5);
}

/* Deformable attention's taps of a normalized location (x, y) in [0, 1] on
 * an lh x lw level: grid_sample's ((2 loc - 1) + 1) W / 2 - 1/2 written
 * directly, as the official CUDA kernel does. */
RF_FN RF_SN(rf_taps) RF_SN(rf_deform_taps)(RF_S loc_x, RF_S loc_y, rf_long lh, rf_long lw) {
    return RF_SN(rf_bilinear_taps)(loc_x * (RF_S)lw - RF_C(0.5), loc_y * (RF_S)lh - RF_C(0.5), lh, lw);
}
