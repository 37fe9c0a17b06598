/* comm_nccl.c — see comm_nccl.h. The one file outside backend/ that calls
 * a vendor API: NCCL is a communication engine on CUDA memory, and its
 * calls need the CUDA runtime's device and stream. */
#include "train/comm_nccl.h"

#include <stdlib.h>
#include <string.h>

#include "backend/status.h"

#ifndef RFDETR_HAVE_NCCL

bool rf_nccl_built(void) { return false; }
rf_status rf_nccl_open(rf_comm *comm, rf_replica *locals, int count, int global_first, int global_count,
                       int64_t elements, rf_nccl **out) {
    *out = NULL;
    return RF_ERROR(RF_ERR_UNSUPPORTED, "this build has no NCCL (configure with -DRFDETR_NCCL_ROOT=...)");
}
rf_status rf_nccl_sum_round(rf_nccl *n, int round, int active_global) { return RF_ERR_UNSUPPORTED; }
rf_status rf_nccl_share_sum(rf_nccl *n) { return RF_ERR_UNSUPPORTED; }
void rf_nccl_free(rf_nccl *n) {}

#else

#include <cuda_runtime.h>
#include <nccl.h>

#include "backend/kernels.h"

struct rf_nccl {
    rf_replica *locals;
    int count, global_first, global_count;
    int64_t elements, slice; /* slice: elements per replica's slice (the last may be shorter) */
    ncclComm_t comms[RF_MAX_LOCAL_DEVICES];
    cudaStream_t streams[RF_MAX_LOCAL_DEVICES];
    rf_buffer *received[RF_MAX_LOCAL_DEVICES]; /* global_count x slice: every replica's slice for this one */
    rf_buffer *sum[RF_MAX_LOCAL_DEVICES];      /* slice: this replica's part of the sum */
    rf_buffer *gathered[RF_MAX_LOCAL_DEVICES]; /* global_count x slice: the whole sum */
};

bool rf_nccl_built(void) { return true; }

#define NCCL_TRY(call, what)                                                                                   \
    do {                                                                                                       \
        ncclResult_t r_ = (call);                                                                              \
        if (r_ != ncclSuccess)                                                                                 \
            return RF_ERROR(RF_ERR_BACKEND, "NCCL %s: %s (%s)", what, ncclGetErrorString(r_), ncclGetLastError(NULL)); \
    } while (0)
#define CUDA_TRY(call, what)                                                                       \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) return RF_ERROR(RF_ERR_BACKEND, "CUDA %s: %s", what, cudaGetErrorString(e_)); \
    } while (0)

static int64_t slice_len(const rf_nccl *n, int q) {
    int64_t begin = n->slice * q, end = begin + n->slice < n->elements ? begin + n->slice : n->elements;
    return end > begin ? end - begin : 0;
}

static float *device_pointer(const rf_buffer *b) { return (float *)b->native; }

rf_status rf_nccl_open(rf_comm *comm, rf_replica *locals, int count, int global_first, int global_count,
                       int64_t elements, rf_nccl **out) {
    *out = NULL;
    rf_nccl *n = calloc(1, sizeof *n);
    if (!n) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    *n = (rf_nccl){.locals = locals, .count = count, .global_first = global_first, .global_count = global_count,
                   .elements = elements, .slice = (elements + global_count - 1) / global_count};
    *out = n;
    ncclUniqueId id;
    if (rf_comm_rank(comm) == 0) NCCL_TRY(ncclGetUniqueId(&id), "making the unique id");
    RF_TRY(rf_comm_broadcast(comm, &id, sizeof id, 0, "starting NCCL"));
    size_t slice_bytes = (size_t)n->slice * sizeof(float);
    for (int i = 0; i < count; i++) {
        RF_TRY(rf_buffer_alloc(locals[i].dev, slice_bytes * (size_t)global_count, &n->received[i]));
        RF_TRY(rf_buffer_alloc(locals[i].dev, slice_bytes, &n->sum[i]));
        RF_TRY(rf_buffer_alloc(locals[i].dev, slice_bytes * (size_t)global_count, &n->gathered[i]));
        CUDA_TRY(cudaSetDevice(locals[i].dev->info.index), "selecting the device");
        CUDA_TRY(cudaStreamCreateWithFlags(&n->streams[i], cudaStreamNonBlocking), "creating a stream");
    }
    NCCL_TRY(ncclGroupStart(), "group start");
    for (int i = 0; i < count; i++) {
        CUDA_TRY(cudaSetDevice(locals[i].dev->info.index), "selecting the device");
        NCCL_TRY(ncclCommInitRank(&n->comms[i], global_count, id, global_first + i), "joining the replicas");
    }
    NCCL_TRY(ncclGroupEnd(), "group end");
    return RF_OK;
}

