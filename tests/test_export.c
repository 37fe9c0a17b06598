/* test_export.c — `rfdetr export --format onnx` (issue 13) through the binary.
 *
 *   test_export               the micro reference model (tests/fixtures/model)
 *                             exported, decoded by protoc against Debian's
 *                             onnx.proto (no Python), its interface and ops
 *                             checked; every bad input answered with exit 2
 *                             and no file written. Skipped (77) where protoc
 *                             or onnx.proto is missing, after the CLI checks.
 *   test_export --ort SIZE R  SIZE (micro: the fixture; else random weights
 *                             moved off their initial values) at resolution
 *                             R, exported, and run by ONNX Runtime
 *                             (tests/export_ort.py) on the same batch as the
 *                             C forward pass: dets and labels within 1e-4.
 *                             Skipped (77) without onnxruntime.
 *   test_export --vs-rfdetr SIZE R
 *                             tests/export_vs_rfdetr.py: the rfdetr package's
 *                             own ONNX export of the same weights has the
 *                             same interface, and both graphs match PyTorch.
 *                             Skipped (77) without torch, rfdetr, onnx or
 *                             onnxruntime.
 *
 * The batch is fixed (--batch 2) for small, dynamic ("batch") otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "backend/status.h"
#include "core/fileio.h"
#include "model/model.h"
#include "test_util.h"

#define ORT_TOL "1e-4"
#define BATCH 2

static char bin[1024], src[1024], work[1024];

/* Runs a shell command; returns its exit code, its output in out (may be NULL). */
static int run_cmd(const char *cmd, char *out, size_t size) {
    char full[16384], log[1200];
    snprintf(log, sizeof log, "%s/out.txt", work);
    snprintf(full, sizeof full, "%s >%s 2>&1", cmd, log);
    int rc = system(full);
    if (out) {
        out[0] = 0;
        FILE *f = fopen(log, "r");
        if (f) {
            size_t n = fread(out, 1, size - 1, f);
            out[n] = 0;
            fclose(f);
        }
    }
    return rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int export_cmd(const char *args, char *out, size_t size) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s export %s", bin, args);
    return run_cmd(cmd, out, size);
}

static char *slurp(const char *path) {
    char *data = NULL;
    size_t n;
    return rf_read_file(path, &data, &n) == RF_OK ? data : NULL;
}

/* The text of the graph-level block `  <field> {` whose name is `name`
 * (protoc's text format: graph fields at two spaces), or NULL. */
static char *graph_block(const char *text, const char *field, const char *name) {
    char head[128], key[512];
    snprintf(head, sizeof head, "\n  %s {\n", field);
    snprintf(key, sizeof key, "\n    name: \"%s\"\n", name);
    for (const char *p = strstr(text, head); p; p = strstr(p + 1, head)) {
        const char *end = strstr(p + 1, "\n  }\n");
        if (!end) return NULL;
        size_t n = (size_t)(end - p);
        char *b = malloc(n + 2);
        memcpy(b, p, n);
        memcpy(b + n, "\n", 2);
        if (strstr(b, key)) return b;
        free(b);
    }
    return NULL;
}

/* The dims of a value_info block, in order: "batch" or the number. */
static void block_dims(const char *block, char *out, size_t size) {
    out[0] = 0;
    for (const char *p = block; (p = strstr(p, "dim {")) != NULL; p++) {
        const char *v = strstr(p, "dim_value: "), *q = strstr(p, "dim_param: \"");
        const char *next = strstr(p + 1, "dim {");
        char item[64];
        if (v && (!next || v < next))
            snprintf(item, sizeof item, "%lld", atoll(v + 11));
        else if (q && (!next || q < next))
            snprintf(item, sizeof item, "%.*s", (int)strcspn(q + 12, "\""), q + 12);
        else
            snprintf(item, sizeof item, "?");
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s%s", len ? "," : "", item);
    }
}

static bool tool_exists(const char *name) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "command -v %s", name);
    return run_cmd(cmd, NULL, 0) == 0;
}

