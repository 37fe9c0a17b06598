# bench/json: which JSON library reads COCO files (docs/json.md).
#   cmake --build build --target bench_json
# One parser executable per library found (Jansson's and json-c's headers
# clash, and one library per process keeps peak memory its own), plus the
# product path rf_coco_load, all on one generated COCO-train-sized file.
find_package(PkgConfig REQUIRED)
add_executable(bench_coco_generate ${CMAKE_CURRENT_SOURCE_DIR}/coco_generate.c)
target_link_libraries(bench_coco_generate PRIVATE ${MATH_LIBRARY})

set(RFDETR_JSON_BENCH_PARSERS "")
foreach(candidate "cjson:libcjson:HAVE_CJSON" "jansson:jansson:HAVE_JANSSON" "json-c:json-c:HAVE_JSONC"
                  "yajl-tree:yajl:HAVE_YAJL;YAJL_TREE" "yajl-stream:yajl:HAVE_YAJL")
  string(REPLACE ":" ";" parts "${candidate}")
  list(GET parts 0 name)
  list(GET parts 1 module)
  list(SUBLIST parts 2 -1 defines)
  string(MAKE_C_IDENTIFIER "JSONBENCH_${module}" prefix)
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET ${module})
  if(${prefix}_FOUND)
    add_executable(bench_json_${name} ${CMAKE_CURRENT_SOURCE_DIR}/json_parse.c)
    target_compile_definitions(bench_json_${name} PRIVATE ${defines})
    target_link_libraries(bench_json_${name} PRIVATE PkgConfig::${prefix})
    list(APPEND RFDETR_JSON_BENCH_PARSERS bench_json_${name})
  endif()
endforeach()

add_executable(bench_json_rfdetr ${CMAKE_CURRENT_SOURCE_DIR}/json_rfdetr.c)
target_link_libraries(bench_json_rfdetr PRIVATE rfdetr_lib)

add_custom_target(bench_json
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/json.sh ${CMAKE_BINARY_DIR}
  DEPENDS bench_coco_generate bench_json_rfdetr ${RFDETR_JSON_BENCH_PARSERS}
  USES_TERMINAL)
