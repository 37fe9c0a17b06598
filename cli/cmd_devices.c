/* cmd_devices.c — `rfdetr devices`: every device every backend can reach. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/json_writer.h"

static const char *type_name(rf_device_type t) {
    switch (t) {
    case RF_DEVICE_CPU: return "cpu";
    case RF_DEVICE_GPU: return "gpu";
    case RF_DEVICE_ACCELERATOR: return "accelerator";
    default: return "other";
    }
}

static void print_line(const rf_device_info *d) {
    printf("%-10s %s | vendor: %s | type: %s | memory: %.1f GiB (max alloc %.1f GiB) | pci: %s | driver: %s | %s\n",
           d->name, d->description, d->vendor, type_name(d->type), d->global_mem_bytes / 1073741824.0,
           d->max_alloc_bytes / 1073741824.0, d->pci_bus_id[0] ? d->pci_bus_id : "-", d->driver_version, d->platform);
}

static void write_json_device(rf_json_writer *w, const rf_device_info *d) {
    rf_json_begin_object(w);
    rf_json_key(w, "name"), rf_json_string(w, d->name);
    rf_json_key(w, "backend"), rf_json_string(w, d->backend);
    rf_json_key(w, "index"), rf_json_int(w, d->index);
    rf_json_key(w, "type"), rf_json_string(w, type_name(d->type));
    rf_json_key(w, "description"), rf_json_string(w, d->description);
    rf_json_key(w, "vendor"), rf_json_string(w, d->vendor);
    rf_json_key(w, "driver_version"), rf_json_string(w, d->driver_version);
    rf_json_key(w, "platform"), rf_json_string(w, d->platform);
    rf_json_key(w, "global_mem_bytes"), rf_json_uint(w, d->global_mem_bytes);
    rf_json_key(w, "max_alloc_bytes"), rf_json_uint(w, d->max_alloc_bytes);
    rf_json_key(w, "compute_units"), rf_json_int(w, d->compute_units);
    rf_json_key(w, "pci_bus_id");
    if (d->pci_bus_id[0])
        rf_json_string(w, d->pci_bus_id);
    else
        rf_json_null(w);
    rf_json_end_object(w);
}

int cli_cmd_devices(int argc, char **argv) {
    const char *device = NULL;
    bool json = false;
    cli_option options[] = {
        {"--device", CLI_STRING, &device, "NAME", "describe one device (cpu, opencl:N, cuda:N); exit 2 if unknown"},
        {"--json", CLI_FLAG, &json, NULL, "print JSON instead of one line per device"},
    };
    cli_spec spec = {
        .usage = "rfdetr devices [--device NAME] [--json]",
        .description = "Lists every device of every compiled-in backend, one line each, starting with its canonical\n"
                       "name: cpu, opencl:N (every OpenCL platform and device type, in driver order), cuda:N\n"
                       "(runtime ordinals, so CUDA_VISIBLE_DEVICES applies). A backend without devices says why.",
        .options = options,
        .option_count = (int)(sizeof options / sizeof options[0]),
        .max_positional = 0,
    };
    char **pos = NULL;
    int npos = 0;
    int rc = cli_parse(&spec, argc, argv, &pos, &npos);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    free(pos);

    rf_device_info *infos = NULL;
    int count = 0;
    if (device) {
        infos = malloc(sizeof *infos);
        if (!infos) return CLI_EXIT_FAILURE;
        if (strcmp(device, "auto") == 0) {
            char name[64];
            rc = cli_resolve_device("devices", device, name, sizeof name);
            if (rc == CLI_EXIT_OK) rc = rf_device_check_name(name, infos) == RF_OK ? CLI_EXIT_OK : CLI_EXIT_USAGE;
        } else if (rf_device_check_name(device, infos) != RF_OK) {
            fprintf(stderr, "rfdetr devices: %s\n", rf_last_error());
            rc = CLI_EXIT_USAGE;
        }
        if (rc != CLI_EXIT_OK) {
            free(infos);
            return rc;
        }
        count = 1;
    } else {
        int total = rf_device_count();
        infos = calloc(total > 0 ? (size_t)total : 1, sizeof *infos);
        if (!infos) return CLI_EXIT_FAILURE;
        for (int i = 0; i < total; i++)
            if (rf_device_info_at(i, &infos[count]) == RF_OK) count++;
    }

    if (json) {
        rf_json_writer w;
        rf_json_init(&w, stdout, true);
        rf_json_begin_object(&w);
        rf_json_key(&w, "devices");
        rf_json_begin_array(&w);
        for (int i = 0; i < count; i++) write_json_device(&w, &infos[i]);
        rf_json_end_array(&w);
        rf_json_key(&w, "unavailable");
        rf_json_begin_object(&w);
        for (int b = 0; b < rf_backend_compiled_count(); b++) {
            const char *name = rf_backend_compiled_name(b);
            const char *why = rf_backend_unavailable_reason(name);
            if (why && *why) rf_json_key(&w, name), rf_json_string(&w, why);
        }
        rf_json_end_object(&w);
        rf_json_end_object(&w);
        printf("\n");
    } else {
        for (int i = 0; i < count; i++) print_line(&infos[i]);
        if (!device)
            for (int b = 0; b < rf_backend_compiled_count(); b++) {
                const char *name = rf_backend_compiled_name(b);
                const char *why = rf_backend_unavailable_reason(name);
                if (why && *why) fprintf(stderr, "%s: no devices: %s\n", name, why);
            }
    }
    free(infos);
    return CLI_EXIT_OK;
}