/* onnx.proto: $ONNX_PROTO_DIR, else Debian's libonnx-dev location. */
static const char *onnx_proto_dir(void) {
    static char dir[1024];
    const char *env = getenv("ONNX_PROTO_DIR");
    snprintf(dir, sizeof dir, "%s", env && *env ? env : "/usr/include/onnx");
    char path[1100];
    snprintf(path, sizeof path, "%s/onnx.proto", dir);
    return access(path, R_OK) == 0 ? dir : NULL;
}

/* ---- the CLI and the graph's text ----------------------------------------------------------------- */

static void check_bad_inputs(const char *weights) {
    char args[4096], out[16384], onnx[1100];
    snprintf(onnx, sizeof onnx, "%s/bad.onnx", work);
    struct {
        const char *args, *message;
    } cases[] = {
        {"--out %s", "--weights and --out are required"},
        {"--weights %s", "--weights and --out are required"},
        {"--weights W --out %s --format tflite", "--format 'tflite' is not supported"},
        {"--weights W --out %s --batch 0", "--batch must be a number 1..4096 or 'dynamic'"},
        {"--weights W --out %s --batch many", "--batch must be a number 1..4096 or 'dynamic'"},
        {"--weights W --out %s --resolution -64", "--resolution must be positive"},
        {"--weights W --out %s --resolution 60", "multiple of"},
        {"--weights W --out %s --model huge", "unknown model size 'huge'"},
        {"--weights /nonexistent/w.safetensors --out %s", "/nonexistent/w.safetensors"},
        {"--weights W --out %s --bogus", "--bogus"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char a[2048];
        snprintf(a, sizeof a, cases[i].args, onnx);
        /* W stands for the good weights, so only the named flag is wrong. */
        char *w = strstr(a, "--weights W ");
        if (w) {
            snprintf(args, sizeof args, "%.*s--weights %s %s", (int)(w - a), a, weights, w + 12);
        } else {
            snprintf(args, sizeof args, "%s", a);
        }
        unlink(onnx);
        int rc = export_cmd(args, out, sizeof out);
        CHECK(rc == 2, "export %s: exit %d (expected 2): %s", args, rc, out);
        CHECK(strstr(out, cases[i].message), "export %s: message lacks '%s': %s", args, cases[i].message, out);
        CHECK(access(onnx, F_OK) != 0, "export %s wrote %s", args, onnx);
    }
    /* An unwritable destination: a runtime failure with the path, no file. */
    snprintf(args, sizeof args, "--weights %s --out /nonexistent-dir/m.onnx", weights);
    int rc = export_cmd(args, out, sizeof out);
    CHECK(rc != 0 && strstr(out, "/nonexistent-dir/m.onnx"), "unwritable --out: exit %d: %s", rc, out);
    rc = export_cmd("--help", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "rfdetr export") && strstr(out, "dynamic"), "--help: exit %d: %s", rc, out);
}

