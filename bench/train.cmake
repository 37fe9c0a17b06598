# bench_train: training step throughput against PyTorch CPU (bench/RESULTS.md).
add_executable(bench_train ${CMAKE_CURRENT_SOURCE_DIR}/bench_train.c)
target_link_libraries(bench_train PRIVATE rfdetr_lib)
