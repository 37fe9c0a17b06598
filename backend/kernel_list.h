/* kernel_list.h — the one list of kernel slots. Each line is
 *
 *   RF_KERNEL_SLOT(family, slot, args type, (buffer fields), gpu|host)
 *
 * where the buffer fields are the args' rf_mem and rf_view members (both
 * start with the buffer and its element offset), and the last column says
 * whether the GPU backends have the kernel (gpu) or run the slot on the
 * host through the cpu kernel while it is brought up (host: each call
 * copies its buffers to the host and back, counted and warned once per
 * kernel and device). Including this file with
 * RF_KERNEL_SLOT defined generates, in backend/kernels.h, the table type
 * every backend fills (struct rf_kernels), the call wrappers the ops use
 * (rf_kernel_<slot>) and the slot names; in backend/kernel_fallback.c, how
 * to run an empty slot on the host; and in tests/test_backend_ops.c, the
 * check that every backend fills every slot. Adding a kernel starts here.
 * No include guard on purpose. */

RF_KERNEL_SLOT(basic, unary, rf_unary_args, (x, y), gpu)
RF_KERNEL_SLOT(basic, unary_backward, rf_unary_backward_args, (x, y, dy, dx), gpu)
RF_KERNEL_SLOT(basic, binary, rf_binary_args, (a, b, y), gpu)
RF_KERNEL_SLOT(basic, copy, rf_copy_args, (src, dst), gpu)
RF_KERNEL_SLOT(basic, convert, rf_convert_args, (src, dst), gpu)
RF_KERNEL_SLOT(basic, reduce, rf_reduce_args, (x, y), gpu)
RF_KERNEL_SLOT(basic, max_last, rf_max_last_args, (x, values, indices), gpu)
RF_KERNEL_SLOT(basic, max_last_backward, rf_max_last_backward_args, (dy, indices, dx), gpu)
RF_KERNEL_SLOT(basic, softmax, rf_softmax_args, (x, y, mask), gpu)
RF_KERNEL_SLOT(basic, softmax_backward, rf_softmax_backward_args, (y, dy, dx), gpu)
RF_KERNEL_SLOT(basic, layernorm, rf_layernorm_args, (x, y, mean, rstd, gamma, beta), gpu)
RF_KERNEL_SLOT(basic, layernorm_backward, rf_layernorm_backward_args, (x, mean, rstd, dy, dx, gamma, dgamma, dbeta), gpu)
RF_KERNEL_SLOT(conv, im2col, rf_im2col_args, (x, col), gpu)
RF_KERNEL_SLOT(conv, col2im, rf_col2im_args, (col, x), gpu)
RF_KERNEL_SLOT(sampling, grid_sample, rf_grid_sample_args, (x, grid, y), gpu)
RF_KERNEL_SLOT(sampling, grid_sample_backward, rf_grid_sample_backward_args, (x, grid, dy, dx, dgrid), gpu)
RF_KERNEL_SLOT(sampling, deform_attn, rf_deform_attn_args,
               (value, level_shapes, level_start, sampling_locations, attention_weights, output), gpu)
RF_KERNEL_SLOT(sampling, deform_attn_backward, rf_deform_attn_backward_args,
               (value, level_shapes, level_start, sampling_locations, attention_weights, doutput, dvalue,
                dsampling_locations, dattention_weights), gpu)
RF_KERNEL_SLOT(sampling, gather_rows, rf_gather_rows_args, (src, indices, out), gpu)
RF_KERNEL_SLOT(sampling, gather_rows_backward, rf_gather_rows_backward_args, (dout, indices, dsrc), gpu)
RF_KERNEL_SLOT(sampling, topk, rf_topk_args, (x, values, indices), gpu)
RF_KERNEL_SLOT(loss, bce, rf_bce_args, (x, pos_w, neg_w, loss), gpu)
RF_KERNEL_SLOT(loss, bce_backward, rf_bce_backward_args, (x, pos_w, neg_w, dloss, dx, dpos_w, dneg_w), gpu)
RF_KERNEL_SLOT(loss, box_loss, rf_box_loss_args, (pred, target, l1, giou), gpu)
RF_KERNEL_SLOT(loss, box_loss_backward, rf_box_loss_backward_args, (pred, target, dl1, dgiou, dpred), gpu)
RF_KERNEL_SLOT(optim, adamw, rf_adamw_args, (param, grad, m, v, seg_start, seg_lr, seg_wd), gpu)
RF_KERNEL_SLOT(optim, sumsq, rf_sumsq_args, (x, out), gpu)
RF_KERNEL_SLOT(optim, ema, rf_ema_args, (x, ema), gpu)
RF_KERNEL_SLOT(rng, fill, rf_rng_args, (out), gpu)
RF_KERNEL_SLOT(attention, attention, rf_attention_args, (q, k, v, o, mask, lse), gpu)
RF_KERNEL_SLOT(attention, attention_backward, rf_attention_backward_args, (q, k, v, o, dout, dq, dk, dv, mask, lse), gpu)
