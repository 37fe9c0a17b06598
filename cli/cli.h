/* cli.h — the rfdetr command line: a thin client of the library.
 * Exit codes: 0 success, 2 bad usage or bad input, 1 runtime failure. */
#ifndef RFDETR_CLI_H
#define RFDETR_CLI_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rfdetr.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILURE = 1, CLI_EXIT_USAGE = 2 };

/* ---- option parsing shared by every subcommand ------------------------------ */
typedef enum cli_kind {
    CLI_FLAG,    /* bool, no value */
    CLI_STRING,  /* const char *, one value */
    CLI_INT,     /* long */
    CLI_DOUBLE,  /* double */
    CLI_STRINGS, /* cli_strings: one or more values up to the next --option */
} cli_kind;

typedef struct cli_strings {
    const char **items;
    int count;
} cli_strings;

typedef struct cli_option {
    const char *name;    /* "--device" */
    cli_kind kind;
    void *value;         /* bool*, const char**, long*, double*, cli_strings* */
    const char *metavar; /* "NAME" in the help text */
    const char *help;
    bool seen;           /* set by cli_parse */
} cli_option;

typedef struct cli_spec {
    const char *usage;       /* "rfdetr devices [--device NAME] [--json]" */
    const char *description; /* a paragraph printed by --help */
    cli_option *options;
    int option_count;
    int min_positional, max_positional; /* max -1: unbounded */
    const char *positional_help;        /* shown in --help, may be NULL */
} cli_spec;

/* Parses argv[1..] (argv[0] is the subcommand). Returns CLI_EXIT_OK with
 * positionals in *positional (pointers into argv; free the array), -1 when
 * --help was printed, CLI_EXIT_USAGE after printing a message. */
int cli_parse(const cli_spec *spec, int argc, char **argv, char ***positional, int *positional_count);
void cli_print_help(const cli_spec *spec, FILE *out);
/* cli_parse for a command taking exactly one positional argument (the spec
 * says min = max = 1): *arg points into argv. Same returns as cli_parse. */
int cli_parse_one(const cli_spec *spec, int argc, char **argv, const char **arg);

/* Range checks after parsing, one flag at a time, so the message names the
 * flag and the value ("rfdetr train: --batch must be >= 1, got 0"). `cmd`
 * is the subcommand ("train"). Return true when the value is in range. An
 * integer's hi of LONG_MAX means no upper bound; a number's bounds are
 * open (excluded) where the *_open flag says so, and infinite ones are
 * not stated. NaN is never in range. */
bool cli_int_in_range(const char *cmd, const char *flag, long value, long lo, long hi);
bool cli_number_in_range(const char *cmd, const char *flag, double value, double lo, bool lo_open, double hi,
                         bool hi_open);

/* --precision: "rfdetr <cmd>: --precision must be f32, bf16 or fp16, got 'x'"
 * and false unless `text` names one (NULL: f32). */
bool cli_precision(const char *cmd, const char *text, rf_precision *out);
#define CLI_PRECISION_HELP "f32 (default), bf16 or fp16: the precision of matrix products (weights stay f32)"

/* Exit code for a library status: bad input is 2, everything else 1. */
int cli_exit_code(rf_status status);
/* Prints "rfdetr <cmd>: <what>: <rf_last_error()>" and returns cli_exit_code. */
int cli_fail(const char *command, rf_status status, const char *what);

/* ---- progress ----------------------------------------------------------------- */
/* Evaluation progress on stderr: a bar rewritten in place on a terminal,
 * else a line per quarter. Zero-initialise with tty set; one per pass. */
typedef struct cli_eval_progress {
    bool tty;
    int last_quarter;
} cli_eval_progress;
void cli_print_eval_progress(cli_eval_progress *p, const char *what, int64_t done, int64_t total);

/* ---- devices ------------------------------------------------------------------ */
/* Resolves "auto" (first OpenCL GPU, else first CUDA GPU, else cpu; logs the
 * choice on stderr) and checks any other name strictly. On failure prints
 * the error, which lists the available devices, and returns CLI_EXIT_USAGE. */
int cli_resolve_device(const char *command, const char *requested, char *resolved, size_t size);
/* cli_resolve_device, then rf_device_open. */
int cli_open_device(const char *command, const char *requested, rf_device **out);

/* ---- COCO results ---------------------------------------------------------------- */
#include "eval/coco_eval.h"
/* pycocotools' 12 summarize() lines, character for character. */
void cli_print_coco_summary(const double stats[RF_COCO_STATS], const int max_dets[RF_COCO_MAX_DETS]);
/* The per-class table (AP, AP50, P/R/F1 at the best macro-F1 confidence). */
void cli_print_coco_classes(const rf_eval_result *r);

/* ---- subcommands ----------------------------------------------------------------- */
int cli_cmd_devices(int argc, char **argv);
int cli_cmd_train(int argc, char **argv);
int cli_cmd_make_shapes(int argc, char **argv);
int cli_cmd_check_data(int argc, char **argv);
int cli_cmd_eval(int argc, char **argv);
int cli_cmd_predict(int argc, char **argv);
int cli_cmd_export(int argc, char **argv);

#include <stdio.h>
#endif
