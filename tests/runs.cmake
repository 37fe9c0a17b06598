# Run directories (issues 14, 15): the run's saved options, --resume alone,
# --out / --overwrite, and the crash test (SIGKILL at every write and at
# random moments, each resumed to the uninterrupted run's bytes). The full
# crash test runs in the Release suite (a few minutes); the sanitizer
# stage runs its quick version (5 writes, 1 random Ctrl-C).
rfdetr_add_test(test_cli_runs SOURCES test_cli_runs.c LABELS fast TIMEOUT 900)
rfdetr_add_test(test_train_crash SOURCES test_train_crash.c ARGS all LABELS slow TIMEOUT 1800)
rfdetr_add_test(test_train_crash_quick SOURCES test_train_crash.c ARGS quick LABELS fast TIMEOUT 1800)
