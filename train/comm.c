/* comm.c — see comm.h. Without MPI every exchange is a copy within the one
 * process; with it, non-blocking point-to-point messages waited for against
 * the deadline. */
#include "train/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/status.h"

#ifdef RFDETR_HAVE_MPI
#include <mpi.h>
#endif

struct rf_comm {
    int rank, size, local_rank, local_size;
    double timeout, waited;
#ifdef RFDETR_HAVE_MPI
    MPI_Comm world;
    int seq; /* one tag per exchange, so a late message never matches a later one */
#endif
};

void rf_comm_set_timeout(rf_comm *c, double timeout_seconds) { c->timeout = timeout_seconds; }

double rf_comm_take_wait_seconds(rf_comm *c) {
    double w = c->waited;
    c->waited = 0;
    return w;
}

int rf_comm_rank(const rf_comm *c) { return c->rank; }
int rf_comm_size(const rf_comm *c) { return c->size; }
int rf_comm_local_rank(const rf_comm *c) { return c->local_rank; }
int rf_comm_local_size(const rf_comm *c) { return c->local_size; }
void rf_comm_free(rf_comm *c) { free(c); }

#ifndef RFDETR_HAVE_MPI

bool rf_mpi_built(void) { return false; }
rf_status rf_mpi_init(int *argc, char ***argv, int *rank, int *size) {
    return RF_ERROR(RF_ERR_UNSUPPORTED, "this build has no MPI (install libopenmpi-dev and rebuild)");
}
bool rf_comm_initialized(void) { return false; }
void rf_mpi_finalize(void) {}
void rf_mpi_abort(int exit_code) {}

rf_status rf_comm_open(bool world, double timeout_seconds, rf_comm **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    **out = (rf_comm){.rank = 0, .size = 1, .local_rank = 0, .local_size = 1, .timeout = timeout_seconds};
    return RF_OK;
}

rf_status rf_comm_allgather(rf_comm *c, const void *send, size_t bytes, void *recv, const char *what) {
    if (bytes) memmove(recv, send, bytes);
    return RF_OK;
}

rf_status rf_comm_allgatherv(rf_comm *c, const void *send, const size_t *counts, void *recv, const char *what) {
    if (counts[0]) memmove(recv, send, counts[0]);
    return RF_OK;
}

rf_status rf_comm_broadcast(rf_comm *c, void *buf, size_t bytes, int root, const char *what) { return RF_OK; }

rf_status rf_comm_alltoallv(rf_comm *c, const void *send, const size_t *send_counts, const size_t *send_offsets,
                            void *recv, const size_t *recv_counts, const size_t *recv_offsets, const char *what) {
    if (send_counts[0]) memmove((char *)recv + recv_offsets[0], (const char *)send + send_offsets[0], send_counts[0]);
    return RF_OK;
}

rf_status rf_comm_sum_i64(rf_comm *c, int64_t *values, int count, const char *what) { return RF_OK; }

#else /* RFDETR_HAVE_MPI */

static bool initialized;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

bool rf_mpi_built(void) { return true; }
bool rf_comm_initialized(void) { return initialized; }

rf_status rf_mpi_init(int *argc, char ***argv, int *rank, int *size) {
    int provided = 0;
    if (!initialized) {
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return RF_ERROR(RF_ERR_BACKEND, "MPI_Init_thread failed");
        /* Errors come back as codes, so a dead peer becomes our message. */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        initialized = true;
    }
    if (rank) MPI_Comm_rank(MPI_COMM_WORLD, rank);
    if (size) MPI_Comm_size(MPI_COMM_WORLD, size);
    return RF_OK;
}

void rf_mpi_finalize(void) {
    if (initialized) MPI_Finalize();
    initialized = false;
}

void rf_mpi_abort(int exit_code) {
    if (initialized) MPI_Abort(MPI_COMM_WORLD, exit_code);
}

