#include <float.h>
/* test_lsa — the linear sum assignment solver of the Hungarian matcher.
 *
 *   test_lsa          brute force on every size up to 7 x 7 (both
 *                     orientations), ties, +Inf / NaN / -Inf, empty sizes,
 *                     RF-DETR's non-finite replacement
 *   test_lsa --scipy  identical assignments (not just costs) to
 *                     scipy.optimize.linear_sum_assignment on larger random
 *                     and tie-heavy matrices (skips, exit 77, without scipy) */
#include <math.h>
#include <string.h>

#include "io_test_util.h"
#include "model/lsa.h"

#define MAX_BRUTE 7

/* Minimum total over every injective map of the smaller side into the
 * larger one. */
static void brute_force(const double *cost, int rows, int cols, int r, bool *used, double sum, double *best) {
    if (rows <= cols) {
        if (r == rows) {
            if (sum < *best) *best = sum;
            return;
        }
        for (int c = 0; c < cols; c++) {
            if (used[c]) continue;
            used[c] = true;
            brute_force(cost, rows, cols, r + 1, used, sum + cost[r * cols + c], best);
            used[c] = false;
        }
    } else { /* assign each column a distinct row */
        if (r == cols) {
            if (sum < *best) *best = sum;
            return;
        }
        for (int row = 0; row < rows; row++) {
            if (used[row]) continue;
            used[row] = true;
            brute_force(cost, rows, cols, r + 1, used, sum + cost[row * cols + r], best);
            used[row] = false;
        }
    }
}

static bool valid_assignment(const int *row_to_col, int rows, int cols) {
    bool used[64] = {false};
    int matched = 0;
    for (int r = 0; r < rows; r++) {
        int c = row_to_col[r];
        if (c < 0) continue;
        if (c >= cols || used[c]) return false;
        used[c] = true;
        matched++;
    }
    return matched == (rows < cols ? rows : cols);
}

static void test_brute_force(void) {
    unsigned long long seed = 2024;
    int cases = 0;
    double cost[MAX_BRUTE * MAX_BRUTE];
    int assignment[MAX_BRUTE];
    for (int rows = 1; rows <= MAX_BRUTE; rows++) {
        for (int cols = 1; cols <= MAX_BRUTE; cols++) {
            for (int trial = 0; trial < 12; trial++) {
                /* Even trials: continuous costs with negatives; odd trials:
                 * small integers, so many optimal assignments tie. */
                for (int k = 0; k < rows * cols; k++)
                    cost[k] = trial % 2 == 0 ? (double)test_uniform(&seed, -5.0f, 5.0f) : (double)(io_random(&seed) % 4);
                CHECK_OK(rf_lsa_solve(cost, rows, cols, assignment));
                CHECK(valid_assignment(assignment, rows, cols), "%dx%d: invalid assignment", rows, cols);
                bool used[MAX_BRUTE] = {false};
                double best = INFINITY;
                brute_force(cost, rows, cols, 0, used, 0.0, &best);
                double got = rf_lsa_total(cost, rows, cols, assignment);
                CHECK(fabs(got - best) <= 1e-9 * (1.0 + fabs(best)), "%dx%d trial %d: total %.17g, brute force %.17g", rows,
                      cols, trial, got, best);
                cases++;
            }
        }
    }
    printf("brute force: %d matrices up to %dx%d\n", cases, MAX_BRUTE, MAX_BRUTE);
}

static void expect_assignment(const double *cost, int rows, int cols, const int *want, const char *what) {
    int got[16];
    CHECK_OK(rf_lsa_solve(cost, rows, cols, got));
    for (int r = 0; r < rows; r++) CHECK(got[r] == want[r], "%s: row %d -> %d, want %d", what, r, got[r], want[r]);
}