/* Exports micro with `flags`, decodes it with protoc and checks the text. */
static void check_decoded(const char *weights, const char *flags, const char *batch_dim, const char *res) {
    char args[4096], out[16384], onnx[1100], txt[1100], cmd[4096];
    snprintf(onnx, sizeof onnx, "%s/micro.onnx", work);
    snprintf(txt, sizeof txt, "%s/micro.txt", work);
    snprintf(args, sizeof args, "--weights %s --format onnx --out %s %s", weights, onnx, flags);
    int rc = export_cmd(args, out, sizeof out);
    CHECK(rc == 0, "export %s: exit %d: %s", args, rc, out);
    if (rc != 0) return;
    snprintf(cmd, sizeof cmd, "protoc --decode=onnx.ModelProto -I %s onnx.proto < %s > %s", onnx_proto_dir(), onnx, txt);
    rc = system(cmd);
    CHECK(rc == 0, "%s: exit %d", cmd, rc);
    char *text = slurp(txt);
    CHECK(text != NULL, "reading %s", txt);
    if (!text) return;
    CHECK(strncmp(text, "ir_version: 8\n", 14) == 0, "ir_version: %.40s", text);
    CHECK(strstr(text, "\nopset_import {\n  domain: \"\"\n  version: 17\n}"), "no default-domain opset 17");
    /* The ops the interface promises: LayerNormalization, GELU through Erf,
     * deformable attention through GridSample; and the top-k selection. */
    const char *ops[] = {"LayerNormalization", "Erf", "GridSample", "TopK", "GatherND", "Conv", "Softmax"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char needle[96];
        snprintf(needle, sizeof needle, "op_type: \"%s\"", ops[i]);
        CHECK(strstr(text, needle), "no %s node", ops[i]);
    }
    CHECK(!strstr(text, "op_type: \"Gelu\""), "Gelu is not an opset 17 op");
    /* Weights are initializers under the official state-dict keys. */
    const char *keys[] = {"backbone.0.encoder.encoder.encoder.layer.0.attention.attention.query.weight",
                          "transformer.decoder.layers.1.cross_attn.sampling_offsets.weight", "class_embed.bias",
                          "bbox_embed.layers.2.weight", "refpoint_embed.weight"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char *b = graph_block(text, "initializer", keys[i]);
        CHECK(b && strstr(b, "data_type: 1") && strstr(b, "raw_data: "), "initializer %s missing or not f32", keys[i]);
        free(b);
    }
    /* Interface: names, element type f32, shapes. micro: 12 queries, 5 classes. */
    struct {
        const char *field, *name, *dims;
    } io[3] = {{"input", "input", NULL}, {"output", "dets", NULL}, {"output", "labels", NULL}};
    char want[3][128];
    snprintf(want[0], sizeof want[0], "%s,3,%s,%s", batch_dim, res, res);
    snprintf(want[1], sizeof want[1], "%s,12,4", batch_dim);
    snprintf(want[2], sizeof want[2], "%s,12,5", batch_dim);
    for (int i = 0; i < 3; i++) {
        char *b = graph_block(text, io[i].field, io[i].name);
        CHECK(b != NULL, "graph %s '%s' missing", io[i].field, io[i].name);
        if (!b) continue;
        char dims[256];
        block_dims(b, dims, sizeof dims);
        CHECK(strcmp(dims, want[i]) == 0, "%s dims %s, expected %s", io[i].name, dims, want[i]);
        CHECK(strstr(b, "elem_type: 1"), "%s is not f32", io[i].name);
        free(b);
    }
    /* Exactly one graph input (weights are not inputs) and two outputs. */
    int inputs = 0, outputs = 0;
    for (const char *p = text; (p = strstr(p, "\n  input {\n")) != NULL; p++) inputs++;
    for (const char *p = text; (p = strstr(p, "\n  output {\n")) != NULL; p++) outputs++;
    CHECK(inputs == 1 && outputs == 2, "%d graph inputs, %d outputs", inputs, outputs);
    /* Every node input is produced before it is used (topological order) or
     * is an initializer or the graph input. */
    int unknown = 0;
    size_t cap = 4096, count = 0;
    char **known = malloc(sizeof *known * cap);
    known[count++] = strdup("input");
    for (const char *p = text; (p = strstr(p, "\n    name: \"")) != NULL; p++) { /* initializer and io names */
        const char *s = p + 12;
        if (count == cap) known = realloc(known, sizeof *known * (cap *= 2));
        known[count++] = strndup(s, strcspn(s, "\""));
    }
    for (const char *p = text; (p = strstr(p, "\n  node {\n")) != NULL; p++) {
        const char *end = strstr(p + 1, "\n  }\n");
        for (const char *q = p; (q = strstr(q, "\n    input: \"")) && q < end; q++) {
            const char *s = q + 13;
            size_t n = strcspn(s, "\"");
            bool found = false;
            for (size_t k = count; k-- > 0 && !found;) found = strlen(known[k]) == n && strncmp(known[k], s, n) == 0;
            if (!found && unknown++ < 3) fprintf(stderr, "node input %.*s used before it is made\n", (int)n, s);
        }
        for (const char *q = p; (q = strstr(q, "\n    output: \"")) && q < end; q++) {
            const char *s = q + 14;
            if (count == cap) known = realloc(known, sizeof *known * (cap *= 2));
            known[count++] = strndup(s, strcspn(s, "\""));
        }
    }
    CHECK(unknown == 0, "%d node inputs not defined before use", unknown);
    for (size_t k = 0; k < count; k++) free(known[k]);
    free(known);
    free(text);
}

