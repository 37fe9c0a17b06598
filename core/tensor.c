/* tensor.c — descriptors, arenas, the context, the tape and parameter slabs. */
#include "core/tensor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"

size_t rf_dtype_size(rf_dtype dtype) {
    switch (dtype) {
    case RF_F32: return 4;
    case RF_I32: return 4;
    default: return 0;
    }
}

const char *rf_dtype_name(rf_dtype dtype) {
    switch (dtype) {
    case RF_F32: return "f32";
    case RF_I32: return "i32";
    default: return "?";
    }
}

int64_t rf_tensor_numel(const rf_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

void rf_tensor_set_contiguous_strides(rf_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = s;
        s *= t->shape[i];
    }
}

bool rf_tensor_is_contiguous(const rf_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}

const char *rf_shape_str(const rf_tensor *t, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (used < size) snprintf(buf + used, size - used, ")");
    return buf;
}

rf_mem rf_tensor_mem(const rf_tensor *t) { return (rf_mem){t->buffer, t->offset}; }

rf_view rf_tensor_view(const rf_tensor *t) {
    rf_view v = {t->buffer, t->offset, {0}};
    for (int i = 0; i < t->ndim; i++) v.stride[i] = t->stride[i];
    return v;
}

rf_status rf_tensor_upload(rf_tensor *t, const void *host) {
    if (!rf_tensor_is_contiguous(t)) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "upload into a non-contiguous tensor");
    size_t es = rf_dtype_size(t->dtype);
    return rf_buffer_upload(t->buffer, t->offset * es, host, (size_t)rf_tensor_numel(t) * es);
}

rf_status rf_tensor_download(const rf_tensor *t, void *host) {
    if (rf_tensor_released(t))
        return RF_ERROR(RF_ERR_INTERNAL, "download from a tensor whose memory was given back (rf_drop_recompute, rf_stash)");
    if (!rf_tensor_is_contiguous(t)) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "download from a non-contiguous tensor");
    size_t es = rf_dtype_size(t->dtype);
    return rf_buffer_download(t->buffer, t->offset * es, host, (size_t)rf_tensor_numel(t) * es);
}

/* ---- device arena --------------------------------------------------------------
 * Chunks of device memory. The forward pass bumps an offset through them;
 * backward releases gradients and scratch as soon as nothing reads them
 * again (rf_backward), which leaves holes that later allocations fill, best
 * fit first, before bumping. Reset rewinds all chunks. Chunks are never
 * larger than the device's largest allocation (1 GiB on PoCL), and a tensor
 * bigger than the chunk size gets a chunk of its own. Devices run a
 * context's work in order (one queue), so memory released here may be
 * handed to the next kernel while earlier ones that read it are queued. */

#define ARENA_ALIGN 256 /* bytes: keeps vector loads and GEMM operands aligned */

typedef struct arena_hole {
    size_t offset, bytes;
} arena_hole;

typedef struct arena_chunk {
    rf_buffer *buf;
    size_t used;       /* bytes: the bump offset */
    arena_hole *holes; /* released ranges below `used`, by offset, never adjacent */
    int hole_count, hole_cap;
} arena_chunk;

/* One allocation. `refs` counts the gradients (tensor->grad descriptors)
 * that live in it; backward releases an allocation it made once no
 * gradient refers to it any more. */
struct rf_storage {
    int chunk;
    size_t offset, bytes;
    int refs;
    bool backward; /* made during rf_backward: released when unreferenced */
    bool released;
    /* The tape's length when it was allocated: every node that reads it
     * comes at or after that position, so memory backward writes again for
     * it (a recompute, a stash restored) goes back once backward has passed
     * the position. */
    size_t tape_pos;
    /* Recomputed in backward for this dropped tensor: marked dropped again
     * when it goes back. */
    rf_tensor *recomputed;
    /* Given back for good: no backward reads it (rf_release_since). */
    bool unread;
    /* A stash (rf_stash): the values as 16-bit pairs at (half_chunk,
     * half_offset) while the f32 memory is given back. */
    bool stashed;
    int half_chunk;
    size_t half_offset, half_bytes;
    /* Restored elsewhere than it was: descriptors made before (moves
     * behind the storage's) are rebased from old_chunk/old_offset on use. */
    unsigned moves;
    int old_chunk;
    size_t old_offset;
};

struct rf_arena {
    rf_device *dev;
    size_t chunk_bytes;
    arena_chunk *chunks;
    int count, cap, current;
    size_t live, peak, total;
    size_t saved_peak; /* live as a backward began, at most */
    /* During rf_backward: the allocations made since it began, in order. */
    bool in_backward;
    rf_storage **made;
    size_t made_len, made_cap;
    /* During rf_backward: forward memory written again (recomputes, stashes
     * restored), each until backward passes its tape_pos. */
    rf_storage **rewritten;
    size_t rewritten_len, rewritten_cap;
};

