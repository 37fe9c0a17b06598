/* fileio.h — whole-file reads and crash-safe writes.
 *
 * Every file rfdetr.c writes for the user (checkpoints, results, logs,
 * datasets) goes through rf_atomic_file: the data is written to a temporary
 * file beside the target, flushed and fsync'ed, then renamed over the target,
 * so a crash, Ctrl-C or full disk leaves either the old file or the new one,
 * never a torn one. */
#ifndef RFDETR_FILEIO_H
#define RFDETR_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "rfdetr.h"

/* Reads a whole file into a NUL-terminated malloc'd buffer. RF_ERR_IO with
 * the path and strerror on failure. */
rf_status rf_read_file(const char *path, char **data, size_t *length);

typedef struct rf_atomic_file {
    FILE *f;           /* write through this */
    char *path;        /* final path */
    char *temp_path;   /* path.tmp.<pid> */
} rf_atomic_file;

rf_status rf_atomic_file_open(rf_atomic_file *af, const char *path);
/* Flushes, fsyncs, renames over the final path and fsyncs the directory.
 * On any error the temporary file is removed and the old file is kept. */
rf_status rf_atomic_file_commit(rf_atomic_file *af);
/* Abandons the write: removes the temporary file. Safe after commit. */
void rf_atomic_file_abort(rf_atomic_file *af);

/* Crash testing: the hook runs at the two moments of every commit where a
 * kill leaves a different directory: the temporary file complete but not
 * yet renamed (renamed = 0), and renamed over the target (renamed = 1).
 * The command line installs one that SIGKILLs itself at the Nth call when
 * RFDETR_DEBUG_KILL_AT_WRITE=N (docs/train.md); NULL, the default, runs
 * nothing. */
typedef void (*rf_atomic_file_hook)(const char *path, int renamed);
void rf_atomic_file_set_hook(rf_atomic_file_hook hook);

/* Creates a directory and its parents (mkdir -p). */
rf_status rf_make_dirs(const char *path);
int rf_file_exists(const char *path);

#endif
