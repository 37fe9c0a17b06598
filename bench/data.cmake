# bench/data: images/s the loader decodes + augments into 384 x 384 batches,
# 1 and 2 threads, against decoding alone (bench/RESULTS.md has the numbers).
#   cmake --build build --target bench_data_run   (from the repository root)
add_executable(bench_data ${CMAKE_CURRENT_SOURCE_DIR}/data_loader.c)
target_link_libraries(bench_data PRIVATE rfdetr_lib)
add_custom_target(bench_data_run
  COMMAND $<TARGET_FILE:bench_data>
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
  DEPENDS bench_data
  USES_TERMINAL)
