/* lsa.h — exact linear sum assignment, the core of the Hungarian matcher.
 *
 * Computes what scipy.optimize.linear_sum_assignment computes, assignment
 * for assignment (ties included): the shortest augmenting path method
 * (Jonker–Volgenant style, as described by Crouse, "On implementing 2D
 * rectangular assignment algorithms", IEEE TAES 52(4), 2016), adding one row
 * at a time along a Dijkstra-like shortest path over reduced costs and
 * updating the dual potentials. A matrix with more rows than columns is
 * solved transposed, as scipy does. O(min(r,c)² · max(r,c)). Host only. */
#ifndef RFDETR_LSA_H
#define RFDETR_LSA_H

#include <stddef.h>

#include "rfdetr.h"

/* cost: rows × cols, row-major. On success row_to_col[r] is the column of
 * row r, or -1 for the rows - cols rows left unmatched when rows > cols;
 * exactly min(rows, cols) rows are matched and their total cost is minimal.
 * rows == 0 or cols == 0 is a valid empty problem.
 *
 * Errors, as scipy raises them: NaN or -Inf anywhere is RF_ERR_NUMERIC
 * ("invalid numeric entries", naming the first such entry); +Inf marks a
 * forbidden pair, and a matrix where no complete matching avoids them is
 * RF_ERR_NUMERIC ("infeasible"). Negative sizes are RF_ERR_INVALID_ARGUMENT.
 * row_to_col is untouched on failure. */
rf_status rf_lsa_solve(const double *cost, int rows, int cols, int *row_to_col);

/* Total cost of an assignment from rf_lsa_solve (unmatched rows skipped). */
double rf_lsa_total(const double *cost, int rows, int cols, const int *row_to_col);

/* What RF-DETR's matcher does before calling scipy (rfdetr 1.11,
 * HungarianMatcher._sanitize_cost_matrix): every NaN/±Inf of cost[0..count)
 * becomes m + a + 1, m the largest and a the largest absolute finite entry,
 * so the replacement is dearer than every real pair even when all costs are
 * negative; DBL_MAX when nothing is finite. Call it on the whole batch's
 * cost, as RF-DETR takes the maxima over it. Returns the number of entries
 * replaced. */
size_t rf_lsa_replace_nonfinite(double *cost, size_t count);

#endif /* RFDETR_LSA_H */
