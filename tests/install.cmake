# The installable library (cmake/install.cmake, issue 13). The end-to-end
# install (cmake --install, examples/ built both ways) is scripts/ci-install.sh.
#
# librfdetr.so exports exactly the functions rfdetr.h declares, under a soname
# that carries the ABI version.
add_test(NAME test_library_exports
         COMMAND ${CMAKE_COMMAND} -DLIBRARY=$<TARGET_FILE:rfdetr_shared> -DHEADER=${CMAKE_SOURCE_DIR}/include/rfdetr.h
                 -DSONAME=$<TARGET_SONAME_FILE_NAME:rfdetr_shared> -DNM=${CMAKE_NM} -DREADELF=${CMAKE_READELF}
                 -P ${CMAKE_SOURCE_DIR}/cmake/check_exports.cmake)
set_tests_properties(test_library_exports PROPERTIES LABELS fast TIMEOUT 60)
# A program linked against the shared library, with rfdetr.h alone.
add_executable(test_public_api test_public_api.c)
target_link_libraries(test_public_api PRIVATE rfdetr_shared)
target_include_directories(test_public_api PRIVATE ${CMAKE_SOURCE_DIR}/tests)
add_dependencies(test_public_api rfdetr)
rfdetr_add_test(test_public_api LABELS fast TIMEOUT 300)
