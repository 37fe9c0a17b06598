/* bench_parallel.c — data-parallel scaling: training images/s on several
 * devices (or MPI ranks) against one, measured in the same run, and the
 * gradient exchange time per step.
 *
 *   bench_parallel [--devices opencl:0,opencl:1] [--size tiny] [--resolution R] [--batch B] [--steps N]
 *                  [--cpu-threads T] [--rounds K]
 *   mpirun -np 2 bench_parallel --devices cpu --cpu-threads 1 ...
 *
 * In one process: the trainer on the list's first device alone, then on the
 * whole list, each with --batch images per device per step. Under mpirun:
 * rank 0 alone (the others wait, sleeping), then every rank together, each
 * on its --devices. Both are rf_train on a generated shapes set, timed from
 * the end of the first step (kernel builds and warm-up excluded) to the end
 * of the last; the exchange time is the replicas' own (train/replicas.h).
 * The pair runs --rounds times (default 3), alternating, and the speed-up
 * reported is the median of the rounds' own ratios: on a shared VM the
 * speed of one core drifts by 10-25% over a minute, and a baseline measured
 * once, minutes away from what it is compared with, carried that drift
 * into the ratio (1.68x and 1.92x for the same build, same settings).
 * Under mpirun each round also runs every rank's first device alone, all at
 * once and exchanging nothing (each rank its own one-device run): what the
 * machine gives two copies of the same work, the ceiling the data-parallel
 * run is to be read against (two cores that share a cache, memory and a
 * power budget do not give two copies 2x).
 * For two PoCL devices with a core each against one, set
 * POCL_DEVICES="basic basic": PoCL's basic driver runs a device's kernels on
 * the thread that enqueues them (here the device's replica thread), while
 * its pthread driver (3.1) has one worker pool per process that every
 * "pthread" device shares, so two of those are the same cores twice. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/shapes.h"
#include "train/comm.h"
#include "train/replicas.h"
#include "train/trainer.h"

#include "bench/bench_util.h"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) { return remove(path); }

typedef struct timing {
    int steps;
    double first_end, last_end, exchange_at_first, exchange_at_last;
    int images_per_step;
} timing;

static rf_status after_step(void *user, struct rf_replicas *reps, rf_train_hook_point point) {
    if (point != RF_TRAIN_HOOK_AFTER_STEP) return RF_OK;
    timing *t = user;
    t->steps++;
    double now = bench_now();
    if (t->steps == 1) {
        t->first_end = now;
        t->exchange_at_first = rf_replicas_exchange_seconds(reps);
    }
    t->last_end = now;
    t->exchange_at_last = rf_replicas_exchange_seconds(reps);
    return RF_OK;
}

static int run(const char *data, const char *devices, bool mpi, const char *size, int resolution, int batch,
               int steps, int cpu_threads, const char *out, timing *t) {
    rf_train_config c;
    rf_train_config_defaults(&c);
    c.data = data;
    c.size = size;
    c.device = devices;
    c.out_dir = out;
    c.epochs = 1;
    c.batch = batch;
    c.resolution = resolution;
    c.max_steps = steps;
    c.warmup_steps = 1;
    c.ema = true;
    c.eval_batch = 2;
    c.mpi = mpi;
    c.cpu_threads = cpu_threads;
    memset(t, 0, sizeof *t);
    rf_train_summary s;
    rf_status st = rf_train_with_hook(&c, &s, after_step, t);
    if (st != RF_OK) {
        fprintf(stderr, "bench_parallel: %s: %s\n", devices, rf_last_error());
        return 1;
    }
    return 0;
}

static double images_per_second(const timing *t, int images_per_step) {
    double span = t->last_end - t->first_end;
    return span > 0 ? (t->steps - 1) * (double)images_per_step / span : 0;
}

static double exchange_ms(const timing *t) {
    return t->steps > 1 ? 1e3 * (t->exchange_at_last - t->exchange_at_first) / (t->steps - 1) : 0;
}

int main(int argc, char **argv) {
    const char *devices = "opencl:0,opencl:1", *size = "tiny";
    int resolution = 192, batch = 2, steps = 12, cpu_threads = 0, rounds = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--devices") && i + 1 < argc) devices = argv[++i];
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = argv[++i];
        else if (!strcmp(argv[i], "--resolution") && i + 1 < argc) resolution = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cpu-threads") && i + 1 < argc) cpu_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_parallel [--devices LIST] [--size S] [--resolution R] [--batch B] [--steps N] "
                            "[--cpu-threads T] [--rounds K]\n");
            return 2;
        }
    }
    if (steps < 3 || batch < 1 || rounds < 1 || rounds > 99) {
        fprintf(stderr, "bench_parallel: --steps >= 3, --batch >= 1, --rounds 1..99\n");
        return 2;
    }
    int rank = 0, ranks = 1;
    bool mpi = getenv("OMPI_COMM_WORLD_SIZE") && atoi(getenv("OMPI_COMM_WORLD_SIZE")) > 1;
    if (mpi && rf_mpi_init(&argc, &argv, &rank, &ranks) != RF_OK) {
        fprintf(stderr, "bench_parallel: %s\n", rf_last_error());
        return 1;
    }
    char names[RF_MAX_LOCAL_DEVICES][32];
    int local = 0;
    if (rf_device_list_parse(devices, 0, 1, names, RF_MAX_LOCAL_DEVICES, &local) != RF_OK) {
        fprintf(stderr, "bench_parallel: %s\n", rf_last_error());
        return 2;
    }
    int total = local * ranks;
    /* A fresh folder, made by rank 0 and named to the others. */
    char dir[128] = "/tmp/rfdetr_bench_parallel_XXXXXX", data[160], out1[160], outn[160], outi[192];
    rf_comm *comm = NULL;
    if (mpi && rf_comm_open(true, 3600, &comm) != RF_OK) return 1;
    if (rank == 0 && !mkdtemp(dir)) {
        perror("bench_parallel: mkdtemp");
        return 1;
    }
    if (comm && rf_comm_broadcast(comm, dir, sizeof dir, 0, "naming the folder") != RF_OK) return 1;
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(out1, sizeof out1, "%s/one", dir);
    snprintf(outn, sizeof outn, "%s/all", dir);
    snprintf(outi, sizeof outi, "%s/alone-%d", dir, rank);
    /* Enough training images that no epoch ends inside the measured steps. */
    if (rank == 0) {
        rf_shapes_config sc;
        rf_shapes_config_default(&sc);
        sc.train = batch * total * (steps + 2);
        sc.valid = 2;
        sc.test = 0;
        sc.size = resolution;
        sc.seed = 5;
        if (rf_shapes_write(data, &sc) != RF_OK) {
            fprintf(stderr, "bench_parallel: %s\n", rf_last_error());
            return 1;
        }
    }
    int64_t barrier = 0;
    int rc = 0;
    double ratios[99], bases[99], pars[99], exchanges[99], ceilings[99];
    if (rank == 0)
        printf("bench_parallel: %s at %d px, batch %d per device, %d steps timed after the first, %d rounds\n", size,
               resolution, batch, steps - 1, rounds);
    for (int round = 0; round < rounds && rc == 0; round++) {
        timing one = {0}, all = {0};
        /* The baseline: the first device of rank 0, alone. Each run starts
         * from a fresh output folder: the trainer refuses one holding a run. */
        if (rank == 0) {
            nftw(out1, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
            nftw(outn, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
            rc |= run(data, names[0], false, size, resolution, batch, steps, cpu_threads, out1, &one);
        }
        if (comm) rf_comm_sum_i64(comm, &barrier, 1, "waiting for the baseline");
        rc |= run(data, devices, mpi, size, resolution, batch, steps, cpu_threads, outn, &all);
        if (comm) rf_comm_sum_i64(comm, &barrier, 1, "ending the round");
        /* The ceiling (mpirun only): every rank alone at once. */
        double alone_sum = 0;
        if (comm) {
            timing alone = {0};
            nftw(outi, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
            rc |= run(data, names[0], false, size, resolution, batch, steps, cpu_threads, outi, &alone);
            double mine = images_per_second(&alone, batch), every[256] = {0};
            if (ranks > 256 || rf_comm_allgather(comm, &mine, sizeof mine, every, "gathering the ceiling") != RF_OK)
                rc |= 1;
            for (int r = 0; r < ranks && r < 256; r++) alone_sum += every[r];
        }
        if (rank == 0 && rc == 0) {
            bases[round] = images_per_second(&one, batch);
            pars[round] = images_per_second(&all, batch * total);
            ratios[round] = bases[round] > 0 ? pars[round] / bases[round] : 0;
            exchanges[round] = exchange_ms(&all);
            printf("  round %d: 1 device (%s) %7.2f images/s;  %d %s (%s%s) %7.2f images/s;  %.2fx;  gradient "
                   "exchange %.1f ms/step\n",
                   round + 1, names[0], bases[round], total, mpi ? "ranks" : "devices", devices,
                   mpi ? " per rank" : "", pars[round], ratios[round], exchanges[round]);
            if (comm) {
                ceilings[round] = bases[round] > 0 ? alone_sum / bases[round] : 0;
                printf("           %d ranks each alone, at once: %7.2f images/s;  ceiling %.2fx\n", ranks, alone_sum,
                       ceilings[round]);
            }
            fflush(stdout);
        }
    }
    if (rank == 0 && rc == 0)
        printf("  median of %d rounds: 1 device %.2f images/s, %d %s %.2f images/s, speed-up %.2fx (rounds' own "
               "ratios), exchange %.1f ms/step\n",
               rounds, bench_median(bases, rounds), total, mpi ? "ranks" : "devices", bench_median(pars, rounds),
               bench_median(ratios, rounds), bench_median(exchanges, rounds));
    if (rank == 0 && rc == 0 && comm)
        printf("  median ceiling (every rank alone at once): %.2fx\n", bench_median(ceilings, rounds));
    if (comm) rf_comm_sum_i64(comm, &barrier, 1, "finishing");
    if (rank == 0) nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (comm) rf_comm_free(comm);
    if (mpi) rf_mpi_finalize();
    return rc;
}
