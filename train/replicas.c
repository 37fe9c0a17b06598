/* replicas.c — see replicas.h. */
#include "train/replicas.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/status.h"
#include "data/loader.h"
#include "train/comm_nccl.h"
#include "train/evaluate.h"

/* A device's kernels, as far as rounding goes: replicas with equal kinds
 * compute equal bits from equal inputs. */
#define KIND_BYTES 512

struct rf_replicas {
    int count;
    rf_replica r[RF_MAX_LOCAL_DEVICES];
    rf_comm *comm;
    int rank, ranks;
    int global_count, global_first;
    int *rank_first, *rank_count; /* [ranks] */
    char (*names)[32];            /* [global_count] device of each global replica */
    bool each_steps;
    bool all_cuda;
    rf_nccl *nccl;                /* CUDA everywhere and NCCL built: the sum on the GPUs */
    double timeout;
    int64_t elements;             /* of the parameter slab */
    float *sum;                   /* the step's summed gradient */
    float *send, *recv;           /* slices in flight between ranks */
    double exchange_seconds;
    /* the threads */
    pthread_t threads[RF_MAX_LOCAL_DEVICES];
    bool running[RF_MAX_LOCAL_DEVICES];
    int started;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    uint64_t generation;
    int pending;
    rf_replica_job job;
    void *arg;
    int active_global;
    bool stopping, hung;
};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- device lists -------------------------------------------------------------------------- */

rf_status rf_device_list_parse(const char *list, int local_rank, int local_size, char names[][32], int max,
                               int *count) {
    *count = 0;
    if (!list || !*list) return RF_ERROR(RF_ERR_NO_DEVICE, "no device named");
    int groups = 1;
    for (const char *p = list; *p; p++) groups += *p == '/';
    if (groups > 1 && groups != local_size)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT,
                        "device list '%s' has %d groups separated by '/' (one per MPI rank of a machine), but this "
                        "machine runs %d rank%s",
                        list, groups, local_size, local_size == 1 ? "" : "s");
    const char *group = list;
    for (int i = 0; groups > 1 && i < local_rank; i++) group = strchr(group, '/') + 1;
    size_t group_len = strcspn(group, "/");
    for (size_t at = 0; at <= group_len;) {
        size_t len = strcspn(group + at, ",/");
        if (len > group_len - at) len = group_len - at;
        char name[64];
        if (len == 0 || len >= sizeof name)
            return RF_ERROR(RF_ERR_NO_DEVICE, "device list '%s': %s device name", list, len ? "an overlong" : "an empty");
        memcpy(name, group + at, len);
        name[len] = '\0';
        rf_device_info info;
        RF_TRY(rf_device_check_name(name, &info));
        for (int i = 0; i < *count; i++)
            if (!strcmp(names[i], info.name))
                return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "device list '%s' names %s twice: one replica per device", list,
                                info.name);
        if (*count == max)
            return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "device list '%s': at most %d devices per process", list, max);
        snprintf(names[(*count)++], 32, "%s", info.name);
        at += len + 1;
    }
    return RF_OK;
}

/* ---- threads ----------------------------------------------------------------------------------- */

static void run_one(rf_replica *r, rf_replica_job job, void *arg) {
    double start = now_seconds();
    r->status = job(r, arg);
    if (r->status != RF_OK) snprintf(r->error, sizeof r->error, "%s", rf_last_error());
    r->busy_seconds += now_seconds() - start;
}