static void arena_take(rf_arena *a, size_t bytes) {
    a->live += bytes;
    if (a->live > a->peak) a->peak = a->live;
}

/* The smallest hole that fits, split from its start. */
static bool arena_fill_hole(rf_arena *a, size_t bytes, int *chunk, size_t *offset) {
    int best_chunk = -1, best_hole = -1;
    size_t best = SIZE_MAX;
    for (int i = 0; i < a->count; i++)
        for (int h = 0; h < a->chunks[i].hole_count; h++) {
            size_t size = a->chunks[i].holes[h].bytes;
            if (size >= bytes && size < best) best = size, best_chunk = i, best_hole = h;
        }
    if (best_chunk < 0) return false;
    arena_chunk *c = &a->chunks[best_chunk];
    arena_hole *hole = &c->holes[best_hole];
    *chunk = best_chunk;
    *offset = hole->offset;
    hole->offset += bytes;
    hole->bytes -= bytes;
    if (hole->bytes == 0) {
        memmove(hole, hole + 1, (size_t)(c->hole_count - best_hole - 1) * sizeof *hole);
        c->hole_count--;
    }
    return true;
}

/* *size_io: the bytes asked for on entry, taken (rounded up to ARENA_ALIGN) on return. */
static rf_status arena_alloc(rf_arena *a, size_t *size_io, int *chunk, size_t *byte_offset) {
    size_t bytes = (*size_io + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (bytes == 0) bytes = ARENA_ALIGN;
    *size_io = bytes;
    if (arena_fill_hole(a, bytes, chunk, byte_offset)) {
        arena_take(a, bytes);
        return RF_OK;
    }
    for (int i = a->current; i < a->count; i++) {
        arena_chunk *c = &a->chunks[i];
        if (c->buf->bytes - c->used >= bytes) {
            *chunk = i;
            *byte_offset = c->used;
            c->used += bytes;
            a->current = i;
            arena_take(a, bytes);
            return RF_OK;
        }
    }
    if (a->count == a->cap) {
        int cap = a->cap ? a->cap * 2 : 8;
        arena_chunk *grown = realloc(a->chunks, (size_t)cap * sizeof *grown);
        if (!grown) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        a->chunks = grown;
        a->cap = cap;
    }
    size_t size = bytes > a->chunk_bytes ? bytes : a->chunk_bytes;
    rf_buffer *nb = NULL;
    rf_status s = rf_buffer_alloc(a->dev, size, &nb);
    if (s != RF_OK)
        return rf_error_prefix(s, "activation arena on %s (%.1f MiB in use, %.1f MiB requested): ", a->dev->info.name,
                               a->total / 1048576.0, size / 1048576.0);
    a->chunks[a->count] = (arena_chunk){.buf = nb, .used = bytes};
    *chunk = a->current = a->count;
    a->count++;
    a->total += size;
    arena_take(a, bytes);
    *byte_offset = 0;
    return RF_OK;
}

/* Gives [offset, offset + bytes) of chunk i back: the bump offset drops
 * when it was the last allocation (taking a hole that then ends there with
 * it), otherwise it becomes a hole merged with its neighbours. */
static rf_status arena_release(rf_arena *a, int i, size_t offset, size_t bytes) {
    arena_chunk *c = &a->chunks[i];
    a->live -= bytes;
    if (offset + bytes == c->used) {
        c->used = offset;
        if (c->hole_count && c->holes[c->hole_count - 1].offset + c->holes[c->hole_count - 1].bytes == c->used)
            c->used = c->holes[--c->hole_count].offset;
        if (i < a->current) a->current = i;
        return RF_OK;
    }
    int at = 0;
    while (at < c->hole_count && c->holes[at].offset < offset) at++;
    bool joins_prev = at > 0 && c->holes[at - 1].offset + c->holes[at - 1].bytes == offset;
    bool joins_next = at < c->hole_count && offset + bytes == c->holes[at].offset;
    if (joins_prev && joins_next) {
        c->holes[at - 1].bytes += bytes + c->holes[at].bytes;
        memmove(&c->holes[at], &c->holes[at + 1], (size_t)(c->hole_count - at - 1) * sizeof *c->holes);
        c->hole_count--;
    } else if (joins_prev) {
        c->holes[at - 1].bytes += bytes;
    } else if (joins_next) {
        c->holes[at].offset = offset;
        c->holes[at].bytes += bytes;
    } else {
        if (c->hole_count == c->hole_cap) {
            int cap = c->hole_cap ? c->hole_cap * 2 : 16;
            arena_hole *grown = realloc(c->holes, (size_t)cap * sizeof *grown);
            if (!grown) {
                a->live += bytes; /* kept: the range stays allocated until the reset */
                return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
            }
            c->holes = grown;
            c->hole_cap = cap;
        }
        memmove(&c->holes[at + 1], &c->holes[at], (size_t)(c->hole_count - at) * sizeof *c->holes);
        c->holes[at] = (arena_hole){offset, bytes};
        c->hole_count++;
    }
    return RF_OK;
}

static void arena_reset(rf_arena *a) {
    for (int i = 0; i < a->count; i++) a->chunks[i].used = 0, a->chunks[i].hole_count = 0;
    a->current = 0;
    a->live = 0;
    a->in_backward = false;
    a->made_len = 0;
    a->rewritten_len = 0;
}

static void arena_free(rf_arena *a) {
    if (!a) return;
    for (int i = 0; i < a->count; i++) {
        rf_buffer_free(a->chunks[i].buf);
        free(a->chunks[i].holes);
    }
    free(a->chunks);
    free(a->made);
    free(a->rewritten);
    free(a);
}

/* ---- host arena: descriptors, nodes, op parameters ----------------------------- */

typedef struct host_block {
    struct host_block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} host_block;

struct rf_host_arena {
    host_block *head; /* current block first */
    host_block *spare;
};

static void *host_alloc(rf_host_arena *h, size_t bytes) {
    bytes = (bytes + 15) & ~(size_t)15;
    if (!h->head || h->head->size - h->head->used < bytes) {
        host_block *b = NULL;
        /* Reuse a spare block when it fits. */
        if (h->spare && h->spare->size >= bytes) {
            b = h->spare;
            h->spare = b->next;
        } else {
            size_t size = bytes > (1 << 20) ? bytes : (1 << 20);
            b = malloc(sizeof *b + size);
            if (!b) return NULL;
            b->size = size;
        }
        b->used = 0;
        b->next = h->head;
        h->head = b;
    }
    void *p = h->head->data + h->head->used;
    h->head->used += bytes;
    memset(p, 0, bytes);
    return p;
}

static void host_reset(rf_host_arena *h) {
    while (h->head) {
        host_block *b = h->head;
        h->head = b->next;
        b->next = h->spare;
        h->spare = b;
    }
}

static void host_free(rf_host_arena *h) {
    if (!h) return;
    host_reset(h);
    while (h->spare) {
        host_block *b = h->spare;
        h->spare = b->next;
        free(b);
    }
    free(h);
}

/* ---- context ------------------------------------------------------------------------- */

rf_status rf_ctx_create(rf_device *device, size_t arena_chunk_bytes, rf_ctx **out) {
    *out = NULL;
    if (!device) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "rf_ctx_create: device is NULL");
    if (!device->kernels)
        return RF_ERROR(RF_ERR_UNSUPPORTED, "%s provides no op kernels in this build", device->info.name);
    rf_ctx *ctx = calloc(1, sizeof *ctx);
    rf_arena *arena = calloc(1, sizeof *arena);
    rf_host_arena *host = calloc(1, sizeof *host);
    if (!ctx || !arena || !host) {
        free(ctx);
        free(arena);
        free(host);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    size_t chunk = arena_chunk_bytes ? arena_chunk_bytes : (size_t)256 << 20;
    if (device->info.max_alloc_bytes && chunk > device->info.max_alloc_bytes) chunk = device->info.max_alloc_bytes;
    arena->dev = device;
    arena->chunk_bytes = chunk;
    ctx->device = device;
    ctx->arena = arena;
    ctx->host = host;
    ctx->grad_enabled = true;
    *out = ctx;
    return RF_OK;
}

void rf_ctx_reset(rf_ctx *ctx) {
    arena_reset(ctx->arena);
    host_reset(ctx->host);
    ctx->tape_len = 0;
    ctx->status = RF_OK;
    ctx->message[0] = '\0';
}

void rf_ctx_free(rf_ctx *ctx) {
    if (!ctx) return;
    arena_free(ctx->arena);
    host_free(ctx->host);
    free(ctx->tape);
    free(ctx);
}

rf_status rf_ctx_status(const rf_ctx *ctx) {
    if (ctx->status != RF_OK) rf_error_set(ctx->status, __FILE__, __LINE__, "%s", ctx->message);
    return ctx->status;
}

rf_tensor *rf_ctx_fail(rf_ctx *ctx, rf_status status, const char *fmt, ...) {
    if (ctx->status != RF_OK) return NULL;
    ctx->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->message, sizeof ctx->message, fmt, ap);
    va_end(ap);
    return NULL;
}

