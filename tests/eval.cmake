# COCO evaluation (eval/): pycocotools' numbers, stored and live.
rfdetr_add_test(test_coco_eval SOURCES test_coco_eval.c LABELS fast TIMEOUT 300)
rfdetr_add_test(test_cli_eval SOURCES test_cli_eval.c LABELS fast TIMEOUT 300)
# Recomputes every case with pycocotools now (skips, exit 77, without it).
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME test_eval_pycocotools
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/eval/oracle.py check ${CMAKE_BINARY_DIR}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(test_eval_pycocotools PROPERTIES LABELS fast TIMEOUT 900 SKIP_RETURN_CODE 77)
endif()
