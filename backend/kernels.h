/* kernels.h — the op kernels every backend provides: one typed function
 * pointer per kernel slot (forward and backward), listed once in
 * backend/kernel_list.h. Where the math lives:
 *
 *   backend/kernels/<family>.h      the one kernel source: device math shared
 *                                   by every backend, and the GPU kernels
 *                                   (OpenCL C and CUDA from the same text,
 *                                   through backend/kernels/device.h)
 *   backend/gpu/launch_<family>.c   the GPU launchers, for OpenCL and CUDA
 *   backend/cpu/ref_<family>.c      the cpu reference (double accumulation,
 *                                   the oracle), on the shared device math
 *   backend/cpu/fast_<family>.c     the cpu fast mode, where vectorised loops
 *                                   of its own beat the reference
 *
 * Conventions shared by every kernel:
 *   - memory is (buffer, element offset): rf_mem; f32 unless stated (indices
 *     are int32);
 *   - "accumulate" means out += result, otherwise out = result; backward
 *     kernels accumulate into gradients so several consumers of one tensor
 *     add up without extra kernels;
 *   - every kernel is deterministic: no floating-point atomics, so the same
 *     inputs give bit-identical outputs on two devices of one kind, run
 *     after run. Reductions that would scatter (scatter-add, grid-sample and
 *     deformable-attention input gradients, col2im) are written as gathers
 *     or as one work item owning each output;
 *   - the dispatch layer (core/ops*.c) has validated devices, shapes and
 *     bounds before a kernel runs; kernels do not re-check them;
 *   - ops call a slot through rf_kernel_<slot>(dev, &args): a slot a backend
 *     leaves empty runs on the host (rf_kernel_fallback), and test_backend_ops
 *     fails for every slot a shipped backend leaves empty.
 */
#ifndef RFDETR_KERNELS_H
#define RFDETR_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/kernels/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef RF_MAX_DIMS
#define RF_MAX_DIMS 6 /* also in backend/kernels/device.h */
#endif

typedef struct rf_mem {
    const rf_buffer *buf;
    size_t off; /* elements */
} rf_mem;

/* An N-d strided view: element (i0..i{n-1}) is at off + sum(i_k * stride[k]).
 * Stride 0 broadcasts. The shape lives in the args that use it. */
typedef struct rf_view {
    const rf_buffer *buf;
    size_t off;
    int64_t stride[RF_MAX_DIMS];
} rf_view;

/* ======================================================================= */
/* basic: elementwise, broadcasting, reductions, copies, softmax, layernorm */
/* ======================================================================= */


/* y = f(x) on n contiguous elements (y may alias x). */
typedef struct rf_unary_args {
    rf_unary_op op;
    int64_t n;
    rf_mem x, y;
    float alpha, beta;
} rf_unary_args;

/* Floats to a 16-bit storage format and back (kernels/half.h): n values
 * packed two to a 32-bit word, value 2i in the low half of word i (the last
 * word's high half is zero when n is odd); to_half packs src (n floats)
 * into dst ((n + 1) / 2 words), otherwise unpacks src into dst. format is
 * RF_PRECISION_BF16 or RF_PRECISION_F16. Activations kept for backward in
 * half the memory (rf_stash). */
typedef struct rf_convert_args {
    int64_t n;
    rf_precision format;
    bool to_half;
    rf_mem src, dst;
} rf_convert_args;

/* dx (+)= f'(x) * dy. y is f(x) from the forward pass (some derivatives are
 * cheaper from it, e.g. sigmoid); both are given. */
typedef struct rf_unary_backward_args {
    rf_unary_op op;
    int64_t n;
    rf_mem x, y, dy, dx;
    float alpha, beta;
    bool accumulate;
} rf_unary_backward_args;


/* y[i] (+)= a[i] op b[i] over an N-d index space `shape`; each operand is a
 * strided view (stride 0 = broadcast). y may alias a or b exactly (same
 * offset and strides), never partially. */
typedef struct rf_binary_args {
    rf_binary_op op;
    int ndim;
    int64_t shape[RF_MAX_DIMS];
    rf_view a, b, y;
    bool accumulate;
} rf_binary_args;

