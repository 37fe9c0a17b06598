/* launch_basic.c — launchers of backend/kernels/basic.h for every GPU
 * backend. */
#include <string.h>

#include "backend/gpu/launch.h"
#include "backend/gpu/launchers.h"
#include "backend/nd.h"
#include "backend/status.h"

#define PROGRAM "basic"

static const rf_mem no_mem = {NULL, 0};

#define RF_OP_KERNEL_NAME(prefix, op, name) [op] = #prefix "_" #name "_f32",
static const char *const unary_kernels[RF_UNARY_COUNT] = {RF_UNARY_OPS(RF_OP_KERNEL_NAME, unary)};
static const char *const unary_backward_kernels[RF_UNARY_COUNT] = {RF_UNARY_OPS(RF_OP_KERNEL_NAME, unary_backward)};
static const char *const binary_kernels[RF_BINARY_COUNT] = {RF_BINARY_OPS(RF_OP_KERNEL_NAME, binary)};

static rf_status no_op(rf_device *dev, const char *what, int op) {
    return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: no %s op %d", dev->info.name, what, op);
}

rf_status rf_gpu_unary(rf_device *dev, const rf_unary_args *a) {
    if ((unsigned)a->op >= RF_UNARY_COUNT) return no_op(dev, "unary", a->op);
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, unary_kernels[a->op]);
    rf_launch_long(&l, a->n);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->y);
    rf_launch_float(&l, a->alpha);
    rf_launch_float(&l, a->beta);
    return rf_launch_items(&l, a->n);
}

rf_status rf_gpu_unary_backward(rf_device *dev, const rf_unary_backward_args *a) {
    if ((unsigned)a->op >= RF_UNARY_COUNT) return no_op(dev, "unary", a->op);
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, unary_backward_kernels[a->op]);
    rf_launch_long(&l, a->n);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->y);
    rf_launch_mem(&l, a->dy);
    rf_launch_mem(&l, a->dx);
    rf_launch_float(&l, a->alpha);
    rf_launch_int(&l, a->accumulate);
    return rf_launch_items(&l, a->n);
}

rf_status rf_gpu_convert(rf_device *dev, const rf_convert_args *a) {
    if (a->format != RF_PRECISION_BF16 && a->format != RF_PRECISION_F16)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: convert to a 16-bit format, not precision %d", dev->info.name,
                        (int)a->format);
    bool bf16 = a->format == RF_PRECISION_BF16;
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM,
                    a->to_half ? (bf16 ? "to_bf16_f32" : "to_f16_f32") : (bf16 ? "from_bf16_f32" : "from_f16_f32"));
    rf_launch_long(&l, a->n);
    rf_launch_mem(&l, a->src);
    rf_launch_mem(&l, a->dst);
    return rf_launch_items(&l, a->to_half ? (a->n + 1) / 2 : a->n);
}

/* An operand of a kernel with up to three axes: its buffer and its three
 * strides, the last axis's first. */
static void view3(rf_launch *l, rf_view v, const int64_t *stride, int ndim) {
    rf_launch_mem(l, (rf_mem){v.buf, v.off});
    for (int k = ndim - 1; k >= ndim - 3; k--) rf_launch_long(l, k >= 0 ? stride[k] : 0);
}

/* The same for four or five axes: five strides, the last axis's first. */
static void view5(rf_launch *l, rf_view v, const int64_t *stride, int ndim) {
    rf_launch_mem(l, (rf_mem){v.buf, v.off});
    for (int k = ndim - 1; k >= ndim - 5; k--) rf_launch_long(l, k >= 0 ? stride[k] : 0);
}

static void view_nd(rf_launch *l, rf_view v, const int64_t *stride, int ndim) {
    rf_launch_mem(l, (rf_mem){v.buf, v.off});
    rf_launch_long8(l, stride, ndim);
}

