#include "model/lsa.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"

/* State of the solver for an n × m problem with n ≤ m (the wide form). */
typedef struct lsa_state {
    const double *cost; /* n × m, row-major */
    int n, m;
    double *row_potential;  /* u, n */
    double *col_potential;  /* v, m */
    double *distance;       /* shortest reduced path cost to each column, m */
    int *predecessor_row;   /* row from which each column was reached, m */
    int *col_of_row;        /* n, -1 while unassigned */
    int *row_of_col;        /* m, -1 while unassigned */
    int *unvisited;         /* columns not yet reached by the search, m */
    bool *row_visited;      /* n */
    bool *col_visited;      /* m */
} lsa_state;

/* Grows a shortest path of reduced costs from `row` until it reaches an
 * unassigned column (the sink); returns the sink, or -1 when every
 * remaining column is at infinite distance (no feasible augmentation).
 * *path_length receives the sink's distance.
 *
 * The order in which columns are examined decides ties, and with them which
 * of several optimal assignments comes out. To match scipy exactly: the
 * candidate list starts in descending column order, a reached column is
 * removed by moving the last candidate into its slot, and among equally
 * distant columns an unassigned one wins (it ends the search at once). */
static int shortest_augmenting_path(lsa_state *s, int row, double *path_length) {
    int m = s->m;
    int unvisited_count = m;
    for (int k = 0; k < m; k++) s->unvisited[k] = m - 1 - k;
    memset(s->row_visited, 0, (size_t)s->n * sizeof *s->row_visited);
    memset(s->col_visited, 0, (size_t)m * sizeof *s->col_visited);
    for (int j = 0; j < m; j++) s->distance[j] = INFINITY;

    /* Locals, so the compiler need not reload through `s` after each store. */
    double *restrict distance = s->distance;
    int *restrict predecessor_row = s->predecessor_row;
    int *restrict unvisited = s->unvisited;
    const int *restrict row_of_col = s->row_of_col;
    const double *restrict col_potential = s->col_potential;
    double reached = 0.0; /* distance of the column reached last */
    int i = row;
    for (;;) {
        s->row_visited[i] = true;
        const double *restrict cost_row = s->cost + (size_t)i * (size_t)m;
        double u = s->row_potential[i]; /* same operation order as scipy: ties must round alike */
        double closest = INFINITY;
        int closest_slot = -1;
        for (int k = 0; k < unvisited_count; k++) {
            int j = unvisited[k];
            double d = reached + cost_row[j] - u - col_potential[j];
            if (d < distance[j]) {
                distance[j] = d;
                predecessor_row[j] = i;
            }
            if (distance[j] < closest || (distance[j] == closest && row_of_col[j] < 0)) {
                closest = distance[j];
                closest_slot = k;
            }
        }
        if (closest == INFINITY) return -1;
        reached = closest;
        int j = unvisited[closest_slot];
        s->col_visited[j] = true;
        unvisited[closest_slot] = unvisited[--unvisited_count];
        if (row_of_col[j] < 0) {
            *path_length = reached;
            return j;
        }
        i = row_of_col[j]; /* continue from the row that holds j */
    }
}

/* Solves the wide problem (n ≤ m); false when infeasible. */
static bool solve_wide(lsa_state *s) {
    for (int row = 0; row < s->n; row++) {
        double path_length = 0.0;
        int sink = shortest_augmenting_path(s, row, &path_length);
        if (sink < 0) return false;

        /* Dual update keeps reduced costs non-negative and zero on the
         * assignment, so the next search may use them as edge lengths. */
        s->row_potential[row] += path_length;
        for (int i = 0; i < s->n; i++)
            if (s->row_visited[i] && i != row) s->row_potential[i] += path_length - s->distance[s->col_of_row[i]];
        for (int j = 0; j < s->m; j++)
            if (s->col_visited[j]) s->col_potential[j] -= path_length - s->distance[j];

        /* Flip the path: every row on it takes the column it was reached
         * through, handing its old column back along the path. */
        int j = sink;
        for (;;) {
            int i = s->predecessor_row[j];
            s->row_of_col[j] = i;
            int previous = s->col_of_row[i];
            s->col_of_row[i] = j;
            if (i == row) break;
            j = previous;
        }
    }
    return true;
}