/* dst (+)= src over an N-d index space: permute, transpose, contiguous,
 * concat/split pieces, pad, window partition and their backward passes. */
typedef struct rf_copy_args {
    int ndim;
    int64_t shape[RF_MAX_DIMS];
    rf_view src, dst;
    bool accumulate;
} rf_copy_args;


/* Reduces an N-d strided input over the axes where reduce_mask bit k is set;
 * the output is contiguous in the kept axes' order. Accumulation in double
 * on the cpu, in float with a fixed order elsewhere. */
typedef struct rf_reduce_args {
    rf_reduce_op op;
    int ndim;
    int64_t shape[RF_MAX_DIMS]; /* input shape */
    unsigned reduce_mask;
    rf_view x;
    rf_mem y;
    bool accumulate;
} rf_reduce_args;

/* Max over the last axis of a (rows, cols) contiguous matrix: values and the
 * index of the first maximum (int32). NaN counts as the maximum. */
typedef struct rf_max_last_args {
    int64_t rows, cols;
    rf_mem x, values, indices;
} rf_max_last_args;

/* dx[r, idx[r]] (+)= dy[r]; other entries of dx get 0 (or are kept when
 * accumulating). */
typedef struct rf_max_last_backward_args {
    int64_t rows, cols;
    rf_mem dy, indices, dx;
    bool accumulate;
} rf_max_last_backward_args;

/* Row softmax of (rows, cols) with an optional additive mask: row r adds
 * mask row (r % mask_rows) (a (mask_rows, cols) matrix; -inf masks out).
 * A row whose entries are all -inf gives zeros, not NaN. */
typedef struct rf_softmax_args {
    int64_t rows, cols;
    rf_mem x, y;
    bool has_mask;
    rf_mem mask;
    int64_t mask_rows;
} rf_softmax_args;

/* dx (+)= y * (dy - sum(dy * y)) per row. */
typedef struct rf_softmax_backward_args {
    int64_t rows, cols;
    rf_mem y, dy, dx;
    bool accumulate;
} rf_softmax_backward_args;

/* Layer normalization over `cols` elements per row, generalized by strides
 * so one kernel serves both forms used by RF-DETR:
 *   element (r, c) lives at off + (r / inner) * outer_stride + (r % inner) + c * col_stride
 *   - last-dim LayerNorm:   inner = 1,  outer_stride = cols, col_stride = 1
 *   - channel LayerNorm on NCHW: rows = N*H*W, inner = H*W,
 *                                outer_stride = C*H*W, col_stride = H*W
 * y uses the same layout as x. mean and rstd (per row, contiguous) are saved
 * for the backward pass. gamma/beta optional (has_affine). */
typedef struct rf_layernorm_args {
    int64_t rows, cols, inner, outer_stride, col_stride;
    float eps;
    rf_mem x, y, mean, rstd;
    bool has_affine;
    rf_mem gamma, beta;
} rf_layernorm_args;

typedef struct rf_layernorm_backward_args {
    int64_t rows, cols, inner, outer_stride, col_stride;
    rf_mem x, mean, rstd, dy, dx; /* x, dy, dx in the strided layout */
    bool has_affine;
    rf_mem gamma, dgamma, dbeta; /* dgamma, dbeta always accumulate */
    bool accumulate;             /* for dx */
} rf_layernorm_backward_args;


/* ======================================================================= */
/* conv: im2col / col2im for convolution by GEMM                            */
/* ======================================================================= */

/* Input (N, C, H, W) contiguous; kernel kh x kw, stride, padding (zeros),
 * output spatial Ho x Wo. col is (N, C*kh*kw, Ho*Wo) contiguous: row
 * (c*kh + i)*kw + j holds input (c, ho*stride_h - pad_h + i, wo*stride_w - pad_w + j). */
typedef struct rf_im2col_args {
    int64_t n, c, h, w, kh, kw, stride_h, stride_w, pad_h, pad_w, ho, wo;
    rf_mem x, col;
} rf_im2col_args;

/* The adjoint: dx (+)= col2im(dcol), written as a gather (each input pixel
 * sums the col entries that read it) so it is deterministic. */
