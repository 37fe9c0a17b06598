/* progress.c — the evaluation progress line `train` and `eval` share. */
#include <inttypes.h>
#include <stdio.h>

#include "cli/cli.h"

void cli_print_eval_progress(cli_eval_progress *p, const char *what, int64_t done, int64_t total) {
    if (total <= 0) return;
    if (p->tty) {
        /* A bar rewritten in place; the caller's next line clears it. */
        int width = 24, filled = (int)(width * done / total);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r\033[K%s [%s] %" PRId64 "/%" PRId64 " images", what, bar, done, total);
        if (done >= total) fprintf(stderr, "\r\033[K");
        fflush(stderr);
        return;
    }
    /* Plain lines for logs: each quarter. */
    int quarter = (int)(4 * done / total);
    if (quarter > p->last_quarter) {
        fprintf(stderr, "%s: %" PRId64 "/%" PRId64 " images\n", what, done, total);
        p->last_quarter = quarter;
    }
}
