/* cpu_pool.c — see cpu_pool.h.
 *
 * One 64-bit word publishes and hands out a job: the high 32 bits are the
 * job's generation, the low 32 bits the number of tasks nobody has claimed
 * yet. A thread claims the task (unclaimed - 1) with a compare-and-swap
 * that also checks the generation, so a late worker can never claim a task
 * of a job that has been replaced, and reads the job's function only after
 * its claim succeeded (the job cannot finish, and be replaced, while one of
 * its tasks is still unclaimed or running). */
#include "backend/cpu/cpu_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() atomic_signal_fence(memory_order_seq_cst)
#endif

/* How long an idle worker keeps polling for the next job before it sleeps:
 * long enough to bridge the host code between two kernels, short enough
 * that a device left alone stops using a core at once. */
#define SPIN_NS 200000

#define MAX_WORKERS 63

struct rf_cpu_pool {
    int threads; /* including the caller */
    _Atomic uint64_t work;   /* generation << 32 | unclaimed tasks */
    _Atomic int64_t done;    /* tasks of the current job finished */
    rf_cpu_task_fn fn;       /* the current job; written before `work` is published */
    void *ctx;
    _Atomic bool stop;
    _Atomic int sleepers;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int started;
    pthread_t workers[MAX_WORKERS];
    struct worker_arg {
        struct rf_cpu_pool *pool;
        int thread;
    } args[MAX_WORKERS];
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Claims and runs tasks of generation `gen` until none is left. */
static void work_on(rf_cpu_pool *p, uint32_t gen, int thread) {
    uint64_t w = atomic_load_explicit(&p->work, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(w >> 32) != gen || (uint32_t)w == 0) return;
        if (!atomic_compare_exchange_weak_explicit(&p->work, &w, w - 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        p->fn(p->ctx, (int64_t)(uint32_t)w - 1, thread);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        w = atomic_load_explicit(&p->work, memory_order_acquire);
    }
}

static void *worker_main(void *arg) {
    rf_cpu_pool *p = ((struct worker_arg *)arg)->pool;
    int thread = ((struct worker_arg *)arg)->thread;
    uint32_t seen = (uint32_t)(atomic_load(&p->work) >> 32);
    for (;;) {
        /* Wait for a new generation: spin first, then sleep. */
        uint64_t start = 0;
        for (unsigned i = 0;; i++) {
            if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
            if ((uint32_t)(atomic_load_explicit(&p->work, memory_order_acquire) >> 32) != seen) break;
            CPU_RELAX();
            if ((i & 255) == 255) {
                uint64_t t = now_ns();
                if (!start) start = t;
                else if (t - start > SPIN_NS) {
                    pthread_mutex_lock(&p->lock);
                    atomic_fetch_add(&p->sleepers, 1);
                    while (!atomic_load(&p->stop) && (uint32_t)(atomic_load(&p->work) >> 32) == seen)
                        pthread_cond_wait(&p->wake, &p->lock);
                    atomic_fetch_sub(&p->sleepers, 1);
                    pthread_mutex_unlock(&p->lock);
                    start = 0;
                }
            }
        }
        seen = (uint32_t)(atomic_load_explicit(&p->work, memory_order_acquire) >> 32);
        work_on(p, seen, thread);
    }
}

rf_status rf_cpu_pool_create(int threads, rf_cpu_pool **out) {
    *out = NULL;
    if (threads < 1) threads = 1;
    if (threads > MAX_WORKERS + 1) threads = MAX_WORKERS + 1;
    rf_cpu_pool *p = calloc(1, sizeof *p);
    if (!p) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory creating the cpu thread pool");
    p->threads = threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    for (int i = 0; i < threads - 1; i++) {
        p->args[i] = (struct worker_arg){p, i + 1};
        if (pthread_create(&p->workers[i], NULL, worker_main, &p->args[i]) != 0) {
            rf_cpu_pool_free(p);
            return RF_ERROR(RF_ERR_BACKEND, "cpu: could not start worker thread %d of %d", i + 1, threads - 1);
        }
        p->started++;
    }
    *out = p;
    return RF_OK;
}

void rf_cpu_pool_free(rf_cpu_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->started; i++) pthread_join(p->workers[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int rf_cpu_pool_threads(const rf_cpu_pool *p) { return p ? p->threads : 1; }

void rf_cpu_pool_run(rf_cpu_pool *p, int64_t tasks, rf_cpu_task_fn fn, void *ctx) {
    if (tasks <= 0) return;
    if (!p || p->threads == 1 || tasks == 1 || tasks > UINT32_MAX) {
        for (int64_t t = 0; t < tasks; t++) fn(ctx, t, 0);
        return;
    }
    uint32_t gen = (uint32_t)(atomic_load_explicit(&p->work, memory_order_relaxed) >> 32) + 1;
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    /* seq_cst pairs with the sleepers' check under the lock: either a worker
     * sees the new generation before it sleeps, or we see it asleep. */
    atomic_store(&p->work, (uint64_t)gen << 32 | (uint64_t)tasks);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    work_on(p, gen, 0);
    while (atomic_load_explicit(&p->done, memory_order_acquire) < tasks) CPU_RELAX();
}