typedef struct rf_col2im_args {
    int64_t n, c, h, w, kh, kw, stride_h, stride_w, pad_h, pad_w, ho, wo;
    rf_mem col, x;
    bool accumulate;
} rf_col2im_args;


/* ======================================================================= */
/* sampling: grid sample, deformable attention, gather, top-k               */
/* ======================================================================= */

/* Bilinear grid sample, align_corners=False, zero padding (PyTorch
 * semantics): input (N, C, H, W), grid (N, Ho, Wo, 2) with (x, y) in
 * [-1, 1], output (N, C, Ho, Wo). Pixel coordinates are
 * ((g + 1) * size - 1) / 2 in float without fused multiply-adds on every
 * device, so a point on a pixel boundary picks the same corners everywhere;
 * a NaN or infinite grid value samples zeros (and gets zero gradient). */
typedef struct rf_grid_sample_args {
    int64_t n, c, h, w, ho, wo;
    rf_mem x, grid, y;
} rf_grid_sample_args;

/* dx (+)= d/dx, dgrid (+)= d/dgrid; either may be skipped (has_dx / has_dgrid)
 * and is then left untouched. dx is computed by one work item per (n, c)
 * plane walking the outputs in order, dgrid by one per point walking the
 * channels in order. */
typedef struct rf_grid_sample_backward_args {
    int64_t n, c, h, w, ho, wo;
    rf_mem x, grid, dy;
    bool has_dx, has_dgrid, accumulate;
    rf_mem dx, dgrid;
} rf_grid_sample_backward_args;

/* Multi-scale deformable attention core (Deformable-DETR's
 * ms_deform_attn_core_pytorch): value (B, S, H, D) with S = sum over levels
 * of h_l * w_l (level l starts at level_start[l]); sampling_locations
 * (B, Q, H, L, P, 2) normalized (x, y) in [0, 1]; attention_weights
 * (B, Q, H, L, P); output (B, Q, H*D). Bilinear, align_corners=False, zero
 * padding: pixel x = loc_x * w_l - 0.5 (the official CUDA kernel's form of
 * grid_sample's unnormalization). level_shapes: (L, 2) int32 (h, w);
 * level_start: (L) int32 — both on the device. */
typedef struct rf_deform_attn_args {
    int64_t batch, value_len, heads, head_dim, queries, levels, points;
    rf_mem value, level_shapes, level_start, sampling_locations, attention_weights, output;
} rf_deform_attn_args;

typedef struct rf_deform_attn_backward_args {
    int64_t batch, value_len, heads, head_dim, queries, levels, points;
    rf_mem value, level_shapes, level_start, sampling_locations, attention_weights, doutput;
    rf_mem dvalue, dsampling_locations, dattention_weights; /* all accumulate */
} rf_deform_attn_backward_args;

/* out[b, i, :] = src[b, idx[b, i], :]: src (B, N, C), idx (B, K) int32,
 * out (B, K, C). An index outside [0, N) gathers a zero row (and receives
 * no gradient): the indices live on the device, so the dispatch layer
 * cannot check them without a round trip, and memory stays safe. */
typedef struct rf_gather_rows_args {
    int64_t batch, src_rows, cols, count;
    rf_mem src, indices, out;
} rf_gather_rows_args;

/* dsrc[b, idx[b, i], :] += dout[b, i, :] (always accumulates); deterministic:
 * one work item per (b, column) walks i in order. */
typedef struct rf_gather_rows_backward_args {
    int64_t batch, src_rows, cols, count;
    rf_mem dout, indices, dsrc;
} rf_gather_rows_backward_args;

/* The k largest entries of each row of (rows, cols), sorted descending;
 * equal values keep ascending index order (+0 and -0 are equal); NaN counts
 * as the largest value (as in max_last), NaNs in index order. 0 <= k <=
 * cols. values f32, indices int32. Devices rank each element against its
 * row, so the result is unique and identical everywhere. */
typedef struct rf_topk_args {
    int64_t rows, cols, k;
    rf_mem x, values, indices;
} rf_topk_args;


