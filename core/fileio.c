#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/status.h"

rf_status rf_read_file(const char *path, char **data, size_t *length) {
    *data = NULL;
    if (length) *length = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return RF_ERROR(RF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return RF_ERROR(RF_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        fclose(f);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory reading %zu bytes", path, size);
    }
    size_t got = fread(buf, 1, size, f);
    int read_error = ferror(f);
    fclose(f);
    if (read_error || got != size) {
        free(buf);
        return RF_ERROR(RF_ERR_IO, "%s: read %zu of %zu bytes", path, got, size);
    }
    buf[size] = '\0';
    *data = buf;
    if (length) *length = size;
    return RF_OK;
}

rf_status rf_atomic_file_open(rf_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->path = strdup(path);
    af->temp_path = malloc(n);
    if (!af->path || !af->temp_path) {
        free(af->path);
        free(af->temp_path);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    snprintf(af->temp_path, n, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->temp_path, "wb");
    if (!af->f) {
        rf_status s = RF_ERROR(RF_ERR_IO, "%s: cannot create: %s", af->temp_path, strerror(errno));
        free(af->path);
        free(af->temp_path);
        memset(af, 0, sizeof *af);
        return s;
    }
    return RF_OK;
}

void rf_atomic_file_abort(rf_atomic_file *af) {
    if (af->f) fclose(af->f);
    if (af->temp_path) unlink(af->temp_path);
    free(af->path);
    free(af->temp_path);
    memset(af, 0, sizeof *af);
}

static void fsync_parent_dir(const char *path) {
    char *dir = strdup(path);
    if (!dir) return;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

static rf_atomic_file_hook commit_hook;

void rf_atomic_file_set_hook(rf_atomic_file_hook hook) { commit_hook = hook; }

rf_status rf_atomic_file_commit(rf_atomic_file *af) {
    if (!af->f) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "atomic file not open");
    rf_status s = RF_OK;
    /* ferror catches earlier short writes (ENOSPC) that fwrite reported. */
    if (fflush(af->f) != 0 || ferror(af->f))
        s = RF_ERROR(RF_ERR_IO, "%s: write failed: %s; the previous file is kept", af->path, strerror(errno));
    else if (fsync(fileno(af->f)) != 0)
        s = RF_ERROR(RF_ERR_IO, "%s: fsync failed: %s; the previous file is kept", af->path, strerror(errno));
    if (fclose(af->f) != 0 && s == RF_OK)
        s = RF_ERROR(RF_ERR_IO, "%s: close failed: %s; the previous file is kept", af->path, strerror(errno));
    af->f = NULL;
    if (s == RF_OK && commit_hook) commit_hook(af->path, 0);
    if (s == RF_OK && rename(af->temp_path, af->path) != 0)
        s = RF_ERROR(RF_ERR_IO, "%s: rename from %s failed: %s", af->path, af->temp_path, strerror(errno));
    if (s == RF_OK && commit_hook) commit_hook(af->path, 1);
    if (s == RF_OK) fsync_parent_dir(af->path);
    rf_atomic_file_abort(af); /* removes the temp file if it is still there */
    return s;
}

int rf_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

rf_status rf_make_dirs(const char *path) {
    char *p = strdup(path);
    if (!p) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory");
    for (char *c = p + 1; *c; c++) {
        if (*c != '/') continue;
        *c = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            rf_status s = RF_ERROR(RF_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
            free(p);
            return s;
        }
        *c = '/';
    }
    rf_status s = RF_OK;
    if (mkdir(p, 0777) != 0 && errno != EEXIST) s = RF_ERROR(RF_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
    free(p);
    return s;
}
