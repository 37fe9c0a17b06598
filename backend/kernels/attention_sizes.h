/* attention_sizes.h — the tile sizes of the GPU attention kernels
 * (attention.h), apart so that core/ops.c can route heads to them without
 * the kernel source's device math. */
#ifndef RFDETR_KERNELS_ATTENTION_SIZES_H
#define RFDETR_KERNELS_ATTENTION_SIZES_H

#define RF_ATTN_ROWS 64 /* work items per group: rows of the tile it owns */
#define RF_ATTN_KEYS 32 /* keys (backward: query rows) per tile in local memory */
#define RF_ATTN_D 64    /* widest head and value rows */

#endif
