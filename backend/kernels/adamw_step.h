/* adamw_step.h — one element of torch.optim.AdamW (single-tensor form), in
 * its order, for every device: a template over RF_S / RF_SN (device.h),
 * included once per type where a file needs several (the cpu reference in
 * double, its fast mode in float). No include guard on purpose.
 *
 *   m = lerp(m, g, w)           (w = 1 - beta1; torch's two-sided lerp)
 *   v = v * beta2 + (1 - beta2) * g * g
 *   p = p * decay - step * m / (sqrt(v) * inv_bc2_sqrt + eps)
 *
 * with decay = 1 - lr * weight_decay, step = lr / (1 - beta1^t) and
 * inv_bc2_sqrt = 1 / sqrt(1 - beta2^t); the bias corrections come from the
 * host, computed in double, so no device's pow enters the result. */
RF_FN void RF_SN(rf_adamw_step)(RF_S *p, RF_S *m, RF_S *v, RF_S g, RF_S w, RF_S beta2, RF_S decay, RF_S step,
                                RF_S inv_bc2_sqrt, RF_S eps) {
    RF_S mi = *m;
    mi = w < RF_C(0.5) ? mi + w * (g - mi) : g - (g - mi) * (RF_C(1.0) - w);
    RF_S vi = *v * beta2 + (RF_C(1.0) - beta2) * g * g;
    *m = mi;
    *v = vi;
    *p = *p * decay - step * mi / (sqrt(vi) * inv_bc2_sqrt + eps);
}
