/* test_train_learns.c — it learns: the tiny model on the default built-in
 * shapes dataset with the default recipe (batch 8, AdamW lr 4e-4, 100
 * warm-up steps, EMA 0.993 / tau 100, clip 0.1) for 8 epochs = 2,000 steps
 * reaches AP50 >= 0.5 on valid (the better of the regular and EMA models), as
 * the PyTorch reference of the recipe does (AP50 0.5 at step ~1,200); the
 * run stops at the first epoch that gets there. Prints the wall time. Slow: run in CI with the slow label. Argument: the device
 * (default cpu). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_util.h"
#include "core/fileio.h"
#include "train/trainer.h"

static volatile sig_atomic_t reached;
static double first_epoch_regular = -1, first_epoch_ema = -1;

/* Stops the run (as Ctrl-C would) once the target is met: the test need not
 * train the remaining epochs to prove the recipe learns. */
static void show(void *user, const rf_train_progress *p) {
    (void)user;
    if (p->event == RF_TRAIN_EPOCH_DONE) {
        printf("epoch %lld: loss %.4f  AP50 regular %.3f  EMA %.3f\n", (long long)p->epoch + 1, p->loss, p->stats[1],
               p->ema_stats ? p->ema_stats[1] : -1.0);
        if (p->epoch == 0) {
            first_epoch_regular = p->stats[1];
            first_epoch_ema = p->ema_stats ? p->ema_stats[1] : -1.0;
        }
        if (p->stats[1] >= 0.5 || (p->ema_stats && p->ema_stats[1] >= 0.5)) reached = 1;
    }
    else if (p->event == RF_TRAIN_STARTED)
        printf("%s\n", p->message);
    fflush(stdout);
}

int main(int argc, char **argv) {
    char out[] = "/tmp/rfdetr_learns_XXXXXX";
    if (!mkdtemp(out)) return 1;
    rf_train_config c;
    rf_train_config_defaults(&c);
    c.device = argc > 1 ? argv[1] : "cpu";
    c.out_dir = out;
    c.epochs = 8;
    c.progress = show;
    c.stop = &reached;
    rf_train_summary s;
    rf_status st = rf_train(&c, &s);
    CHECK(st == RF_OK || (st == RF_ERR_INTERRUPTED && reached), "rf_train: %s: %s", rf_status_name(st), rf_last_error());
    double best = s.best_regular_map50 > s.best_ema_map50 ? s.best_regular_map50 : s.best_ema_map50;
    printf("%lld steps in %.0f s (%.2f s/step): best AP50 regular %.3f, EMA %.3f\n", (long long)s.steps, s.seconds,
           s.seconds / (double)(s.steps ? s.steps : 1), s.best_regular_map50, s.best_ema_map50);
    /* Issue 7 item 4: a one-epoch EMA must be close to the regular model,
     * not the near-zero EMA metrics of short PyTorch runs. */
    CHECK(first_epoch_regular > 0 && first_epoch_ema >= 0.5 * first_epoch_regular,
          "after one epoch the EMA's AP50 %.3f is degenerate next to the regular model's %.3f", first_epoch_ema,
          first_epoch_regular);
    CHECK(s.steps <= 2000, "%lld steps", (long long)s.steps);
    CHECK(best >= 0.5, "best AP50 %.3f < 0.5 after %lld steps", best, (long long)s.steps);
    /* The model trained here is the starting point of the fine-tuning test
     * (ctest fixture "shapes_model"). */
    const char *build = getenv("RFDETR_BUILD_DIR");
    if (build) {
        char from[512], dir[512], to[600];
        snprintf(from, sizeof from, "%s/checkpoint_best_total.safetensors", out);
        snprintf(dir, sizeof dir, "%s/test-artifacts", build);
        snprintf(to, sizeof to, "%s/tiny_shapes.safetensors", dir);
        char *data = NULL;
        size_t n = 0;
        rf_make_dirs(dir);
        if (rf_read_file(from, &data, &n) == RF_OK) {
            FILE *f = fopen(to, "wb");
            CHECK(f && fwrite(data, 1, n, f) == n, "keeping %s", to);
            if (f) fclose(f);
        }
        free(data);
    }
    test_remove_tree(out);
    return test_finish("test_train_learns");
}
