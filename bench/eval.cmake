# bench/eval: COCO evaluation on a COCO-val-sized case, ours vs pycocotools
# vs faster-coco-eval in the same run (bench/eval.py prints the ratios).
#   cmake --build build --target bench_eval
add_executable(bench_eval_rfdetr ${CMAKE_CURRENT_SOURCE_DIR}/eval_rfdetr.c)
target_link_libraries(bench_eval_rfdetr PRIVATE rfdetr_lib)
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_custom_target(bench_eval
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/eval.py ${CMAKE_BINARY_DIR}
    DEPENDS bench_eval_rfdetr bench_coco_generate rfdetr
    USES_TERMINAL)
endif()
