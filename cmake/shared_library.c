/* shared_library.c — CMake gives every library target at least one source
 * of its own; librfdetr.so's code is all of rfdetr_lib's objects, linked in
 * whole (cmake/install.cmake). */
typedef int rfdetr_shared_library_has_no_code_of_its_own;
