# `cmake --install build --prefix P`: the library for programs that embed
# rfdetr.c (docs/install.md).
#   lib/librfdetr.so.0 (+ .so links)  the shared library; its soname carries
#                                     RFDETR_SOVERSION, and it exports only
#                                     the functions of include/rfdetr.h
#   lib/librfdetr.a                   the static library
#   include/rfdetr.h                  the public header (the only one)
#   lib/cmake/rfdetr/                 find_package(rfdetr): rfdetr::rfdetr
#                                     (shared), and with COMPONENTS static
#                                     rfdetr::rfdetr_static
#   lib/pkgconfig/rfdetr.pc           pkg-config; --static adds the private
#                                     dependencies
#   bin/rfdetr                        the command line
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(RFDETR_VERSION ${PROJECT_VERSION})
# Raised whenever a release changes rfdetr.h incompatibly: a struct's
# layout, a function's signature, a status number.
set(RFDETR_SOVERSION 0)

# ---- which symbols the shared library exports --------------------------------
# Every function rfdetr.h declares, read from the header itself so the list
# cannot drift from it (cmake/check_exports.cmake, the test test_library_exports, checks the result): a
# declaration starts a line with its return type and names an rf_ function.
file(STRINGS ${CMAKE_SOURCE_DIR}/include/rfdetr.h rfdetr_declarations
     REGEX "^[A-Za-z_][A-Za-z0-9_ ]*[ *]rf_[a-z0-9_]+\\(")
set(RFDETR_PUBLIC_FUNCTIONS "")
foreach(line IN LISTS rfdetr_declarations)
  string(REGEX MATCH "rf_[a-z0-9_]+\\(" name "${line}")
  string(REPLACE "(" "" name "${name}")
  list(APPEND RFDETR_PUBLIC_FUNCTIONS ${name})
endforeach()
list(JOIN RFDETR_PUBLIC_FUNCTIONS ";\n    " rfdetr_global)
set(RFDETR_VERSION_SCRIPT ${CMAKE_BINARY_DIR}/rfdetr.map)
file(CONFIGURE OUTPUT ${RFDETR_VERSION_SCRIPT}
     CONTENT "/* Generated from include/rfdetr.h by cmake/install.cmake. */\n{\n  global:\n    ${rfdetr_global};\n  local: *;\n};\n")