static void *worker_main(void *arg) {
    rf_replica *r = arg;
    rf_replicas *g = r->group;
    uint64_t seen = 0;
    pthread_mutex_lock(&g->lock);
    for (;;) {
        while (!g->stopping && g->generation == seen) pthread_cond_wait(&g->wake, &g->lock);
        if (g->stopping) break;
        seen = g->generation;
        rf_replica_job job = g->job;
        void *job_arg = g->arg;
        bool active = r->global < g->active_global;
        g->running[r->local] = active;
        pthread_mutex_unlock(&g->lock);
        if (active) run_one(r, job, job_arg);
        pthread_mutex_lock(&g->lock);
        g->running[r->local] = false;
        /* Every completion wakes the caller: the first one starts the bound. */
        g->pending--;
        pthread_cond_broadcast(&g->done);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

static const char *where(const rf_replicas *g, int global, char *buf, size_t size) {
    if (g->ranks > 1) {
        int rank = 0;
        while (rank + 1 < g->ranks && g->rank_first[rank + 1] <= global) rank++;
        snprintf(buf, size, "device %s (replica %d, rank %d)", g->names[global], global, rank);
    } else {
        snprintf(buf, size, "device %s (replica %d)", g->names[global], global);
    }
    return buf;
}

/* An exchange between ranks failed: say at which step, and which devices
 * each rank drives, so "rank 1" in the message has a device. */
static rf_status exchange_failed(const rf_replicas *g, rf_status s, int64_t step) {
    if (s == RF_OK) return s;
    char msg[2048], map[512] = "";
    size_t at = 0;
    for (int p = 0; p < g->ranks && at + 64 < sizeof map; p++)
        for (int i = 0; i < g->rank_count[p] && at + 64 < sizeof map; i++)
            at += (size_t)snprintf(map + at, sizeof map - at, "%srank %d %s", at ? ", " : "", p,
                                   g->names[g->rank_first[p] + i]);
    snprintf(msg, sizeof msg, "%.1200s", rf_last_error());
    if (step >= 0)
        return RF_ERROR(s, "at step %lld: %s (devices: %s)", (long long)step + 1, msg, map);
    return RF_ERROR(s, "%s (devices: %s)", msg, map);
}

rf_status rf_replicas_run(rf_replicas *g, rf_replica_job job, void *arg, int active_global, int64_t step) {
    if (g->hung) return RF_ERROR(RF_ERR_INTERNAL, "a replica hung earlier: no more work");
    double start = now_seconds();
    for (int i = 0; i < g->count; i++) {
        g->r[i].status = RF_OK;
        g->r[i].error[0] = '\0';
    }
    double busy_before[RF_MAX_LOCAL_DEVICES];
    for (int i = 0; i < g->count; i++) busy_before[i] = g->r[i].busy_seconds;
    if (!g->started) {
        if (g->r[0].global < active_global) run_one(&g->r[0], job, arg);
    } else {
        pthread_mutex_lock(&g->lock);
        g->job = job;
        g->arg = arg;
        g->active_global = active_global;
        g->pending = g->count;
        g->generation++;
        pthread_cond_broadcast(&g->wake);
        /* The bound runs from the moment the first replica is done: a slow
         * device is waited for, a hung one is not. */
        double first_done = 0;
        while (g->pending > 0) {
            if (g->pending < g->count && first_done == 0) first_done = now_seconds();
            if (first_done == 0) {
                pthread_cond_wait(&g->done, &g->lock);
                continue;
            }
            double deadline = first_done + g->timeout;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            double left = deadline - now_seconds();
            if (left <= 0) {
                g->hung = true;
                break;
            }
            /* wake at least every second to re-check */
            if (left > 1) left = 1;
            ts.tv_sec += (time_t)left;
            ts.tv_nsec += (long)((left - (time_t)left) * 1e9);
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&g->done, &g->lock, &ts);
        }
        if (g->hung) {
            char names[512] = "";
            size_t at = 0;
            char buf[128];
            for (int i = 0; i < g->count && at + 130 < sizeof names; i++)
                if (g->running[i])
                    at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", at ? ", " : "",
                                           where(g, g->r[i].global, buf, sizeof buf));
            pthread_mutex_unlock(&g->lock);
            return RF_ERROR(RF_ERR_BACKEND,
                            "step %lld: %s did not finish within %.0f s of the other devices; it hangs or failed "
                            "(raise the bound with --comm-timeout)",
                            (long long)step + 1, names, g->timeout);
        }
        pthread_mutex_unlock(&g->lock);
    }
    double wall = now_seconds() - start;
    for (int i = 0; i < g->count; i++) g->r[i].waited_seconds += wall - (g->r[i].busy_seconds - busy_before[i]);
    for (int i = 0; i < g->count; i++)
        if (g->r[i].status != RF_OK) {
            char buf[128];
            if (step < 0)
                return RF_ERROR(g->r[i].status, "%s: %s", where(g, g->r[i].global, buf, sizeof buf), g->r[i].error);
            return RF_ERROR(g->r[i].status, "%s at step %lld: %s", where(g, g->r[i].global, buf, sizeof buf),
                            (long long)step + 1, g->r[i].error);
        }
    return RF_OK;
}

/* ---- set-up ------------------------------------------------------------------------------------ */

int rf_replicas_count(const rf_replicas *g) { return g->count; }

void rf_replicas_set_timeout(rf_replicas *g, double timeout_seconds) {
    g->timeout = timeout_seconds;
    if (g->comm) rf_comm_set_timeout(g->comm, timeout_seconds);
}
int rf_replicas_global_count(const rf_replicas *g) { return g->global_count; }

void rf_replicas_shard_loader(const rf_replicas *g, rf_loader_config *lc) {
    if (g->ranks == 1) return; /* every batch is this process's */
    lc->shard_count = g->global_count;
    lc->shard_first = g->global_first;
    lc->shard_span = g->count;
}
rf_replica *rf_replicas_at(rf_replicas *g, int local) { return &g->r[local]; }
bool rf_replicas_writer(const rf_replicas *g) { return g->rank == 0; }

rf_replica *rf_replicas_owner(rf_replicas *g, int global) {
    int local = global - g->global_first;
    return local >= 0 && local < g->count ? &g->r[local] : NULL;
}

