# bench_gemm: GEMM GFLOP/s per device against OpenBLAS (bench/RESULTS.md).
add_executable(bench_gemm ${CMAKE_CURRENT_SOURCE_DIR}/gemm.c)
target_link_libraries(bench_gemm PRIVATE rfdetr_lib)
