# The fused attention op (core/ops.c rf_attention, backend/cpu/*_attention.c).
rfdetr_add_test(test_attention SOURCES test_attention.c LABELS fast)
# The fast GEMM's blocking from the CPU's cache sizes (backend/cpu/fast_gemm.c).
rfdetr_add_test(test_gemm_blocking SOURCES test_gemm_blocking.c LABELS fast)
# The fast mode's division-free GELU (backend/cpu/fast_math.h).
rfdetr_add_test(test_fast_gelu SOURCES test_fast_gelu.c LABELS fast)
set_source_files_properties(test_fast_gelu.c PROPERTIES COMPILE_OPTIONS "-fno-math-errno;-fno-trapping-math")
# Weights packed once for the fast GEMM, never stale (backend/cpu/cpu_gemm.c).
rfdetr_add_test(test_packed_weights SOURCES test_packed_weights.c LABELS fast)