const char *rf_replicas_describe(const rf_replicas *g, char *buf, size_t size) {
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < g->global_count && at + 64 < size; i++) {
        int rank = 0;
        while (rank + 1 < g->ranks && g->rank_first[rank + 1] <= i) rank++;
        at += (size_t)snprintf(buf + at, size - at, "%s%s", i ? ", " : "", g->names[i]);
        if (g->ranks > 1) at += (size_t)snprintf(buf + at, size - at, " (rank %d)", rank);
    }
    return buf;
}

static void device_kind(const rf_device *d, char *out) {
    const rf_device_info *i = &d->info;
    snprintf(out, KIND_BYTES, "%.15s|%.200s|%.100s|%.90s|%.90s", i->backend, i->description, i->vendor,
             i->driver_version, i->platform);
}

/* Global replica 0's weights, moments and EMA to every other replica. */
static rf_status copy_slab(rf_replicas *g, rf_buffer *(*slab)(rf_replica *), float *host, const char *what) {
    rf_replica *first = rf_replicas_owner(g, 0);
    size_t bytes = (size_t)g->elements * sizeof(float);
    if (first) RF_TRY(rf_buffer_download(slab(first), 0, host, bytes));
    RF_TRY(rf_comm_broadcast(g->comm, host, bytes, 0, what));
    for (int i = 0; i < g->count; i++)
        if (g->r[i].global != 0) RF_TRY(rf_buffer_upload(slab(&g->r[i]), 0, host, bytes));
    return RF_OK;
}

static rf_buffer *values_of(rf_replica *r) { return r->model->params->values; }
static rf_buffer *moment1_of(rf_replica *r) { return r->model->params->adam_m; }
static rf_buffer *moment2_of(rf_replica *r) { return r->model->params->adam_v; }
static rf_buffer *ema_of(rf_replica *r) { return rf_ema_values(r->ema); }

static rf_status sync_from_first(rf_replicas *g, bool with_optimizer) {
    if (g->global_count == 1) return RF_OK;
    RF_TRY(copy_slab(g, values_of, g->sum, "sharing the initial weights"));
    if (with_optimizer) {
        RF_TRY(copy_slab(g, moment1_of, g->sum, "sharing the optimizer state"));
        RF_TRY(copy_slab(g, moment2_of, g->sum, "sharing the optimizer state"));
    }
    if (g->r[0].ema) RF_TRY(copy_slab(g, ema_of, g->sum, "sharing the EMA"));
    int64_t counters[2] = {0, 0};
    rf_replica *first = rf_replicas_owner(g, 0);
    if (first) counters[0] = rf_adamw_step_count(first->opt), counters[1] = first->ema ? rf_ema_updates(first->ema) : 0;
    RF_TRY(rf_comm_broadcast(g->comm, counters, sizeof counters, 0, "sharing the step count"));
    for (int i = 0; i < g->count; i++) {
        rf_adamw_set_step_count(g->r[i].opt, counters[0]);
        if (g->r[i].ema) rf_ema_set_updates(g->r[i].ema, counters[1]);
    }
    return RF_OK;
}