static int test_cli(void) {
    char weights[1100];
    snprintf(weights, sizeof weights, "%s/tests/fixtures/model/micro.safetensors", src);
    check_bad_inputs(weights);
    if (!tool_exists("protoc") || !onnx_proto_dir()) {
        printf("test_export: protoc or onnx.proto missing: the graph is not decoded (apt-get install "
               "protobuf-compiler libonnx-dev, or set ONNX_PROTO_DIR)\n");
        int rc = test_finish("test_export");
        return rc ? rc : TEST_SKIP_CODE;
    }
    check_decoded(weights, "--batch dynamic", "batch", "64");
    check_decoded(weights, "--batch 3 --resolution 32", "3", "32");
    check_decoded(weights, "", "1", "64"); /* RF-DETR's default: batch 1 */
    return test_finish("test_export");
}

/* ---- ONNX Runtime against the C forward pass --------------------------------------------------------- */

static float normal(unsigned long long *state) {
    float u1 = test_uniform(state, 1e-7f, 1.0f), u2 = test_uniform(state, 0.0f, 1.0f);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

/* Moves every parameter off its initial value (the box heads and offsets
 * start at zero) as tests/model_reference.py does: + N(0, 0.02), ten times
 * that on the reference boxes. */
static rf_status perturb(rfdetr_model *m, unsigned long long seed) {
    rf_params *p = m->params;
    for (size_t i = 0; i < p->count; i++) {
        rf_tensor *t = p->tensors[i];
        int64_t n = rf_tensor_numel(t);
        float *h = malloc(sizeof *h * (size_t)n);
        if (!h) return RF_ERR_OUT_OF_MEMORY;
        rf_status s = rf_tensor_download(t, h);
        float scale = strcmp(t->name, "refpoint_embed.weight") == 0 ? 0.2f : 0.02f;
        for (int64_t j = 0; j < n; j++) h[j] += scale * normal(&seed);
        if (s == RF_OK) s = rf_tensor_upload(t, h);
        free(h);
        if (s != RF_OK) return s;
    }
    return RF_OK;
}

static rf_status write_floats(const char *path, const float *v, int64_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return RF_ERROR(RF_ERR_IO, "%s: %s", path, strerror(errno));
    size_t w = fwrite(v, sizeof *v, (size_t)n, f);
    int c = fclose(f);
    return w == (size_t)n && c == 0 ? RF_OK : RF_ERROR(RF_ERR_IO, "%s: short write", path);
}

static rf_status save_tensor(const char *dir, const char *name, rf_tensor *t) {
    int64_t n = rf_tensor_numel(t);
    float *h = malloc(sizeof *h * (size_t)n);
    if (!h) return RF_ERR_OUT_OF_MEMORY;
    rf_status s = rf_tensor_download(t, h);
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    if (s == RF_OK) s = write_floats(path, h, n);
    free(h);
    return s;
}

/* The smallest gap between consecutive selected proposal scores: the
 * selected rows are sorted by their best class logit, and with every
 * position selected (h*w <= queries) these are all of them. A gap at
 * float rounding would let two correct implementations order them
 * differently. Returns +inf when the check does not apply. */
static float selection_margin(rf_tensor *enc_logits) {
    int64_t B = enc_logits->shape[0], R = enc_logits->shape[1], K = enc_logits->shape[2];
    float *h = malloc(sizeof *h * (size_t)(B * R * K)), margin = INFINITY;
    if (!h || rf_tensor_download(enc_logits, h) != RF_OK) {
        free(h);
        return 0;
    }
    for (int64_t b = 0; b < B; b++) {
        float prev = INFINITY;
        for (int64_t r = 0; r < R; r++) {
            float best = -INFINITY;
            for (int64_t k = 0; k < K; k++) best = fmaxf(best, h[(b * R + r) * K + k]);
            if (r) margin = fminf(margin, prev - best);
            prev = best;
        }
    }
    free(h);
    return margin;
}

static int test_ort(const char *size, int resolution) {
    char weights[1200], onnx[1200], dir[1100], args[8192], out[65536];
    snprintf(dir, sizeof dir, "%s/%s_%d", work, size, resolution);
    mkdir(dir, 0755);
    snprintf(onnx, sizeof onnx, "%s/%s.onnx", dir, size);
    bool fixture = strcmp(size, "micro") == 0;
    rf_device *dev = NULL;
    CHECK_OK(rf_device_open("cpu", &dev));
    if (!dev) return test_finish("test_export --ort");
    if (fixture) {
        snprintf(weights, sizeof weights, "%s/tests/fixtures/model/micro.safetensors", src);
    } else {
        snprintf(weights, sizeof weights, "%s/%s.safetensors", dir, size);
        rfdetr_config cfg;
        /* Saved at the size's own resolution: opening it at R adapts the
         * position table as `rfdetr export --resolution R` does. */
        CHECK_OK(rfdetr_config_preset(size, &cfg));
        rfdetr_model *m = NULL;
        CHECK_OK(rfdetr_model_create(dev, &cfg, 7, &m));
        if (!m) return test_finish("test_export --ort");
        CHECK_OK(perturb(m, 11));
        CHECK_OK(rfdetr_model_save(m, weights));
        rfdetr_model_free(m);
    }
    /* The model as `rfdetr export` opens it, on the same batch. */
    rfdetr_model *m = NULL;
    CHECK_OK(rfdetr_model_open(dev, weights, NULL, fixture ? 0 : resolution, &m));
    if (!m) return test_finish("test_export --ort");
    int64_t res = m->cfg.resolution, n = (int64_t)BATCH * 3 * res * res;
    float *images = malloc(sizeof *images * (size_t)n);
    unsigned long long state = 5;
    for (int64_t i = 0; i < n; i++) images[i] = normal(&state);
    rf_ctx *ctx = NULL;
    CHECK_OK(rf_ctx_create(dev, 0, &ctx));
    rfdetr_outputs o;
    rf_tensor *x = rf_ctx_from_host(ctx, RF_F32, 4, (int64_t[]){BATCH, 3, res, res}, images);
    CHECK_OK(rfdetr_model_forward(m, ctx, x, false, &o));
    char path[1200];
    snprintf(path, sizeof path, "%s/input.f32", dir);
    CHECK_OK(write_floats(path, images, n));
    CHECK_OK(save_tensor(dir, "dets", o.boxes[o.layers - 1]));
    CHECK_OK(save_tensor(dir, "labels", o.logits[o.layers - 1]));
    float margin = m->cfg.num_queries >= res / m->cfg.patch_size * (res / m->cfg.patch_size) ? selection_margin(o.enc_logits)
                                                                                            : INFINITY;
    printf("test_export: %s at %lld px: two-stage selection margin %.3g\n", size, (long long)res, margin);
    CHECK(margin > 3e-5f, "the random weights leave proposals within rounding of each other (%g): pick another seed",
          margin);
    int64_t queries = m->cfg.num_queries, classes = m->cfg.num_classes, num_select = m->cfg.num_select;
    /* An image of the input's size, for `rfdetr predict` (its resize is then the identity). */
    char png[1200], u8[1200], pred[1200];
    unsigned char *rgb = malloc((size_t)(res * res * 3));
    for (int64_t i = 0; i < res * res * 3; i++) rgb[i] = (unsigned char)(test_uniform(&state, 0.0f, 256.0f));
    snprintf(png, sizeof png, "%s/image.png", dir);
    snprintf(u8, sizeof u8, "%s/image.u8", dir);
    snprintf(pred, sizeof pred, "%s/predict.json", dir);
    CHECK(stbi_write_png(png, (int)res, (int)res, 3, rgb, (int)res * 3), "writing %s", png);
    FILE *f = fopen(u8, "wb");
    CHECK(f && fwrite(rgb, 1, (size_t)(res * res * 3), f) == (size_t)(res * res * 3), "writing %s", u8);
    if (f) fclose(f);
    free(rgb);
    rf_ctx_free(ctx);
    rfdetr_model_free(m);
    rf_device_close(dev);
    free(images);

    const char *batch = strcmp(size, "small") == 0 ? "2" : "dynamic";
    snprintf(args, sizeof args, "--weights %s --out %s --batch %s%s", weights, onnx, batch,
             fixture ? "" : " --resolution");
    if (!fixture) snprintf(args + strlen(args), sizeof args - strlen(args), " %d", resolution);
    int rc = export_cmd(args, out, sizeof out);
    CHECK(rc == 0, "export %s: exit %d: %s", args, rc, out);
    if (rc != 0) return test_finish("test_export --ort");
    snprintf(args, sizeof args, "%s predict --weights %s --image %s --device cpu --threshold 0 --json %s%s", bin, weights,
             png, pred, fixture ? "" : " --resolution");
    if (!fixture) snprintf(args + strlen(args), sizeof args - strlen(args), " %d", resolution);
    rc = run_cmd(args, out, sizeof out);
    CHECK(rc == 0, "%s: exit %d: %s", args, rc, out);
    /* micro also has PyTorch's outputs on its own batch (RF-DETR's modules). */
    char torch_io[1200] = "";
    if (fixture) snprintf(torch_io, sizeof torch_io, " --torch-io %s/tests/fixtures/model/micro_io.safetensors", src);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "python3 %s/tests/export_ort.py --onnx %s --dir %s --batch %d --batch-dim %s --resolution %lld "
             "--queries %lld --classes %lld --tol %s --image-u8 %s --predict-json %s --num-select %lld%s",
             src, onnx, dir, BATCH, strcmp(batch, "dynamic") == 0 ? "batch" : batch, (long long)res,
             (long long)queries, (long long)classes, ORT_TOL, u8, pred, (long long)num_select, torch_io);
    rc = run_cmd(cmd, out, sizeof out);
    printf("%s", out);
    if (rc == TEST_SKIP_CODE) {
        test_finish("test_export --ort");
        return TEST_SKIP_CODE;
    }
    CHECK(rc == 0, "export_ort.py: exit %d", rc);
    return test_finish("test_export --ort");
}

