/* main.c — `rfdetr <command> [options]`: dispatch to a subcommand. The only
 * place that decides to exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

static const cli_command commands[] = {
    {"devices", "list every device: cpu, opencl:N, cuda:N", cli_cmd_devices},
    {"train", "train RF-DETR on one device or several (default: tiny on the built-in shapes dataset)", cli_cmd_train},
    {"make-shapes", "write the built-in shapes dataset (Roboflow COCO layout)", cli_cmd_make_shapes},
    {"check-data", "validate a dataset: counts, class names by id, every problem", cli_cmd_check_data},
    {"eval", "COCO AP/AR of a results file or of a checkpoint on a dataset split, per class too", cli_cmd_eval},
    {"predict", "detect objects in images with a model (annotated images, COCO JSON)", cli_cmd_predict},
    {"export", "write a model as ONNX with RF-DETR's exported interface (input -> dets, labels)", cli_cmd_export},
};

static void usage(FILE *out) {
    fprintf(out, "usage: rfdetr <command> [options]   (rfdetr <command> --help for details)\n"
                 "       rfdetr --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

/* PoCL compiles kernels on first use and caches the binaries; give the cache
 * one predictable home so every run after the first starts warm. */
static void default_pocl_cache(void) {
    if (getenv("POCL_CACHE_DIR")) return;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[4096];
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/rfdetr/pocl", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.cache/rfdetr/pocl", home);
    else
        return;
    setenv("POCL_CACHE_DIR", dir, 0);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("rfdetr %s (%s)\n", RFDETR_VERSION_TEXT, RFDETR_BUILD_TEXT);
        return CLI_EXIT_OK;
    }
    default_pocl_cache();
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "rfdetr: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
