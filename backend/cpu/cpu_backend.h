/* cpu_backend.h — what the cpu backend offers beyond the common contract.
 *
 * A cpu device handle runs in one of two modes:
 *   - fast (the default): float kernels (backend/cpu/fast_*.c) and OpenBLAS
 *     GEMM, split across the handle's own worker threads
 *     (rf_device_options.cpu_threads, 0 = one per online core). The split
 *     depends only on the shapes, so results are identical run after run
 *     and for any thread count. Tested like any other device against the
 *     reference (test_backend_ops, NMSE).
 *   - reference: the plain-C kernels that accumulate in double
 *     (backend/cpu/ref_*.c) and the double-accumulating reference GEMM, on
 *     one thread: the oracle every device, the fast cpu mode included, is
 *     tested against.
 * OpenBLAS runs single-threaded inside each part: the device opens it with
 * openblas_set_num_threads(1) (process-wide, OpenBLAS's own setting), so
 * its workers never spin against ours. */
#ifndef RFDETR_CPU_BACKEND_H
#define RFDETR_CPU_BACKEND_H

#include "backend/backend.h"

/* Chooses the mode of a cpu device (reference = true: the oracle).
 * RF_ERR_INVALID_ARGUMENT for non-cpu devices. */
rf_status rf_cpu_set_reference(rf_device *dev, bool reference);
bool rf_cpu_is_reference(const rf_device *dev);
/* Threads the handle's kernels use (the caller included). */
int rf_cpu_threads(const rf_device *dev);
/* Which GEMM the handle runs, for benchmarks and logs: "reference",
 * "rfdetr.c AVX-512" or "OpenBLAS <core>". */
const char *rf_cpu_gemm_name(const rf_device *dev);
/* For tests and benchmarks: the fast mode's GEMM from OpenBLAS even where
 * the CPU runs fast_gemm.c's (what CPUs without AVX-512 get). */
rf_status rf_cpu_use_openblas(rf_device *dev, bool openblas);
/* How the fast mode multiplies bf16 operands: AMX's tile product,
 * AVX512_BF16's vdpbf16ps (both on bf16 pairs, amx_gemm.h), or an f32
 * product of operands rounded to bf16 (any CPU). A device starts with the
 * first its CPU has; tests and benchmarks may pick another the CPU has
 * (RF_ERR_UNSUPPORTED for one it lacks). */
typedef enum rf_cpu_bf16_products { RF_CPU_BF16_AMX, RF_CPU_BF16_AVX512BF16, RF_CPU_BF16_ROUNDED } rf_cpu_bf16_products;
rf_status rf_cpu_set_bf16_products(rf_device *dev, rf_cpu_bf16_products how);
const char *rf_cpu_bf16_products_name(rf_cpu_bf16_products how);
/* For tests: divides the work per part of every fast kernel by `divisor`
 * (1 restores the default), so that small test cases are split into as
 * many parts as large ones and the parallel paths get checked. */
rf_status rf_cpu_set_split_divisor(rf_device *dev, int64_t divisor);

/* The reference GEMM on host arrays (elements addressed from each pointer). */
void rf_cpu_gemm_reference(const rf_gemm_desc *d, const float *a, const float *b, float *c);

#endif
