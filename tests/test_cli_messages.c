/* test_cli_messages.c — what a new user reads when a value or a file is
 * wrong: every range error names the flag and the value it got and exits 2
 * before anything is opened or written; a weights file is recognised by its
 * full signature, and one cut short is called truncated, whatever its first
 * byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/weights.h"
#include "test_util.h"

static char rfdetr[1024];

/* Runs `rfdetr ARGS` with stdout and stderr captured; returns the exit code. */
static int run(const char *args, char *out, size_t size) {
    char full[4096];
    snprintf(full, sizeof full, "'%s' %s 2>&1", rfdetr, args);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    while (fgetc(p) != EOF) {
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void expect_message(const char *args, const char *message) {
    char out[8192];
    int rc = run(args, out, sizeof out);
    CHECK(rc == 2 && strstr(out, message), "rfdetr %s: exit %d, want 2 and \"%s\"; got:\n%s", args, rc, message, out);
}

static void test_ranges(void) {
    expect_message("train --batch 0", "rfdetr train: --batch must be >= 1, got 0");
    expect_message("train --epochs -3", "rfdetr train: --epochs must be >= 1, got -3");
    expect_message("train --grad-accum 65", "rfdetr train: --grad-accum must be in 1..64, got 65");
    expect_message("train --threads 0", "rfdetr train: --threads must be >= 1, got 0");
    expect_message("train --eval-batch 0", "rfdetr train: --eval-batch must be >= 1, got 0");
    expect_message("train --warmup-steps -1", "rfdetr train: --warmup-steps must be >= 0, got -1");
    expect_message("train --max-steps -1", "rfdetr train: --max-steps must be >= 0, got -1");
    expect_message("train --patience -2", "rfdetr train: --patience must be >= 0, got -2");
    expect_message("train --lr 0", "rfdetr train: --lr must be > 0, got 0");
    expect_message("train --lr nan", "rfdetr train: --lr must be > 0, got nan");
    expect_message("train --clip -0.5", "rfdetr train: --clip must be >= 0, got -0.5");
    expect_message("train --weight-decay -1", "rfdetr train: --weight-decay must be >= 0, got -1");
    expect_message("train --ema-decay 1", "rfdetr train: --ema-decay must be in [0, 1), got 1");
    expect_message("predict --weights w --image i --batch 0", "rfdetr predict: --batch must be in 1..1024, got 0");
    expect_message("predict --weights w --image i --threshold 2", "rfdetr predict: --threshold must be in [0, 1], got 2");
    expect_message("predict --weights w --image i --resolution -1",
                   "rfdetr predict: --resolution must be in 0..65536, got -1");
    expect_message("eval --gt a --dt b --batch 0", "rfdetr eval: --batch must be >= 1, got 0");
    expect_message("eval --gt a --dt b --threads 2000", "rfdetr eval: --threads must be in 0..1024, got 2000");
    expect_message("make-shapes /nonexistent/x --classes 0", "rfdetr make-shapes: --classes must be in 1..1048576, got 0");
    expect_message("make-shapes /nonexistent/x --seed -1", "rfdetr make-shapes: --seed must be >= 0, got -1");
    expect_message("train --precision half", "rfdetr train: --precision must be f32, bf16 or fp16, got 'half'");
    expect_message("predict --weights w --image i --precision 8", "rfdetr predict: --precision must be f32, bf16 or fp16, got '8'");
    expect_message("eval --weights w --data d --precision bf17", "rfdetr eval: --precision must be f32, bf16 or fp16, got 'bf17'");
    expect_message("eval --gt a --dt b --precision bf16", "rfdetr eval: --precision applies to the model form");
    /* fp16 trains (with loss scaling): the flag passes and the data is what fails. */
    expect_message("train --precision fp16 --data /nonexistent/x", "/nonexistent/x: not a directory");
}

static char tmp[] = "/tmp/rfdetr_test_cli_messages_XXXXXX";

static void write_bytes(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, size, f) == size, "writing %s", path);
    if (f) fclose(f);
}

/* rf_weights_open's verdict on a file: RF_OK, or the status with its message in *message. */
static rf_status open_weights(const char *path, char *message, size_t size) {
    rf_weights *w = NULL;
    rf_status s = rf_weights_open(path, &w);
    snprintf(message, size, "%s", s == RF_OK ? rf_weights_format(w) : rf_last_error());
    rf_weights_close(w);
    return s;
}

