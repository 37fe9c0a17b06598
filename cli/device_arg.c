/* device_arg.c — the one --device check every subcommand uses. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* "auto": the first OpenCL GPU, else the first CUDA GPU, else cpu. CUDA is
 * the fallback because OpenCL reaches every vendor the same way. */
static void choose_auto(char *out, size_t size) {
    const char *order[] = {"opencl", "cuda"};
    int total = rf_device_count();
    for (size_t b = 0; b < sizeof order / sizeof order[0]; b++)
        for (int i = 0; i < total; i++) {
            rf_device_info info;
            if (rf_device_info_at(i, &info) != RF_OK) continue;
            if (strcmp(info.backend, order[b]) == 0 && info.type == RF_DEVICE_GPU) {
                snprintf(out, size, "%s", info.name);
                return;
            }
        }
    snprintf(out, size, "cpu");
}

int cli_resolve_device(const char *command, const char *requested, char *resolved, size_t size) {
    if (!requested) requested = "auto";
    if (strcmp(requested, "auto") == 0) {
        choose_auto(resolved, size);
        rf_device_info info;
        if (rf_device_check_name(resolved, &info) != RF_OK) return cli_fail(command, RF_ERR_NO_DEVICE, NULL);
        fprintf(stderr, "rfdetr %s: --device auto chose %s (%s)\n", command, info.name, info.description);
        return CLI_EXIT_OK;
    }
    rf_status s = rf_device_check_name(requested, NULL);
    if (s != RF_OK) {
        fprintf(stderr, "rfdetr %s: %s\n", command, rf_last_error());
        return CLI_EXIT_USAGE;
    }
    snprintf(resolved, size, "%s", requested);
    return CLI_EXIT_OK;
}

int cli_open_device(const char *command, const char *requested, rf_device **out) {
    char name[64];
    int rc = cli_resolve_device(command, requested, name, sizeof name);
    if (rc != CLI_EXIT_OK) return rc;
    rf_status s = rf_device_open(name, out);
    if (s != RF_OK) return cli_fail(command, s, "opening the device");
    return CLI_EXIT_OK;
}
