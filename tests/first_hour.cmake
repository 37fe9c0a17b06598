# What a new user meets in the first hour (issue 15): messages that name the
# flag and value, checkpoint formats told apart by their full signature,
# checkpoints of the rfdetr package read with their own configuration.
rfdetr_add_test(test_cli_messages SOURCES test_cli_messages.c LABELS fast TIMEOUT 300)
add_dependencies(test_cli_messages rfdetr)
rfdetr_add_test(test_package_checkpoint SOURCES test_package_checkpoint.c LABELS fast TIMEOUT 900)
add_dependencies(test_package_checkpoint rfdetr)
find_package(ZLIB REQUIRED)
target_link_libraries(test_package_checkpoint PRIVATE ZLIB::ZLIB)
rfdetr_add_test(test_train_progress SOURCES test_train_progress.c LABELS fast TIMEOUT 600)
add_dependencies(test_train_progress rfdetr)
rfdetr_add_test(test_plot_axis SOURCES test_plot_axis.c LABELS fast)
