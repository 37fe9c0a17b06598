/* args.c — one option parser for every subcommand, so --help, --opt=value
 * and error messages look the same everywhere. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char *kind_metavar(const cli_option *o) {
    if (o->metavar) return o->metavar;
    switch (o->kind) {
    case CLI_INT: return "N";
    case CLI_DOUBLE: return "X";
    case CLI_STRINGS: return "VALUE...";
    case CLI_STRING: return "VALUE";
    default: return "";
    }
}

void cli_print_help(const cli_spec *spec, FILE *out) {
    fprintf(out, "usage: %s\n", spec->usage);
    if (spec->description) fprintf(out, "\n%s\n", spec->description);
    if (spec->positional_help) fprintf(out, "\n%s\n", spec->positional_help);
    fprintf(out, "\noptions:\n");
    for (int i = 0; i < spec->option_count; i++) {
        const cli_option *o = &spec->options[i];
        char left[64];
        if (o->kind == CLI_FLAG)
            snprintf(left, sizeof left, "%s", o->name);
        else
            snprintf(left, sizeof left, "%s %s", o->name, kind_metavar(o));
        fprintf(out, "  %-26s %s\n", left, o->help ? o->help : "");
    }
    fprintf(out, "  %-26s %s\n", "--help", "show this help");
}

static int set_value(const char *cmd, cli_option *o, const char *text) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case CLI_STRING: *(const char **)o->value = text; return CLI_EXIT_OK;
    case CLI_INT: {
        long v = strtol(text, &end, 10);
        if (errno || !*text || *end) {
            fprintf(stderr, "%s: %s expects an integer, got '%s'\n", cmd, o->name, text);
            return CLI_EXIT_USAGE;
        }
        *(long *)o->value = v;
        return CLI_EXIT_OK;
    }
    case CLI_DOUBLE: {
        double v = strtod(text, &end);
        if (errno || !*text || *end) {
            fprintf(stderr, "%s: %s expects a number, got '%s'\n", cmd, o->name, text);
            return CLI_EXIT_USAGE;
        }
        *(double *)o->value = v;
        return CLI_EXIT_OK;
    }
    default: return CLI_EXIT_USAGE;
    }
}

int cli_parse(const cli_spec *spec, int argc, char **argv, char ***positional, int *positional_count) {
    const char *cmd = argv[0];
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int npos = 0;
    if (!pos) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        return CLI_EXIT_FAILURE;
    }
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cli_print_help(spec, stdout);
            free(pos);
            return -1;
        }
        if (strncmp(arg, "--", 2) != 0 || strcmp(arg, "--") == 0) {
            pos[npos++] = arg;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        cli_option *o = NULL;
        for (int k = 0; k < spec->option_count; k++)
            if (strlen(spec->options[k].name) == name_len && strncmp(spec->options[k].name, arg, name_len) == 0)
                o = &spec->options[k];
        if (!o) {
            fprintf(stderr, "%s: unknown option '%.*s' (see %s --help)\n", cmd, (int)name_len, arg, cmd);
            free(pos);
            return CLI_EXIT_USAGE;
        }
        o->seen = true;
        if (o->kind == CLI_FLAG) {
            if (eq) {
                fprintf(stderr, "%s: %s takes no value\n", cmd, o->name);
                free(pos);
                return CLI_EXIT_USAGE;
            }
            *(bool *)o->value = true;
            continue;
        }
        if (o->kind == CLI_STRINGS) {
            cli_strings *list = o->value;
            const char **items = realloc(list->items, ((size_t)list->count + (size_t)argc) * sizeof *items);
            if (!items) {
                free(pos);
                return CLI_EXIT_FAILURE;
            }
            list->items = items;
            if (eq) list->items[list->count++] = eq + 1;
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) list->items[list->count++] = argv[++i];
            if (list->count == 0) {
                fprintf(stderr, "%s: %s needs at least one value\n", cmd, o->name);
                free(pos);
                return CLI_EXIT_USAGE;
            }
            continue;
        }
        const char *text = eq ? eq + 1 : NULL;
        if (!text) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value (%s)\n", cmd, o->name, kind_metavar(o));
                free(pos);
                return CLI_EXIT_USAGE;
            }
            text = argv[++i];
        }
        int rc = set_value(cmd, o, text);
        if (rc != CLI_EXIT_OK) {
            free(pos);
            return rc;
        }
    }
    if (npos < spec->min_positional || (spec->max_positional >= 0 && npos > spec->max_positional)) {
        fprintf(stderr, "%s: expected %s positional argument%s, got %d\nusage: %s\n", cmd,
                spec->max_positional == spec->min_positional ? "exactly" : "a different number of",
                "s", npos, spec->usage);
        free(pos);
        return CLI_EXIT_USAGE;
    }
    *positional = pos;
    *positional_count = npos;
    return CLI_EXIT_OK;
}

int cli_parse_one(const cli_spec *spec, int argc, char **argv, const char **arg) {
    char **pos = NULL;
    int npos = 0;
    int rc = cli_parse(spec, argc, argv, &pos, &npos);
    if (rc != CLI_EXIT_OK) return rc;
    *arg = npos > 0 ? pos[0] : NULL;
    free(pos);
    return CLI_EXIT_OK;
}

bool cli_precision(const char *cmd, const char *text, rf_precision *out) {
    *out = RF_PRECISION_F32;
    if (!text || rf_precision_parse(text, out) == RF_OK) return true;
    fprintf(stderr, "rfdetr %s: --precision must be f32, bf16 or fp16, got '%s'\n", cmd, text);
    return false;
}

bool cli_int_in_range(const char *cmd, const char *flag, long value, long lo, long hi) {
    if (value >= lo && value <= hi) return true;
    if (hi == LONG_MAX)
        fprintf(stderr, "rfdetr %s: %s must be >= %ld, got %ld\n", cmd, flag, lo, value);
    else
        fprintf(stderr, "rfdetr %s: %s must be in %ld..%ld, got %ld\n", cmd, flag, lo, hi, value);
    return false;
}

bool cli_number_in_range(const char *cmd, const char *flag, double value, double lo, bool lo_open, double hi,
                         bool hi_open) {
    bool above = lo_open ? value > lo : value >= lo, below = hi_open ? value < hi : value <= hi;
    if (above && below) return true; /* false for NaN */
    char rule[96];
    if (isinf(hi))
        snprintf(rule, sizeof rule, "%s %g", lo_open ? ">" : ">=", lo);
    else if (isinf(lo))
        snprintf(rule, sizeof rule, "%s %g", hi_open ? "<" : "<=", hi);
    else
        snprintf(rule, sizeof rule, "in %c%g, %g%c", lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
    fprintf(stderr, "rfdetr %s: %s must be %s, got %g\n", cmd, flag, rule, value);
    return false;
}

int cli_exit_code(rf_status status) {
    switch (status) {
    case RF_OK: return CLI_EXIT_OK;
    case RF_ERR_INVALID_ARGUMENT:
    case RF_ERR_NO_DEVICE:
    case RF_ERR_FORMAT:
    case RF_ERR_IO:
        return CLI_EXIT_USAGE;
    default: return CLI_EXIT_FAILURE;
    }
}

int cli_fail(const char *command, rf_status status, const char *what) {
    const char *detail = rf_last_error();
    fprintf(stderr, "rfdetr %s: %s%s%s\n", command, what ? what : "", what && *detail ? ": " : "", detail);
    return cli_exit_code(status);
}