rf_tensor *rf_ctx_fail_last(rf_ctx *ctx, rf_status status) { return rf_ctx_fail(ctx, status, "%s", rf_last_error()); }

size_t rf_ctx_arena_bytes(const rf_ctx *ctx) { return ctx->arena->total; }
size_t rf_ctx_arena_peak_bytes(const rf_ctx *ctx) { return ctx->arena->peak; }
size_t rf_ctx_saved_bytes(const rf_ctx *ctx) { return ctx->arena->saved_peak; }

bool rf_ctx_set_grad(rf_ctx *ctx, bool enabled) {
    bool previous = ctx->grad_enabled;
    ctx->grad_enabled = enabled;
    return previous;
}

void *rf_ctx_host_alloc(rf_ctx *ctx, size_t bytes) {
    void *p = host_alloc(ctx->host, bytes);
    if (!p) rf_ctx_fail(ctx, RF_ERR_OUT_OF_MEMORY, "out of host memory (%zu bytes)", bytes);
    return p;
}

static bool tensor_storage(rf_ctx *ctx, rf_tensor *t);

rf_tensor *rf_ctx_tensor(rf_ctx *ctx, rf_dtype dtype, int ndim, const int64_t *shape) {
    if (ctx->status != RF_OK) return NULL;
    if (ndim < 0 || ndim > RF_MAX_DIMS) return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "tensor rank %d (max %d)", ndim, RF_MAX_DIMS);
    rf_tensor *t = rf_ctx_host_alloc(ctx, sizeof *t);
    if (!t) return NULL;
    t->device = ctx->device;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return rf_ctx_fail(ctx, RF_ERR_INVALID_ARGUMENT, "negative dimension %lld", (long long)shape[i]);
        t->shape[i] = shape[i];
    }
    rf_tensor_set_contiguous_strides(t);
    return tensor_storage(ctx, t) ? t : NULL;
}

