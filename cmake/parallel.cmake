# Several processes and machines (issue 11): MPI when found (Open MPI from
# Debian: libopenmpi-dev), NCCL for CUDA devices when CUDA and NCCL are both
# found. Both optional: without them several local devices still train.
# RFDETR_NCCL_ROOT points at an NCCL outside the system paths, e.g. the
# unpacked nvidia-nccl-cu12 wheel (its nvidia/nccl folder: include/nccl.h,
# lib/libnccl.so.2).
option(RFDETR_MPI "Train over several processes with MPI when MPI is found" ON)
set(RFDETR_NCCL_ROOT "" CACHE PATH "folder holding include/nccl.h and lib/libnccl.so* (optional)")
set(RFDETR_HAVE_MPI OFF)
set(RFDETR_HAVE_NCCL OFF)
if(RFDETR_MPI)
  find_package(MPI COMPONENTS C QUIET)
  if(MPI_C_FOUND)
    set(RFDETR_HAVE_MPI ON)
    target_link_libraries(rfdetr_lib PUBLIC MPI::MPI_C)
    target_compile_definitions(rfdetr_lib PUBLIC RFDETR_HAVE_MPI=1)
    find_program(RFDETR_MPIEXEC NAMES mpirun mpiexec HINTS ${MPI_HOME} PATH_SUFFIXES bin)
  endif()
endif()
if(RFDETR_HAVE_MPI AND RFDETR_HAVE_CUDA)
  find_path(RFDETR_NCCL_INCLUDE nccl.h HINTS ${RFDETR_NCCL_ROOT}/include ${CUDAToolkit_INCLUDE_DIRS})
  find_library(RFDETR_NCCL_LIBRARY NAMES nccl libnccl.so.2 HINTS ${RFDETR_NCCL_ROOT}/lib ${CUDAToolkit_LIBRARY_DIR})
  if(RFDETR_NCCL_INCLUDE AND RFDETR_NCCL_LIBRARY)
    set(RFDETR_HAVE_NCCL ON)
    target_include_directories(rfdetr_lib SYSTEM PRIVATE ${RFDETR_NCCL_INCLUDE})
    target_link_libraries(rfdetr_lib PUBLIC ${RFDETR_NCCL_LIBRARY})
    target_compile_definitions(rfdetr_lib PUBLIC RFDETR_HAVE_NCCL=1)
  endif()
endif()
message(STATUS "rfdetr several processes: mpi=${RFDETR_HAVE_MPI}; nccl=${RFDETR_HAVE_NCCL}")