rf_status rf_replicas_create(char names[][32], int count, const rf_device_options *options, rf_replica *first,
                             rf_replica_job setup, void *setup_arg, rf_comm *comm, double timeout_seconds,
                             rf_replicas **out) {
    *out = NULL;
    if (count < 1 || count > RF_MAX_LOCAL_DEVICES)
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "replicas: %d devices (1..%d)", count, RF_MAX_LOCAL_DEVICES);
    rf_replicas *g = calloc(1, sizeof *g);
    if (!g) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    pthread_cond_init(&g->done, NULL);
    g->count = count;
    g->comm = comm;
    g->timeout = timeout_seconds > 0 ? timeout_seconds : 60;
    g->rank = comm ? rf_comm_rank(comm) : 0;
    g->ranks = comm ? rf_comm_size(comm) : 1;
    g->elements = first->model->params->total;
    g->r[0] = *first;
    for (int i = 0; i < count; i++) {
        g->r[i].local = i;
        g->r[i].group = g;
    }
    *out = g;
    rf_status s = RF_OK;
    /* Who has which replicas, and what their devices are. */
    int *counts = calloc((size_t)g->ranks, sizeof *counts);
    char(*kinds)[KIND_BYTES] = calloc((size_t)g->ranks * RF_MAX_LOCAL_DEVICES, KIND_BYTES);
    char(*all_names)[32] = calloc((size_t)g->ranks * RF_MAX_LOCAL_DEVICES, 32);
    char(*my_kinds)[KIND_BYTES] = calloc(RF_MAX_LOCAL_DEVICES, KIND_BYTES);
    char(*my_names)[32] = calloc(RF_MAX_LOCAL_DEVICES, 32);
    g->rank_first = calloc((size_t)g->ranks, sizeof *g->rank_first);
    g->rank_count = calloc((size_t)g->ranks, sizeof *g->rank_count);
    if (!counts || !kinds || !all_names || !my_kinds || !my_names || !g->rank_first || !g->rank_count)
        s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 1; i < count && s == RF_OK; i++) {
        s = rf_device_open_with(names[i], options, &g->r[i].dev);
        if (s == RF_OK) s = rf_ctx_create(g->r[i].dev, 0, &g->r[i].ctx);
        if (s == RF_OK) s = rf_ctx_create(g->r[i].dev, 0, &g->r[i].stage);
    }
    for (int i = 0; i < count && s == RF_OK; i++) {
        device_kind(g->r[i].dev, my_kinds[i]);
        snprintf(my_names[i], 32, "%s", names[i]);
    }
    if (s == RF_OK && comm) s = rf_comm_allgather(comm, &count, sizeof count, counts, "sharing the device lists");
    if (s == RF_OK && !comm) counts[0] = count;
    if (s == RF_OK && comm)
        s = rf_comm_allgather(comm, my_kinds, (size_t)RF_MAX_LOCAL_DEVICES * KIND_BYTES, kinds, "sharing the device lists");
    if (s == RF_OK && !comm) memcpy(kinds, my_kinds, (size_t)RF_MAX_LOCAL_DEVICES * KIND_BYTES);
    if (s == RF_OK && comm)
        s = rf_comm_allgather(comm, my_names, (size_t)RF_MAX_LOCAL_DEVICES * 32, all_names, "sharing the device lists");
    if (s == RF_OK && !comm) memcpy(all_names, my_names, (size_t)RF_MAX_LOCAL_DEVICES * 32);
    if (s == RF_OK) {
        for (int p = 0; p < g->ranks; p++) {
            g->rank_first[p] = g->global_count;
            g->rank_count[p] = counts[p];
            g->global_count += counts[p];
        }
        g->global_first = g->rank_first[g->rank];
        g->names = calloc((size_t)g->global_count, sizeof *g->names);
        if (!g->names) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        g->each_steps = true;
        g->all_cuda = true;
        for (int p = 0; s == RF_OK && p < g->ranks; p++)
            for (int i = 0; i < counts[p]; i++) {
                memcpy(g->names[g->rank_first[p] + i], all_names[p * RF_MAX_LOCAL_DEVICES + i], 32);
                if (strcmp(kinds[p * RF_MAX_LOCAL_DEVICES + i], kinds[0])) g->each_steps = false;
                if (strncmp(kinds[p * RF_MAX_LOCAL_DEVICES + i], "cuda|", 5)) g->all_cuda = false;
            }
        for (int i = 0; i < count; i++) g->r[i].global = g->global_first + i;
    }
    free(counts);
    free(kinds);
    free(all_names);
    free(my_kinds);
    free(my_names);
    if (s == RF_OK && g->global_count > 1) {
        g->sum = malloc((size_t)g->elements * sizeof *g->sum);
        for (int i = 0; i < count; i++) {
            g->r[i].grads = malloc((size_t)g->elements * sizeof *g->r[i].grads);
            if (!g->r[i].grads) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for %d gradients", count);
        }
        if (!g->sum) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for the gradient sum");
    } else if (s == RF_OK) {
        /* One device: gradients cross the host only for grad-accum. */
        g->sum = malloc((size_t)g->elements * sizeof *g->sum);
        g->r[0].grads = malloc((size_t)g->elements * sizeof *g->r[0].grads);
        if (!g->sum || !g->r[0].grads) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for the gradient sum");
    }
    if (s == RF_OK && count > 1) {
        /* Device drivers compile kernels on these threads (PoCL runs LLVM):
         * give them a main thread's stack, not a small default. */
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, (size_t)64 << 20);
        for (int i = 0; i < count && s == RF_OK; i++) {
            if (pthread_create(&g->threads[i], &attr, worker_main, &g->r[i]) != 0)
                s = RF_ERROR(RF_ERR_INTERNAL, "cannot start the thread of device %s", names[i]);
            else
                g->started++;
        }
        pthread_attr_destroy(&attr);
    }
    /* Models, optimizers and EMAs of replicas 1.., each on its thread. */
    if (s == RF_OK && count > 1) s = rf_replicas_run(g, setup, setup_arg, g->global_first + count, -1);
    if (s == RF_OK) s = sync_from_first(g, true);
    if (s == RF_OK && g->global_count > 1 && g->all_cuda && rf_nccl_built())
        s = rf_nccl_open(comm, g->r, count, g->global_first, g->global_count, g->elements, &g->nccl);
    return s;
}