static void test_weights_signatures(void) {
    char path[512], message[2048];
    /* A safetensors file whose header length is 128: its first byte is 0x80,
     * a pickle's first byte. */
    unsigned char st[8 + 128 + 8];
    memset(st, ' ', sizeof st);
    memset(st, 0, 8);
    st[0] = 0x80;
    const char *header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    memcpy(st + 8, header, strlen(header));
    float values[2] = {1.5f, -2.0f};
    memcpy(st + 8 + 128, values, sizeof values);
    snprintf(path, sizeof path, "%s/x80.safetensors", tmp);
    write_bytes(path, st, sizeof st);
    CHECK(open_weights(path, message, sizeof message) == RF_OK && !strcmp(message, "safetensors"),
          "a safetensors file starting with 0x80 is safetensors: %s", message);
    write_bytes(path, st, 100); /* cut inside the header */
    CHECK(open_weights(path, message, sizeof message) == RF_ERR_FORMAT && strstr(message, "truncated") &&
              strstr(message, "safetensors") && strstr(message, "100"),
          "truncated safetensors starting with 0x80: %s", message);
    write_bytes(path, st, 8 + 128 + 4); /* cut inside the data: core/safetensors.c names the short buffer */
    CHECK(open_weights(path, message, sizeof message) == RF_ERR_FORMAT && strstr(message, "beyond the 4-byte"),
          "safetensors cut in its data: %s", message);

    /* A PyTorch checkpoint cut short. */
    char *pth = NULL;
    size_t pth_size = 0;
    CHECK_OK(rf_read_file("tests/fixtures/pth/state_dict.pth", &pth, &pth_size));
    snprintf(path, sizeof path, "%s/cut.pth", tmp);
    if (pth) {
        write_bytes(path, pth, pth_size / 2);
        CHECK(open_weights(path, message, sizeof message) == RF_ERR_FORMAT && strstr(message, "truncated") &&
                  strstr(message, "PyTorch"),
              "truncated .pth: %s", message);
        char out[8192], args[1200];
        snprintf(args, sizeof args, "predict --weights %s --image nothing.png", path);
        int rc = run(args, out, sizeof out);
        CHECK(rc == 2 && strstr(out, "truncated") && strstr(out, "cut.pth"), "predict on a truncated .pth: %d %s", rc, out);
    }
    free(pth);

    /* Neither format, and too short for any. */
    snprintf(path, sizeof path, "%s/notes.txt", tmp);
    write_bytes(path, "these are not weights\n", 22);
    CHECK(open_weights(path, message, sizeof message) == RF_ERR_FORMAT && strstr(message, "not a weights file"),
          "text file: %s", message);
    write_bytes(path, "\x80\x02", 2);
    CHECK(open_weights(path, message, sizeof message) != RF_OK && strstr(message, "notes.txt"), "2 bytes: %s", message);
    write_bytes(path, "abc", 3);
    CHECK(open_weights(path, message, sizeof message) == RF_ERR_FORMAT && strstr(message, "truncated"), "3 bytes: %s",
          message);
    CHECK(open_weights("tests/fixtures/pth/legacy.pth", message, sizeof message) == RF_ERR_UNSUPPORTED &&
              strstr(message, "legacy"),
          "legacy torch.save: %s", message);
}

/* `rfdetr --version` names the release this build's pkg-config file and
 * CMake package carry, and the optional parts it was built with. */
static void test_version(void) {
    char out[1024], want[128];
    int rc = run("--version", out, sizeof out);
    snprintf(want, sizeof want, "rfdetr %s (opencl=", RFDETR_EXPECTED_VERSION);
    CHECK(rc == 0 && strncmp(out, want, strlen(want)) == 0 && strstr(out, " mpi=") && strstr(out, " nccl="),
          "rfdetr --version: exit %d, want 0 and \"%s...\"; got:\n%s", rc, want, out);
    rc = run("--help", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "rfdetr --version"), "rfdetr --help does not mention --version:\n%s", out);
}

int main(void) {
    const char *build = getenv("RFDETR_BUILD_DIR");
    snprintf(rfdetr, sizeof rfdetr, "%s/rfdetr", build ? build : "build");
    if (access(rfdetr, X_OK) != 0) {
        char why[1100];
        snprintf(why, sizeof why, "%s is not built", rfdetr);
        return test_skip("test_cli_messages", why, "cmake --build build (the rfdetr target)");
    }
    if (!mkdtemp(tmp)) return 1;
    test_version();
    test_ranges();
    test_weights_signatures();
    test_remove_tree(tmp);
    return test_finish("test_cli_messages");
}
