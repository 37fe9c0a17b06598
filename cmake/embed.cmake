# rfdetr_embed_sources(OUT_C VAR_PREFIX FILE...)
# Turns text files (OpenCL kernel sources) into a generated C file holding one
# NUL-terminated string per file plus a name table, so the binary carries its
# kernels and never reads them from disk at run time.
function(rfdetr_embed_sources out_c prefix)
  set(files ${ARGN})
  add_custom_command(
    OUTPUT ${out_c}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out_c} -DPREFIX=${prefix} "-DFILES=${files}"
            -P ${CMAKE_SOURCE_DIR}/cmake/embed_run.cmake
    DEPENDS ${files} ${CMAKE_SOURCE_DIR}/cmake/embed_run.cmake
    COMMENT "Embedding ${prefix} sources"
    VERBATIM)
endfunction()