bool rf_replicas_free(rf_replicas *g) {
    if (!g) return true;
    if (g->started) {
        pthread_mutex_lock(&g->lock);
        g->stopping = true;
        pthread_cond_broadcast(&g->wake);
        pthread_mutex_unlock(&g->lock);
        for (int i = 0; i < g->started; i++) {
            if (g->hung)
                pthread_detach(g->threads[i]);
            else
                pthread_join(g->threads[i], NULL);
        }
    }
    if (g->hung) return false; /* a thread may still use its replica: leave everything to the exit */
    rf_nccl_free(g->nccl);
    for (int i = 0; i < g->count; i++) {
        free(g->r[i].grads);
        if (i == 0) continue;
        rf_ctx_free(g->r[i].ctx);
        rf_ctx_free(g->r[i].stage);
        rf_ema_free(g->r[i].ema);
        rf_adamw_free(g->r[i].opt);
        rfdetr_model_free(g->r[i].model);
        rf_device_close(g->r[i].dev);
    }
    free(g->rank_first);
    free(g->rank_count);
    free(g->names);
    free(g->sum);
    free(g->send);
    free(g->recv);
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->wake);
    pthread_cond_destroy(&g->done);
    free(g);
    return true;
}

/* ---- the gradient sum ------------------------------------------------------------------------- */

rf_status rf_replica_begin_micro_batch(rf_replica *r, bool summing) {
    return summing ? rf_params_zero_grad(r->model->params) : RF_OK;
}

rf_status rf_replica_end_micro_batch(rf_replica *r, bool summing) {
    if (!summing || r->group->nccl) return RF_OK; /* NCCL reads the gradients where they are */
    rf_params *p = r->model->params;
    return rf_buffer_download(p->grads, 0, r->grads, (size_t)p->total * sizeof(float));
}

typedef struct fold_job {
    const float *const *terms; /* [count] each covering [begin, end) at index 0 = element begin */
    int count;
    bool start;
    float *out;                /* element begin */
    int64_t elements;
    int parts;
} fold_job;

/* The one definition of the sum: out = ((out + t0) + t1) + ..., or
 * (t0 + t1) + ... for the first round, element by element, in float. */
static void fold(float *out, const float *const *terms, int count, bool start, int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; e++) {
        float acc = start ? terms[0][e] : out[e] + terms[0][e];
        for (int k = 1; k < count; k++) acc = acc + terms[k][e];
        out[e] = acc;
    }
}

static rf_status fold_part(rf_replica *r, void *arg) {
    fold_job *f = arg;
    int64_t begin = f->elements * r->local / f->parts, end = f->elements * (r->local + 1) / f->parts;
    fold(f->out, f->terms, f->count, f->start, begin, end);
    return RF_OK;
}

static int64_t slice_begin(const rf_replicas *g, int rank) { return g->elements * rank / g->ranks; }

rf_status rf_replicas_sum_round(rf_replicas *g, int round, int active_global, int64_t step) {
    double start = now_seconds();
    const float *terms[RF_MAX_LOCAL_DEVICES * 64];
    if (active_global > (int)(sizeof terms / sizeof terms[0]))
        return RF_ERROR(RF_ERR_UNSUPPORTED, "%d devices in one run: at most %zu", active_global,
                        sizeof terms / sizeof terms[0]);
    rf_status s = RF_OK;
    if (g->nccl) {
        s = exchange_failed(g, rf_nccl_sum_round(g->nccl, round, active_global), step);
    } else if (g->ranks == 1) {
        for (int k = 0; k < active_global; k++) terms[k] = g->r[k].grads;
        fold_job f = {terms, active_global, round == 0, g->sum, g->elements, g->count};
        /* Each thread adds its own range of elements: the order per element is fixed. */
        s = rf_replicas_run(g, fold_part, &f, g->global_count, step);
    } else {
        /* Rank q sums elements [slice_begin(q), slice_begin(q + 1)) of every
         * active replica's gradient; it gets them from their ranks. */
        int mine = active_global - g->global_first;
        if (mine < 0) mine = 0;
        if (mine > g->count) mine = g->count;
        int64_t my_len = slice_begin(g, g->rank + 1) - slice_begin(g, g->rank);
        size_t *sc = calloc((size_t)g->ranks * 4, sizeof *sc), *so = sc + g->ranks, *rc = sc + 2 * g->ranks,
               *ro = sc + 3 * g->ranks;
        if (!g->send) g->send = malloc((size_t)g->elements * (size_t)g->count * sizeof *g->send);
        if (!g->recv) g->recv = malloc((size_t)(my_len + 1) * (size_t)g->global_count * sizeof *g->recv);
        if (!sc || !g->send || !g->recv) {
            free(sc);
            return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for the gradient exchange");
        }
        size_t at = 0;
        for (int q = 0; q < g->ranks; q++) {
            int64_t b = slice_begin(g, q), len = slice_begin(g, q + 1) - b;
            so[q] = at * sizeof(float);
            for (int i = 0; i < mine; i++) {
                memcpy(g->send + at, g->r[i].grads + b, (size_t)len * sizeof(float));
                at += (size_t)len;
            }
            sc[q] = (size_t)mine * (size_t)len * sizeof(float);
        }
        at = 0;
        for (int p = 0; p < g->ranks; p++) {
            int theirs = active_global - g->rank_first[p];
            if (theirs < 0) theirs = 0;
            if (theirs > g->rank_count[p]) theirs = g->rank_count[p];
            ro[p] = at * sizeof(float);
            rc[p] = (size_t)theirs * (size_t)my_len * sizeof(float);
            at += (size_t)theirs * (size_t)my_len;
        }
        s = exchange_failed(g, rf_comm_alltoallv(g->comm, g->send, sc, so, g->recv, rc, ro, "the gradient exchange"),
                            step);
        free(sc);
        /* Arrived in rank order, each rank's in its device order: global order. */
        int64_t b = slice_begin(g, g->rank);
        for (int k = 0; k < active_global; k++) terms[k] = g->recv + (size_t)k * (size_t)my_len - b;
        if (s == RF_OK) fold(g->sum, terms, active_global, round == 0, b, b + my_len);
    }
    g->exchange_seconds += now_seconds() - start;
    return s;
}

