/* schedule.c — RF-DETR's parameter groups and learning-rate schedule.
 *
 * Groups (rfdetr 1.11 training/param_groups.py and the DINOv2 backbone's
 * get_named_param_lr_pairs), decided by the official parameter name:
 *   backbone.0.encoder.*: lr_encoder x layer_decay^(L + 1 - layer_id) x
 *       component_decay^2, with layer_id 0 for the embeddings, N + 1 for
 *       ".layer.N.", L + 1 otherwise (L = last tapped stage + 1), and no
 *       weight decay for gamma / pos_embed / rel_pos / bias / norm /
 *       embeddings;
 *   transformer.decoder.*: lr x component_decay, the default weight decay;
 *   everything else: lr, the default weight decay.
 * Schedule (module_model._build_managed_scheduler): linear warm-up from 0
 * over warmup_steps, then cosine to min_factor over the remaining steps, or
 * RF-DETR's step decay (x0.1 from epoch lr_drop). Step k of the optimizer
 * (0-based) uses factor(k), as torch's LambdaLR does. */
#include "train/schedule.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int dinov2_layer_id(const char *name, int num_layers) {
    if (strstr(name, "embeddings")) return 0;
    const char *layer = strstr(name, ".layer.");
    if (layer && !strstr(name, ".residual.")) return atoi(layer + 7) + 1;
    return num_layers + 1;
}

static bool dinov2_no_decay(const char *name) {
    return strstr(name, "gamma") || strstr(name, "pos_embed") || strstr(name, "rel_pos") || strstr(name, "bias") ||
           strstr(name, "norm") || strstr(name, "embeddings");
}

rf_param_group rf_param_group_for(const char *name, const rf_group_rules *r) {
    rf_param_group g = {r->lr, r->weight_decay};
    if (strstr(name, "backbone.0.encoder")) {
        int id = dinov2_layer_id(name, r->num_layers);
        g.lr = r->lr_encoder * pow(r->lr_vit_layer_decay, r->num_layers + 1 - id) * r->lr_component_decay *
               r->lr_component_decay;
        g.weight_decay = dinov2_no_decay(name) ? 0.0 : r->weight_decay;
    } else if (strstr(name, "transformer.decoder")) {
        g.lr = r->lr * r->lr_component_decay;
    }
    return g;
}

double rf_lr_factor(const rf_schedule *s, int64_t step) {
    if (step < s->warmup_steps) return (double)step / (double)(s->warmup_steps > 1 ? s->warmup_steps : 1);
    if (s->cosine) {
        int64_t span = s->total_steps - s->warmup_steps;
        double progress = (double)(step - s->warmup_steps) / (double)(span > 1 ? span : 1);
        return s->min_factor + (1 - s->min_factor) * 0.5 * (1 + cos(M_PI * progress));
    }
    return step < (int64_t)s->lr_drop * s->steps_per_epoch ? 1.0 : 0.1;
}
