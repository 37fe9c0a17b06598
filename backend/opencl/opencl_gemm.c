/* opencl_gemm.c — GEMM through CLBlast: one strided-batched call, row-major,
 * offsets native. Also the shipped CLBlast tuning for devices CLBlast's own
 * database does not know (PoCL on x86 CPUs), see docs/backend.md. */
#include <stdio.h>
#include <string.h>

#include <clblast_c.h>

#include "backend/gpu/launch.h"
#include "backend/gpu/launchers.h"
#include "backend/kernels/gemm.h"
#include "backend/opencl/opencl_internal.h"
#include "backend/status.h"

static const char *clblast_status_name(CLBlastStatusCode s) {
    switch (s) {
    case CLBlastSuccess: return "CLBlastSuccess";
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInvalidDimension: return "CLBlastInvalidDimension";
    case CLBlastInvalidLeadDimA: return "CLBlastInvalidLeadDimA";
    case CLBlastInvalidLeadDimB: return "CLBlastInvalidLeadDimB";
    case CLBlastInvalidLeadDimC: return "CLBlastInvalidLeadDimC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInvalidBatchCount: return "CLBlastInvalidBatchCount";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastNoHalfPrecision: return "CLBlastNoHalfPrecision";
    case CLBlastInvalidOverrideKernel: return "CLBlastInvalidOverrideKernel";
    case CLBlastMissingOverrideParameter: return "CLBlastMissingOverrideParameter";
    case CLBlastInvalidLocalThreadsTotal: return "CLBlastInvalidLocalThreadsTotal";
    case CLBlastInvalidLocalThreadsDim: return "CLBlastInvalidLocalThreadsDim";
    case CLBlastInvalidLocalNumDimensions: return "CLBlastInvalidLocalNumDimensions";
    case CLBlastUnknownError: return "CLBlastUnknownError";
    case CLBlastUnexpectedError: return "CLBlastUnexpectedError";
    default: return (int)s < 0 && (int)s > -1000 ? rf_opencl_error_name((cl_int)s) : "CLBlastError";
    }
}

/* GEMM by backend/kernels/gemm.h: where it pays, B's full 16-column blocks
 * and A's full 8-row blocks are first packed into panels (copies, cheap
 * beside the product's m n k), then one launch multiplies. */