/* New arena storage for t (its shape and dtype set); false after a failure. */
static bool tensor_storage(rf_ctx *ctx, rf_tensor *t) {
    rf_dtype dtype = t->dtype;
    rf_arena *a = ctx->arena;
    rf_storage *st = rf_ctx_host_alloc(ctx, sizeof *st);
    if (!st) return false;
    if (a->in_backward && a->made_len == a->made_cap) {
        size_t cap = a->made_cap ? a->made_cap * 2 : 256;
        rf_storage **grown = realloc(a->made, cap * sizeof *grown);
        if (!grown) return rf_ctx_fail(ctx, RF_ERR_OUT_OF_MEMORY, "out of host memory"), false;
        a->made = grown;
        a->made_cap = cap;
    }
    st->bytes = (size_t)rf_tensor_numel(t) * rf_dtype_size(dtype);
    rf_status s = arena_alloc(a, &st->bytes, &st->chunk, &st->offset);
    if (s != RF_OK) return rf_ctx_fail_last(ctx, s), false;
    st->backward = a->in_backward;
    st->tape_pos = ctx->tape_len;
    if (a->in_backward) a->made[a->made_len++] = st;
    t->storage = st;
    t->buffer = a->chunks[st->chunk].buf;
    t->offset = st->offset / rf_dtype_size(dtype);
    return true;
}

rf_tensor *rf_ctx_tensor_like(rf_ctx *ctx, const rf_tensor *t) {
    if (!t) return NULL;
    return rf_ctx_tensor(ctx, t->dtype, t->ndim, t->shape);
}

rf_tensor *rf_ctx_zeros(rf_ctx *ctx, rf_dtype dtype, int ndim, const int64_t *shape) {
    rf_tensor *t = rf_ctx_tensor(ctx, dtype, ndim, shape);
    if (!t) return NULL;
    int64_t n = rf_tensor_numel(t);
    if (n == 0) return t;
    rf_status s = rf_buffer_fill_u32(t->buffer, t->offset * rf_dtype_size(dtype), (size_t)n, 0);
    return s == RF_OK ? t : rf_ctx_fail_last(ctx, s);
}

rf_tensor *rf_ctx_from_host(rf_ctx *ctx, rf_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    rf_tensor *t = rf_ctx_tensor(ctx, dtype, ndim, shape);
    if (!t || rf_tensor_numel(t) == 0) return t;
    rf_status s = rf_tensor_upload(t, data);
    return s == RF_OK ? t : rf_ctx_fail_last(ctx, s);
}

rf_tensor *rf_ctx_view_of(rf_ctx *ctx, const rf_tensor *t) {
    if (ctx->status != RF_OK || !t) return NULL;
    rf_tensor *v = rf_ctx_host_alloc(ctx, sizeof *v);
    if (!v) return NULL;
    *v = *t;
    v->grad = NULL;
    v->producer = NULL;
    v->name = NULL;
    v->requires_grad = false;
    return v;
}

/* ---- autograd ------------------------------------------------------------------------- */

bool rf_needs_grad(const rf_ctx *ctx, rf_tensor *const *inputs, int n) {
    if (!ctx->grad_enabled) return false;
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad) return true;
    return false;
}

