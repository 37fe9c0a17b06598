/* cmd_export.c — `rfdetr export`: a model written as ONNX with the interface
 * RF-DETR's own exporter writes (export/onnx_export.h), for ONNX Runtime,
 * TensorRT and every pipeline built on the official export.
 *
 * The weights are read on the cpu device: exporting computes nothing a
 * GPU would speed up, and the graph's constants (the position table at the
 * export resolution) then come from the reference kernels. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "export/onnx_export.h"

/* "dynamic" -> 0, a positive integer -> itself, anything else -> -1. */
static long parse_batch(const char *text) {
    if (strcmp(text, "dynamic") == 0) return 0;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || !*text || *end || v < 1 || v > 4096) return -1;
    return v;
}

int cli_cmd_export(int argc, char **argv) {
    const char *weights = NULL, *format = "onnx", *out = NULL, *model = NULL, *batch_text = "1";
    long resolution = 0;
    cli_option options[] = {
        {"--weights", CLI_STRING, &weights, "W", "model weights: our .safetensors, or an official RF-DETR .pth"},
        {"--format", CLI_STRING, &format, "F", "onnx (the only format so far; default)"},
        {"--out", CLI_STRING, &out, "FILE", "the file to write, e.g. model.onnx"},
        {"--resolution", CLI_INT, &resolution, "R", "input side in pixels (default: the model's)"},
        {"--batch", CLI_STRING, &batch_text, "N|dynamic", "images per run fixed in the graph (default 1), or dynamic"},
        {"--model", CLI_STRING, &model, "SIZE", "size of an official checkpoint when it cannot be recognised"},
    };
    cli_spec spec = {
        .usage = "rfdetr export --weights W --format onnx --out FILE [--resolution R] [--batch N|dynamic] [--model SIZE]",
        .description =
            "Writes the model as an ONNX graph (opset 17) with RF-DETR's exported interface: input 'input'\n"
            "(N x 3 x R x R, ImageNet-normalised RGB), outputs 'dets' (N x Q x 4 boxes cx, cy, w, h in 0..1)\n"
            "and 'labels' (N x Q x C class logits; apply a sigmoid for scores). docs/export.md shows how to\n"
            "decode them and run the model with ONNX Runtime.",
        .options = options,
        .option_count = (int)(sizeof options / sizeof options[0]),
        .max_positional = 0,
    };
    char **pos = NULL;
    int npos = 0;
    int rc = cli_parse(&spec, argc, argv, &pos, &npos);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    free(pos);
    if (!weights || !out) {
        fprintf(stderr, "rfdetr export: --weights and --out are required\nusage: %s\n", spec.usage);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(format, "onnx") != 0) {
        fprintf(stderr, "rfdetr export: --format '%s' is not supported (onnx is)\n", format);
        return CLI_EXIT_USAGE;
    }
    long batch = parse_batch(batch_text);
    if (batch < 0) {
        fprintf(stderr, "rfdetr export: --batch must be a number 1..4096 or 'dynamic', got '%s'\n", batch_text);
        return CLI_EXIT_USAGE;
    }
    if (resolution < 0 || resolution > 8192) {
        fprintf(stderr, "rfdetr export: --resolution must be positive (at most 8192), got %ld\n", resolution);
        return CLI_EXIT_USAGE;
    }
    rfdetr_config preset;
    if (model && rfdetr_config_preset(model, &preset) != RF_OK) {
        fprintf(stderr, "rfdetr export: --model: %s\n", rf_last_error());
        return CLI_EXIT_USAGE;
    }
    rf_device *dev = NULL;
    rf_status s = rf_device_open("cpu", &dev);
    if (s != RF_OK) return cli_fail("export", s, "opening the cpu device");
    rfdetr_model *m = NULL;
    s = rfdetr_model_open(dev, weights, model, (int)resolution, &m);
    if (s != RF_OK) {
        rc = cli_fail("export", s, "loading the model");
    } else {
        char desc[256];
        fprintf(stderr, "rfdetr export: %s\n", rfdetr_config_describe(&m->cfg, desc, sizeof desc));
        rfdetr_onnx_info info;
        s = rfdetr_export_onnx(m, out, (int)batch, &info);
        if (s != RF_OK) {
            rc = cli_fail("export", s, "writing the ONNX model");
        } else {
            char n[32];
            snprintf(n, sizeof n, "%ld", batch);
            fprintf(stderr,
                    "rfdetr export: %s: %d nodes, opset %d; input (%s, 3, %d, %d) -> dets (%s, %lld, 4), labels (%s, "
                    "%lld, %lld)\n",
                    out, info.nodes, RFDETR_ONNX_OPSET, batch ? n : "batch", m->cfg.resolution, m->cfg.resolution,
                    batch ? n : "batch", (long long)info.queries, batch ? n : "batch", (long long)info.queries,
                    (long long)info.classes);
        }
    }
    rfdetr_model_free(m);
    rf_device_close(dev);
    return rc;
}