static void test_ties_and_shapes(void) {
    /* A constant matrix gives the identity, as scipy documents. */
    double zeros[20] = {0};
    expect_assignment(zeros, 4, 4, (int[]){0, 1, 2, 3}, "constant 4x4");
    expect_assignment(zeros, 3, 5, (int[]){0, 1, 2}, "constant 3x5");
    expect_assignment(zeros, 5, 3, (int[]){0, 1, 2, -1, -1}, "constant 5x3");
    expect_assignment((double[]){1, 1, 2, 1, 1, 2, 0, 0, 0}, 3, 3, (int[]){0, 1, 2}, "ties");

    /* Tall: the cheap rows win, the others stay unmatched. */
    expect_assignment((double[]){9, 9, 1, 5, 8, 0, 2, 9}, 4, 2, (int[]){-1, 0, 1, -1}, "tall");

    /* Empty problems. */
    int none[3] = {7, 7, 7};
    CHECK_OK(rf_lsa_solve(NULL, 3, 0, none));
    CHECK(none[0] == -1 && none[2] == -1, "3x0 leaves rows unmatched");
    CHECK_OK(rf_lsa_solve(NULL, 0, 5, none));
    CHECK_STATUS(rf_lsa_solve(zeros, -1, 2, none), RF_ERR_INVALID_ARGUMENT);
}

static void test_non_finite(void) {
    int got[3] = {7, 7, 7};
    /* +Inf forbids a pair; a feasible matrix still solves. */
    expect_assignment((double[]){INFINITY, 1, 1, INFINITY}, 2, 2, (int[]){1, 0}, "forbidden diagonal");
    /* Only forbidden pairs left for row 1: infeasible, as scipy says. */
    CHECK_STATUS(rf_lsa_solve((double[]){1, 2, INFINITY, INFINITY}, 2, 2, got), RF_ERR_NUMERIC);
    CHECK(strstr(rf_last_error(), "infeasible"), "%s", rf_last_error());
    CHECK(got[0] == 7, "output untouched on failure");
    CHECK_STATUS(rf_lsa_solve((double[]){1, NAN, 3, 4}, 2, 2, got), RF_ERR_NUMERIC);
    CHECK(strstr(rf_last_error(), "invalid numeric entries") && strstr(rf_last_error(), "row 0, column 1"), "%s",
          rf_last_error());
    CHECK_STATUS(rf_lsa_solve((double[]){1, 2, 3, -INFINITY}, 2, 2, got), RF_ERR_NUMERIC);

    /* RF-DETR 1.11's replacement: max + max|.| + 1 over the finite entries
     * (its docstring example: [[1, nan], [inf, -2]] -> 4). */
    double doc[4] = {1.0, NAN, INFINITY, -2.0};
    CHECK(rf_lsa_replace_nonfinite(doc, 4) == 2, "two replaced");
    CHECK(doc[1] == 4.0 && doc[2] == 4.0 && doc[0] == 1.0 && doc[3] == -2.0, "replaced with 1 + 2 + 1: %g", doc[1]);
    double c[6] = {1.0, NAN, 3.0, INFINITY, -INFINITY, -2.0};
    CHECK(rf_lsa_replace_nonfinite(c, 6) == 3, "three replaced");
    CHECK(c[1] == 7.0 && c[3] == 7.0 && c[4] == 7.0, "replaced with 3 + 3 + 1");
    double negative[3] = {-1.0, NAN, -4.0};
    rf_lsa_replace_nonfinite(negative, 3);
    CHECK(negative[1] == 4.0, "all-negative costs: -1 + 4 + 1 = 4, got %g", negative[1]);
    double none[2] = {NAN, -INFINITY};
    rf_lsa_replace_nonfinite(none, 2);
    CHECK(none[0] == DBL_MAX && none[1] == DBL_MAX, "no finite entry: the largest double");
    double finite[2] = {1.0, 2.0};
    CHECK(rf_lsa_replace_nonfinite(finite, 2) == 0, "nothing to replace");
    /* After replacement the solver always succeeds. */
    double bad[4] = {NAN, NAN, NAN, 5.0};
    rf_lsa_replace_nonfinite(bad, 4);
    CHECK_OK(rf_lsa_solve(bad, 2, 2, got));
    CHECK(got[0] == 0 && got[1] == 1, "NaN rows avoided where possible: %d %d", got[0], got[1]);
}

