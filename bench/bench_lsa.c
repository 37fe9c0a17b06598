/* bench_lsa — the matcher's linear sum assignment at RF-DETR's sizes.
 *
 * RF-DETR matches each image of a batch once per query group: a cost matrix
 * of queries_per_group (300 for the official sizes, 50 for tiny) × that
 * image's targets. Prints the time per call here and, measured in the same
 * run on the same matrices, scipy's (the baseline; its time includes the
 * Python call overhead of a few microseconds, as RF-DETR pays it), and the
 * ratio. A training step solves batch × groups of them: the last line
 * totals a batch of 8 with 13 groups. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model/lsa.h"

#include "bench/bench_util.h"

typedef struct size_case {
    int rows, cols;
    const char *what;
} size_case;

static const size_case cases[] = {
    {50, 3, "tiny: 50 queries x 3 targets"},
    {300, 1, "300 queries x 1 target"},
    {300, 7, "300 x 7 (COCO's mean)"},
    {300, 20, "300 x 20"},
    {300, 50, "300 x 50"},
    {300, 100, "300 x 100 (crowded image)"},
    {300, 300, "300 x 300 (square, worst case)"},
};
enum { CASES = sizeof cases / sizeof cases[0] };

/* Costs shaped like the matcher's: 2·focal class cost + 5·L1 + 2·(−GIoU),
 * roughly uniform over [−2, 6]. */
static void fill(double *cost, size_t n, unsigned long long *state) {
    for (size_t k = 0; k < n; k++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        cost[k] = -2.0 + 8.0 * (double)(*state >> 11) / 9007199254740992.0;
    }
}

static double time_ours(const double *cost, int rows, int cols, int repeats) {
    int *assignment = malloc((size_t)rows * sizeof *assignment);
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        double start = bench_now();
        for (int r = 0; r < repeats; r++)
            if (rf_lsa_solve(cost, rows, cols, assignment) != RF_OK) {
                fprintf(stderr, "bench_lsa: %s\n", rf_last_error());
                exit(1);
            }
        double t = (bench_now() - start) / repeats;
        if (t < best) best = t;
    }
    free(assignment);
    return best;
}

int main(void) {
    unsigned long long state = 42;
    double *matrices[CASES];
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_lsa_%ld.bin", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    FILE *f = fopen(path, "wb");
    int count = CASES;
    fwrite(&count, sizeof count, 1, f);
    for (int c = 0; c < CASES; c++) {
        size_t n = (size_t)cases[c].rows * (size_t)cases[c].cols;
        matrices[c] = malloc(n * sizeof(double));
        fill(matrices[c], n, &state);
        fwrite(&cases[c].rows, sizeof(int), 1, f);
        fwrite(&cases[c].cols, sizeof(int), 1, f);
        fwrite(matrices[c], sizeof(double), n, f);
    }
    fclose(f);

    double scipy_us[CASES];
    bool have_scipy = false;
    char cmd[8300];
    const char *source = getenv("RFDETR_SOURCE_DIR");
    snprintf(cmd, sizeof cmd, "python3 '%s/bench/lsa_scipy_time.py' '%s' 200 2>/dev/null", source && *source ? source : ".", path);
    FILE *py = popen(cmd, "r");
    if (py) {
        int got = 0;
        while (got < CASES && fscanf(py, "%lf", &scipy_us[got]) == 1) got++;
        have_scipy = pclose(py) == 0 && got == CASES;
    }
    remove(path);

    printf("%-34s %12s %12s %8s\n", "cost matrix", "rfdetr.c us", "scipy us", "ratio");
    double ours_us[CASES];
    for (int c = 0; c < CASES; c++) {
        int repeats = cases[c].rows * cases[c].cols > 20000 ? 20 : 2000;
        ours_us[c] = 1e6 * time_ours(matrices[c], cases[c].rows, cases[c].cols, repeats);
        if (have_scipy)
            printf("%-34s %12.2f %12.2f %7.2fx\n", cases[c].what, ours_us[c], scipy_us[c], scipy_us[c] / ours_us[c]);
        else
            printf("%-34s %12.2f %12s %8s\n", cases[c].what, ours_us[c], "n/a", "n/a");
        free(matrices[c]);
    }
    /* One training step of an official size: batch 8, 13 groups, 300 x 7. */
    double step = 8 * 13 * ours_us[2];
    printf("matching one step (batch 8 x 13 groups, 300 x 7): %.2f ms here", step / 1000.0);
    if (have_scipy) printf(", %.2f ms with scipy", 8 * 13 * scipy_us[2] / 1000.0);
    printf("\n");
    if (!have_scipy) printf("(python3 with scipy not found: no baseline)\n");
    return 0;
}
