/* tensor.h — tensors, the per-step context (device arena + autograd tape)
 * and parameter slabs.
 *
 * A tensor is a descriptor: device, dtype, shape, strides and (buffer,
 * element offset). It owns no memory: activations live in the context's
 * device arena (reset every step; backward gives gradients and scratch back
 * as it goes, and activations the model drops), parameters, gradients and
 * optimizer moments in one slab each per device (rf_params).
 *
 * Ops (core/ops.h) take a context and return a new tensor, or NULL after a
 * failure; the context keeps the first failure (status + message) and every
 * later op on it returns NULL at once, so model code reads like the math and
 * checks rf_ctx_status once at the end ("sticky error"). */
#ifndef RFDETR_TENSOR_H
#define RFDETR_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/kernels.h"

typedef enum rf_dtype { RF_F32 = 0, RF_I32 = 1, RF_DTYPE_COUNT } rf_dtype;
size_t rf_dtype_size(rf_dtype dtype);
const char *rf_dtype_name(rf_dtype dtype);

typedef struct rf_node rf_node;
typedef struct rf_tensor rf_tensor;
typedef struct rf_storage rf_storage;
struct rf_ctx;

struct rf_tensor {
    rf_device *device;
    rf_dtype dtype;
    int ndim;
    int64_t shape[RF_MAX_DIMS];
    int64_t stride[RF_MAX_DIMS]; /* elements */
    rf_buffer *buffer;
    size_t offset;               /* elements */
    bool requires_grad;
    rf_tensor *grad;             /* contiguous, same shape; NULL until needed */
    const char *name;            /* parameters: the official state-dict key */
    rf_node *producer;           /* tape node that made it, NULL for leaves */
    /* The arena allocation it lives in (views share it); NULL outside the
     * arena (parameters, slabs). */
    rf_storage *storage;
    /* Keep the gradient after backward although the tensor is not a leaf
     * (rf_retain_grad). */
    bool retain_grad;
    /* Its memory went back to the arena (rf_drop_recompute); backward
     * writes it again from its producer's inputs before a node reads it. */
    bool dropped;
    /* Its storage's moves when this descriptor last pointed at it (a stash
     * restored elsewhere moves it; backward rebases older descriptors). */
    unsigned storage_moves;
};

int64_t rf_tensor_numel(const rf_tensor *t);
bool rf_tensor_is_contiguous(const rf_tensor *t);
/* "(2, 3, 4)" into buf, for messages. */
const char *rf_shape_str(const rf_tensor *t, char *buf, size_t size);
void rf_tensor_set_contiguous_strides(rf_tensor *t);
rf_mem rf_tensor_mem(const rf_tensor *t);
rf_view rf_tensor_view(const rf_tensor *t);

/* Host <-> device for a contiguous tensor. */
rf_status rf_tensor_upload(rf_tensor *t, const void *host);
rf_status rf_tensor_download(const rf_tensor *t, void *host);

/* ---- the per-step context ---------------------------------------------------- */
typedef struct rf_arena rf_arena;
typedef struct rf_host_arena rf_host_arena;

/* A backward function: reads node->out->grad and accumulates into the
 * gradients of the node's inputs that require them. */
typedef void (*rf_backward_fn)(struct rf_ctx *ctx, rf_node *node);
/* Writes node->out again, bit for bit, from the node's inputs, into out's
 * current storage; for ops whose backward does not read out. */
typedef void (*rf_recompute_fn)(struct rf_ctx *ctx, rf_node *node);

#define RF_NODE_MAX_INPUTS 6
#define RF_UNREAD_IN(j) ((uint8_t)(1u << (j)))
#define RF_UNREAD_OUT ((uint8_t)0x80u)

struct rf_node {
    const char *op;
    rf_backward_fn backward;
    rf_tensor *out;
    rf_tensor *in[RF_NODE_MAX_INPUTS];
    int n_in;
    rf_tensor *saved[4];   /* extra tensors the backward pass needs */
    rf_recompute_fn recompute; /* NULL: out cannot be dropped (rf_drop_recompute) */
    /* What the backward function never reads the values of (shapes and
     * gradients only): RF_UNREAD_IN(j) for in[j], RF_UNREAD_OUT for out.
     * 0, the default, claims every one is read. Memory that no node reads
     * goes back before backward (rf_release_since); an op that sets a bit
     * its backward then reads gets freed memory. */
    uint8_t unread;
    void *params;          /* op-specific, in the host arena */
};

