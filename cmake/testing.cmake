# rfdetr_add_test(NAME SOURCES src... [LABELS fast|slow ...] [ARGS ...] [TIMEOUT s] [ENV K=V ...])
# One executable per test program, registered with ctest. Every test runs
# with two PoCL devices and one shared PoCL kernel cache, so opencl:1 is
# exercised on every run and kernels compile once per build, not per test.
set(RFDETR_POCL_CACHE_DIR ${CMAKE_BINARY_DIR}/pocl-cache)
function(rfdetr_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LABELS;ARGS;ENV" ${ARGN})
  if(NOT TARGET ${name})
    add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE rfdetr_lib)
    target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  endif()
  add_test(NAME ${name} COMMAND ${name} ${T_ARGS} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  if(NOT T_LABELS)
    set(T_LABELS fast)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${name} PROPERTIES
    LABELS "${T_LABELS}"
    TIMEOUT ${T_TIMEOUT}
    SKIP_RETURN_CODE 77
    ENVIRONMENT "POCL_DEVICES=pthread pthread;POCL_CACHE_DIR=${RFDETR_POCL_CACHE_DIR};RFDETR_SOURCE_DIR=${CMAKE_SOURCE_DIR};RFDETR_BUILD_DIR=${CMAKE_BINARY_DIR};${T_ENV}")
endfunction()