static rf_status upload_sum(rf_replica *r, void *arg) {
    rf_params *p = r->model->params;
    return rf_buffer_upload(p->grads, 0, r->group->sum, (size_t)p->total * sizeof(float));
}

rf_status rf_replicas_share_sum(rf_replicas *g, int64_t step) {
    double start = now_seconds();
    rf_status s = RF_OK;
    if (g->nccl) {
        s = exchange_failed(g, rf_nccl_share_sum(g->nccl), step);
        g->exchange_seconds += now_seconds() - start;
        return s;
    }
    if (g->ranks > 1) {
        size_t *counts = malloc((size_t)g->ranks * sizeof *counts);
        if (!counts) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        for (int q = 0; q < g->ranks; q++) counts[q] = (size_t)(slice_begin(g, q + 1) - slice_begin(g, q)) * sizeof(float);
        s = exchange_failed(
            g, rf_comm_allgatherv(g->comm, g->sum + slice_begin(g, g->rank), counts, g->sum, "gathering the summed gradient"),
            step);
        free(counts);
    }
    if (s == RF_OK) s = rf_replicas_run(g, upload_sum, NULL, g->global_count, step);
    g->exchange_seconds += now_seconds() - start;
    return s;
}

typedef struct step_job {
    float lr_factor;
    double clip, loss_scale;
    double norms[RF_MAX_LOCAL_DEVICES];
    bool skipped[RF_MAX_LOCAL_DEVICES];
} step_job;

static rf_status step_one(rf_replica *r, void *arg) {
    step_job *j = arg;
    bool *skipped = &j->skipped[r->local];
    RF_TRY(rf_adamw_step_clipped(r->opt, j->lr_factor, j->clip, j->loss_scale, &j->norms[r->local], skipped));
    RF_TRY(rf_params_zero_grad(r->model->params));
    if (r->ema && !*skipped) RF_TRY(rf_ema_update(r->ema));
    return RF_OK;
}

static rf_status zero_grads(rf_replica *r, void *arg) { return rf_params_zero_grad(r->model->params); }

rf_status rf_replicas_step(rf_replicas *g, float lr_factor, double clip_max_norm, double loss_scale, int64_t step,
                           double *grad_norm, bool *skipped) {
    step_job j = {lr_factor, clip_max_norm, loss_scale, {0}, {0}};
    if (g->each_steps) {
        /* Same kernels, same gradients: every replica computes the same norm
         * (so every one skips, or none). */
        RF_TRY(rf_replicas_run(g, step_one, &j, g->global_count, step));
        *grad_norm = j.norms[0];
        *skipped = j.skipped[0];
        return RF_OK;
    }
    /* Different kernels round differently: replica 0 steps, the others copy. */
    RF_TRY(rf_replicas_run(g, step_one, &j, 1, step));
    RF_TRY(exchange_failed(g, rf_comm_broadcast(g->comm, &j.norms[0], sizeof j.norms[0], 0, "sharing the gradient norm"),
                           step));
    *grad_norm = j.norms[0];
    *skipped = !isfinite(j.norms[0]); /* as replica 0 decided, known to every rank by its norm */
    double start = now_seconds();
    RF_TRY(exchange_failed(g, copy_slab(g, values_of, g->sum, "sharing the weights"), step));
    if (g->r[0].ema) RF_TRY(exchange_failed(g, copy_slab(g, ema_of, g->sum, "sharing the EMA"), step));
    g->exchange_seconds += now_seconds() - start;
    return rf_replicas_run(g, zero_grads, NULL, g->global_count, step);
}

