/* bench_weights — loading weights: a 128 MiB state dict of f32 tensors,
 * opened and copied out to f32 buffers, from safetensors and from a
 * torch.save .pth. The baselines, measured in the same run on the same
 * files with a warm page cache: Python's safetensors.numpy.load_file and
 * torch.load (each best of 3). Prints MB/s and the ratio. The .pth part
 * needs torch (to write the file); without Python only our numbers print. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/safetensors.h"
#include "core/weights.h"

#include "bench/bench_util.h"

enum { TENSORS = 64, ROWS = 512, COLS = 1024 };

static void die(const char *what) {
    fprintf(stderr, "bench_weights: %s: %s\n", what, rf_last_error());
    exit(1);
}

/* Opens either format and copies every tensor out as f32. */
static double load(const char *path, float *out) {
    double start = bench_now();
    rf_weights *w;
    if (rf_weights_open(path, &w) != RF_OK) die("open");
    for (int i = 0; i < rf_weights_count(w); i++) {
        rf_tensor_info info;
        rf_weights_info_at(w, i, &info);
        if (rf_weights_read_f32(w, info.name, out + (size_t)i * ROWS * COLS, (size_t)info.numel) != RF_OK) die("read");
    }
    rf_weights_close(w);
    return bench_now() - start;
}

static double best_of_3(const char *path, float *out) {
    load(path, out); /* warm the page cache */
    double best = INFINITY;
    for (int r = 0; r < 3; r++) {
        double t = load(path, out);
        if (t < best) best = t;
    }
    return best;
}

int main(void) {
    const char *tmp = getenv("TMPDIR"), *source = getenv("RFDETR_SOURCE_DIR");
    char st_path[4096], pth_path[4096], cmd[16384];
    snprintf(st_path, sizeof st_path, "%s/bench_weights_%ld.safetensors", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    snprintf(pth_path, sizeof pth_path, "%s/bench_weights_%ld.pth", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    source = source && *source ? source : ".";

    size_t total = (size_t)TENSORS * ROWS * COLS;
    float *values = malloc(total * sizeof *values), *out = malloc(total * sizeof *out);
    for (size_t k = 0; k < total; k++) values[k] = (float)(k % 1000) * 0.001f;
    rf_safetensors_writer *w;
    rf_safetensors_writer_create(&w);
    for (int i = 0; i < TENSORS; i++) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.weight", i);
        rf_safetensors_writer_add(w, name, RF_FILE_F32, 2, (int64_t[]){ROWS, COLS}, values + (size_t)i * ROWS * COLS);
    }
    double write_start = bench_now();
    if (rf_safetensors_writer_save(w, st_path) != RF_OK) die("save");
    double write_time = bench_now() - write_start;
    rf_safetensors_writer_free(w);
    double mb = (double)(total * sizeof(float)) / 1e6;

    snprintf(cmd, sizeof cmd, "python3 '%s/bench/weights_python_time.py' to-pth '%s' '%s' 2>/dev/null", source, st_path, pth_path);
    bool have_pth = system(cmd) == 0;

    double ours_st = best_of_3(st_path, out);
    if (memcmp(out, values, total * sizeof *out) != 0) die("safetensors values differ");
    double ours_pth = have_pth ? best_of_3(pth_path, out) : NAN;
    if (have_pth && memcmp(out, values, total * sizeof *out) != 0) die("pth values differ");

    double py_st = NAN, py_pth = NAN;
    snprintf(cmd, sizeof cmd, "python3 '%s/bench/weights_python_time.py' time '%s' '%s' 2>/dev/null", source, st_path,
             have_pth ? pth_path : st_path);
    FILE *py = popen(cmd, "r");
    if (py) {
        if (fscanf(py, "%lf %lf", &py_st, &py_pth) != 2) py_st = py_pth = NAN;
        pclose(py);
    }
    if (!have_pth) py_pth = NAN;
    remove(st_path);
    remove(pth_path);

    printf("%.0f MB of f32 in %d tensors, page cache warm\n", mb, TENSORS);
    printf("safetensors write (atomic, fsync): %8.0f MB/s\n", mb / write_time);
    printf("%-24s %14s %16s %8s\n", "load", "rfdetr.c MB/s", "baseline MB/s", "ratio");
    printf("%-24s %14.0f %16.0f %7.2fx   (baseline: safetensors.numpy.load_file)\n", "safetensors", mb / ours_st,
           mb / py_st, py_st / ours_st);
    if (have_pth)
        printf("%-24s %14.0f %16.0f %7.2fx   (baseline: torch.load)\n", ".pth", mb / ours_pth, mb / py_pth, py_pth / ours_pth);
    else
        printf(".pth: torch not importable, skipped\n");
    free(values);
    free(out);
    return 0;
}