/* ---- scipy ------------------------------------------------------------------ */

typedef struct scipy_case {
    int rows, cols;
    bool integers;
} scipy_case;

static int run_scipy(void) {
    if (!io_python_has("scipy.optimize, numpy")) {
        return test_skip("test_lsa --scipy", "python3 cannot import scipy and numpy", "pip install scipy numpy");
    }
    static const scipy_case cases[] = {
        {10, 10, false}, {20, 5, false}, {5, 20, false}, {50, 50, false}, {300, 7, false}, {7, 300, false},
        {300, 30, false}, {100, 100, true}, {40, 17, true}, {17, 40, true}, {60, 60, true}, {1, 9, true},
        {9, 1, true}, {64, 64, false}, {3, 3, true}, {300, 300, false},
    };
    enum { CASES = sizeof cases / sizeof cases[0], REPEATS = 6 };
    char dir[4096], in_path[4200], out_path[4200], args[8600];
    io_scratch_make(dir, sizeof dir);
    snprintf(in_path, sizeof in_path, "%s/costs.bin", dir);
    snprintf(out_path, sizeof out_path, "%s/assignments.txt", dir);

    /* Costs as: int32 count, then per matrix int32 rows, int32 cols and
     * rows*cols float64, all little-endian. */
    FILE *f = fopen(in_path, "wb");
    int total = CASES * REPEATS;
    fwrite(&total, sizeof total, 1, f);
    unsigned long long seed = 77;
    double **matrices = calloc((size_t)total, sizeof *matrices);
    for (int t = 0; t < total; t++) {
        const scipy_case *c = &cases[t % CASES];
        size_t n = (size_t)c->rows * (size_t)c->cols;
        matrices[t] = malloc(n * sizeof(double));
        for (size_t k = 0; k < n; k++)
            matrices[t][k] = c->integers ? (double)(io_random(&seed) % 5) : (double)test_uniform(&seed, -3.0f, 7.0f);
        fwrite(&c->rows, sizeof(int), 1, f);
        fwrite(&c->cols, sizeof(int), 1, f);
        fwrite(matrices[t], sizeof(double), n, f);
    }
    fclose(f);
    snprintf(args, sizeof args, "'%s' '%s'", in_path, out_path);
    CHECK(io_python_run("lsa_scipy.py", args) == 0, "lsa_scipy.py failed");

    /* The script writes, per matrix, one line of row_to_col. */
    FILE *in = fopen(out_path, "r");
    CHECK(in != NULL, "no scipy output");
    int identical = 0;
    for (int t = 0; in && t < total; t++) {
        const scipy_case *c = &cases[t % CASES];
        int *ours = malloc((size_t)c->rows * sizeof *ours);
        CHECK_OK(rf_lsa_solve(matrices[t], c->rows, c->cols, ours));
        bool same = true;
        for (int r = 0; r < c->rows; r++) {
            int theirs;
            if (fscanf(in, "%d", &theirs) != 1) {
                same = false;
                break;
            }
            if (theirs != ours[r]) same = false;
        }
        CHECK(same, "matrix %d (%dx%d%s): assignment differs from scipy", t, c->rows, c->cols,
              c->integers ? ", integer costs" : "");
        identical += same;
        free(ours);
    }
    if (in) fclose(in);
    printf("scipy: %d of %d assignments identical\n", identical, total);
    for (int t = 0; t < total; t++) free(matrices[t]);
    free(matrices);
    io_scratch_remove(dir);
    return test_finish("test_lsa --scipy");
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--scipy") == 0) return run_scipy();
    test_brute_force();
    test_ties_and_shapes();
    test_non_finite();
    return test_finish("test_lsa");
}
