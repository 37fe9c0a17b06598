/* fast.h — the cpu device's fast kernels (fast mode, cpu_backend.h): float
 * arithmetic in vectorizable loops, work split across the handle's threads
 * by rules that depend only on the shapes. Arguments as the kernel table's
 * slots (backend/kernels.h); each returns false for a case it does not
 * cover (an unusual layout, no scratch memory), and kernels_<family>.c then
 * runs the reference kernel, as it does in reference mode. Tested against
 * the reference in test_backend_ops like any other device. */
#ifndef RFDETR_CPU_FAST_H
#define RFDETR_CPU_FAST_H

#include "backend/kernels.h"

bool cpu_fast_unary(rf_device *dev, const rf_unary_args *a);
bool cpu_fast_unary_backward(rf_device *dev, const rf_unary_backward_args *a);
bool cpu_fast_binary(rf_device *dev, const rf_binary_args *a);
bool cpu_fast_copy(rf_device *dev, const rf_copy_args *a);
bool cpu_fast_reduce(rf_device *dev, const rf_reduce_args *a);
bool cpu_fast_max_last(rf_device *dev, const rf_max_last_args *a);
bool cpu_fast_max_last_backward(rf_device *dev, const rf_max_last_backward_args *a);
bool cpu_fast_softmax(rf_device *dev, const rf_softmax_args *a);
bool cpu_fast_softmax_backward(rf_device *dev, const rf_softmax_backward_args *a);
bool cpu_fast_layernorm(rf_device *dev, const rf_layernorm_args *a);
bool cpu_fast_layernorm_backward(rf_device *dev, const rf_layernorm_backward_args *a);

bool cpu_fast_im2col(rf_device *dev, const rf_im2col_args *a);
bool cpu_fast_col2im(rf_device *dev, const rf_col2im_args *a);

bool cpu_fast_grid_sample(rf_device *dev, const rf_grid_sample_args *a);
bool cpu_fast_grid_sample_backward(rf_device *dev, const rf_grid_sample_backward_args *a);
bool cpu_fast_deform_attn(rf_device *dev, const rf_deform_attn_args *a);
bool cpu_fast_deform_attn_backward(rf_device *dev, const rf_deform_attn_backward_args *a);
bool cpu_fast_gather_rows(rf_device *dev, const rf_gather_rows_args *a);
bool cpu_fast_gather_rows_backward(rf_device *dev, const rf_gather_rows_backward_args *a);
bool cpu_fast_topk(rf_device *dev, const rf_topk_args *a);

bool cpu_fast_bce(rf_device *dev, const rf_bce_args *a);
bool cpu_fast_bce_backward(rf_device *dev, const rf_bce_backward_args *a);

bool cpu_fast_adamw(rf_device *dev, const rf_adamw_args *a);
bool cpu_fast_sumsq(rf_device *dev, const rf_sumsq_args *a);
bool cpu_fast_ema(rf_device *dev, const rf_ema_args *a);

bool cpu_fast_attention(rf_device *dev, const rf_attention_args *a);
bool cpu_fast_attention_backward(rf_device *dev, const rf_attention_backward_args *a);

#endif
