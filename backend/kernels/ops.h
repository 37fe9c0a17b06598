/* ops.h — the operation codes kernels take as arguments. Included by the
 * host (backend/kernels.h) and by every device compiler (device.h's
 * languages), so one definition serves both sides of a launch. */
#ifndef RFDETR_KERNELS_OPS_H
#define RFDETR_KERNELS_OPS_H

typedef enum rf_unary_op {
    RF_UNARY_IDENTITY = 0,
    RF_UNARY_AFFINE,     /* alpha * x + beta (scale is AFFINE with beta 0) */
    RF_UNARY_RELU,
    RF_UNARY_GELU,       /* erf form: x * 0.5 * (1 + erf(x / sqrt 2)) */
    RF_UNARY_SILU,       /* x * sigmoid(x) */
    RF_UNARY_SIGMOID,
    RF_UNARY_EXP,
    RF_UNARY_LOG_SIGMOID, /* log(sigmoid(x)), stable for large |x| */
    RF_UNARY_TANH,
    RF_UNARY_SQRT,
    RF_UNARY_LOG,
    RF_UNARY_INVERSE_SIGMOID, /* log(x / (1 - x)) with x clamped to [eps, 1-eps] (alpha = eps), RF-DETR's inverse_sigmoid */
    RF_UNARY_SIN,        /* sin(x): DETR's sine embedding of reference boxes (cos x = sin(x + pi/2)) */
    RF_UNARY_COUNT
} rf_unary_op;

typedef enum rf_binary_op {
    RF_BINARY_ADD = 0,
    RF_BINARY_SUB,
    RF_BINARY_MUL,
    RF_BINARY_DIV,
    RF_BINARY_COUNT
} rf_binary_op;

typedef enum rf_reduce_op { RF_REDUCE_SUM = 0, RF_REDUCE_MEAN, RF_REDUCE_SUMSQ, RF_REDUCE_COUNT } rf_reduce_op;

typedef enum rf_rng_dist {
    RF_RNG_UNIFORM = 0, /* [a, b) */
    RF_RNG_NORMAL,      /* mean a, std b */
    RF_RNG_TRUNC_NORMAL /* mean a, std b, within [lo, hi] */
} rf_rng_dist;

#define RF_RNG_TAG_TENSOR 0x54656e73u /* "Tens": counter word 3 of tensor fills */

#endif /* RFDETR_KERNELS_OPS_H */
