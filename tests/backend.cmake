# Backend contract tests (issue: portable compute backend).
rfdetr_add_test(test_devices SOURCES test_devices.c LABELS fast)
rfdetr_add_test(test_backend_ops SOURCES test_backend_ops.c LABELS fast TIMEOUT 1200)
