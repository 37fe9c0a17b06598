/* test_cli_runs.c — run directories as `rfdetr train` users meet them:
 *   - without --out each run gets the next free runs/train, runs/train2, ...
 *     (so scripts/run.sh run twice leaves two runs);
 *   - an --out that holds a run is refused (exit 2) unless --resume or
 *     --overwrite, and the refused run's files are untouched; --overwrite
 *     says so and replaces the run;
 *   - --resume DIR alone restores the saved options; an option that
 *     conflicts is refused naming both values; --epochs may extend the run
 *     (logged, saved); --resume of a missing directory is an error and
 *     creates nothing; a directory without run.json is not resumable;
 *   - a run that fails before its first training state leaves no directory
 *     behind (nor the parents it created). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fileio.h"
#include "test_util.h"

static char rfdetr[2200], tmp[] = "/tmp/rfdetr_test_cli_runs_XXXXXX";
static char out[1 << 16];

/* Runs a shell command with stdout and stderr into out; returns the exit code. */
static int run(const char *cmd) {
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    while (fgetc(p) != EOF) {
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool exists(const char *dir, const char *name) {
    char path[1200];
    snprintf(path, sizeof path, "%s%s%s", dir, name ? "/" : "", name ? name : "");
    return rf_file_exists(path);
}

static char *slurp(const char *dir, const char *name) {
    char path[1200], *text = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return rf_read_file(path, &text, &n) == RF_OK ? text : NULL;
}

int main(void) {
    /* Absolute: some commands run in another working directory. */
    const char *build = getenv("RFDETR_BUILD_DIR");
    char here[1024];
    if (!getcwd(here, sizeof here)) return 1;
    if (!build) build = "build";
    if (build[0] == '/')
        snprintf(rfdetr, sizeof rfdetr, "%s/rfdetr", build);
    else
        snprintf(rfdetr, sizeof rfdetr, "%s/%s/rfdetr", here, build);
    if (access(rfdetr, X_OK) != 0) {
        printf("test_cli_runs: %s not built; skipped\n", rfdetr);
        return TEST_SKIP_CODE;
    }
    if (!mkdtemp(tmp)) return 1;
    char cmd[4096], data[600], a[600], b[600];
    snprintf(data, sizeof data, "%s/data", tmp);
    snprintf(cmd, sizeof cmd, "%s make-shapes %s --train 8 --valid 4 --size 128 --seed 5", rfdetr, data);
    CHECK(run(cmd) == 0, "make-shapes: %s", out);
    const char *quick = "--device cpu --epochs 1 --batch 4 --resolution 128 --warmup-steps 1 --eval-batch 4";

    /* Without --out: runs/train, then runs/train2, in the working directory. */
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "cd %s && %s train --data %s %s --max-steps 1", tmp, rfdetr, data, quick);
        int rc = run(cmd);
        CHECK(rc == 0, "default --out, run %d (exit %d): %s", i + 1, rc, out);
        CHECK(strstr(out, i == 0 ? "run directory runs/train:" : "run directory runs/train2:"),
              "run %d names its directory: %s", i + 1, out);
    }
    snprintf(a, sizeof a, "%s/runs/train", tmp);
    snprintf(b, sizeof b, "%s/runs/train2", tmp);
    CHECK(exists(a, "run.json") && exists(a, "checkpoint.safetensors") && exists(b, "run.json") &&
              exists(b, "checkpoint.safetensors"),
          "two runs, two directories");

    /* An explicit --out holding a run: refused, the run untouched. */
    char *before = slurp(a, "checkpoint.safetensors");
    snprintf(cmd, sizeof cmd, "%s train --data %s %s --out %s", rfdetr, data, quick, a);
    CHECK(run(cmd) == 2 && strstr(out, a) && strstr(out, "--resume") && strstr(out, "--overwrite"),
          "--out holding a run: %s", out);
    char *after = slurp(a, "checkpoint.safetensors");
    CHECK(before && after && !strcmp(before, after) && strlen(before) == strlen(after), "the refused run changed");
    free(after);

    /* --resume: a conflicting option is refused with both values. */
    snprintf(cmd, sizeof cmd, "%s train --resume %s --batch 2", rfdetr, a);
    CHECK(run(cmd) == 2 && strstr(out, "--batch 2") && strstr(out, "--batch 4"), "conflicting --batch: %s", out);
    snprintf(cmd, sizeof cmd, "%s train --resume %s --lr 0.001", rfdetr, a);
    CHECK(run(cmd) == 2 && strstr(out, "--lr 0.001") && strstr(out, "--lr 0.0004"), "conflicting --lr: %s", out);
    snprintf(cmd, sizeof cmd, "%s train --resume %s --data %s/elsewhere", rfdetr, a, tmp);
    CHECK(run(cmd) == 2 && strstr(out, "--data") && strstr(out, "elsewhere") && strstr(out, data),
          "conflicting --data: %s", out);
    snprintf(cmd, sizeof cmd, "%s train --resume %s --overwrite", rfdetr, a);
    CHECK(run(cmd) == 2 && strstr(out, "--overwrite"), "--resume with --overwrite: %s", out);
    snprintf(cmd, sizeof cmd, "%s train --resume %s --out %s", rfdetr, a, b);
    CHECK(run(cmd) == 2 && strstr(out, "--out"), "--resume with another --out: %s", out);
    after = slurp(a, "checkpoint.safetensors");
    CHECK(before && after && !strcmp(before, after), "a refused resume changed the run");
    free(after);
    free(before);

    /* The same values are not a conflict; --epochs extends the run, logged
     * and saved for the next resume. --profile is no option of the run
     * (not in run.json): it applies to the resumed session. */
    snprintf(cmd, sizeof cmd, "%s train --resume %s --batch 4 --data %s --epochs 2 --profile", rfdetr, a, data);
    int rc = run(cmd);
    CHECK(rc == 0 && strstr(out, "--epochs: 1 when the run started, now 2") && strstr(out, "after 2 epochs"),
          "--resume --epochs 2 (exit %d): %s", rc, out);
    CHECK(strstr(out, "kernel profile of"), "--resume --profile printed no profile: %s", out);
    char *saved = slurp(a, "run.json");
    CHECK(saved && strstr(saved, "\"epochs\": 2") && strstr(saved, "\"max_steps\": 1") &&
              strstr(saved, "\"devices\": 1") && !strstr(saved, "profile"),
          "run.json: %s", saved ? saved : "(none)");
    free(saved);

    /* --overwrite replaces the run, and says so. */
    snprintf(cmd, sizeof cmd, "%s train --data %s %s --out %s --overwrite --max-steps 1 --seed 9", rfdetr, data, quick, b);
    rc = run(cmd);
    CHECK(rc == 0 && strstr(out, "--overwrite") && strstr(out, b), "--overwrite (exit %d): %s", rc, out);
    saved = slurp(b, "run.json");
    CHECK(saved && strstr(saved, "\"seed\": 9"), "the overwritten run's run.json: %s", saved ? saved : "(none)");
    free(saved);

    /* --resume of a directory that does not exist: an error, nothing created. */
    char missing[700];
    snprintf(missing, sizeof missing, "%s/no/such/run", tmp);
    snprintf(cmd, sizeof cmd, "%s train --resume %s", rfdetr, missing);
    CHECK(run(cmd) == 2 && strstr(out, missing), "--resume of a missing directory: %s", out);
    CHECK(!exists(tmp, "no"), "--resume created %s", missing);
    /* A directory that is not a run (here: only a log). */
    char old[700];
    snprintf(old, sizeof old, "%s/old", tmp);
    mkdir(old, 0777);
    snprintf(cmd, sizeof cmd, "echo '{}' > %s/log.jsonl", old);
    CHECK(system(cmd) == 0, "write %s/log.jsonl", old);
    snprintf(cmd, sizeof cmd, "%s train --resume %s", rfdetr, old);
    CHECK(run(cmd) == 2 && strstr(out, "run.json"), "--resume without run.json: %s", out);

    /* A run that fails in its first epoch (the loss overflows) leaves no
     * directory, not even the parents it made; nor does a refused start. */
    char failed[700];
    snprintf(failed, sizeof failed, "%s/fail/deep/run", tmp);
    snprintf(cmd, sizeof cmd, "%s train --data %s %s --out %s --lr 1e30 --clip 0 --warmup-steps 0 --max-steps 4",
             rfdetr, data, quick, failed);
    rc = run(cmd);
    CHECK(rc == 1 && strstr(out, "loss"), "a diverging first epoch (exit %d): %s", rc, out);
    CHECK(!exists(tmp, "fail"), "the failed run left %s/fail", tmp);
    snprintf(cmd, sizeof cmd, "%s train --data %s/missing %s --out %s", rfdetr, tmp, quick, failed);
    CHECK(run(cmd) == 2 && !exists(tmp, "fail"), "a refused start left a directory: %s", out);

    if (test_failed_count == 0) test_remove_tree(tmp);
    else fprintf(stderr, "kept %s for inspection\n", tmp);
    return test_finish("test_cli_runs");
}
