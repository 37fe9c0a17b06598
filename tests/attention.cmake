# The fused attention op (core/ops.c rf_attention, backend/cpu/*_attention.c).
rfdetr_add_test(test_attention SOURCES test_attention.c LABELS fast)