static int test_vs_rfdetr(const char *size, const char *resolution) {
    char cmd[8192], out[65536];
    snprintf(cmd, sizeof cmd, "python3 %s/tests/export_vs_rfdetr.py --size %s --resolution %s --rfdetr %s --out %s",
             src, size, resolution, bin, work);
    int rc = run_cmd(cmd, out, sizeof out);
    /* The verdict lines, without the package's warnings. */
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, "ok ", 3) == 0 || strncmp(line, "FAIL", 4) == 0 || strncmp(line, "    ", 4) == 0 ||
            strstr(line, "skipped") || strstr(line, "export_vs_rfdetr"))
            printf("%s\n", line);
    if (rc == TEST_SKIP_CODE) return TEST_SKIP_CODE;
    CHECK(rc == 0, "export_vs_rfdetr.py: exit %d", rc);
    return test_finish("test_export --vs-rfdetr");
}

int main(int argc, char **argv) {
    const char *s = getenv("RFDETR_SOURCE_DIR"), *b = getenv("RFDETR_BUILD_DIR");
    if (!s || !b) {
        fprintf(stderr, "test_export: run through ctest (RFDETR_SOURCE_DIR, RFDETR_BUILD_DIR)\n");
        return 1;
    }
    snprintf(src, sizeof src, "%s", s);
    snprintf(bin, sizeof bin, "%s/rfdetr", b);
    bool ort = argc == 4 && strcmp(argv[1], "--ort") == 0, vs = argc == 4 && strcmp(argv[1], "--vs-rfdetr") == 0;
    snprintf(work, sizeof work, "%s/test_export_tmp%s%s%s", b, ort || vs ? "_" : "", vs ? "vs_" : "",
             ort || vs ? argv[2] : "");
    mkdir(work, 0755);
    int rc = ort ? test_ort(argv[2], atoi(argv[3])) : vs ? test_vs_rfdetr(argv[2], argv[3]) : test_cli();
    if (rc == 0) test_remove_tree(work);
    return rc;
}
