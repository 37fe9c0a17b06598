/* launch_attention.c — launchers of backend/kernels/attention.h for every
 * GPU backend. */
#include "backend/gpu/launch.h"
#include "backend/gpu/launchers.h"
#include "backend/kernels/attention.h"
#include "backend/status.h"

#define PROGRAM "attention"

static const rf_mem no_mem = {NULL, 0};

/* A view as the kernels take it: buffer, offset, (b, h, row) strides. */
static void view(rf_launch *l, rf_view v) {
    rf_launch_mem(l, (rf_mem){v.buf, v.off});
    rf_launch_long8(l, v.stride, 3);
}

/* RF_ATTN_INPUTS: sizes, scale, q, k, v (the forward and backward args
 * share these field names). */
#define INPUTS(l, a)                                                                                                \
    do {                                                                                                            \
        rf_launch_longs((l), (const int64_t[]){(a)->batch, (a)->heads, (a)->lq, (a)->lk, (a)->head_dim,            \
                                               (a)->value_dim},                                                     \
                        6);                                                                                         \
        rf_launch_float((l), (a)->scale);                                                                           \
        view((l), (a)->q);                                                                                          \
        view((l), (a)->k);                                                                                          \
        view((l), (a)->v);                                                                                          \
    } while (0)

/* Heads wider than the kernels' private rows, and devices whose groups
 * are smaller than a tile's rows, run on the host (the op composes GEMMs
 * for them instead: core/ops.c). */
static bool fits(rf_device *dev, int64_t head_dim, int64_t value_dim) {
    return head_dim <= RF_ATTN_D && value_dim <= RF_ATTN_D && dev->max_group_size >= RF_ATTN_ROWS;
}

/* A group of RF_ATTN_ROWS items per tile of `rows` rows of every problem. */
static rf_status launch_tiles(rf_launch *l, int64_t problems, int64_t rows) {
    size_t local = RF_ATTN_ROWS, global = (size_t)(problems * ((rows + RF_ATTN_ROWS - 1) / RF_ATTN_ROWS)) * local;
    return rf_launch_range(l, 1, &global, &local);
}

rf_status rf_gpu_attention(rf_device *dev, const rf_attention_args *a) {
    if (!fits(dev, a->head_dim, a->value_dim)) return rf_kernel_fallback(dev, RF_SLOT_attention, a);
    if (a->batch * a->heads * a->lq == 0) return RF_OK;
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "attention_f32");
    INPUTS(&l, a);
    view(&l, a->o);
    rf_launch_int(&l, a->has_mask);
    rf_launch_mem(&l, a->has_mask ? a->mask : no_mem);
    rf_launch_mem(&l, a->lse);
    return launch_tiles(&l, a->batch * a->heads, a->lq);
}

rf_status rf_gpu_attention_backward(rf_device *dev, const rf_attention_backward_args *a) {
    if (!fits(dev, a->head_dim, a->value_dim)) return rf_kernel_fallback(dev, RF_SLOT_attention_backward, a);
    int64_t rows = a->batch * a->heads * a->lq;
    if (rows == 0 || a->lk == 0) return RF_OK;
    rf_buffer *dsum; /* D_i = dout_i . o_i, from the first kernel to the second */
    RF_TRY(rf_gpu_scratch(dev, (size_t)rows * sizeof(float), &dsum));
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "attention_backward_dq_f32");
    INPUTS(&l, a);
    view(&l, a->o);
    view(&l, a->dout);
    view(&l, a->dq);
    rf_launch_int(&l, a->has_mask);
    rf_launch_mem(&l, a->has_mask ? a->mask : no_mem);
    rf_launch_mem(&l, a->lse);
    rf_launch_mem(&l, (rf_mem){dsum, 0});
    RF_TRY(launch_tiles(&l, a->batch * a->heads, a->lq));
    rf_launch_begin(&l, dev, PROGRAM, "attention_backward_dkv_f32");
    INPUTS(&l, a);
    view(&l, a->dout);
    view(&l, a->dk);
    view(&l, a->dv);
    rf_launch_int(&l, a->has_mask);
    rf_launch_mem(&l, a->has_mask ? a->mask : no_mem);
    rf_launch_mem(&l, a->lse);
    rf_launch_mem(&l, (rf_mem){dsum, 0});
    return launch_tiles(&l, a->batch * a->heads, a->lk);
}
