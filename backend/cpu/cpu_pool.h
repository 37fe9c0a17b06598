/* cpu_pool.h — the persistent worker threads of one cpu device handle.
 *
 * A job is `tasks` independent calls fn(ctx, task) for task in [0, tasks);
 * the calling thread works on it too and returns when every task is done.
 * Tasks are claimed one at a time by whichever thread is free, so a worker
 * the OS does not schedule never holds the others up; which thread runs
 * which task varies from run to run, so a kernel's result must depend only
 * on how it split the work into tasks (fixed by the shapes), never on the
 * thread that ran a task or on how many threads there are.
 *
 * Between jobs the workers spin for a short while (the next kernel usually
 * follows within microseconds) and then sleep on a condition variable, so
 * an idle device costs no CPU. One host thread uses a device at a time
 * (backend.h), so jobs never overlap. */
#ifndef RFDETR_CPU_POOL_H
#define RFDETR_CPU_POOL_H

#include <stdint.h>

#include "backend/status.h"

typedef struct rf_cpu_pool rf_cpu_pool;
/* `thread` (0 = the caller, 1.. the workers) identifies who runs the task,
 * for per-thread scratch memory; results must not depend on it. */
typedef void (*rf_cpu_task_fn)(void *ctx, int64_t task, int thread);

/* threads counts the caller: 1 starts no worker. A worker that cannot be
 * started is an error (RF_ERR_BACKEND). */
rf_status rf_cpu_pool_create(int threads, rf_cpu_pool **out);
void rf_cpu_pool_free(rf_cpu_pool *pool);
int rf_cpu_pool_threads(const rf_cpu_pool *pool);
/* Runs the job; pool NULL or tasks <= 1 run on the calling thread alone. */
void rf_cpu_pool_run(rf_cpu_pool *pool, int64_t tasks, rf_cpu_task_fn fn, void *ctx);

#endif
