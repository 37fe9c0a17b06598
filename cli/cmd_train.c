/* cmd_train.c — `rfdetr train`: RF-DETR's recipe on the device, or the
 * devices, the user names; under mpirun on every rank's devices. With no
 * arguments: the tiny model on the built-in shapes dataset on `auto`, then
 * the COCO table and where everything went. */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/fileio.h"
#include "train/trainer.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

/* RFDETR_DEBUG_KILL_AT_WRITE=N: SIGKILL at the Nth commit moment of the
 * run's atomic writes (docs/train.md), for the crash tests. */
static long kill_at_write;

static void kill_at_nth_write(const char *path, int renamed) {
    (void)path;
    (void)renamed;
    static long writes;
    if (++writes == kill_at_write) raise(SIGKILL);
}

static bool given(const cli_option *options, int count, const void *value) {
    for (int i = 0; i < count; i++)
        if (options[i].value == value) return options[i].seen;
    return false;
}

/* Started by an MPI launcher (Open MPI, MPICH, PMIx): the launcher's own
 * variables, read only to decide whether to start MPI, never a device. */
static bool launched_by_mpi(int *size) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            *size = atoi(v);
            return true;
        }
    }
    return false;
}

typedef struct progress_state {
    bool tty;
    int64_t last_plain_step;
    cli_eval_progress eval; /* of the pass under way */
} progress_state;

static void format_duration(double seconds, char *out, size_t size) {
    if (!isfinite(seconds) || seconds < 0) seconds = 0;
    long s = lround(seconds);
    if (s >= 3600)
        snprintf(out, size, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
        snprintf(out, size, "%ld:%02ld", s / 60, s % 60);
}

static void on_progress(void *user, const rf_train_progress *p) {
    progress_state *ps = user;
    char eta[32];
    switch (p->event) {
    case RF_TRAIN_STARTED:
    case RF_TRAIN_MESSAGE:
    case RF_TRAIN_EVALUATING:
        if (ps->tty) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "%s\n", p->message);
        ps->eval = (cli_eval_progress){.tty = ps->tty};
        break;
    case RF_TRAIN_EVAL_PROGRESS:
        cli_print_eval_progress(&ps->eval, p->message, p->eval_images_done, p->eval_images_total);
        break;
    case RF_TRAIN_STEP: {
        format_duration(p->eta_seconds, eta, sizeof eta);
        if (ps->tty) {
            /* A bar over the epoch's steps, rewritten in place. */
            int width = 24, filled = p->steps_per_epoch ? (int)(width * p->step_in_epoch / p->steps_per_epoch) : 0;
            char bar[32];
            for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
            bar[width] = '\0';
            fprintf(stderr, "\r\033[Kepoch %" PRId64 "/%" PRId64 " [%s] %" PRId64 "/%" PRId64 "  %.1f img/s  ETA %s  loss %.4f  lr %.2e",
                    p->epoch + 1, p->epochs, bar, p->step_in_epoch, p->steps_per_epoch, p->images_per_second, eta,
                    p->loss, p->lr);
            fflush(stderr);
        } else if (p->global_step - ps->last_plain_step >= 25 || p->step_in_epoch == p->steps_per_epoch) {
            /* Plain lines for logs: every 25 steps. */
            fprintf(stderr, "epoch %" PRId64 "/%" PRId64 " step %" PRId64 "/%" PRId64 " (global %" PRId64 "/%" PRId64
                            ")  %.1f img/s  ETA %s  loss %.4f  lr %.2e  grad norm %.3f",
                    p->epoch + 1, p->epochs, p->step_in_epoch, p->steps_per_epoch, p->global_step, p->total_steps,
                    p->images_per_second, eta, p->loss, p->lr, p->grad_norm);
            if (p->loss_scale != 1.0) fprintf(stderr, "  loss scale %g", p->loss_scale);
            fputc('\n', stderr);
            ps->last_plain_step = p->global_step;
        }
        break;
    }
    case RF_TRAIN_EPOCH_DONE:
        if (ps->tty) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "epoch %" PRId64 "/%" PRId64 " done: loss %.4f  valid AP %.3f AP50 %.3f", p->epoch + 1,
                p->epochs, p->loss, p->stats[0], p->stats[1]);
        if (p->ema_stats) fprintf(stderr, " | EMA AP %.3f AP50 %.3f", p->ema_stats[0], p->ema_stats[1]);
        fprintf(stderr, "\n");
        break;
    }
}

