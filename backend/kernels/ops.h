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
    RF_UNARY_ROUND_BF16, /* x rounded to bf16 (nearest, ties to even; half.h), kept as float: a GEMM operand in bf16 */
    RF_UNARY_ROUND_F16,  /* the same to IEEE fp16 (overflow to infinity, subnormals kept) */
    RF_UNARY_COUNT
} rf_unary_op;

/* Each unary and binary op with its kernel-name suffix: the GPU kernels
 * are instantiated once per op (basic.h), since a switch on an op passed at
 * run time kept PoCL from vectorising them (an affine map ran 10x slower).
 * X(Y, op, name): Y is passed through for the caller's own use. */
#define RF_UNARY_OPS(X, Y)                                                                              \
    X(Y, RF_UNARY_IDENTITY, identity) X(Y, RF_UNARY_AFFINE, affine) X(Y, RF_UNARY_RELU, relu)         \
    X(Y, RF_UNARY_GELU, gelu) X(Y, RF_UNARY_SILU, silu) X(Y, RF_UNARY_SIGMOID, sigmoid)               \
    X(Y, RF_UNARY_EXP, exp) X(Y, RF_UNARY_LOG_SIGMOID, log_sigmoid) X(Y, RF_UNARY_TANH, tanh)         \
    X(Y, RF_UNARY_SQRT, sqrt) X(Y, RF_UNARY_LOG, log) X(Y, RF_UNARY_INVERSE_SIGMOID, inverse_sigmoid) \
    X(Y, RF_UNARY_SIN, sin) X(Y, RF_UNARY_ROUND_BF16, round_bf16) X(Y, RF_UNARY_ROUND_F16, round_f16)

typedef enum rf_binary_op {
    RF_BINARY_ADD = 0,
    RF_BINARY_SUB,
    RF_BINARY_MUL,
    RF_BINARY_DIV,
    RF_BINARY_COUNT
} rf_binary_op;

#define RF_BINARY_OPS(X, Y) X(Y, RF_BINARY_ADD, add) X(Y, RF_BINARY_SUB, sub) X(Y, RF_BINARY_MUL, mul) X(Y, RF_BINARY_DIV, div)

typedef enum rf_reduce_op { RF_REDUCE_SUM = 0, RF_REDUCE_MEAN, RF_REDUCE_SUMSQ, RF_REDUCE_COUNT } rf_reduce_op;

typedef enum rf_rng_dist {
    RF_RNG_UNIFORM = 0, /* [a, b) */
    RF_RNG_NORMAL,      /* mean a, std b */
    RF_RNG_TRUNC_NORMAL /* mean a, std b, within [lo, hi] */
} rf_rng_dist;

#define RF_RNG_TAG_TENSOR 0x54656e73u /* "Tens": counter word 3 of tensor fills */

#endif /* RFDETR_KERNELS_OPS_H */