rf_node *rf_ctx_record(rf_ctx *ctx, const char *op, rf_backward_fn backward, rf_tensor *out, rf_tensor *const *inputs,
                       int n) {
    if (ctx->status != RF_OK) return NULL;
    if (n > RF_NODE_MAX_INPUTS) {
        rf_ctx_fail(ctx, RF_ERR_INTERNAL, "%s: %d inputs, a node holds %d", op, n, RF_NODE_MAX_INPUTS);
        return NULL;
    }
    if (out->producer) {
        /* Backward releases a gradient after its tensor's one producer. */
        rf_ctx_fail(ctx, RF_ERR_INTERNAL, "%s: its output was already recorded as %s's", op, out->producer->op);
        return NULL;
    }
    rf_node *node = rf_ctx_host_alloc(ctx, sizeof *node);
    if (!node) return NULL;
    if (ctx->tape_len == ctx->tape_cap) {
        size_t cap = ctx->tape_cap ? ctx->tape_cap * 2 : 256;
        rf_node **grown = realloc(ctx->tape, cap * sizeof *grown);
        if (!grown) {
            rf_ctx_fail(ctx, RF_ERR_OUT_OF_MEMORY, "out of host memory growing the tape");
            return NULL;
        }
        ctx->tape = grown;
        ctx->tape_cap = cap;
    }
    node->op = op;
    node->backward = backward;
    node->out = out;
    node->n_in = n;
    for (int i = 0; i < n; i++) node->in[i] = inputs[i];
    out->requires_grad = true;
    out->producer = node;
    ctx->tape[ctx->tape_len++] = node;
    return node;
}

void rf_grad_refer(const rf_tensor *grad) {
    if (grad && grad->storage) grad->storage->refs++;
}

static void give_back(rf_arena *a, rf_storage *st) {
    st->released = true;
    /* A failure to record the hole only keeps the range until the reset. */
    (void)arena_release(a, st->chunk, st->offset, st->bytes);
}

/* Backward's own allocations only: the forward's belong to the caller. */
static void release_storage(rf_arena *a, rf_storage *st) {
    if (!st->released && st->backward) give_back(a, st);
}

/* One gradient fewer lives in grad's allocation: backward's own allocations
 * go back to the arena with their last. */
static void release_grad(rf_arena *a, rf_tensor *grad) {
    rf_storage *st = grad ? grad->storage : NULL;
    if (!st || st->refs <= 0) return;
    if (--st->refs == 0) release_storage(a, st);
}

rf_tensor *rf_grad_of(rf_ctx *ctx, rf_tensor *t) {
    if (!t || ctx->status != RF_OK) return NULL;
    if (!t->grad) {
        /* Gradients are computed with grad recording off; they are never
         * differentiated again. */
        t->grad = rf_ctx_zeros(ctx, t->dtype, t->ndim, t->shape);
        rf_grad_refer(t->grad);
    }
    return t->grad;
}

rf_tensor *rf_grad_for_write(rf_ctx *ctx, rf_tensor *t, bool *accumulate) {
    *accumulate = true;
    if (!t || ctx->status != RF_OK) return NULL;
    if (!t->grad) {
        t->grad = rf_ctx_tensor(ctx, t->dtype, t->ndim, t->shape);
        rf_grad_refer(t->grad);
        *accumulate = false;
    }
    return t->grad;
}

static void recompute(rf_ctx *ctx, rf_tensor *t);

/* Memory backward wrote again for the forward pass (recomputed or
 * restored) goes back once the nodes at or after its tape position are
 * done: after node `pos`'s backward. */
static void release_rewritten(rf_arena *a, size_t pos, bool recomputed_only) {
    size_t kept = 0;
    for (size_t m = 0; m < a->rewritten_len; m++) {
        rf_storage *st = a->rewritten[m];
        if (st->tape_pos >= pos && (st->recomputed || !recomputed_only)) {
            give_back(a, st);
            if (st->recomputed) st->recomputed->dropped = true;
        } else {
            a->rewritten[kept++] = st;
        }
    }
    a->rewritten_len = kept;
}

