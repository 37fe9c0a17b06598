# ONNX export (issue 13). The fast test needs no Python: the micro reference
# model exported through the binary, decoded by protoc against Debian's
# onnx.proto, and every bad input. The onnx tests run the exported graph under
# ONNX Runtime (tests/export_ort.py; skipped, 77, without onnxruntime) against
# the C forward pass and `rfdetr predict`: micro (also against PyTorch's
# outputs kept in the fixture), tiny (the size without windows), and nano,
# small and base with random weights at a small resolution (8 x 8 patches) to
# keep CI short.
rfdetr_add_test(test_export SOURCES test_export.c LABELS fast TIMEOUT 300)
rfdetr_add_test(test_export_ort_micro SOURCES test_export.c LABELS fast onnx ARGS --ort micro 64 TIMEOUT 300)
rfdetr_add_test(test_export_ort_tiny SOURCES test_export.c LABELS fast onnx ARGS --ort tiny 192 TIMEOUT 300)
rfdetr_add_test(test_export_ort_nano SOURCES test_export.c LABELS slow onnx ARGS --ort nano 128 TIMEOUT 900)
rfdetr_add_test(test_export_ort_small SOURCES test_export.c LABELS slow onnx ARGS --ort small 128 TIMEOUT 900)
rfdetr_add_test(test_export_ort_base SOURCES test_export.c LABELS slow onnx ARGS --ort base 112 TIMEOUT 900)
# The rfdetr package's own ONNX export of the same weights (torch.onnx):
# identical interface, and both graphs within 1e-4 of PyTorch (skipped, 77,
# without torch, rfdetr, onnx and onnxruntime).
rfdetr_add_test(test_export_vs_rfdetr_nano SOURCES test_export.c LABELS slow torch onnx ARGS --vs-rfdetr nano 128 TIMEOUT 1800)
foreach(t test_export test_export_ort_micro test_export_ort_tiny test_export_ort_nano test_export_ort_small
          test_export_ort_base test_export_vs_rfdetr_nano)
  add_dependencies(${t} rfdetr)
endforeach()
