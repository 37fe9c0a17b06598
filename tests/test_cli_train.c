/* test_cli_train.c — `rfdetr train` and `rfdetr eval --weights` as a user
 * runs them: bad devices, datasets and values exit 2 naming the problem
 * (the device error lists the available devices); a short run on a small
 * dataset exits 0, prints the COCO table and where everything went, and its
 * best checkpoint evaluates to the same AP on cpu and opencl:1; a build
 * without MPI refuses to run under mpirun. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rfdetr.h"
#include "test_util.h"

static char rfdetr[1024], tmp[] = "/tmp/rfdetr_test_cli_train_XXXXXX";

/* Runs a command with stdout and stderr captured into out; returns the exit code. */
static int run(const char *cmd, char *out, size_t size) {
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    while (fgetc(p) != EOF) {
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The AP line of an eval's summary. */
static double first_ap(const char *out) {
    const char *p = strstr(out, "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all");
    p = p ? strstr(p, "] = ") : NULL;
    return p ? atof(p + 4) : -2;
}

int main(void) {
    const char *build = getenv("RFDETR_BUILD_DIR");
    snprintf(rfdetr, sizeof rfdetr, "%s/rfdetr", build ? build : "build");
    if (access(rfdetr, X_OK) != 0 || !mkdtemp(tmp)) return TEST_SKIP_CODE;
    static char out[1 << 16];
    char cmd[4096];

    snprintf(cmd, sizeof cmd, "%s train --device opencl:7 --out %s/x", rfdetr, tmp);
    CHECK(run(cmd, out, sizeof out) == 2 && strstr(out, "opencl:7") && strstr(out, "available devices: cpu"),
          "unknown device: %s", out);
    snprintf(cmd, sizeof cmd, "%s train --device cpu --data %s/does-not-exist --out %s/x", rfdetr, tmp, tmp);
    CHECK(run(cmd, out, sizeof out) == 2 && strstr(out, "does-not-exist"), "missing dataset: %s", out);
    snprintf(cmd, sizeof cmd, "%s train --device cpu --epochs 0", rfdetr);
    CHECK(run(cmd, out, sizeof out) == 2, "epochs 0: %s", out);
    snprintf(cmd, sizeof cmd, "%s train --device cpu --model huge --out %s/x", rfdetr, tmp);
    CHECK(run(cmd, out, sizeof out) == 2 && strstr(out, "huge") && strstr(out, "nano"), "unknown size: %s", out);
    snprintf(cmd, sizeof cmd, "%s train --device cpu --resolution 100 --out %s/x", rfdetr, tmp);
    CHECK(run(cmd, out, sizeof out) == 2 && strstr(out, "100"), "bad resolution: %s", out);
    snprintf(cmd, sizeof cmd, "%s train --bogus", rfdetr);
    CHECK(run(cmd, out, sizeof out) == 2 && strstr(out, "--bogus"), "unknown option: %s", out);
    /* Started by mpirun in a build without MPI: every copy would believe it
     * is the only rank and write the same run, so it is refused (exit 2)
     * before anything is written. A build with MPI is checked under a real
     * mpirun by tests/parallel_mpi.sh. */
    if (!rf_mpi_built()) {
        snprintf(cmd, sizeof cmd, "OMPI_COMM_WORLD_SIZE=2 %s train --device cpu --out %s/mpi", rfdetr, tmp);
        char mpi_out[600];
        snprintf(mpi_out, sizeof mpi_out, "%s/mpi", tmp);
        CHECK(run(cmd, out, sizeof out) == 2 && strstr(out, "mpirun with 2 ranks") && strstr(out, "no MPI") &&
                  access(mpi_out, F_OK) != 0,
              "under mpirun without MPI: %s", out);
    }
    snprintf(cmd, sizeof cmd, "%s train --help", rfdetr);
    CHECK(run(cmd, out, sizeof out) == 0 && strstr(out, "--resume") && strstr(out, "--grad-accum"), "help: %s", out);

    /* A short successful run. */
    char data_dir_for_sigint[512];
    snprintf(data_dir_for_sigint, sizeof data_dir_for_sigint, "%s/data", tmp);
    snprintf(cmd, sizeof cmd, "%s make-shapes %s/data --train 16 --valid 8 --size 128 --seed 5", rfdetr, tmp);
    CHECK(run(cmd, out, sizeof out) == 0, "make-shapes: %s", out);
    snprintf(cmd, sizeof cmd,
             "%s train --device cpu --data %s/data --out %s/run --epochs 1 --batch 4 --resolution 128 --warmup-steps 1",
             rfdetr, tmp, tmp);
    int rc = run(cmd, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "Average Precision") && strstr(out, "checkpoint_best_total.safetensors") &&
              strstr(out, "metrics_plot.png"),
          "train (exit %d): %s", rc, out);
    /* Evaluated with the model form, the same numbers on every device. */
    char names[16][32];
    int n = test_device_names(names, 16);
    double ap0 = -3;
    for (int i = 0; i < n; i++) {
        snprintf(cmd, sizeof cmd, "%s eval --weights %s/run/checkpoint_best_total.safetensors --data %s/data --device %s",
                 rfdetr, tmp, tmp, names[i]);
        rc = run(cmd, out, sizeof out);
        CHECK(rc == 0, "eval on %s (exit %d): %s", names[i], rc, out);
        double ap = first_ap(out);
        if (i == 0) ap0 = ap;
        CHECK(ap == ap0 && ap >= 0, "AP on %s %.6f, on %s %.6f", names[i], ap, names[0], ap0);
    }
    /* Ctrl-C: a real SIGINT to a running `rfdetr train` stops it between
     * steps with exit 1, a resumable state and the --resume command; the
     * resumed run finishes. */
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    char outdir[512];
    snprintf(outdir, sizeof outdir, "%s/sigint", tmp);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        execl(rfdetr, rfdetr, "train", "--device", "cpu", "--data", data_dir_for_sigint, "--out", outdir, "--epochs", "50",
              "--batch", "4", "--resolution", "128", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *err = fdopen(fds[0], "r");
    char line[4096], all[16384] = "";
    bool started = false;
    while (fgets(line, sizeof line, err)) {
        strncat(all, line, sizeof all - strlen(all) - 1);
        if (!started && strstr(line, "training tiny")) {
            started = true;
            usleep(1500 * 1000); /* let a few steps run */
            kill(pid, SIGINT);
        }
    }
    fclose(err);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    CHECK(started && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 1, "SIGINT exit status %d: %s",
          WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1, all);
    const char *at = strstr(all, "interrupted at step ");
    CHECK(at && strstr(all, "--resume"), "interrupt message: %s", all);
    char state[600];
    snprintf(state, sizeof state, "%s/training_state.safetensors", outdir);
    CHECK(access(state, R_OK) == 0, "no resumable state after SIGINT");
    long step = at ? atol(at + strlen("interrupted at step ")) : 0;
    snprintf(cmd, sizeof cmd, "%s train --device cpu --data %s --resume %s --epochs 50 --batch 4 --resolution 128 --max-steps %ld",
             rfdetr, data_dir_for_sigint, outdir, step + 2);
    rc = run(cmd, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "Average Precision"), "resume after SIGINT (exit %d): %s", rc, out);

    snprintf(cmd, sizeof cmd, "%s eval --weights %s/data/train/_annotations.coco.json --data %s/data --device cpu",
             rfdetr, tmp, tmp);
    CHECK(run(cmd, out, sizeof out) == 2, "eval with a non-weights file: %s", out);
    if (test_failed_count == 0) test_remove_tree(tmp);
    return test_finish("test_cli_train");
}