rf_status rf_backward(rf_ctx *ctx, rf_tensor *root, const rf_tensor *seed) {
    if (ctx->status != RF_OK) return rf_ctx_status(ctx);
    if (!root || !root->requires_grad)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "backward: the root does not depend on any parameter");
    bool was = rf_ctx_set_grad(ctx, false);
    rf_arena *a = ctx->arena;
    a->in_backward = true;
    a->made_len = 0;
    a->rewritten_len = 0;
    if (a->live > a->saved_peak) a->saved_peak = a->live;
    rf_tensor *g = rf_grad_of(ctx, root);
    if (g) {
        rf_status s;
        if (seed) {
            if (seed->ndim != root->ndim || rf_tensor_numel(seed) != rf_tensor_numel(root) || !rf_tensor_is_contiguous(seed))
                s = RF_ERROR(RF_ERR_INVALID_ARGUMENT, "backward: seed must be contiguous with the root's shape");
            else
                s = rf_buffer_copy(g->buffer, g->offset * 4, seed->buffer, seed->offset * 4, (size_t)rf_tensor_numel(g) * 4);
        } else {
            s = rf_buffer_fill_f32(g->buffer, g->offset * 4, (size_t)rf_tensor_numel(g), 1.0f);
        }
        if (s != RF_OK) rf_ctx_fail_last(ctx, s);
    }
    a->made_len = 0; /* the root's gradient goes with its producer, not as scratch */
    for (size_t i = ctx->tape_len; i-- > 0 && ctx->status == RF_OK;) {
        rf_node *node = ctx->tape[i];
        rf_tensor *out = node->out;
        if (!out->grad) {
            release_rewritten(a, i, false);
            continue;
        }
        /* A dropped output's producer never reads it (rf_drop_recompute):
         * it goes back before that backward, not after. */
        release_rewritten(a, i, true);
        size_t first_made = a->made_len;
        for (int j = 0; j < node->n_in; j++)
            if (!(node->unread & RF_UNREAD_IN(j))) recompute(ctx, node->in[j]);
        for (int j = 0; j < 4; j++) recompute(ctx, node->saved[j]);
        /* A stashed output its own backward reads (a sigmoid's). */
        if (!out->dropped && out->storage && (out->storage->stashed || out->storage_moves != out->storage->moves))
            recompute(ctx, out);
        if (ctx->status != RF_OK) break;
        node->backward(ctx, node);
        release_rewritten(a, i, false);
        /* Every node that adds to out's gradient comes after its one
         * producer on the tape (rf_ctx_record), so it is complete and read
         * for the last time here. */
        if (!out->retain_grad) {
            release_grad(a, out->grad);
            out->grad = NULL;
        }
        /* This node's scratch that no gradient took over. */
        for (size_t m = first_made; m < a->made_len; m++)
            if (a->made[m]->refs == 0) release_storage(a, a->made[m]);
        /* Drop the released entries so the list stays the live ones. */
        size_t kept = first_made;
        for (size_t m = first_made; m < a->made_len; m++)
            if (!a->made[m]->released) a->made[kept++] = a->made[m];
        a->made_len = kept;
    }
    a->in_backward = false;
    rf_ctx_set_grad(ctx, was);
    return rf_ctx_status(ctx);
}

void rf_retain_grad(rf_tensor *t) {
    if (t) t->retain_grad = true;
}

bool rf_tensor_released(const rf_tensor *t) { return t && (t->dropped || (t->storage && t->storage->released)); }

void rf_drop_recompute(rf_ctx *ctx, rf_tensor *t) {
    if (ctx->status != RF_OK || !t || t->dropped) return;
    rf_storage *st = t->storage;
    if (st && st->stashed) return; /* already half its size until backward */
    if (!st || st->released || st->backward || !rf_tensor_is_contiguous(t) || t->offset * rf_dtype_size(t->dtype) != st->offset) {
        rf_ctx_fail(ctx, RF_ERR_INTERNAL, "drop_recompute: only a tensor that owns its activation memory can be dropped");
        return;
    }
    if (!t->producer) {
        /* No node wrote it: a recorded node may still read it (the weight
         * gradient of a layer after a frozen part), and nothing could write
         * it again. Without recording, nothing reads it later. */
        if (ctx->grad_enabled) return;
    } else if (!t->producer->recompute || t->producer->out != t) {
        rf_ctx_fail(ctx, RF_ERR_INTERNAL, "drop_recompute: a %s output cannot be computed again", t->producer->op);
        return;
    }
    give_back(ctx->arena, st);
    t->dropped = true;
}

/* Counts st among the memory backward wrote again (release_rewritten). */
static bool rewritten(rf_ctx *ctx, rf_storage *st) {
    rf_arena *a = ctx->arena;
    if (a->rewritten_len == a->rewritten_cap) {
        size_t cap = a->rewritten_cap ? a->rewritten_cap * 2 : 64;
        rf_storage **grown = realloc(a->rewritten, cap * sizeof *grown);
        if (!grown) return rf_ctx_fail(ctx, RF_ERR_OUT_OF_MEMORY, "out of host memory"), false;
        a->rewritten = grown;
        a->rewritten_cap = cap;
    }
    a->rewritten[a->rewritten_len++] = st;
    st->backward = true;
    return true;
}

static rf_status convert(rf_ctx *ctx, const rf_storage *st, bool to_half) {
    rf_arena *a = ctx->arena;
    rf_mem f32 = {a->chunks[st->chunk].buf, st->offset / 4}, half = {a->chunks[st->half_chunk].buf, st->half_offset / 4};
    /* The whole allocation: every view of it comes back. */
    rf_convert_args c = {.n = (int64_t)(st->bytes / 4), .format = RF_PRECISION_BF16, .to_half = to_half,
                         .src = to_half ? f32 : half, .dst = to_half ? half : f32};
    return rf_kernel_convert(ctx->device, &c);
}