int cli_cmd_train(int argc, char **argv) {
    rf_train_config cfg;
    rf_train_config_defaults(&cfg);
    const char *device = "auto", *resume = NULL, *schedule = "step", *precision = NULL;
    long epochs = 8, batch = cfg.batch, accum = 1, resolution = 0, seed = (long)cfg.seed, warmup = cfg.warmup_steps;
    long patience = 0, threads = cfg.threads, cpu_threads = 0, max_steps = 0, eval_batch = cfg.eval_batch, lr_drop = cfg.lr_drop;
    double lr = cfg.lr, lr_encoder = -1, weight_decay = cfg.weight_decay, clip = cfg.clip_max_norm, min_delta = 0;
    double ema_decay = cfg.ema_decay, ema_tau = cfg.ema_tau, comm_timeout = cfg.comm_timeout;
    bool no_ema = false, multi_scale = false, overwrite = false, profile = false;
    cli_option options[] = {
        {"--data", CLI_STRING, &cfg.data, "DIR|shapes", "dataset folder (Roboflow COCO, COCO or YOLO), or the built-in shapes (default)"},
        {"--model", CLI_STRING, &cfg.size, "SIZE", "tiny (default), nano, small, medium, base"},
        {"--device", CLI_STRING, &device, "NAME[,NAME...]",
         "cpu, opencl:N, cuda:N or auto (default: first GPU, else cpu); a list of distinct devices trains on all "
         "(one replica each); under mpirun this rank's list, or one per rank of a machine separated by '/'"},
        {"--epochs", CLI_INT, &epochs, "E", "epochs (default 8)"},
        {"--batch", CLI_INT, &batch, "B", "images per micro-batch on each device (default 8)"},
        {"--grad-accum", CLI_INT, &accum, "K", "micro-batches per optimizer step (default 1)"},
        {"--lr", CLI_DOUBLE, &lr, "X", "learning rate (default 4e-4, the tiny recipe; RF-DETR's is 1e-4)"},
        {"--lr-encoder", CLI_DOUBLE, &lr_encoder, "X", "backbone learning rate (default 1.5 x --lr)"},
        {"--weight-decay", CLI_DOUBLE, &weight_decay, "X", "AdamW weight decay (default 1e-4)"},
        {"--warmup-steps", CLI_INT, &warmup, "N", "linear warm-up steps (default 100)"},
        {"--schedule", CLI_STRING, &schedule, "step|cosine", "after warm-up: x0.1 at --lr-drop epochs (default), or cosine"},
        {"--lr-drop", CLI_INT, &lr_drop, "E", "step schedule: epoch of the x0.1 drop (default 100)"},
        {"--clip", CLI_DOUBLE, &clip, "X", "gradient global-norm clipping (default 0.1; 0 disables)"},
        {"--no-ema", CLI_FLAG, &no_ema, NULL, "do not keep an EMA of the weights"},
        {"--ema-decay", CLI_DOUBLE, &ema_decay, "X", "EMA decay (default 0.993)"},
        {"--ema-tau", CLI_DOUBLE, &ema_tau, "X", "EMA warm-up tau in updates (default 100)"},
        {"--resolution", CLI_INT, &resolution, "R", "square input side (multiple of patch x windows; default: the model's)"},
        {"--multi-scale", CLI_FLAG, &multi_scale, NULL, "RF-DETR's square multi-scale sizes, one per batch"},
        {"--weights", CLI_STRING, &cfg.weights, "W", "start from these weights (.pth or .safetensors)"},
        {"--out", CLI_STRING, &cfg.out_dir, "DIR",
         "run directory (default: the next free runs/train, runs/train2, ...); one that holds a run is refused"},
        {"--overwrite", CLI_FLAG, &overwrite, NULL, "replace the run --out holds (its files are removed)"},
        {"--seed", CLI_INT, &seed, "S", "seed of every random choice (default 42)"},
        {"--resume", CLI_STRING, &resume, "DIR",
         "continue the run in DIR exactly where it stopped, with its saved options (DIR/run.json); only --device, "
         "--epochs, --max-steps and --threads may differ (--cpu-threads, --comm-timeout and --profile apply as given)"},
        {"--patience", CLI_INT, &patience, "N", "early stopping: epochs without mAP improvement (default off)"},
        {"--min-delta", CLI_DOUBLE, &min_delta, "X", "early stopping: smallest improvement that counts"},
        {"--max-steps", CLI_INT, &max_steps, "N", "stop after N optimizer steps"},
        {"--threads", CLI_INT, &threads, "N", "image decoding threads (default 2)"},
        {"--eval-batch", CLI_INT, &eval_batch, "B", "images per evaluation batch (default 8)"},
        {"--precision", CLI_STRING, &precision, "P",
         "f32 (default), bf16 or fp16: the precision of matrix products, forward and backward (weights, AdamW, "
         "EMA and losses stay f32; bf16 holds the activations kept for backward in bf16; fp16 scales the loss "
         "dynamically and skips steps whose gradients overflow)"},
        {"--profile", CLI_FLAG, &profile, NULL,
         "print each kernel's launches, time, bytes and FLOPs, each step's device traffic and the peak device memory "
         "(syncs after every kernel: slower)"},
        {"--cpu-threads", CLI_INT, &cpu_threads, "N", "threads of a cpu device (default: every core)"},
        {"--comm-timeout", CLI_DOUBLE, &comm_timeout, "S",
         "seconds a device or MPI rank may keep the others waiting before the run stops naming it (default 60; "
         "at least 900 during the first epoch, while drivers compile kernels)"},
    };
    cli_spec spec = {
        .usage = "rfdetr train [--data DIR|shapes] [--model SIZE] [--device D] [--epochs E] [--batch B] [options]",
        .description =
            "Trains RF-DETR with RF-DETR's recipe: Hungarian matching per query group, IoU-aware BCE +\n"
            "L1 + GIoU on every decoder layer and the encoder proposals, AdamW with layer-wise lr decay, clipping,\n"
            "EMA. Every epoch both the regular and the EMA model are evaluated on valid (COCO, maxDets 1/10/500)\n"
            "and DIR gets checkpoint.safetensors, training_state.safetensors, checkpoint_best_{regular,ema,total}\n"
            ".safetensors, log.jsonl, results.json and metrics_plot.png, and run.json holds the run's options.\n"
            "Ctrl-C stops at the next step; after Ctrl-C, a kill or a crash at any moment, --resume DIR alone\n"
            "continues as if uninterrupted. With no arguments: the tiny model on the built-in shapes dataset.\n"
            "Several devices (--device opencl:0,opencl:1) train data-parallel: the effective batch is batch x\n"
            "grad-accum x devices and the run equals one device with grad-accum x devices bit for bit. Under\n"
            "mpirun every rank trains on its devices and rank 0 writes DIR; SIGINT to any rank stops every rank\n"
            "at the next step with a resumable run (see README, Several machines).",
        .options = options,
        .option_count = (int)(sizeof options / sizeof options[0]),
        .max_positional = 0,
    };
    char **pos = NULL;
    int npos = 0;
    int rc = cli_parse(&spec, argc, argv, &pos, &npos);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    free(pos);
    bool in_range = cli_int_in_range("train", "--epochs", epochs, 1, LONG_MAX) &&
                    cli_int_in_range("train", "--batch", batch, 1, LONG_MAX) &&
                    cli_int_in_range("train", "--grad-accum", accum, 1, 64) &&
                    cli_int_in_range("train", "--threads", threads, 1, LONG_MAX) &&
                    cli_int_in_range("train", "--eval-batch", eval_batch, 1, LONG_MAX) &&
                    cli_int_in_range("train", "--warmup-steps", warmup, 0, LONG_MAX) &&
                    cli_int_in_range("train", "--max-steps", max_steps, 0, LONG_MAX) &&
                    cli_int_in_range("train", "--patience", patience, 0, LONG_MAX) &&
                    cli_int_in_range("train", "--resolution", resolution, 0, LONG_MAX) &&
                    cli_int_in_range("train", "--cpu-threads", cpu_threads, 0, INT_MAX) &&
                    cli_number_in_range("train", "--lr", lr, 0, true, INFINITY, false) &&
                    cli_number_in_range("train", "--clip", clip, 0, false, INFINITY, false) &&
                    cli_number_in_range("train", "--weight-decay", weight_decay, 0, false, INFINITY, false) &&
                    cli_number_in_range("train", "--ema-decay", ema_decay, 0, false, 1, true) &&
                    cli_number_in_range("train", "--comm-timeout", comm_timeout, 0, true, INFINITY, true);
    if (!in_range || !cli_precision("train", precision, &cfg.precision)) return CLI_EXIT_USAGE;
    if (strcmp(schedule, "step") && strcmp(schedule, "cosine")) {
        fprintf(stderr, "rfdetr train: --schedule must be step or cosine, got '%s'\n", schedule);
        return CLI_EXIT_USAGE;
    }
    cfg.device_request = device;
    cfg.epochs = (int)epochs;
    cfg.batch = (int)batch;
    cfg.grad_accum = (int)accum;
    cfg.lr = lr;
    cfg.lr_encoder = lr_encoder > 0 ? lr_encoder : 1.5 * lr;
    cfg.weight_decay = weight_decay;
    cfg.warmup_steps = warmup;
    cfg.cosine = !strcmp(schedule, "cosine");
    cfg.lr_drop = (int)lr_drop;
    cfg.clip_max_norm = clip;
    cfg.ema = !no_ema;
    cfg.ema_decay = ema_decay;
    cfg.ema_tau = ema_tau;
    cfg.resolution = (int)resolution;
    cfg.multi_scale = multi_scale;
    cfg.seed = (uint64_t)seed;
    cfg.patience = (int)patience;
    cfg.min_delta = min_delta;
    cfg.max_steps = max_steps;
    cfg.threads = (int)threads;
    cfg.eval_batch = (int)eval_batch;
    cfg.overwrite = overwrite;
    /* --resume DIR: the run's saved options, and over them only those given
     * here; the library refuses the ones that conflict, naming both. */
    rf_train_run *saved = NULL;
    if (resume) {
        if (overwrite) {
            fprintf(stderr, "rfdetr train: --resume continues a run and --overwrite replaces it: give one\n");
            return CLI_EXIT_USAGE;
        }
        if (cfg.out_dir && strcmp(cfg.out_dir, resume) != 0) {
            fprintf(stderr, "rfdetr train: --out %s and --resume %s name different runs: --resume alone continues "
                            "the run where it is\n", cfg.out_dir, resume);
            return CLI_EXIT_USAGE;
        }
        saved = malloc(sizeof *saved);
        if (!saved) return cli_fail("train", RF_ERR_OUT_OF_MEMORY, "out of host memory");
        rf_status ls = rf_train_run_load(resume, saved);
        if (ls != RF_OK) {
            free(saved);
            return cli_fail("train", ls, "cannot resume");
        }
        rf_train_config merged = saved->cfg;
        int n = (int)(sizeof options / sizeof options[0]);
#define KEEP_GIVEN(var, field) \
    if (given(options, n, &(var))) merged.field = cfg.field
        KEEP_GIVEN(cfg.data, data);
        KEEP_GIVEN(cfg.size, size);
        KEEP_GIVEN(cfg.weights, weights);
        KEEP_GIVEN(device, device_request);
        KEEP_GIVEN(epochs, epochs);
        KEEP_GIVEN(batch, batch);
        KEEP_GIVEN(accum, grad_accum);
        KEEP_GIVEN(lr, lr);
        KEEP_GIVEN(lr_encoder, lr_encoder);
        KEEP_GIVEN(weight_decay, weight_decay);
        KEEP_GIVEN(warmup, warmup_steps);
        KEEP_GIVEN(schedule, cosine);
        KEEP_GIVEN(lr_drop, lr_drop);
        KEEP_GIVEN(clip, clip_max_norm);
        KEEP_GIVEN(no_ema, ema);
        KEEP_GIVEN(ema_decay, ema_decay);
        KEEP_GIVEN(ema_tau, ema_tau);
        KEEP_GIVEN(resolution, resolution);
        KEEP_GIVEN(multi_scale, multi_scale);
        KEEP_GIVEN(seed, seed);
        KEEP_GIVEN(patience, patience);
        KEEP_GIVEN(min_delta, min_delta);
        KEEP_GIVEN(max_steps, max_steps);
        KEEP_GIVEN(threads, threads);
        KEEP_GIVEN(eval_batch, eval_batch);
        KEEP_GIVEN(precision, precision);
#undef KEEP_GIVEN
        cfg = merged;
        cfg.out_dir = resume;
        cfg.resume = true;
        device = cfg.device_request;
    }
    /* Not in run.json (they do not change the result): as given now. */
    cfg.comm_timeout = comm_timeout;
    cfg.cpu_threads = (int)cpu_threads;
    cfg.profile = profile;
    int ranks = 1, rank = 0;
    if (launched_by_mpi(&ranks) && ranks > 1) {
        if (!rf_mpi_built()) {
            fprintf(stderr, "rfdetr train: started by mpirun with %d ranks, but this build has no MPI (install "
                            "libopenmpi-dev and rebuild); %d copies would each write the same run\n", ranks, ranks);
            free(saved);
            return CLI_EXIT_USAGE;
        }
        rf_status ms = rf_mpi_init(NULL, NULL, &rank, &ranks);
        if (ms != RF_OK) {
            free(saved);
            return cli_fail("train", ms, "starting MPI");
        }
        cfg.mpi = true;
    }
    /* Ctrl-C is a graceful stop from here on, the device probe included
     * (PoCL's takes a few tenths of a second): rf_train sees cfg.stop. The
     * handler stays until the process exits: once the run has ended, a
     * Ctrl-C has nothing left to stop, and restoring the default action
     * would let one that lands in the summary or in the libraries' exit
     * handlers kill a finished run by SIGINT instead of letting it exit with
     * its status (test_train_crash: SIGINTs 0.31 and 0.56 s into runs that
     * had printed their summaries). */
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    char device_name[64];
    if (strchr(device, ',') || strchr(device, '/')) {
        cfg.device = device; /* a list: checked name by name by the trainer */
    } else {
        rc = cli_resolve_device("train", device, device_name, sizeof device_name);
        if (rc != CLI_EXIT_OK) {
            if (cfg.mpi) rf_mpi_abort(rc);
            free(saved);
            return rc;
        }
        cfg.device = device_name;
    }
    const char *kill_env = getenv("RFDETR_DEBUG_KILL_AT_WRITE");
    if (kill_env && *kill_env) {
        kill_at_write = atol(kill_env);
        rf_atomic_file_set_hook(kill_at_nth_write);
    }
    progress_state ps = {.tty = isatty(STDERR_FILENO) != 0};
    /* Under MPI rank 0 reports; the others speak only to fail. */
    cfg.progress = rank == 0 ? on_progress : NULL;
    cfg.progress_user = &ps;
    cfg.stop = &interrupted;

    rf_train_summary sum;
    rf_status s = rf_train(&cfg, &sum);
    free(saved); /* cfg's strings pointed into it */
    cfg.data = cfg.size = cfg.weights = cfg.device_request = NULL;
    if (ps.tty) fprintf(stderr, "\r\033[K");
    if (s != RF_OK) {
        const char *outcome = s == RF_ERR_INTERRUPTED          ? "stopped"
                              : s == RF_ERR_INVALID_ARGUMENT ? "refused"
                                                             : "training failed";
        char what[64];
        if (cfg.mpi)
            snprintf(what, sizeof what, "rank %d: %s", rank, outcome);
        else
            snprintf(what, sizeof what, "%s", outcome);
        int code = cli_fail("train", s, what);
        /* Every rank stops together when interrupted; after a failure the
         * others must not wait for this one. */
        if (cfg.mpi && s != RF_ERR_INTERRUPTED) rf_mpi_abort(code);
        if (cfg.mpi) rf_mpi_finalize();
        return code;
    }
    /* The run is complete and every file written. */
    if (cfg.mpi) rf_mpi_finalize();
    if (rank != 0) return CLI_EXIT_OK;

    const int max_dets[3] = {1, 10, 500};
    printf("\nbest total model (%s) on valid, after %" PRId64 " epochs / %" PRId64 " steps in %.0f s:\n",
           sum.best_total_is_ema ? "EMA" : "regular",
           sum.epochs_run, sum.steps, sum.seconds);
    cli_print_coco_summary(sum.best_total_stats, max_dets);
    if (sum.has_test) {
        printf("\nbest total model on test:\n");
        cli_print_coco_summary(sum.test_stats, max_dets);
    }
    if (sum.stopped_early) printf("\n(stopped early: no improvement for %d epochs)\n", cfg.patience);
    printf("\nrun directory %s:\n"
           "  checkpoint_best_total.safetensors    best of both models (use with predict / eval)\n"
           "  checkpoint_best_regular.safetensors  best regular model\n"
           "  checkpoint_best_ema.safetensors      best EMA model\n"
           "  checkpoint.safetensors               latest weights; training_state.safetensors to --resume\n"
           "  log.jsonl, results.json, metrics_plot.png; run.json (the run's options)\n",
           sum.out_dir);
    fflush(stdout);
    return CLI_EXIT_OK;
}
