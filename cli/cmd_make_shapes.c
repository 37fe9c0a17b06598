/* cmd_make_shapes.c — `rfdetr make-shapes DIR`: writes the built-in shapes
 * dataset as a Roboflow-layout COCO dataset. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "data/shapes.h"

int cli_cmd_make_shapes(int argc, char **argv) {
    rf_shapes_config cfg;
    rf_shapes_config_default(&cfg);
    long train = cfg.train, valid = cfg.valid, test = cfg.test, size = cfg.size, classes = cfg.classes, seed = 0,
         threads = 0;
    cli_option options[] = {
        {"--train", CLI_INT, &train, "N", "training images (default 2000)"},
        {"--valid", CLI_INT, &valid, "N", "validation images (default 200)"},
        {"--test", CLI_INT, &test, "N", "test images (default 0: no test/ folder)"},
        {"--size", CLI_INT, &size, "S", "image side in pixels (default 192)"},
        {"--classes", CLI_INT, &classes, "K", "classes 1..8: circle rectangle triangle diamond cross ring hexagon star "
                                              "(default 3)"},
        {"--seed", CLI_INT, &seed, "X", "random seed; the same seed writes the same bytes (default 0)"},
        {"--threads", CLI_INT, &threads, "N", "generator threads (default 2; the output does not depend on it)"},
    };
    cli_spec spec = {
        .usage = "rfdetr make-shapes DIR [--train N] [--valid N] [--test N] [--size S] [--classes K] [--seed X]",
        .description =
            "Writes a dataset of filled coloured shapes on a noisy background in Roboflow's COCO layout\n"
            "(DIR/train, DIR/valid, DIR/test, each with _annotations.coco.json and JPEG images): 1-4 objects\n"
            "per image, 12-70 px, overlapping at most IoU 0.3. Category ids are 0..K-1. DIR must not exist\n"
            "or must be empty; the dataset appears there only once it is complete.",
        .options = options,
        .option_count = (int)(sizeof options / sizeof options[0]),
        .min_positional = 1,
        .max_positional = 1,
        .positional_help = "DIR: the folder to create",
    };
    const char *dir = NULL;
    int rc = cli_parse_one(&spec, argc, argv, &dir);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    const long limits[][2] = {{0, 10000000}, {0, 10000000}, {0, 10000000}, {1, 1 << 20}, {1, 1 << 20}, {0, 256}};
    const long values[] = {train, valid, test, size, classes, threads};
    const char *names[] = {"--train", "--valid", "--test", "--size", "--classes", "--threads"};
    for (int i = 0; i < 6; i++)
        if (!cli_int_in_range("make-shapes", names[i], values[i], limits[i][0], limits[i][1])) return CLI_EXIT_USAGE;
    if (!cli_int_in_range("make-shapes", "--seed", seed, 0, LONG_MAX)) return CLI_EXIT_USAGE;
    cfg.train = (int)train, cfg.valid = (int)valid, cfg.test = (int)test;
    cfg.size = (int)size, cfg.classes = (int)classes, cfg.seed = (uint64_t)seed, cfg.threads = (int)threads;
    rf_status s = rf_shapes_config_check(&cfg);
    if (s != RF_OK) return cli_fail("make-shapes", s, NULL);
    s = rf_shapes_write(dir, &cfg);
    if (s != RF_OK) return cli_fail("make-shapes", s, NULL);
    printf("wrote %s: %d train, %d valid, %d test images of %d px, %d classes, seed %llu\n", dir, cfg.train, cfg.valid,
           cfg.test, cfg.size, cfg.classes, (unsigned long long)cfg.seed);
    return CLI_EXIT_OK;
}
