# bench_peak_bf16: one core's f32 FMA rate against its bf16 rates (AVX512_BF16, AMX), issue 12.
add_executable(bench_peak_bf16 ${CMAKE_CURRENT_SOURCE_DIR}/peak_bf16.c)
