/* comm_nccl.h — the gradient sum of train/replicas.c on CUDA device memory
 * with NCCL, for runs whose every replica (every rank's) is a CUDA device
 * and whose build found NCCL (RFDETR_HAVE_NCCL). MPI only starts it: rank 0
 * makes the NCCL unique id and broadcasts it (as llm.c does).
 *
 * The sum is the host's, moved onto the GPUs: with D replicas the slab is
 * cut into D slices; replica q receives slice q of every active replica's
 * micro-batch gradient (NCCL point-to-point) and adds them in global
 * micro-batch order with the backend's elementwise add (an IEEE float add,
 * the same bits as the host's); then the summed slices are all-gathered
 * into every replica's gradient slab. */
#ifndef RFDETR_TRAIN_COMM_NCCL_H
#define RFDETR_TRAIN_COMM_NCCL_H

#include <stdbool.h>
#include <stdint.h>

#include "train/comm.h"
#include "train/replicas.h"

typedef struct rf_nccl rf_nccl;

/* True when this build has NCCL. */
bool rf_nccl_built(void);
/* Connects the local replicas (count of them, global indices global_first..)
 * to the run's global_count replicas over NCCL. */
rf_status rf_nccl_open(rf_comm *comm, rf_replica *locals, int count, int global_first, int global_count,
                       int64_t elements, rf_nccl **out);
/* One round of micro-batch gradients (on the devices) into the slices. */
rf_status rf_nccl_sum_round(rf_nccl *n, int round, int active_global);
/* The summed slices into every local replica's gradient slab. */
rf_status rf_nccl_share_sum(rf_nccl *n);
void rf_nccl_free(rf_nccl *n);

#endif