rf_status rf_gpu_binary(rf_device *dev, const rf_binary_args *a) {
    if ((unsigned)a->op >= RF_BINARY_COUNT) return no_op(dev, "binary", a->op);
    int64_t shape[RF_MAX_DIMS], sa[RF_MAX_DIMS], sb[RF_MAX_DIMS], sy[RF_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    memcpy(sa, a->a.stride, sizeof sa);
    memcpy(sb, a->b.stride, sizeof sb);
    memcpy(sy, a->y.stride, sizeof sy);
    int64_t *strides[3] = {sa, sb, sy};
    int ndim = rf_nd_collapse(a->ndim, shape, 3, strides);
    if (ndim == 0) ndim = 1; /* one element: the collapse left shape 1, strides 0 */
    int64_t n[3];
    rf_nd_extents(ndim, shape, n);
    rf_launch l;
    if (ndim <= 3) {
        rf_launch_begin(&l, dev, PROGRAM, binary_kernels[a->op]);
        rf_launch_longs(&l, n, 3);
        view3(&l, a->a, sa, ndim);
        view3(&l, a->b, sb, ndim);
        view3(&l, a->y, sy, ndim);
    } else {
        rf_launch_begin(&l, dev, PROGRAM, "binary_nd_f32");
        rf_launch_int(&l, a->op);
        rf_launch_int(&l, ndim);
        rf_launch_longs(&l, n, 3);
        rf_launch_long8(&l, shape, ndim);
        view_nd(&l, a->a, sa, ndim);
        view_nd(&l, a->b, sb, ndim);
        view_nd(&l, a->y, sy, ndim);
    }
    rf_launch_int(&l, a->accumulate);
    return rf_launch_nd(&l, n);
}

rf_status rf_gpu_copy(rf_device *dev, const rf_copy_args *a) {
    int64_t shape[RF_MAX_DIMS], ss[RF_MAX_DIMS], sd[RF_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    memcpy(ss, a->src.stride, sizeof ss);
    memcpy(sd, a->dst.stride, sizeof sd);
    int64_t *strides[2] = {ss, sd};
    int ndim = rf_nd_collapse(a->ndim, shape, 2, strides);
    if (ndim == 0) ndim = 1; /* one element: the collapse left shape 1, strides 0 */
    int64_t n[3];
    rf_nd_extents(ndim, shape, n);
    rf_launch l;
    if (ndim <= 3) {
        rf_launch_begin(&l, dev, PROGRAM, "copy_f32");
        rf_launch_longs(&l, n, 3);
        view3(&l, a->src, ss, ndim);
        view3(&l, a->dst, sd, ndim);
    } else if (ndim <= 5) {
        rf_launch_begin(&l, dev, PROGRAM, "copy5_f32");
        rf_launch_longs(&l, n, 3);
        rf_launch_long(&l, shape[ndim - 4]);
        rf_launch_long(&l, shape[ndim - 3]);
        view5(&l, a->src, ss, ndim);
        view5(&l, a->dst, sd, ndim);
    } else {
        rf_launch_begin(&l, dev, PROGRAM, "copy_nd_f32");
        rf_launch_int(&l, ndim);
        rf_launch_longs(&l, n, 3);
        rf_launch_long8(&l, shape, ndim);
        view_nd(&l, a->src, ss, ndim);
        view_nd(&l, a->dst, sd, ndim);
    }
    rf_launch_int(&l, a->accumulate);
    return rf_launch_nd(&l, n);
}

rf_status rf_gpu_reduce(rf_device *dev, const rf_reduce_args *a) {
    /* Kept and reduced axes, each collapsed on its own: the reduction order
     * (row-major over the reduced axes) is the reference's. */
    int64_t kshape[RF_MAX_DIMS] = {0}, kstride[RF_MAX_DIMS] = {0}, rshape[RF_MAX_DIMS] = {0}, rstride[RF_MAX_DIMS] = {0};
    int nk = 0, nr = 0;
    for (int i = 0; i < a->ndim; i++) {
        if (a->reduce_mask & (1u << i)) {
            rshape[nr] = a->shape[i];
            rstride[nr++] = a->x.stride[i];
        } else {
            kshape[nk] = a->shape[i];
            kstride[nk++] = a->x.stride[i];
        }
    }
    int64_t n_out = rf_nd_count(nk, kshape), n_red = rf_nd_count(nr, rshape);
    int64_t *ks[1] = {kstride}, *rs[1] = {rstride};
    nk = rf_nd_collapse(nk, kshape, 1, ks);
    nr = rf_nd_collapse(nr, rshape, 1, rs);
    /* A group per output where its items then read neighbouring addresses
     * (the reduced axis is the contiguous one), or where there are too few
     * outputs to fill the device; else an item per output, whose
     * neighbours read neighbouring outputs. */
    bool contiguous_rows = nr > 0 && rstride[nr - 1] == 1;
    bool groups = rf_gpu_row_group_size(dev) > 1 && n_red >= 32 && (contiguous_rows || n_out < 4096);
    rf_launch l;
    if (!groups && nk <= 1 && nr <= 1 && rf_gpu_row_group_size(dev) == 1 && (nk == 0 || kstride[0] == 1)) {
        /* CPU-backed OpenCL, the only backend with one-item rows
         * (opencl_open): 16 outputs per item in explicit vectors, an
         * OpenCL-only kernel. */
        rf_launch_begin(&l, dev, PROGRAM, "reduce_line16_f32");
        rf_launch_int(&l, a->op);
        rf_launch_long(&l, n_out);
        rf_launch_long(&l, n_red);
        rf_launch_long(&l, nr ? rstride[0] : 0);
        rf_launch_mem(&l, (rf_mem){a->x.buf, a->x.off});
        rf_launch_mem(&l, a->y);
        rf_launch_int(&l, a->accumulate);
        return rf_launch_items(&l, (n_out + 15) / 16);
    }
    if (!groups && nk <= 1 && nr <= 1) {
        rf_launch_begin(&l, dev, PROGRAM, "reduce_line_f32");
        rf_launch_int(&l, a->op);
        rf_launch_long(&l, n_out);
        rf_launch_long(&l, nk ? kstride[0] : 0);
        rf_launch_long(&l, n_red);
        rf_launch_long(&l, nr ? rstride[0] : 0);
        rf_launch_mem(&l, (rf_mem){a->x.buf, a->x.off});
        rf_launch_mem(&l, a->y);
        rf_launch_int(&l, a->accumulate);
        return rf_launch_items(&l, n_out);
    }
    rf_launch_begin(&l, dev, PROGRAM, groups ? "reduce_groups_f32" : "reduce_items_f32");
    rf_launch_int(&l, a->op);
    rf_launch_int(&l, nk);
    rf_launch_long(&l, n_out);
    rf_launch_long8(&l, kshape, nk);
    rf_launch_long8(&l, kstride, nk);
    rf_launch_int(&l, nr);
    rf_launch_long(&l, n_red);
    rf_launch_long8(&l, rshape, nr);
    rf_launch_long8(&l, rstride, nr);
    rf_launch_mem(&l, (rf_mem){a->x.buf, a->x.off});
    rf_launch_mem(&l, a->y);
    rf_launch_int(&l, a->accumulate);
    return groups ? rf_launch_rows(&l, n_out) : rf_launch_items(&l, n_out);
}

rf_status rf_gpu_max_last(rf_device *dev, const rf_max_last_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "max_last_f32");
    rf_launch_long(&l, a->rows);
    rf_launch_long(&l, a->cols);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->values);
    rf_launch_mem(&l, a->indices);
    return rf_launch_rows(&l, a->rows);
}

