# RF-DETR's forward pass, weights and post-processing (issue 6). The fast test
# checks the micro reference kept in tests/fixtures/model on every device; the
# slow ones build nano and tiny with the rfdetr package (skipped, 77, where it
# cannot be imported) and check them the same way.
rfdetr_add_test(test_model SOURCES test_model.c LABELS fast TIMEOUT 300)
rfdetr_add_test(test_model_tiny SOURCES test_model.c LABELS slow torch ARGS --python tiny TIMEOUT 900)
rfdetr_add_test(test_model_nano SOURCES test_model.c LABELS slow torch ARGS --python nano TIMEOUT 1800)
# `rfdetr predict` through the binary: outputs and bad inputs.
rfdetr_add_test(test_predict SOURCES test_predict.c LABELS fast TIMEOUT 300)
add_dependencies(test_predict rfdetr)
# The cpu device's fast kernels give the reference kernels' bits.
# nano in bf16 and fp16 against f32 on the cpu and every OpenCL device (issue 12).
rfdetr_add_test(test_precision SOURCES test_precision.c LABELS slow TIMEOUT 1800)