/* ======================================================================= */
/* loss: weighted sigmoid BCE, L1, GIoU                                      */
/* ======================================================================= */

/* Elementwise weighted binary cross-entropy on logits (RF-DETR's IoU-aware
 * classification loss once the weights are formed):
 *   loss[i] = -pos_w[i] * log(sigmoid(x[i])) - neg_w[i] * log(1 - sigmoid(x[i]))
 * computed stably as pos_w * softplus(-x) + neg_w * softplus(x). */
typedef struct rf_bce_args {
    int64_t n;
    rf_mem x, pos_w, neg_w, loss;
} rf_bce_args;

/* dx (+)= dloss * (pos_w * (sigmoid(x) - 1) + neg_w * sigmoid(x)).
 * The weights may carry gradients too: RF-DETR forms neg_w = sigmoid(x)^2
 * without detaching it, so its loss differentiates through the weight. With
 * has_dweights, dpos_w += dloss * softplus(-x) and dneg_w += dloss *
 * softplus(x) (both always accumulate). */
typedef struct rf_bce_backward_args {
    int64_t n;
    rf_mem x, pos_w, neg_w, dloss, dx;
    bool accumulate; /* for dx */
    bool has_dweights;
    rf_mem dpos_w, dneg_w;
} rf_bce_backward_args;

/* Per matched pair i of boxes in cxcywh ((n, 4) contiguous):
 *   l1[i]   = sum over the 4 coordinates of |pred - target|;
 *   giou[i] = 1 - GIoU(xyxy(pred), xyxy(target)).
 * As RF-DETR's box_ops: xyxy clamps w and h at 0 (cx -+ w/2 with w =
 * max(w, 0)), areas are (x1 - x0) * (y1 - y0) of those corners, the
 * intersection and enclosing extents are clamped at 0, GIoU = I/U - (C - U)/C.
 * Degenerate pairs (U = 0 or C = 0) give Inf/NaN exactly as torch does. */
typedef struct rf_box_loss_args {
    int64_t n;
    rf_mem pred, target, l1, giou;
} rf_box_loss_args;

/* dpred (+)= dl1 * d l1/d pred + dgiou * d giou/d pred, with torch's
 * subgradients at kinks so the result matches autograd of the same
 * formulas: |.|' = sign (0 at 0); clamp(min=0) passes the gradient where
 * its input is >= 0; elementwise max/min give half to each side of a tie. */
typedef struct rf_box_loss_backward_args {
    int64_t n;
    rf_mem pred, target, dl1, dgiou, dpred;
    bool accumulate;
} rf_box_loss_backward_args;


/* ======================================================================= */
/* optim: AdamW, gradient norm, EMA                                          */
/* ======================================================================= */

/* One AdamW step over a whole parameter slab. Per-tensor learning rate and
 * weight decay come from segments: segment s covers [seg_start[s],
 * seg_start[s+1]) and has lr seg_lr[s] and weight decay seg_wd[s]
 * (seg_start int32 x (segments+1), seg_lr / seg_wd f32 x segments, on the
 * device; seg_start[0] = 0, seg_start[segments] = n). lr_scale multiplies
 * every lr (the schedule); grad_scale multiplies every gradient (clipping).
 * Per element, in torch.optim.AdamW's order (single-tensor form):
 *   lr = seg_lr * lr_scale;  g = grad * grad_scale;
 *   p *= 1 - lr * wd;
 *   m = lerp(m, g, 1 - b1);          (torch's two-sided lerp formula)
 *   v = v * b2 + (1 - b2) * g * g;
 *   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
 * with bc1 = 1 - b1^t, bc2 = 1 - b2^t computed by the launcher on the host
 * in double (so no device's pow enters the result). */
typedef struct rf_adamw_args {
    int64_t n, segments, step; /* step t >= 1 */
    float beta1, beta2, eps, lr_scale, grad_scale;
    rf_mem param, grad, m, v, seg_start, seg_lr, seg_wd;
} rf_adamw_args;

/* Partial sums of squares: out[g] = sum of x[i]^2 for i in group g of
 * `group_size` consecutive elements (the last group shorter); the host
 * finishes the sum, so the result does not depend on the device's
 * parallelism. */