rf_status rf_gpu_max_last_backward(rf_device *dev, const rf_max_last_backward_args *a) {
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, "max_last_backward_f32");
    rf_launch_long(&l, a->rows);
    rf_launch_long(&l, a->cols);
    rf_launch_mem(&l, a->dy);
    rf_launch_mem(&l, a->indices);
    rf_launch_mem(&l, a->dx);
    rf_launch_int(&l, a->accumulate);
    return rf_launch_items(&l, a->rows * a->cols);
}

rf_status rf_gpu_softmax(rf_device *dev, const rf_softmax_args *a) {
    rf_launch l;
    /* One-item rows: CPU-backed OpenCL (opencl_open), whose vectorised kernel
     * wants rows of a few vectors at least. */
    bool items = rf_gpu_row_group_size(dev) == 1;
    rf_launch_begin(&l, dev, PROGRAM, !items ? "softmax_f32" : a->cols >= 32 ? "softmax_items16_f32" : "softmax_items_f32");
    rf_launch_long(&l, a->rows);
    rf_launch_long(&l, a->cols);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->y);
    rf_launch_int(&l, a->has_mask);
    rf_launch_mem(&l, a->has_mask ? a->mask : no_mem);
    rf_launch_long(&l, a->has_mask ? a->mask_rows : 1);
    return items ? rf_launch_items(&l, a->rows) : rf_launch_rows(&l, a->rows);
}

rf_status rf_gpu_softmax_backward(rf_device *dev, const rf_softmax_backward_args *a) {
    rf_launch l;
    bool items = rf_gpu_row_group_size(dev) == 1;
    rf_launch_begin(&l, dev, PROGRAM, items ? "softmax_backward_items_f32" : "softmax_backward_f32");
    rf_launch_long(&l, a->rows);
    rf_launch_long(&l, a->cols);
    rf_launch_mem(&l, a->y);
    rf_launch_mem(&l, a->dy);
    rf_launch_mem(&l, a->dx);
    rf_launch_int(&l, a->accumulate);
    return items ? rf_launch_items(&l, a->rows) : rf_launch_rows(&l, a->rows);
}

