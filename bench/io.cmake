# Weight files and the matcher's assignment solver.
add_executable(bench_lsa bench_lsa.c)
target_link_libraries(bench_lsa PRIVATE rfdetr_lib)
add_executable(bench_weights bench_weights.c)
target_link_libraries(bench_weights PRIVATE rfdetr_lib)