typedef struct rf_sumsq_args {
    int64_t n, group_size;
    rf_mem x, out;
} rf_sumsq_args;

/* ema = decay * ema + (1 - decay) * x. */
typedef struct rf_ema_args {
    int64_t n;
    float decay;
    rf_mem x, ema;
} rf_ema_args;


/* ======================================================================= */
/* rng: Philox-4x32-10 counter RNG                                           */
/* ======================================================================= */

/* The stream: key = seed (low word first); block j of a fill is Philox of
 * counter (lo32(offset + j), hi32(offset + j), 0, RF_RNG_TAG_TENSOR), and
 * the fill's words W[0], W[1], ... are those blocks' words in order (W[k] =
 * word k % 4 of block k / 4). For offset 0 this is exactly the host stream
 * rf_philox_stream_init(seed, 0, 0, RF_RNG_TAG_TENSOR) of backend/philox.h;
 * the tag keeps it apart from the data pipeline's streams of the same seed.
 * Element i depends only on (seed, offset, i), and every conversion is
 * integer arithmetic or correctly rounded float arithmetic written out
 * (explicit fma, never left to contraction), so every device gives the same
 * bits:
 *   UNIFORM       out[i] = fma(b - a, u, a), u = rf_philox_to_float(W[i])
 *                 (in [a, b) up to the rounding of that fma);
 *   NORMAL        out[i] = fma(b, z, a) with z the Irwin-Hall normal of
 *                 rf_philox_next_normal from W[6i .. 6i+5] (mean a, std b);
 *   TRUNC_NORMAL  mean a, std b, clamped to [lo, hi] (absolute bounds), by
 *                 torch.nn.init.trunc_normal_'s inverse CDF: with base =
 *                 erf(alpha/sqrt 2), span = erf(beta/sqrt 2) - base (alpha,
 *                 beta the standardised bounds; rf_rng_trunc_normal_map
 *                 computes them once on the host, in double),
 *                 out[i] = clamp(fma(erfinv(fma(span, u, base)), b sqrt 2, a),
 *                 lo, hi), u from W[i]. erfinv is Giles' single-precision
 *                 approximation (rel. error ~1e-7) over a log and a square
 *                 root built from bit manipulation, fma and products only,
 *                 because no device's libm erfinv/log gives the same bits.
 *                 One word per element, no loop: fixed work. Like torch's,
 *                 it loses precision for windows far in a tail (|alpha|,
 *                 |beta| both beyond ~5), which initialisation never uses.
 * A fill consumes rf_rng_blocks(dist, n) blocks; callers advance offset by
 * that so the next fill draws fresh numbers. */


typedef struct rf_rng_args {
    rf_rng_dist dist;
    int64_t n;
    uint64_t seed, offset; /* offset in Philox blocks */
    float a, b;
    float lo, hi; /* TRUNC_NORMAL only: finite, lo <= hi */
    rf_mem out;
} rf_rng_args;

/* Words one element uses, and blocks a fill of n elements consumes. */
static inline uint64_t rf_rng_words_per_element(rf_rng_dist dist) { return dist == RF_RNG_NORMAL ? 6u : 1u; }
static inline uint64_t rf_rng_blocks(rf_rng_dist dist, int64_t n) {
    return ((uint64_t)n * rf_rng_words_per_element(dist) + 3u) / 4u;
}

/* For TRUNC_NORMAL launchers: the uniform range (base, span) erfinv maps
 * and the scale std * sqrt 2, computed on the host in double (backend/rng.c)
 * so every backend passes its kernel the same floats. std 0 gives all 0. */
void rf_rng_trunc_normal_map(float mean, float std, float lo, float hi, float *base, float *span, float *scale);


/* ======================================================================= */

/* ======================================================================= */
/* attention: fused scaled dot-product attention                             */
/* ======================================================================= */