rf_status rf_replicas_share_values(rf_replicas *g, double *values, int count, int width, int64_t step) {
    if (g->ranks == 1) return RF_OK;
    size_t bytes = (size_t)count * (size_t)width * sizeof(double);
    double *all = malloc(bytes * (size_t)g->ranks + 1);
    if (!all) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    rf_status s = exchange_failed(g, rf_comm_allgather(g->comm, values, bytes, all, "sharing the losses"), step);
    for (int j = 0; s == RF_OK && j < count; j++) {
        int global = j % g->global_count, rank = 0;
        while (rank + 1 < g->ranks && g->rank_first[rank + 1] <= global) rank++;
        memcpy(values + (size_t)j * width, all + (size_t)rank * count * width + (size_t)j * width,
               (size_t)width * sizeof(double));
    }
    free(all);
    return s;
}

rf_status rf_replicas_sum_i64(rf_replicas *g, int64_t *values, int count, int64_t step) {
    return g->comm ? exchange_failed(g, rf_comm_sum_i64(g->comm, values, count, "agreeing on the step"), step) : RF_OK;
}

rf_status rf_replicas_swap_ema(rf_replicas *g) {
    for (int i = 0; i < g->count; i++)
        if (g->r[i].ema) RF_TRY(rf_ema_swap(g->r[i].ema));
    return RF_OK;
}

/* ---- evaluation --------------------------------------------------------------------------------- */

typedef struct eval_slot {
    rf_tensor *images;
    int (*hw)[2];
    int64_t *ids;
    rf_coco_detection *dets;
    size_t count;
} eval_slot;

static rf_status eval_one(rf_replica *r, void *arg) {
    eval_slot *slot = (eval_slot *)arg + r->local;
    slot->count = 0;
    if (!slot->images) return RF_OK; /* no batch for this replica in the last round */
    return rf_evaluate_batch(r->model, r->ctx, slot->images, (const int(*)[2])slot->hw, slot->ids, &slot->dets,
                             &slot->count);
}

rf_status rf_replicas_evaluate(rf_replicas *g, const rf_dataset *ds, rf_split split, int batch, int threads,
                               const int max_dets[3], rf_evaluate_progress_fn progress, void *progress_user,
                               int64_t step, rf_coco_eval_result **result) {
    *result = NULL;
    const rf_coco_dataset *gt = ds->splits[split].coco;
    if (!gt) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "evaluation: the %s split is not loaded", rf_split_name(split));
    rf_loader_config lc;
    rf_loader_config_eval(&lc, split, batch, g->r[0].model->cfg.resolution);
    lc.threads = threads;
    rf_replicas_shard_loader(g, &lc);
    rf_coco_eval_params ep;
    rf_coco_eval_params_default(&ep);
    if (max_dets) memcpy(ep.max_dets, max_dets, sizeof ep.max_dets);
    rf_loader *loader = NULL;
    rf_coco_evaluator *ev = NULL;
    RF_TRY(rf_loader_open(ds, &lc, &loader));
    rf_status s = rf_coco_evaluator_create(gt, &ep, &ev);
    eval_slot slots[RF_MAX_LOCAL_DEVICES] = {0};
    bool was[RF_MAX_LOCAL_DEVICES];
    for (int i = 0; i < g->count; i++) was[i] = rf_ctx_set_grad(g->r[i].ctx, false);
    size_t *counts = calloc((size_t)g->ranks, sizeof *counts);
    size_t *all_counts = calloc((size_t)g->ranks, sizeof *all_counts);
    rf_coco_detection *mine = NULL, *all = NULL;
    if (!counts || !all_counts) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    bool more = true;
    int64_t images_done = 0, images_total = (int64_t)gt->image_count;
    while (s == RF_OK && more) {
        /* Round: batch i of the split goes to global replica i % D. */
        int got = 0;
        for (int k = 0; k < g->global_count && s == RF_OK; k++) {
            const rf_batch *lb = NULL;
            s = rf_loader_next(loader, &lb);
            if (s != RF_OK || !lb) {
                more = false;
                break;
            }
            got++;
            images_done += lb->size; /* skipped batches (other ranks') keep their size */
            rf_replica *r = rf_replicas_owner(g, k);
            if (r) {
                eval_slot *slot = &slots[r->local];
                int n = lb->size;
                rf_ctx_reset(r->ctx);
                slot->images = rf_ctx_from_host(r->ctx, RF_F32, 4, (int64_t[]){n, 3, lb->height, lb->width}, lb->pixels);
                slot->hw = rf_ctx_host_alloc(r->ctx, (size_t)n * sizeof *slot->hw);
                slot->ids = rf_ctx_host_alloc(r->ctx, (size_t)n * sizeof *slot->ids);
                if (!slot->images || !slot->hw || !slot->ids) s = rf_ctx_status(r->ctx) != RF_OK ? rf_ctx_status(r->ctx)
                                                                  : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
                for (int i = 0; s == RF_OK && i < n; i++) {
                    slot->hw[i][0] = lb->targets[i].orig_height;
                    slot->hw[i][1] = lb->targets[i].orig_width;
                    slot->ids[i] = lb->targets[i].image_id;
                }
            }
            rf_loader_release(loader, lb);
        }
        if (s != RF_OK || got == 0) break;
        s = rf_replicas_run(g, eval_one, slots, got, step);
        /* This rank's detections in its device order, then every rank's in rank order. */
        size_t total = 0;
        for (int i = 0; i < g->count; i++) total += slots[i].count;
        rf_coco_detection *grown = realloc(mine, (total + 1) * sizeof *mine);
        if (!grown) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
        else mine = grown;
        size_t at = 0;
        for (int i = 0; s == RF_OK && i < g->count; i++) {
            if (slots[i].count) memcpy(mine + at, slots[i].dets, slots[i].count * sizeof *mine);
            at += slots[i].count;
            slots[i].images = NULL;
        }
        if (s == RF_OK && g->ranks == 1) s = rf_coco_evaluator_add(ev, mine, total);
        if (s == RF_OK && g->ranks > 1) {
            counts[0] = total * sizeof *mine;
            s = exchange_failed(
                g, rf_comm_allgather(g->comm, &counts[0], sizeof counts[0], all_counts, "sharing the detections"), step);
            size_t sum = 0;
            for (int p = 0; p < g->ranks; p++) sum += all_counts[p];
            grown = s == RF_OK ? realloc(all, sum + sizeof *all) : NULL;
            if (s == RF_OK && !grown) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
            if (s == RF_OK) all = grown;
            if (s == RF_OK)
                s = exchange_failed(g, rf_comm_allgatherv(g->comm, mine, all_counts, all, "sharing the detections"), step);
            if (s == RF_OK) s = rf_coco_evaluator_add(ev, all, sum / sizeof *all);
        }
        if (s == RF_OK && progress) progress(progress_user, images_done, images_total);
        if (got < g->global_count) more = false;
    }
    for (int i = 0; i < g->count; i++) {
        rf_ctx_set_grad(g->r[i].ctx, was[i]);
        free(slots[i].dets);
    }
    if (s == RF_OK) s = rf_coco_evaluator_compute(ev, result);
    free(counts);
    free(all_counts);
    free(mine);
    free(all);
    rf_coco_evaluator_free(ev);
    rf_loader_close(loader);
    return s;
}

