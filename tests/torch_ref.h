/* torch_ref.h — running a PyTorch reference from a test, when torch is
 * importable: the test writes its inputs as raw little-endian float32
 * files into a fresh temporary folder, runs a Python script there, and
 * reads the script's outputs back. A test mode that needs torch exits with
 * TEST_SKIP_CODE when `import torch` fails. */
#ifndef RFDETR_TORCH_REF_H
#define RFDETR_TORCH_REF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline bool torch_available(void) { return system("python3 -c 'import torch' >/dev/null 2>&1") == 0; }

/* A fresh temporary folder (path in dir, at least 64 bytes). */
static inline bool torch_tmpdir(char *dir, size_t size) {
    snprintf(dir, size, "/tmp/rfdetr_torch_XXXXXX");
    return mkdtemp(dir) != NULL;
}

static inline bool torch_write(const char *dir, const char *name, const float *data, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 4, n, f) == n;
    return fclose(f) == 0 && ok;
}

static inline bool torch_read(const char *dir, const char *name, float *data, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    bool ok = fread(data, 4, n, f) == n;
    fclose(f);
    return ok;
}

/* Writes `script` to dir/ref.py and runs it with dir as its argument. */
static inline bool torch_run(const char *dir, const char *script) {
    char path[512], cmd[1100];
    snprintf(path, sizeof path, "%s/ref.py", dir);
    FILE *f = fopen(path, "w");
    if (!f) return false;
    fputs(script, f);
    if (fclose(f) != 0) return false;
    snprintf(cmd, sizeof cmd, "python3 %s %s", path, dir);
    return system(cmd) == 0;
}

/* Removes the folder and the files it holds (no subfolders). */
static inline void torch_cleanup(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (strncmp(dir, "/tmp/rfdetr_torch_", 18) == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

#endif
