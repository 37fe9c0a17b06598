/* comm.h — the processes of a training run and the few exchanges the
 * data-parallel trainer needs between them.
 *
 * With MPI (the build found it: RFDETR_HAVE_MPI) a run may span the ranks of
 * MPI_COMM_WORLD, one process per machine or per device group; without it a
 * run is one process and every call below is a local copy. MPI is an
 * existing engine we use, not a transport we wrote: the exchanges are MPI
 * point-to-point messages on host buffers, posted as non-blocking requests
 * and waited for against a deadline, so
 *   - every result is computed on each rank in a fixed order (no
 *     MPI_Allreduce, whose summation order is the implementation's), which
 *     keeps N ranks bit-for-bit equal to N devices in one process;
 *   - a rank that died or hangs stops the others after `timeout_seconds`
 *     with a message naming the ranks that never answered, never a hang.
 * Only the calling (main) thread uses MPI (MPI_THREAD_FUNNELED). */
#ifndef RFDETR_TRAIN_COMM_H
#define RFDETR_TRAIN_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rfdetr.h"

typedef struct rf_comm rf_comm;

/* Initialising and ending MPI are public (rfdetr.h: rf_mpi_init,
 * rf_mpi_finalize, rf_mpi_abort, rf_mpi_built). True after rf_mpi_init. */
bool rf_comm_initialized(void);

/* world: every rank of the initialised MPI; else (or without MPI) this
 * process alone. timeout bounds every later exchange. */
rf_status rf_comm_open(bool world, double timeout_seconds, rf_comm **out);
void rf_comm_free(rf_comm *c);
int rf_comm_rank(const rf_comm *c);
int rf_comm_size(const rf_comm *c);
/* This rank's index among the ranks on its machine, and their number. */
int rf_comm_local_rank(const rf_comm *c);
int rf_comm_local_size(const rf_comm *c);

/* Every rank gives `bytes` bytes (the same count everywhere); recv gets
 * them in rank order (size * bytes). `what` names the exchange in errors. */
rf_status rf_comm_allgather(rf_comm *c, const void *send, size_t bytes, void *recv, const char *what);
/* Rank i gives counts[i] bytes (counts known on every rank); recv gets them
 * in rank order, concatenated. */
rf_status rf_comm_allgatherv(rf_comm *c, const void *send, const size_t *counts, void *recv, const char *what);
/* root's buffer to every rank. */
rf_status rf_comm_broadcast(rf_comm *c, void *buf, size_t bytes, int root, const char *what);
/* Personalised exchange: this rank sends send_counts[q] bytes starting at
 * send + send_offsets[q] to rank q, and receives recv_counts[p] bytes from
 * rank p at recv + recv_offsets[p]. */
rf_status rf_comm_alltoallv(rf_comm *c, const void *send, const size_t *send_counts, const size_t *send_offsets,
                            void *recv, const size_t *recv_counts, const size_t *recv_offsets, const char *what);
/* Element-wise integer sums over the ranks (exact, so any order is the same). */
rf_status rf_comm_sum_i64(rf_comm *c, int64_t *values, int count, const char *what);

/* Changes the bound of later exchanges. */
void rf_comm_set_timeout(rf_comm *c, double timeout_seconds);
/* Seconds this rank has spent waiting in exchanges since the last call. */
double rf_comm_take_wait_seconds(rf_comm *c);

#endif