static rf_status own_gemm(rf_device *dev, const rf_gemm_desc *d) {
    rf_opencl_state *st = dev->native;
    int64_t a_row = d->trans_a ? 1 : d->lda, a_k = d->trans_a ? d->lda : 1;
    int64_t b_k = d->trans_b ? 1 : d->ldb, b_col = d->trans_b ? d->ldb : 1;
    /* Packing pays for a deep k (a strided walk down it crosses a page per
     * step) and, for A, only where C has 8+ column blocks to reuse each
     * panel: packed, tiny's shallow products and attention's 300 x 32 ones
     * ran slower. A transposed B is always packed: the kernel reads B's rows
     * as 16-wide vectors. */
    bool deep = d->k > 512;
    int64_t col_blocks = d->k > 0 && (deep || d->trans_b) ? d->n / 16 : 0;
    int64_t row_blocks = d->k > 0 && deep && d->n / 16 >= 8 ? d->m / 8 : 0;
    int64_t batches_a = d->stride_a == 0 ? 1 : d->batch, batches_b = d->stride_b == 0 ? 1 : d->batch;
    int64_t a_panels = row_blocks * d->k * 8, b_panels = col_blocks * d->k * 16; /* per batch entry */
    size_t bytes = (size_t)(batches_a * a_panels + batches_b * b_panels) * sizeof(float);
    if (bytes && (!st->gemm_pack || st->gemm_pack->bytes < bytes)) {
        if (st->gemm_pack) rf_buffer_free(st->gemm_pack);
        st->gemm_pack = NULL;
        RF_TRY(rf_buffer_alloc(dev, bytes, &st->gemm_pack));
    }
    size_t bp_off = (size_t)(batches_a * a_panels);
    if (a_panels) {
        rf_copy_args pack = {.ndim = 4, .shape = {batches_a, row_blocks, d->k, 8}};
        pack.src = (rf_view){.buf = d->a, .off = d->a_offset, .stride = {d->stride_a, 8 * a_row, a_k, a_row}};
        pack.dst = (rf_view){.buf = st->gemm_pack, .off = 0, .stride = {a_panels, d->k * 8, 8, 1}};
        RF_TRY(rf_gpu_copy(dev, &pack));
    }
    if (b_panels) {
        rf_copy_args pack = {.ndim = 4, .shape = {batches_b, col_blocks, d->k, 16}};
        pack.src = (rf_view){.buf = d->b, .off = d->b_offset, .stride = {d->stride_b, 16 * b_col, b_k, b_col}};
        pack.dst = (rf_view){.buf = st->gemm_pack, .off = bp_off, .stride = {b_panels, d->k * 16, 16, 1}};
        RF_TRY(rf_gpu_copy(dev, &pack));
    }
    rf_launch l;
    rf_launch_begin(&l, dev, "gemm", "gemm_f32");
    rf_launch_long(&l, d->m);
    rf_launch_long(&l, d->n);
    rf_launch_long(&l, d->k);
    rf_launch_float(&l, d->alpha);
    rf_launch_float(&l, d->beta);
    rf_launch_mem(&l, (rf_mem){d->a, d->a_offset});
    rf_launch_long(&l, a_row);
    rf_launch_long(&l, a_k);
    rf_launch_long(&l, d->stride_a);
    rf_launch_mem(&l, (rf_mem){a_panels ? st->gemm_pack : NULL, 0});
    rf_launch_long(&l, d->stride_a == 0 ? 0 : a_panels);
    rf_launch_mem(&l, (rf_mem){d->b, d->b_offset});
    rf_launch_long(&l, b_k);
    rf_launch_long(&l, b_col);
    rf_launch_long(&l, d->stride_b);
    rf_launch_mem(&l, (rf_mem){b_panels ? st->gemm_pack : NULL, bp_off});
    rf_launch_long(&l, d->stride_b == 0 ? 0 : b_panels);
    rf_launch_mem(&l, (rf_mem){d->c, d->c_offset});
    rf_launch_long(&l, d->ldc);
    rf_launch_long(&l, d->stride_c);
    rf_launch_int(&l, !d->bias ? RF_GEMM_BIAS_NONE : d->bias_rows ? RF_GEMM_BIAS_ROWS : RF_GEMM_BIAS_COLS);
    rf_launch_mem(&l, (rf_mem){d->bias, d->bias ? d->bias_offset : 0});
    /* Items of a group share nothing; PoCL runs a group as a loop, and four
     * row blocks per group measured best on AVX-512 (bench/RESULTS.md). */
    int64_t n_blocks = (d->n + 15) / 16, m_blocks = (d->m + 7) / 8;
    size_t local[3] = {1, m_blocks >= 4 ? 4 : 1, 1};
    size_t global[3] = {(size_t)n_blocks, (size_t)((m_blocks + (int64_t)local[1] - 1) / (int64_t)local[1]) * local[1],
                        (size_t)d->batch};
    return rf_launch_range(&l, 3, global, local);
}

rf_status rf_opencl_gemm(rf_device *dev, const rf_gemm_desc *d) {
    rf_opencl_state *st = dev->native;
    if (st->own_gemm) return own_gemm(dev, d); /* k == 0 included: C = beta C + bias */
    if (d->k == 0) return rf_gpu_gemm_scale_c(dev, d);
    CLBlastTranspose ta = d->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = d->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode s;
    if (d->batch == 1) {
        /* Strides mean nothing for one matrix, and CLBlast's strided-batched
         * entry rejects the zero strides callers naturally pass. */
        s = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, (size_t)d->m, (size_t)d->n, (size_t)d->k, d->alpha,
                         rf_cl_buffer(d->a), d->a_offset, (size_t)d->lda, rf_cl_buffer(d->b), d->b_offset, (size_t)d->ldb,
                         d->beta, rf_cl_buffer(d->c), d->c_offset, (size_t)d->ldc, &st->queue, NULL);
    } else if (d->stride_a == 0 || d->stride_b == 0) {
        /* A broadcast operand goes one product at a time: CLBlast's
         * strided-batched indirect kernel, which it picks for large products
         * whose dimensions need no padding, reads stride 0 wrongly (garbage
         * and NaN in C; tests/kernel_cases_gemm.c has the cases). A layer's
         * weights broadcast over a batch of images are the usual caller, so
         * the batch is small. */
        s = CLBlastSuccess;
        for (int64_t q = 0; q < d->batch && s == CLBlastSuccess; q++)
            s = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, (size_t)d->m, (size_t)d->n, (size_t)d->k, d->alpha,
                             rf_cl_buffer(d->a), d->a_offset + (size_t)(q * d->stride_a), (size_t)d->lda,
                             rf_cl_buffer(d->b), d->b_offset + (size_t)(q * d->stride_b), (size_t)d->ldb, d->beta,
                             rf_cl_buffer(d->c), d->c_offset + (size_t)(q * d->stride_c), (size_t)d->ldc, &st->queue,
                             NULL);
    } else {
        s = CLBlastSgemmStridedBatched(
            CLBlastLayoutRowMajor, ta, tb, (size_t)d->m, (size_t)d->n, (size_t)d->k, d->alpha, rf_cl_buffer(d->a),
            d->a_offset, (size_t)d->lda, (size_t)d->stride_a, rf_cl_buffer(d->b), d->b_offset, (size_t)d->ldb,
            (size_t)d->stride_b, d->beta, rf_cl_buffer(d->c), d->c_offset, (size_t)d->ldc, (size_t)d->stride_c,
            (size_t)d->batch, &st->queue, NULL);
    }
    if (s != CLBlastSuccess) {
        rf_status status = (s == CLBlastInsufficientMemoryA || s == CLBlastInsufficientMemoryB ||
                             s == CLBlastInsufficientMemoryC || s == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
                             s == CL_OUT_OF_RESOURCES)
                               ? RF_ERR_OUT_OF_MEMORY
                           : (s == CL_BUILD_PROGRAM_FAILURE) ? RF_ERR_KERNEL_BUILD
                                                             : RF_ERR_BACKEND;
        return rf_device_fail(dev, status, s, clblast_status_name(s), d->batch == 1 ? "CLBlastSgemm" : "CLBlastSgemmStridedBatched", __FILE__,
                              __LINE__, "m=%lld n=%lld k=%lld batch=%lld transA=%d transB=%d", (long long)d->m,
                              (long long)d->n, (long long)d->k, (long long)d->batch, d->trans_a, d->trans_b);
    }
    return RF_OK;
}

