/* make_seeds.c — writes the seeds that only this library can write: a
 * training state of fuzz_seed_params.h's layout, and a complete checkpoint
 * of a model shrunk to a few kilobytes (every size of the tiny preset cut
 * down, metadata included). Run once; its output is committed in corpus/.
 *   make_seeds CORPUS_DIR */
#include <stdio.h>

#include "backend/status.h"
#include "fuzz_seed_params.h"
#include "model/model.h"
#include "train/train_state.h"

static int fail(const char *what) {
    fprintf(stderr, "make_seeds: %s: %s\n", what, rf_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: make_seeds CORPUS_DIR\n"), 2;
    char path[4096];
    fuzz_seed_params p = {0};
    if (fuzz_seed_params_create(&p) != RF_OK) return fail("parameters");
    rf_train_state st = {.epoch = 2, .step = 10, .best_regular = 0.25, .best_ema = 0.5, .epoch_steps = 3,
                         .scaler = {.scale = 1}};
    snprintf(path, sizeof path, "%s/train_state/seed.safetensors", argv[1]);
    if (rf_train_state_save(&st, p.params, p.opt, p.ema, path) != RF_OK) return fail(path);
    snprintf(path, sizeof path, "%s/train_state/no_ema.safetensors", argv[1]);
    if (rf_train_state_save(&st, p.params, p.opt, NULL, path) != RF_OK) return fail(path);
    /* fp16's loss scaler in mid-run. */
    st.scaler = (rf_loss_scaler){.scale = 32768, .good_steps = 7, .skipped = 2};
    st.epoch_skipped = 1;
    snprintf(path, sizeof path, "%s/train_state/fp16.safetensors", argv[1]);
    if (rf_train_state_save(&st, p.params, p.opt, p.ema, path) != RF_OK) return fail(path);

    rfdetr_config c;
    if (rfdetr_config_preset("tiny", &c) != RF_OK) return fail("preset");
    c.resolution = 32, c.patch_size = 16, c.num_windows = 1, c.vit_width = 8, c.vit_depth = 2, c.vit_heads = 2;
    c.vit_mlp_ratio = 1, c.pos_embed_size = 2, c.num_taps = 1, c.out_feature_indexes[0] = 2, c.projector_blocks = 1;
    c.hidden_dim = 8, c.dec_layers = 1, c.sa_heads = 2, c.ca_heads = 2, c.dec_points = 1, c.ffn_dim = 8;
    c.num_queries = 2, c.group_detr = 1, c.num_classes = 2, c.num_select = 2;
    snprintf(c.size, sizeof c.size, "seed");
    rfdetr_model *m = NULL;
    if (rfdetr_model_create(p.cpu, &c, 1, &m) != RF_OK) return fail("model");
    snprintf(path, sizeof path, "%s/checkpoint/seed.safetensors", argv[1]);
    if (rfdetr_model_save(m, path) != RF_OK) return fail(path);
    rfdetr_model_free(m);
    fuzz_seed_params_free(&p);
    return 0;
}
