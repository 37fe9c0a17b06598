/* predict_inputs.h — the images `rfdetr predict` runs on, from its --image
 * arguments (files, directories, glob patterns) and --coco, each with the
 * image id its results carry. */
#ifndef RFDETR_CLI_PREDICT_INPUTS_H
#define RFDETR_CLI_PREDICT_INPUTS_H

#include <stdint.h>
#include <stdio.h> /* cli.h needs FILE */

#include "cli/cli.h"

typedef struct predict_input {
    char *path;       /* the file to read */
    int64_t image_id; /* the COCO file's id, else the position in the list */
} predict_input;

typedef struct predict_inputs {
    predict_input *items;
    int count, capacity;
    char *coco_path; /* where the ids come from; NULL: positions */
} predict_inputs;

/* A directory contributes its images (.jpg .jpeg .png .bmp, not hidden, not
 * recursive) in name order; an argument that names no file but holds * ? or
 * [ is a glob pattern (quote it so the shell leaves it alone), expanded in
 * name order; anything else is a file, read (or reported unreadable) later.
 * Ids come from `coco` when given, else from the _annotations.coco.json of
 * the one directory argument holding one (Roboflow's layout), else they are
 * positions. With a COCO file and no --image, every image it lists is used,
 * found beside the file. Returns CLI_EXIT_OK, or CLI_EXIT_USAGE after
 * printing what is wrong with which argument. */
int predict_inputs_collect(const cli_strings *images, const char *coco, predict_inputs *out);
void predict_inputs_free(predict_inputs *in);

#endif
