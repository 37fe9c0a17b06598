# Data-parallel training (issue 11): several devices in one process, and MPI ranks.
rfdetr_add_test(test_parallel_lists SOURCES test_parallel.c ARGS lists LABELS fast)
rfdetr_add_test(test_parallel_contract SOURCES test_parallel.c ARGS contract LABELS slow TIMEOUT 1800)
rfdetr_add_test(test_parallel_mixed SOURCES test_parallel.c ARGS mixed LABELS fast TIMEOUT 900)
# mpirun -np 2 equals the two-device run; a killed or hung rank stops the
# other within the bound and --resume finishes the run. Skips without MPI.
if(RFDETR_HAVE_MPI)
  set(RFDETR_TEST_MPIRUN ${RFDETR_MPIEXEC})
else()
  set(RFDETR_TEST_MPIRUN "")
endif()
add_test(NAME test_parallel_mpi
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/parallel_mpi.sh $<TARGET_FILE:rfdetr> "${RFDETR_TEST_MPIRUN}"
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_parallel_mpi PROPERTIES LABELS slow TIMEOUT 1800 SKIP_RETURN_CODE 77
  ENVIRONMENT "POCL_DEVICES=pthread pthread;POCL_CACHE_DIR=${RFDETR_POCL_CACHE_DIR}")