set_property(DIRECTORY ${CMAKE_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/include/rfdetr.h)

# ---- the shared library: every object of rfdetr_lib, linked once ---------------
add_library(rfdetr_shared SHARED ${CMAKE_SOURCE_DIR}/cmake/shared_library.c)
target_link_libraries(rfdetr_shared PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,rfdetr_lib>")
target_include_directories(rfdetr_shared INTERFACE $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/include>)
target_link_options(rfdetr_shared PRIVATE "LINKER:--version-script=${RFDETR_VERSION_SCRIPT}" "LINKER:--no-undefined")
set_target_properties(rfdetr_shared PROPERTIES
  OUTPUT_NAME rfdetr
  EXPORT_NAME rfdetr
  VERSION ${RFDETR_VERSION}
  SOVERSION ${RFDETR_SOVERSION}
  LINK_DEPENDS ${RFDETR_VERSION_SCRIPT})
# No install RPATH: the installed library finds its dependencies as system
# libraries do (ld.so.conf; the CUDA toolkit registers its folder there), so
# Debian's alternatives still pick the OpenBLAS variant.
set_target_properties(rfdetr_lib PROPERTIES EXPORT_NAME rfdetr_static)
# The CUDA kernels' host code is C++: in-tree, CMake links with the CUDA
# toolchain, which adds the C++ runtime; a C program linking the installed
# archive must name it.
if(RFDETR_HAVE_CUDA)
  target_link_libraries(rfdetr_lib INTERFACE $<INSTALL_INTERFACE:stdc++>)
endif()

# ---- what is installed -----------------------------------------------------------
set(RFDETR_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/rfdetr)
install(TARGETS rfdetr_shared EXPORT rfdetr-targets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS rfdetr_lib EXPORT rfdetr-static-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS rfdetr RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_SOURCE_DIR}/include/rfdetr.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT rfdetr-targets NAMESPACE rfdetr:: DESTINATION ${RFDETR_CMAKE_DIR})
install(EXPORT rfdetr-static-targets NAMESPACE rfdetr:: DESTINATION ${RFDETR_CMAKE_DIR})

# The static library needs, at the consumer's link, what rfdetr_lib links:
# the config finds the same packages (only when the static component is asked
# for, so a program using the shared library needs none of their -dev files).
get_target_property(rfdetr_links rfdetr_lib LINK_LIBRARIES)
set(RFDETR_STATIC_DEPENDENCIES "find_dependency(Threads)\n  find_dependency(ZLIB)\n")
if("JPEG::JPEG" IN_LIST rfdetr_links)
  string(APPEND RFDETR_STATIC_DEPENDENCIES "  find_dependency(JPEG)\n")
endif()
if(RFDETR_HAVE_OPENCL)
  string(APPEND RFDETR_STATIC_DEPENDENCIES "  find_dependency(OpenCL)\n  find_dependency(CLBlast CONFIG)\n")
endif()
if(RFDETR_HAVE_CUDA)
  string(APPEND RFDETR_STATIC_DEPENDENCIES "  find_dependency(CUDAToolkit)\n")
endif()
if(RFDETR_HAVE_MPI) # cmake/parallel.cmake: the static library links MPI::MPI_C
  string(APPEND RFDETR_STATIC_DEPENDENCIES "  find_dependency(MPI COMPONENTS C)\n")
endif()
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/rfdetr-config.cmake.in
  ${CMAKE_BINARY_DIR}/rfdetr-config.cmake INSTALL_DESTINATION ${RFDETR_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/rfdetr-config-version.cmake
  VERSION ${RFDETR_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/rfdetr-config.cmake ${CMAKE_BINARY_DIR}/rfdetr-config-version.cmake
        DESTINATION ${RFDETR_CMAKE_DIR})

# pkg-config: relocatable (prefix found from the .pc file's own place), the
# dependencies of the static library private.
string(REGEX REPLACE "[^/]+" ".." rfdetr_pc_up "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
set(RFDETR_PC_REQUIRES_PRIVATE "openblas yajl zlib stb")
set(RFDETR_PC_LIBS_PRIVATE "-lm -pthread")
if("JPEG::JPEG" IN_LIST rfdetr_links)
  string(APPEND RFDETR_PC_REQUIRES_PRIVATE " libjpeg")
endif()
if(RFDETR_HAVE_OPENCL)
  string(APPEND RFDETR_PC_REQUIRES_PRIVATE " OpenCL clblast")
endif()
if(RFDETR_HAVE_MPI)
  string(APPEND RFDETR_PC_REQUIRES_PRIVATE " ompi-c") # Open MPI's module (Debian's libopenmpi-dev)
endif()
if(RFDETR_HAVE_NCCL)
  string(APPEND RFDETR_PC_LIBS_PRIVATE " ${RFDETR_NCCL_LIBRARY}")
endif()
if(RFDETR_HAVE_CUDA)
  # The CUDA toolkit ships no .pc files; the kernels' host code is C++ (above).
  string(APPEND RFDETR_PC_LIBS_PRIVATE " -L${CUDAToolkit_LIBRARY_DIR} -lcublas -lcudart -lstdc++")
endif()
set(RFDETR_PC_PREFIX "\${pcfiledir}/${rfdetr_pc_up}")
configure_file(${CMAKE_SOURCE_DIR}/cmake/rfdetr.pc.in ${CMAKE_BINARY_DIR}/rfdetr.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/rfdetr.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