typedef struct rf_ctx {
    rf_device *device;
    rf_arena *arena;       /* device memory for this step's tensors */
    rf_host_arena *host;   /* descriptors, nodes, op params */
    rf_node **tape;
    size_t tape_len, tape_cap;
    bool grad_enabled;
    /* Keep every activation to the end of the step: rf_release_since does
     * nothing (a check that releasing changes no gradient; more memory). */
    bool keep_activations;
    /* The precision of this context's matrix products, forward and backward
     * (rfdetr.h's rf_precision; f32 unless set). */
    rf_precision precision;
    rf_status status;      /* first failure since the last reset */
    char message[1024];
    uint64_t rng_seed, rng_offset; /* counter-based RNG stream of this context */
} rf_ctx;

/* arena_chunk_bytes: device memory per arena chunk (0 picks 256 MiB capped
 * at the device's largest allocation). */
rf_status rf_ctx_create(rf_device *device, size_t arena_chunk_bytes, rf_ctx **out);
/* Starts a new step: drops the tape and every tensor allocated since the last
 * reset (their memory is reused), clears the sticky error. */
void rf_ctx_reset(rf_ctx *ctx);
void rf_ctx_free(rf_ctx *ctx);
rf_status rf_ctx_status(const rf_ctx *ctx);
/* Records a failure (first wins); returns NULL for convenient `return`. */
rf_tensor *rf_ctx_fail(rf_ctx *ctx, rf_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records the thread's last error (after a failing rf_status call). */
rf_tensor *rf_ctx_fail_last(rf_ctx *ctx, rf_status status);
/* Bytes of device memory the arena holds (for memory reports). */
size_t rf_ctx_arena_bytes(const rf_ctx *ctx);
size_t rf_ctx_arena_peak_bytes(const rf_ctx *ctx);
/* The most arena bytes in use as a backward pass began: the activations
 * forward passes kept for their backward (and their inputs). */
size_t rf_ctx_saved_bytes(const rf_ctx *ctx);

/* Turns gradient recording off/on; returns the previous state. */
bool rf_ctx_set_grad(rf_ctx *ctx, bool enabled);

/* A new contiguous tensor in the arena (contents undefined). */
rf_tensor *rf_ctx_tensor(rf_ctx *ctx, rf_dtype dtype, int ndim, const int64_t *shape);
rf_tensor *rf_ctx_tensor_like(rf_ctx *ctx, const rf_tensor *t);
/* A zero-filled one. */
rf_tensor *rf_ctx_zeros(rf_ctx *ctx, rf_dtype dtype, int ndim, const int64_t *shape);
/* From host data. */
rf_tensor *rf_ctx_from_host(rf_ctx *ctx, rf_dtype dtype, int ndim, const int64_t *shape, const void *data);
/* Host memory that lives until the next reset. */
void *rf_ctx_host_alloc(rf_ctx *ctx, size_t bytes);
/* A descriptor copy (a view shares the storage). */
rf_tensor *rf_ctx_view_of(rf_ctx *ctx, const rf_tensor *t);

/* ---- autograd --------------------------------------------------------------- */
/* True when an op with these inputs must record a node. */
bool rf_needs_grad(const rf_ctx *ctx, rf_tensor *const *inputs, int n);
rf_node *rf_ctx_record(rf_ctx *ctx, const char *op, rf_backward_fn backward, rf_tensor *out,
                       rf_tensor *const *inputs, int n);
/* The gradient of t, allocated (zero-filled) on first use: for backward
 * passes that add into part of it, or whose kernels always accumulate. */
rf_tensor *rf_grad_of(rf_ctx *ctx, rf_tensor *t);
/* The gradient of t for a backward pass that writes every element of it:
 * *accumulate says whether to add to what is there (false on the first
 * contribution: the memory is left unfilled, the caller overwrites it).
 * Saves a zero fill and a read of zeros per gradient. */
rf_tensor *rf_grad_for_write(rf_ctx *ctx, rf_tensor *t, bool *accumulate);
/* Counts grad (a tensor's new ->grad, or a view of one set as another
 * tensor's) as living in its allocation: whoever sets a ->grad other than
 * through rf_grad_of / rf_grad_for_write calls it, so that backward does
 * not release memory a gradient still uses. */
void rf_grad_refer(const rf_tensor *grad);
/* Seeds d(loss)/d(loss) = 1 (or `seed` for a non-scalar root, which must be
 * the root's shape) and replays the tape in reverse. Parameters' gradients
 * accumulate into their slabs, so calling backward for several micro-batches
 * before the optimizer step accumulates gradients. */
rf_status rf_backward(rf_ctx *ctx, rf_tensor *root, const rf_tensor *seed);
/* Keeps t's gradient defined after rf_backward although t is not a leaf
 * (backward otherwise releases a non-leaf's gradient, and the scratch of
 * each backward function, as soon as its producer has used it, so that the
 * backward pass's own memory stays a working set rather than a copy of the
 * forward's). */
void rf_retain_grad(rf_tensor *t);
/* Gives t's memory back to the arena now, for an activation that later ops
 * of the forward pass no longer read and that is cheap to compute again:
 * backward recomputes it from its producer's inputs (which stay) when a
 * node needs it, and releases it again after its producer's backward. t
 * must be a layer norm's or a recomputable unary op's output, read by the
 * nodes after it directly, not through a view (an op or a backward that
 * reads it through a view fails, naming it). Without gradient recording
 * (inference) it is simply released; a tensor that a recorded node reads
 * but that no node produced (a frozen part of the model) is kept. */
void rf_drop_recompute(rf_ctx *ctx, rf_tensor *t);
/* Keeps t for backward in 16 bits: when the context's products are bf16
 * (ctx->precision) and backward records, t's values are packed to bf16 in
 * half its memory and its f32 memory goes back to the arena;
 * backward unpacks them into fresh memory before the first node that reads
 * t or any view of it, and gives that back once it has passed t's
 * producer. Call it after the forward pass's last read of t (a later op
 * reading t or a view fails, naming rf_stash). Backward then reads t
 * rounded to bf16, as PyTorch's autocast keeps activations; a product's
 * operand in bf16 is rounded the same way, so an activation read only by
 * products gives the same gradient bits. fp16 products keep f32
 * activations: an fp16 stash would turn an activation past 65504 into an
 * infinity no loss scale repairs, and a bf16 one costs fp16 its extra
 * precision (tiny on shapes reached AP50 0.476 against f32's 0.509).
 * t must own its memory (not a view); f32 and fp16 products, inference,
 * and tensors of other dtypes or already stashed or dropped are left as
 * they are. */
void rf_stash(rf_ctx *ctx, rf_tensor *t);
/* The forward pass is done with what the tape's nodes from position
 * tape_mark on made, except the `keep` tensors' memory (which later ops of
 * the forward pass read): each allocation that no recorded backward reads
 * (the nodes' unread bits) goes back at once, in every precision; the rest,
 * with bf16 products, is stashed (rf_stash) when it holds at least
 * min_bytes. A block of the model calls it at its end, keeping its output.
 * Only tensors that own their memory are considered. */
void rf_release_since(rf_ctx *ctx, size_t tape_mark, rf_tensor *const *keep, int n_keep, size_t min_bytes);
/* Whether t's memory was given back (rf_drop_recompute, rf_stash) and not
 * written again: ops refuse such an input. */
bool rf_tensor_released(const rf_tensor *t);

/* ---- parameters ---------------------------------------------------------------- */
/* Parameters of a model on one device: values, gradients and the two AdamW
 * moments each in one slab, so checkpointing, the optimizer step, EMA and
 * the gradient norm are one launch each. Usage: rf_params_create, add every
 * parameter (name + shape), rf_params_finalize (allocates), then the
 * tensors returned by add point into the slabs. */
typedef struct rf_params {
    rf_device *device;
    rf_tensor **tensors;  /* in registration order */
    size_t count, cap;
    int64_t total;        /* elements */
    rf_buffer *values, *grads, *adam_m, *adam_v; /* adam_* allocated by the optimizer on demand */
    bool finalized;
} rf_params;

rf_status rf_params_create(rf_device *device, rf_params **out);
/* The returned tensor is valid after rf_params_finalize. Names are copied. */
rf_tensor *rf_params_add(rf_params *p, const char *name, int ndim, const int64_t *shape);
rf_status rf_params_finalize(rf_params *p);
rf_tensor *rf_params_find(const rf_params *p, const char *name);
rf_status rf_params_zero_grad(rf_params *p);
void rf_params_free(rf_params *p);
/* Element offset of a parameter inside the slabs. */
static inline size_t rf_params_offset(const rf_tensor *t) { return t->offset; }

#endif /* RFDETR_TENSOR_H */