void rf_stash(rf_ctx *ctx, rf_tensor *t) {
    if (ctx->status != RF_OK || !t || ctx->precision != RF_PRECISION_BF16 || !ctx->grad_enabled || t->dtype != RF_F32 ||
        t->dropped)
        return;
    rf_storage *st = t->storage;
    if (st && (st->stashed || st->unread)) return; /* half its size already, or no backward reads it */
    if (!st || st->released || st->backward || !rf_tensor_is_contiguous(t) || t->offset * 4 != st->offset) {
        rf_ctx_fail(ctx, RF_ERR_INTERNAL, "stash: only a tensor that owns its activation memory can be stashed");
        return;
    }
    rf_arena *a = ctx->arena;
    size_t half_bytes = (st->bytes / 4 + 1) / 2 * 4;
    rf_status s = arena_alloc(a, &half_bytes, &st->half_chunk, &st->half_offset);
    if (s != RF_OK) {
        rf_ctx_fail_last(ctx, s);
        return;
    }
    st->half_bytes = half_bytes;
    if ((s = convert(ctx, st, true)) != RF_OK) {
        rf_ctx_fail_last(ctx, s);
        return;
    }
    give_back(a, st);
    st->stashed = true;
}

/* Whether a recorded node's backward (or a recompute) reads st's values. */
static bool read_in_backward(const rf_ctx *ctx, const rf_storage *st) {
    for (size_t i = st->tape_pos; i < ctx->tape_len; i++) {
        const rf_node *n = ctx->tape[i];
        if (n->out->storage == st && !(n->unread & RF_UNREAD_OUT)) return true;
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] && n->in[j]->storage == st && (n->recompute || !(n->unread & RF_UNREAD_IN(j)))) return true;
        for (int j = 0; j < 4; j++)
            if (n->saved[j] && n->saved[j]->storage == st) return true;
    }
    return false;
}

void rf_release_since(rf_ctx *ctx, size_t tape_mark, rf_tensor *const *keep, int n_keep, size_t min_bytes) {
    if (ctx->status != RF_OK || !ctx->grad_enabled || ctx->keep_activations) return;
    for (size_t i = tape_mark; i < ctx->tape_len; i++) {
        rf_tensor *t = ctx->tape[i]->out;
        rf_storage *st = t->storage;
        if (!st || st->released || st->backward || t->dropped || t->dtype != RF_F32 || !rf_tensor_is_contiguous(t) ||
            t->offset * 4 != st->offset)
            continue;
        bool kept = false;
        for (int k = 0; k < n_keep && !kept; k++) kept = keep[k] && keep[k]->storage == st;
        if (kept) continue;
        if (!read_in_backward(ctx, st)) {
            give_back(ctx->arena, st);
            st->unread = true;
        } else if ((size_t)rf_tensor_numel(t) * 4 >= min_bytes) {
            rf_stash(ctx, t);
        }
    }
}

/* Unpacks a stash into fresh memory before backward's first reader. */
static void restore(rf_ctx *ctx, rf_storage *st) {
    rf_arena *a = ctx->arena;
    size_t bytes = st->bytes;
    int chunk;
    size_t offset;
    rf_status s = arena_alloc(a, &bytes, &chunk, &offset);
    if (s != RF_OK) {
        rf_ctx_fail_last(ctx, s);
        return;
    }
    st->old_chunk = st->chunk;
    st->old_offset = st->offset;
    st->chunk = chunk;
    st->offset = offset;
    st->moves++;
    st->released = false;
    st->stashed = false;
    if ((s = convert(ctx, st, false)) != RF_OK) {
        rf_ctx_fail_last(ctx, s);
        return;
    }
    (void)arena_release(a, st->half_chunk, st->half_offset, st->half_bytes);
    (void)rewritten(ctx, st);
}

/* Points a descriptor made before its storage moved at the new place. */
static void rebase(rf_ctx *ctx, rf_tensor *t) {
    rf_storage *st = t->storage;
    size_t es = rf_dtype_size(t->dtype);
    if (t->storage_moves + 1 != st->moves || t->buffer != ctx->arena->chunks[st->old_chunk].buf ||
        t->offset * es < st->old_offset) {
        rf_ctx_fail(ctx, RF_ERR_INTERNAL, "backward: a tensor's memory moved twice (rf_stash)");
        return;
    }
    t->offset = (st->offset + (t->offset * es - st->old_offset)) / es;
    t->buffer = ctx->arena->chunks[st->chunk].buf;
    t->storage_moves = st->moves;
}

/* Writes a dropped tensor again (its producer's inputs first, when they
 * were dropped too) before a node's backward reads it. */