bool rf_replicas_copy_mode(const rf_replicas *g) { return !g->each_steps; }
double rf_replicas_exchange_seconds(const rf_replicas *g) { return g->exchange_seconds; }

rf_status rf_replicas_compare(rf_replicas *g, int *differing) {
    *differing = 0;
    size_t bytes = (size_t)g->elements * sizeof(float);
    float *first = malloc(bytes + 4), *other = malloc(bytes + 4);
    rf_status s = first && other ? RF_OK : RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    rf_buffer *(*slabs[2])(rf_replica *) = {values_of, ema_of};
    for (int k = 0; k < 2 && s == RF_OK; k++) {
        if (k == 1 && !g->r[0].ema) break;
        s = rf_buffer_download(slabs[k](&g->r[0]), 0, first, bytes);
        for (int i = 1; i < g->count && s == RF_OK; i++) {
            s = rf_buffer_download(slabs[k](&g->r[i]), 0, other, bytes);
            if (s == RF_OK && memcmp(first, other, bytes)) (*differing)++;
        }
    }
    free(first);
    free(other);
    return s;
}

const char *rf_replicas_wait_report(rf_replicas *g, char *buf, size_t size) {
    buf[0] = '\0';
    if (g->global_count == 1) return buf;
    size_t at = (size_t)snprintf(buf, size, "waited for the other devices:");
    for (int i = 0; i < g->count && at + 64 < size; i++) {
        at += (size_t)snprintf(buf + at, size - at, " %s %.1f s%s", g->names[g->r[i].global], g->r[i].waited_seconds,
                               i + 1 < g->count ? "," : "");
        g->r[i].waited_seconds = 0;
        g->r[i].busy_seconds = 0;
    }
    double rank_wait = g->comm && g->ranks > 1 ? rf_comm_take_wait_seconds(g->comm) : 0;
    if (g->ranks > 1) at += (size_t)snprintf(buf + at, size - at, "; rank %d waited %.1f s for the others", g->rank, rank_wait);
    if (at + 48 < size) snprintf(buf + at, size - at, "; gradient exchange %.1f s", g->exchange_seconds);
    g->exchange_seconds = 0;
    return buf;
}
