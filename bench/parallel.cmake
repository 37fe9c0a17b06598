# bench_parallel: data-parallel scaling, several devices or MPI ranks against one (bench/RESULTS.md).
add_executable(bench_parallel ${CMAKE_CURRENT_SOURCE_DIR}/bench_parallel.c)
target_link_libraries(bench_parallel PRIVATE rfdetr_lib)