static void recompute(rf_ctx *ctx, rf_tensor *t) {
    if (!t || ctx->status != RF_OK) return;
    if (!t->dropped) {
        rf_storage *st = t->storage;
        if (st && st->stashed) restore(ctx, st);
        else if (st && st->unread)
            rf_ctx_fail(ctx, RF_ERR_INTERNAL,
                        "backward reads an activation given back as unread (rf_release_since): a node's unread bits are wrong");
        else if (st && st->released)
            rf_ctx_fail(ctx, RF_ERR_INTERNAL, "backward reads a dropped activation through a view (rf_drop_recompute)");
        if (st && t->storage_moves != st->moves) rebase(ctx, t);
        return;
    }
    rf_node *p = t->producer;
    if (!p || !p->recompute) {
        rf_ctx_fail(ctx, RF_ERR_INTERNAL, "backward needs a dropped activation that nothing can compute again");
        return;
    }
    for (int j = 0; j < p->n_in; j++) recompute(ctx, p->in[j]);
    rf_arena *a = ctx->arena;
    size_t tape_pos = t->storage->tape_pos;
    bool was = a->in_backward;
    a->in_backward = false; /* not the asking node's scratch */
    bool ok = tensor_storage(ctx, t) && rewritten(ctx, t->storage);
    a->in_backward = was;
    if (!ok) return;
    t->storage->tape_pos = tape_pos;
    t->storage->recomputed = t;
    t->dropped = false;
    p->recompute(ctx, p);
}

/* ---- parameters ------------------------------------------------------------------------- */

#define PARAM_ALIGN 16 /* elements: 64-byte aligned starts */

rf_status rf_params_create(rf_device *device, rf_params **out) {
    rf_params *p = calloc(1, sizeof *p);
    if (!p) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    p->device = device;
    *out = p;
    return RF_OK;
}

rf_tensor *rf_params_add(rf_params *p, const char *name, int ndim, const int64_t *shape) {
    if (p->finalized || ndim < 0 || ndim > RF_MAX_DIMS) return NULL;
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        rf_tensor **grown = realloc(p->tensors, cap * sizeof *grown);
        if (!grown) return NULL;
        p->tensors = grown;
        p->cap = cap;
    }
    rf_tensor *t = calloc(1, sizeof *t);
    rf_tensor *g = calloc(1, sizeof *g);
    char *copy = strdup(name);
    if (!t || !g || !copy) {
        free(t);
        free(g);
        free(copy);
        return NULL;
    }
    t->device = p->device;
    t->dtype = RF_F32;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    rf_tensor_set_contiguous_strides(t);
    t->name = copy;
    t->requires_grad = true;
    *g = *t;
    g->name = NULL;
    g->requires_grad = false;
    t->grad = g;
    int64_t start = (p->total + PARAM_ALIGN - 1) / PARAM_ALIGN * PARAM_ALIGN;
    t->offset = g->offset = (size_t)start;
    p->total = start + rf_tensor_numel(t);
    p->tensors[p->count++] = t;
    return t;
}

rf_status rf_params_finalize(rf_params *p) {
    if (p->finalized) return RF_OK;
    size_t bytes = (size_t)(p->total > 0 ? p->total : 1) * sizeof(float);
    RF_TRY(rf_buffer_alloc(p->device, bytes, &p->values));
    p->values->holds_weights = true; /* see rf_buffer: every writer bumps its count */
    rf_status s = rf_buffer_alloc(p->device, bytes, &p->grads);
    if (s != RF_OK) return s;
    /* Padding between tensors stays zero so slab-wide reductions ignore it. */
    RF_TRY(rf_buffer_fill_u32(p->values, 0, bytes / 4, 0));
    RF_TRY(rf_buffer_fill_u32(p->grads, 0, bytes / 4, 0));
    for (size_t i = 0; i < p->count; i++) {
        p->tensors[i]->buffer = p->values;
        p->tensors[i]->grad->buffer = p->grads;
    }
    p->finalized = true;
    return RF_OK;
}

rf_tensor *rf_params_find(const rf_params *p, const char *name) {
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->tensors[i]->name, name) == 0) return p->tensors[i];
    return NULL;
}

rf_status rf_params_zero_grad(rf_params *p) {
    if (!p->finalized) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "parameters not finalized");
    return rf_buffer_fill_u32(p->grads, 0, p->grads->bytes / 4, 0);
}

void rf_params_free(rf_params *p) {
    if (!p) return;
    for (size_t i = 0; i < p->count; i++) {
        free((char *)p->tensors[i]->name);
        free(p->tensors[i]->grad);
        free(p->tensors[i]);
    }
    free(p->tensors);
    rf_buffer_free(p->values);
    rf_buffer_free(p->grads);
    rf_buffer_free(p->adam_m);
    rf_buffer_free(p->adam_v);
    free(p);
}
