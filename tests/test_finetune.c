/* test_finetune.c — fine-tuning on a real dataset: the tiny model trained on
 * shapes by test_train_learns (ctest fixture) is fine-tuned on the Roboflow
 * facemask export in ../shared/datasets for a few epochs — its class head
 * re-initialised from 3 to 6 classes as RF-DETR does — and must reach an AP
 * above 0 on valid. The dataset is $RFDETR_FACEMASK_DIR, else
 * ../shared/datasets/facemask. Skips (77), saying what is missing, without
 * the dataset or the starting model. */
#include <stdio.h>
#include <stdlib.h>

#include "core/fileio.h"
#include "test_util.h"
#include "train/trainer.h"

int main(void) {
    const char *data = test_facemask_dir(), *build = getenv("RFDETR_BUILD_DIR");
    char weights[512], why[1200];
    snprintf(weights, sizeof weights, "%s/test-artifacts/tiny_shapes.safetensors", build ? build : "build");
    if (!rf_file_exists(data)) {
        snprintf(why, sizeof why, "the facemask dataset is not at %s", data);
        return test_skip("test_finetune", why, TEST_ENABLE_FACEMASK);
    }
    if (!rf_file_exists(weights)) {
        snprintf(why, sizeof why, "%s (written by test_train_learns) is missing", weights);
        return test_skip("test_finetune", why, "run test_train_learns first (ctest -L slow runs both, in order)");
    }
    char out[] = "/tmp/rfdetr_finetune_XXXXXX";
    if (!mkdtemp(out)) return 1;
    rf_train_config c;
    rf_train_config_defaults(&c);
    c.data = data;
    c.weights = weights;
    c.device = "cpu";
    c.out_dir = out;
    c.epochs = 3;
    rf_train_summary s;
    CHECK_OK(rf_train(&c, &s));
    printf("facemask after %lld steps (%.0f s): AP regular %.4f EMA %.4f, AP50 regular %.4f EMA %.4f\n",
           (long long)s.steps, s.seconds, s.best_regular_map, s.best_ema_map, s.best_regular_map50, s.best_ema_map50);
    CHECK(s.best_regular_map > 0 || s.best_ema_map > 0, "AP stayed 0 on the real dataset");
    CHECK(s.has_test, "facemask has a test split: evaluated at the end");
    test_remove_tree(out);
    return test_finish("test_finetune");
}
