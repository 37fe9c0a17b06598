# RF-DETR inference latency against PyTorch and ONNX Runtime (issue 6).
add_executable(bench_infer bench_infer.c)
target_link_libraries(bench_infer PRIVATE rfdetr_lib)
