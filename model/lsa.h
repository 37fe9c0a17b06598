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

/* What RF-DETR's matcher does before calling scipy, made total.
 *
 * rfdetr/models/matcher.py computes the whole batch's cost C (all images,
 * all query groups) and then
 *     max_cost = C.max(); C[C.isinf() | C.isnan()] = max_cost * 2
 * "assuming any good match will not cause NaN or Inf". Taken literally that
 * only works when -Inf is the only non-finite value: torch's max propagates
 * NaN (so NaN entries stay NaN and scipy raises, stopping training) and a
 * +Inf entry makes max_cost +Inf (so -Inf becomes +Inf and scipy may raise
 * "infeasible"); with every cost ≤ 0 it even makes the replacement cheaper
 * than the finite maximum.
 *
 * This replaces every NaN/±Inf of cost[0..count) with 2·m, m the largest
 * finite entry, when m > 0 — RF-DETR's value wherever RF-DETR's code works —
 * and with m + 1 otherwise (1 when no entry is finite), so the replacement
 * is always the most expensive choice and rf_lsa_solve always succeeds.
 * Call it on the whole batch's cost, as RF-DETR takes the maximum over it.
 * Returns the number of entries replaced. */
size_t rf_lsa_replace_nonfinite(double *cost, size_t count);

#endif /* RFDETR_LSA_H */