/* Waits for NCCL's work on every local device. */
static rf_status finish(rf_nccl *n) {
    for (int i = 0; i < n->count; i++) {
        CUDA_TRY(cudaSetDevice(n->locals[i].dev->info.index), "selecting the device");
        CUDA_TRY(cudaStreamSynchronize(n->streams[i]), "waiting for NCCL");
    }
    return RF_OK;
}

/* sum (+)= received[g] on replica i's device, with the backend's add. */
static rf_status add_slice(rf_nccl *n, int i, int g, bool start) {
    rf_device *dev = n->locals[i].dev;
    int64_t len = slice_len(n, n->global_first + i);
    if (len == 0) return RF_OK;
    size_t from = (size_t)g * (size_t)n->slice;
    if (start) return rf_buffer_copy(n->sum[i], 0, n->received[i], from * sizeof(float), (size_t)len * sizeof(float));
    rf_binary_args args = {.op = RF_BINARY_ADD, .ndim = 1, .shape = {len}, .accumulate = false};
    args.a = (rf_view){.buf = n->sum[i], .off = 0, .stride = {1}};
    args.b = (rf_view){.buf = n->received[i], .off = from, .stride = {1}};
    args.y = args.a;
    return rf_kernel_binary(dev, &args);
}

rf_status rf_nccl_sum_round(rf_nccl *n, int round, int active_global) {
    /* The backend's streams must have finished the gradients. */
    for (int i = 0; i < n->count; i++) RF_TRY(rf_device_synchronize(n->locals[i].dev));
    NCCL_TRY(ncclGroupStart(), "group start");
    for (int i = 0; i < n->count; i++) {
        int me = n->global_first + i;
        float *grads = device_pointer(n->locals[i].model->params->grads);
        if (me < active_global)
            for (int q = 0; q < n->global_count; q++)
                if (slice_len(n, q))
                    NCCL_TRY(ncclSend(grads + (size_t)q * n->slice, (size_t)slice_len(n, q), ncclFloat, q, n->comms[i],
                                      n->streams[i]),
                             "sending a gradient slice");
        if (slice_len(n, me))
            for (int g = 0; g < active_global; g++)
                NCCL_TRY(ncclRecv(device_pointer(n->received[i]) + (size_t)g * n->slice, (size_t)slice_len(n, me),
                                  ncclFloat, g, n->comms[i], n->streams[i]),
                         "receiving a gradient slice");
    }
    NCCL_TRY(ncclGroupEnd(), "group end");
    RF_TRY(finish(n));
    /* Global micro-batch order, as the host sum. */
    for (int i = 0; i < n->count; i++)
        for (int g = 0; g < active_global; g++) RF_TRY(add_slice(n, i, g, round == 0 && g == 0));
    return RF_OK;
}

rf_status rf_nccl_share_sum(rf_nccl *n) {
    for (int i = 0; i < n->count; i++) RF_TRY(rf_device_synchronize(n->locals[i].dev));
    NCCL_TRY(ncclGroupStart(), "group start");
    for (int i = 0; i < n->count; i++)
        NCCL_TRY(ncclAllGather(device_pointer(n->sum[i]), device_pointer(n->gathered[i]), (size_t)n->slice, ncclFloat,
                               n->comms[i], n->streams[i]),
                 "gathering the summed gradient");
    NCCL_TRY(ncclGroupEnd(), "group end");
    RF_TRY(finish(n));
    for (int i = 0; i < n->count; i++)
        RF_TRY(rf_buffer_copy(n->locals[i].model->params->grads, 0, n->gathered[i], 0,
                              (size_t)n->elements * sizeof(float)));
    return RF_OK;
}

void rf_nccl_free(rf_nccl *n) {
    if (!n) return;
    for (int i = 0; i < n->count; i++) {
        if (n->comms[i]) ncclCommDestroy(n->comms[i]);
        if (n->streams[i]) cudaStreamDestroy(n->streams[i]);
        rf_buffer_free(n->received[i]);
        rf_buffer_free(n->sum[i]);
        rf_buffer_free(n->gathered[i]);
    }
    free(n);
}

#endif