rf_status rf_lsa_solve(const double *cost, int rows, int cols, int *row_to_col) {
    if (rows < 0 || cols < 0) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "linear sum assignment: invalid size %d x %d", rows, cols);
    if (rows == 0 || cols == 0) {
        for (int r = 0; r < rows; r++) row_to_col[r] = -1;
        return RF_OK;
    }
    size_t count = (size_t)rows * (size_t)cols;
    for (size_t k = 0; k < count; k++) {
        if (isnan(cost[k]) || cost[k] == -INFINITY)
            return RF_ERROR(RF_ERR_NUMERIC,
                            "linear sum assignment: cost matrix contains invalid numeric entries (%g at row %zu, column %zu)",
                            cost[k], k / (size_t)cols, k % (size_t)cols);
    }

    bool transpose = cols < rows;
    int n = transpose ? cols : rows, m = transpose ? rows : cols;
    lsa_state s = {.n = n, .m = m};
    double *transposed = NULL;
    if (transpose) {
        transposed = malloc(count * sizeof *transposed);
        if (!transposed) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "linear sum assignment: out of host memory");
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) transposed[(size_t)c * (size_t)rows + (size_t)r] = cost[(size_t)r * (size_t)cols + (size_t)c];
    }
    s.cost = transpose ? transposed : cost;
    s.row_potential = calloc((size_t)n, sizeof *s.row_potential);
    s.col_potential = calloc((size_t)m, sizeof *s.col_potential);
    s.distance = malloc((size_t)m * sizeof *s.distance);
    s.predecessor_row = malloc((size_t)m * sizeof *s.predecessor_row);
    s.col_of_row = malloc((size_t)n * sizeof *s.col_of_row);
    s.row_of_col = malloc((size_t)m * sizeof *s.row_of_col);
    s.unvisited = malloc((size_t)m * sizeof *s.unvisited);
    s.row_visited = malloc((size_t)n * sizeof *s.row_visited);
    s.col_visited = malloc((size_t)m * sizeof *s.col_visited);
    rf_status status = RF_OK;
    if (!s.row_potential || !s.col_potential || !s.distance || !s.predecessor_row || !s.col_of_row || !s.row_of_col ||
        !s.unvisited || !s.row_visited || !s.col_visited) {
        status = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "linear sum assignment: out of host memory");
    } else {
        for (int i = 0; i < n; i++) s.col_of_row[i] = -1;
        for (int j = 0; j < m; j++) s.row_of_col[j] = -1;
        if (!solve_wide(&s)) {
            status = RF_ERROR(RF_ERR_NUMERIC, "linear sum assignment: cost matrix is infeasible (+Inf entries leave no "
                                              "complete assignment of the %d x %d matrix)", rows, cols);
        } else if (transpose) {
            for (int r = 0; r < rows; r++) row_to_col[r] = s.row_of_col[r];
        } else {
            memcpy(row_to_col, s.col_of_row, (size_t)rows * sizeof *row_to_col);
        }
    }
    free(transposed);
    free(s.row_potential);
    free(s.col_potential);
    free(s.distance);
    free(s.predecessor_row);
    free(s.col_of_row);
    free(s.row_of_col);
    free(s.unvisited);
    free(s.row_visited);
    free(s.col_visited);
    return status;
}

double rf_lsa_total(const double *cost, int rows, int cols, const int *row_to_col) {
    double total = 0.0;
    for (int r = 0; r < rows; r++)
        if (row_to_col[r] >= 0) total += cost[(size_t)r * (size_t)cols + (size_t)row_to_col[r]];
    return total;
}

size_t rf_lsa_replace_nonfinite(double *cost, size_t count) {
    double largest = -INFINITY, largest_abs = 0;
    size_t replaced = 0;
    for (size_t k = 0; k < count; k++) {
        if (isfinite(cost[k])) {
            if (cost[k] > largest) largest = cost[k];
            if (fabs(cost[k]) > largest_abs) largest_abs = fabs(cost[k]);
        } else {
            replaced++;
        }
    }
    if (replaced == 0) return 0;
    /* RF-DETR 1.11's _sanitize_cost_matrix: max + max|.| + 1 stays above
     * every finite entry even when all are negative; DBL_MAX when nothing is
     * finite or the sum overflows. */
    double value = largest == -INFINITY ? DBL_MAX : largest + largest_abs + 1.0;
    if (!isfinite(value)) value = DBL_MAX;
    for (size_t k = 0; k < count; k++)
        if (!isfinite(cost[k])) cost[k] = value;
    return replaced;
}