rf_status rf_comm_open(bool world, double timeout_seconds, rf_comm **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    rf_comm *c = *out;
    c->timeout = timeout_seconds;
    c->size = 1;
    c->local_size = 1;
    if (!world || !initialized) return RF_OK; /* one process */
    c->world = MPI_COMM_WORLD;
    MPI_Comm_rank(c->world, &c->rank);
    MPI_Comm_size(c->world, &c->size);
    MPI_Comm node;
    if (MPI_Comm_split_type(c->world, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node) != MPI_SUCCESS) {
        free(c);
        *out = NULL;
        return RF_ERROR(RF_ERR_BACKEND, "MPI: cannot group the ranks by machine");
    }
    MPI_Comm_rank(node, &c->local_rank);
    MPI_Comm_size(node, &c->local_size);
    MPI_Comm_free(&node);
    return RF_OK;
}

/* Messages above 1 GiB go in pieces: MPI counts are int. */
#define PIECE ((size_t)1 << 30)

typedef struct pending {
    MPI_Request *req;
    int *peer;       /* the rank each request talks to */
    bool *is_recv;
    int count, cap;
    rf_status status;
} pending;

static void post(pending *p, rf_comm *c, void *buf, size_t bytes, int peer, bool recv) {
    /* Both sides know every count, so empty messages are skipped on both. */
    if (p->status != RF_OK || bytes == 0) return;
    for (size_t at = 0; at < bytes; at += PIECE) {
        if (p->count == p->cap) {
            int cap = p->cap ? p->cap * 2 : 16;
            MPI_Request *r = realloc(p->req, (size_t)cap * sizeof *r);
            if (r) p->req = r;
            int *pe = realloc(p->peer, (size_t)cap * sizeof *pe);
            if (pe) p->peer = pe;
            bool *ir = realloc(p->is_recv, (size_t)cap * sizeof *ir);
            if (ir) p->is_recv = ir;
            if (!r || !pe || !ir) {
                p->status = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
                return;
            }
            p->cap = cap;
        }
        int n = (int)(bytes - at < PIECE ? bytes - at : PIECE);
        int tag = c->seq % 30000;
        int rc = recv ? MPI_Irecv((char *)buf + at, n, MPI_BYTE, peer, tag, c->world, &p->req[p->count])
                      : MPI_Isend((char *)buf + at, n, MPI_BYTE, peer, tag, c->world, &p->req[p->count]);
        if (rc != MPI_SUCCESS) {
            p->status = RF_ERROR(RF_ERR_BACKEND, "rank %d: MPI could not post a message %s rank %d", c->rank,
                                 recv ? "from" : "to", peer);
            return;
        }
        p->peer[p->count] = peer;
        p->is_recv[p->count] = recv;
        p->count++;
    }
}

/* Waits for every request until the deadline; names the ranks that never
 * answered. */
static rf_status finish(pending *p, rf_comm *c, const char *what) {
    rf_status s = p->status;
    double start = now_seconds();
    /* Polls back off from 50 us to 1 ms: a short wait ends promptly, and a
     * long one (a rank waiting out another's evaluation, or bench_parallel's
     * baseline) does not take 20,000 wake-ups a second from the ranks and
     * loader threads that share its cores. */
    long pause_ns = 50000;
    while (s == RF_OK && p->count) {
        int done = 0;
        if (MPI_Testall(p->count, p->req, &done, MPI_STATUSES_IGNORE) != MPI_SUCCESS) {
            s = RF_ERROR(RF_ERR_BACKEND, "rank %d: an MPI message failed during %s (a rank died?)", c->rank, what);
            break;
        }
        if (done) break;
        if (now_seconds() - start > c->timeout) {
            char missing[512] = "";
            size_t at = 0;
            int last = -1;
            for (int i = 0; i < p->count && at + 16 < sizeof missing; i++) {
                int flag = 0;
                MPI_Test(&p->req[i], &flag, MPI_STATUS_IGNORE);
                if (!flag && p->peer[i] != last) {
                    at += (size_t)snprintf(missing + at, sizeof missing - at, "%s%d", at ? ", " : "", p->peer[i]);
                    last = p->peer[i];
                }
            }
            s = RF_ERROR(RF_ERR_BACKEND,
                         "rank %d waited %.0f s for rank %s during %s: that rank failed, was killed or hangs "
                         "(raise the bound with --comm-timeout)",
                         c->rank, c->timeout, missing[0] ? missing : "?", what);
            break;
        }
        struct timespec ts = {0, pause_ns};
        nanosleep(&ts, NULL);
        pause_ns = pause_ns * 2 < 1000000 ? pause_ns * 2 : 1000000;
    }
    c->waited += now_seconds() - start;
    c->seq++;
    free(p->req);
    free(p->peer);
    free(p->is_recv);
    return s;
}

