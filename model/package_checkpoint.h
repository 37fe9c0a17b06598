/* package_checkpoint.h — what a checkpoint written by the rfdetr Python
 * package says about its model besides the tensors, so it is rebuilt with
 * its own configuration rather than a size's defaults.
 *
 * The package stores, next to 'model' (the state dict):
 *   'model_name'    "RFDETRNano", ... (its training stack, rfdetr >= 1.7);
 *   'model_config'  a dict of the architecture: resolution, num_classes, ...;
 *   'args'          the training arguments: a dict (rfdetr >= 1.7) or an
 *                   argparse.Namespace (older releases and the released
 *                   weights), with resolution, num_classes, class_names.
 * Any of them may be absent; nothing is executed to read them
 * (core/pickle.h). */
#ifndef RFDETR_MODEL_PACKAGE_CHECKPOINT_H
#define RFDETR_MODEL_PACKAGE_CHECKPOINT_H

#include <stdbool.h>

#include "rfdetr.h"

typedef struct rfdetr_package_info {
    bool present;           /* the file has model_name, model_config or args */
    char model_name[64];    /* "" when absent */
    char size[16];          /* our size for model_name ("nano"); "" when absent or not one we build */
    int resolution;         /* model_config's, else args'; 0 when absent */
    const char *resolution_from; /* "model_config" or "args" */
    int num_classes;        /* as the package counts them (no background); 0 when absent */
    char **class_names;     /* args' class_names, by label; NULL when absent */
    int class_name_count;
} rfdetr_package_info;

/* Reads the description of a PyTorch checkpoint. A file that is not a
 * PyTorch ZIP checkpoint, or has none of the three entries, gives
 * present = false and RF_OK; a broken archive or pickle is the reader's
 * error. */
rf_status rfdetr_package_info_read(const char *path, rfdetr_package_info *out);
void rfdetr_package_info_free(rfdetr_package_info *info);

#endif /* RFDETR_MODEL_PACKAGE_CHECKPOINT_H */
