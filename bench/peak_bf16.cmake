# bench_peak_bf16: one core's f32 FMA rate against its bf16 rates (AVX512_BF16, AMX), and the AMX
# bf16 GEMM against OpenBLAS's SGEMM (issue 12).
add_executable(bench_peak_bf16 ${CMAKE_CURRENT_SOURCE_DIR}/peak_bf16.c)
target_link_libraries(bench_peak_bf16 PRIVATE rfdetr_lib)