rf_status rf_comm_allgatherv(rf_comm *c, const void *send, const size_t *counts, void *recv, const char *what) {
    size_t *offsets = malloc((size_t)c->size * sizeof *offsets);
    if (!offsets) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    size_t at = 0;
    for (int i = 0; i < c->size; i++) {
        offsets[i] = at;
        at += counts[i];
    }
    if (counts[c->rank]) memmove((char *)recv + offsets[c->rank], send, counts[c->rank]);
    pending p = {0};
    for (int i = 0; i < c->size; i++) {
        if (i == c->rank) continue;
        post(&p, c, (char *)recv + offsets[i], counts[i], i, true);
        post(&p, c, (void *)send, counts[c->rank], i, false);
    }
    free(offsets);
    return finish(&p, c, what);
}

rf_status rf_comm_allgather(rf_comm *c, const void *send, size_t bytes, void *recv, const char *what) {
    size_t *counts = malloc((size_t)c->size * sizeof *counts);
    if (!counts) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < c->size; i++) counts[i] = bytes;
    rf_status s = rf_comm_allgatherv(c, send, counts, recv, what);
    free(counts);
    return s;
}

rf_status rf_comm_broadcast(rf_comm *c, void *buf, size_t bytes, int root, const char *what) {
    if (c->size == 1) return RF_OK;
    pending p = {0};
    if (c->rank == root) {
        for (int i = 0; i < c->size; i++)
            if (i != root) post(&p, c, buf, bytes, i, false);
    } else {
        post(&p, c, buf, bytes, root, true);
    }
    return finish(&p, c, what);
}

rf_status rf_comm_alltoallv(rf_comm *c, const void *send, const size_t *send_counts, const size_t *send_offsets,
                            void *recv, const size_t *recv_counts, const size_t *recv_offsets, const char *what) {
    if (send_counts[c->rank])
        memmove((char *)recv + recv_offsets[c->rank], (const char *)send + send_offsets[c->rank], send_counts[c->rank]);
    pending p = {0};
    for (int i = 0; i < c->size; i++) {
        if (i == c->rank) continue;
        post(&p, c, (char *)recv + recv_offsets[i], recv_counts[i], i, true);
        post(&p, c, (char *)send + send_offsets[i], send_counts[i], i, false);
    }
    return finish(&p, c, what);
}

rf_status rf_comm_sum_i64(rf_comm *c, int64_t *values, int count, const char *what) {
    if (c->size == 1) return RF_OK;
    int64_t *all = malloc((size_t)c->size * (size_t)count * sizeof *all);
    if (!all) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    rf_status s = rf_comm_allgather(c, values, (size_t)count * sizeof *values, all, what);
    if (s == RF_OK)
        for (int k = 0; k < count; k++) {
            int64_t sum = 0;
            for (int i = 0; i < c->size; i++) sum += all[(size_t)i * count + k];
            values[k] = sum;
        }
    free(all);
    return s;
}

#endif /* RFDETR_HAVE_MPI */
