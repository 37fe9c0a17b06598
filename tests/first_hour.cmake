# What a new user meets in the first hour (issue 15): messages that name the
# flag and value, checkpoint formats told apart by their full signature,
# checkpoints of the rfdetr package read with their own configuration.
rfdetr_add_test(test_cli_messages SOURCES test_cli_messages.c LABELS fast TIMEOUT 300)
add_dependencies(test_cli_messages rfdetr)
target_compile_definitions(test_cli_messages PRIVATE RFDETR_EXPECTED_VERSION="${PROJECT_VERSION}")
# nano at 416 px (slow: the official size's 30 M parameters, written three
# times); the tiny twin runs the same reading code in the fast suite.
rfdetr_add_test(test_package_checkpoint SOURCES test_package_checkpoint.c LABELS slow TIMEOUT 1800)
rfdetr_add_test(test_package_checkpoint_tiny SOURCES test_package_checkpoint.c LABELS fast TIMEOUT 600 ARGS tiny)
find_package(ZLIB REQUIRED)
foreach(t test_package_checkpoint test_package_checkpoint_tiny)
  add_dependencies(${t} rfdetr)
  target_link_libraries(${t} PRIVATE ZLIB::ZLIB)
endforeach()
rfdetr_add_test(test_train_progress SOURCES test_train_progress.c LABELS fast TIMEOUT 600)
add_dependencies(test_train_progress rfdetr)
rfdetr_add_test(test_plot_axis SOURCES test_plot_axis.c LABELS fast)