/* For each of batch * heads problems (b, h):
 *   s = scale * q k^T (+ mask),  p = softmax(s) per row,  o = p v
 * q (lq, head_dim), k (lk, head_dim), v (lk, value_dim), o (lq, value_dim):
 * each an rf_view whose stride[0], stride[1], stride[2] step b, h and the
 * row; the elements of a row are contiguous. mask: NULL-able (lq, lk)
 * contiguous additive (-inf masks out), the same for every (b, h). A row
 * whose scores are all -inf gives zeros (as softmax does). lse (batch,
 * heads, lq) contiguous receives each row's log-sum-exp of s (-inf for
 * such a row): the backward pass rebuilds p from it without the scores
 * ever being stored. Kernels compute s tile by tile (online softmax); the
 * lq x lk matrix never exists in memory.
 * compute: the context's precision of matrix products. RF_PRECISION_BF16
 * lets a kernel multiply q, k, v and the probabilities as bf16 with f32
 * sums, as the GEMMs of that precision do (the cpu does where it has AMX;
 * the softmax statistics, lse and the output stay f32); kernels without
 * bf16 products compute in f32. */
typedef struct rf_attention_args {
    int64_t batch, heads, lq, lk, head_dim, value_dim;
    float scale;
    rf_view q, k, v, o;
    bool has_mask;
    rf_mem mask, lse;
    rf_precision compute;
} rf_attention_args;

/* Given dout (the gradient of o, same layout rules), writes (never adds)
 * dq, dk and dv in their views: scores are recomputed per tile from q, k
 * and lse. compute as in the forward pass (which must have had the same:
 * lse comes from its products), the gradients' products too. */
typedef struct rf_attention_backward_args {
    int64_t batch, heads, lq, lk, head_dim, value_dim;
    float scale;
    rf_view q, k, v, o, dout, dq, dk, dv;
    bool has_mask;
    rf_mem mask, lse;
    rf_precision compute;
} rf_attention_backward_args;

/* ======================================================================= */

/* The slots, their names and the table every backend fills. */
typedef enum rf_kernel_slot {
#define RF_KERNEL_SLOT(family, slot, args_type, fields, where) RF_SLOT_##slot,
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT
    RF_SLOT_COUNT
} rf_kernel_slot;

extern const char *const rf_kernel_slot_names[RF_SLOT_COUNT];
extern const char *const rf_kernel_slot_families[RF_SLOT_COUNT];

struct rf_kernels {
#define RF_KERNEL_SLOT(family, slot, args_type, fields, where) rf_status (*slot)(rf_device * dev, const args_type *a);
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT
};
typedef struct rf_kernels rf_kernels;

/* Runs an empty slot's cpu kernel on host copies of its buffers (counted in
 * the device's counters, warned once per kernel and device). */
rf_status rf_kernel_fallback(rf_device *dev, rf_kernel_slot slot, const void *args);

/* Runs slot `slot` of the device's table (or its host fallback). A GPU
 * device counts its launches as it enqueues them (a slot may take several);
 * a cpu kernel call is one launch. */
rf_status rf_kernel_run(rf_device *dev, rf_kernel_slot slot, const void *args);
/* The same, timed into the device's profile (backend/profile.h). */
rf_status rf_kernel_profiled(rf_device *dev, rf_kernel_slot slot, const void *args);

/* Whether slot `slot` of a table is filled. */
bool rf_kernels_has(const rf_kernels *k, rf_kernel_slot slot);

/* rf_kernel_<slot>(dev, &args): how every op calls a kernel. */
#define RF_KERNEL_SLOT(family, slot, args_type, fields, where)                                               \
    static inline rf_status rf_kernel_##slot(rf_device *dev, const args_type *a) {                           \
        if (dev->profile) return rf_kernel_profiled(dev, RF_SLOT_##slot, a);                                 \
        return rf_kernel_run(dev, RF_SLOT_##slot, a);                                                        \
    }
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT

/* Each backend's table: the cpu's, and the one the GPU backends share
 * (backend/gpu/launch_*.c on rf_gpu_ops). */
extern const rf_kernels rf_cpu_kernels;
#if defined(RFDETR_HAVE_OPENCL) || defined(RFDETR_HAVE_CUDA)
extern const rf_kernels rf_gpu_kernels;
#endif

#ifdef __cplusplus
}
#endif

#endif /* RFDETR_KERNELS_H */