/* CLBlast ships no tuning for PoCL on x86 CPUs and falls back to defaults
 * aimed at GPUs. These parameters come from CLBlast's own tuners
 * (clblast-utils: clblast_tuner_xgemm_direct at 256^3, the copy/pad/
 * transpose tuners) and, for Xgemm, a search on an idle machine around the
 * tuner's best at 1024^3: 128 x 128 tiles, 8-wide vectors, no local memory
 * (PoCL's work-group loops keep the tiles in cache themselves), ~2x the
 * tuner's pick. Run on PoCL 3.1's pthread device (AVX-512 x86); see
 * docs/backend.md and bench/RESULTS.md for the measured effect. CLBlast
 * keeps them per cl_device_id for the whole process. */
typedef struct tuned_kernel {
    const char *kernel;
    size_t count;
    const char *names[16];
    size_t values[16];
} tuned_kernel;

static const tuned_kernel pocl_cpu_tuning[] = {
    {"Xgemm", 16,
     {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB", "NDIMC", "NWG", "SA", "SB", "STRM", "STRN", "VWM", "VWN"},
     {0, 1, 64, 2, 8, 8, 128, 8, 8, 128, 0, 0, 0, 0, 8, 4}},
    {"XgemmDirect", 10,
     {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"},
     {16, 8, 16, 16, 8, 0, 1, 2, 1, 64}},
    /* The indirect path's pre/post-processing kernels (clblast_tuner_copy_fast,
     * _copy_pad, _transpose_fast, _transpose_pad). */
    {"Copy", 4, {"COPY_DIMX", "COPY_DIMY", "COPY_VW", "COPY_WPT"}, {16, 8, 8, 4}},
    {"Pad", 4, {"PAD_DIMX", "PAD_DIMY", "PAD_WPTX", "PAD_WPTY"}, {16, 16, 1, 1}},
    {"Transpose", 4, {"TRA_DIM", "TRA_PAD", "TRA_SHUFFLE", "TRA_WPT"}, {8, 0, 0, 16}},
    {"Padtranspose", 3, {"PADTRA_PAD", "PADTRA_TILE", "PADTRA_WPT"}, {1, 64, 1}},
    /* With the Xgemm above, the indirect path (pad/transpose, then Xgemm) beats
     * the direct kernel from about 128^3 multiply-adds; below that the
     * padding to 128 x 128 tiles costs more than it saves. */
    {"GemmRoutine", 1, {"XGEMM_MIN_INDIRECT_SIZE"}, {128}},
};

void rf_opencl_gemm_tune_device(rf_device *dev) {
    rf_opencl_state *st = dev->native;
    if (!st->is_pocl || dev->info.type != RF_DEVICE_CPU) return;
    for (size_t i = 0; i < sizeof pocl_cpu_tuning / sizeof pocl_cpu_tuning[0]; i++) {
        const tuned_kernel *t = &pocl_cpu_tuning[i];
        /* A refusal leaves CLBlast's defaults in place: slower, still correct. */
        CLBlastOverrideParameters(st->device_id, t->kernel, CLBlastPrecisionSingle, t->count, (const char **)t->names,
                                  t->values);
    }
}
