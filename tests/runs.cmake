# Run directories (issues 14, 15): the run's saved options, --resume alone,
# --out / --overwrite, and the crash test (SIGKILL at every write and at
# random moments, each resumed to the uninterrupted run's bytes).
rfdetr_add_test(test_cli_runs SOURCES test_cli_runs.c LABELS fast TIMEOUT 900)
rfdetr_add_test(test_train_crash SOURCES test_train_crash.c LABELS fast TIMEOUT 900)