static void ln_layout(rf_launch *l, int64_t rows, int64_t cols, int64_t inner, int64_t outer, int64_t col) {
    rf_launch_long(l, rows);
    rf_launch_long(l, cols);
    rf_launch_long(l, inner);
    rf_launch_long(l, outer);
    rf_launch_long(l, col);
}

/* A row's columns are contiguous (last-dim layer norm): a group per row.
 * Otherwise neighbouring rows are neighbouring addresses (channel layer
 * norm), or a row is one work item's anyway (rf_gpu_row_group_size 1): an
 * item per row. */
static bool ln_groups(const rf_device *dev, int64_t col_stride) {
    return col_stride == 1 && rf_gpu_row_group_size(dev) > 1;
}

rf_status rf_gpu_layernorm(rf_device *dev, const rf_layernorm_args *a) {
    bool groups = ln_groups(dev, a->col_stride);
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, groups ? "layernorm_groups_f32" : "layernorm_items_f32");
    ln_layout(&l, a->rows, a->cols, a->inner, a->outer_stride, a->col_stride);
    rf_launch_float(&l, a->eps);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->y);
    rf_launch_mem(&l, a->mean);
    rf_launch_mem(&l, a->rstd);
    rf_launch_int(&l, a->has_affine);
    rf_launch_mem(&l, a->has_affine ? a->gamma : no_mem);
    rf_launch_mem(&l, a->has_affine ? a->beta : no_mem);
    return groups ? rf_launch_rows(&l, a->rows) : rf_launch_items(&l, a->rows);
}

/* Rows per chunk of the parameter-gradient pass: enough chunks to fill the
 * device, few enough that the second pass is short. */
static int64_t ln_chunk_rows(int64_t rows) {
    int64_t chunk = 64;
    while (chunk < rows && (rows + chunk - 1) / chunk > 256) chunk *= 2;
    return chunk;
}

rf_status rf_gpu_layernorm_backward(rf_device *dev, const rf_layernorm_backward_args *a) {
    bool groups = ln_groups(dev, a->col_stride);
    rf_launch l;
    rf_launch_begin(&l, dev, PROGRAM, groups ? "layernorm_backward_groups_f32" : "layernorm_backward_items_f32");
    ln_layout(&l, a->rows, a->cols, a->inner, a->outer_stride, a->col_stride);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->mean);
    rf_launch_mem(&l, a->rstd);
    rf_launch_mem(&l, a->dy);
    rf_launch_mem(&l, a->dx);
    rf_launch_int(&l, a->has_affine);
    rf_launch_mem(&l, a->has_affine ? a->gamma : no_mem);
    rf_launch_int(&l, a->accumulate);
    RF_TRY(groups ? rf_launch_rows(&l, a->rows) : rf_launch_items(&l, a->rows));
    if (!a->has_affine || a->rows == 0 || a->cols == 0) return RF_OK;

    int64_t chunk_rows = ln_chunk_rows(a->rows), chunks = (a->rows + chunk_rows - 1) / chunk_rows;
    rf_buffer *partial;
    RF_TRY(rf_gpu_scratch(dev, (size_t)(2 * chunks * a->cols) * sizeof(float), &partial));
    rf_launch_begin(&l, dev, PROGRAM, "layernorm_affine_partial_f32");
    ln_layout(&l, a->rows, a->cols, a->inner, a->outer_stride, a->col_stride);
    rf_launch_long(&l, chunks);
    rf_launch_long(&l, chunk_rows);
    rf_launch_mem(&l, a->x);
    rf_launch_mem(&l, a->mean);
    rf_launch_mem(&l, a->rstd);
    rf_launch_mem(&l, a->dy);
    rf_launch_mem(&l, (rf_mem){partial, 0});
    RF_TRY(rf_launch_2d(&l, a->cols, chunks));
    rf_launch_begin(&l, dev, PROGRAM, "layernorm_affine_finish_f32");
    rf_launch_long(&l, a->cols);
    rf_launch_long(&l, chunks);
    rf_launch_mem(&l, (rf_mem){partial, 0});
    rf_launch_mem(&l, a->dgamma);
    rf_launch_mem(&l, a->dbeta);
    return rf_launch_items(&l, a->cols);
}
