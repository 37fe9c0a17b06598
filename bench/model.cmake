# RF-DETR inference latency against PyTorch and ONNX Runtime (issue 6).
add_executable(bench_infer bench_infer.c)
target_link_libraries(bench_infer PRIVATE rfdetr_lib)
# bench_attention: the fused attention op against matmul + softmax + matmul.
add_executable(bench_attention bench_attention.c)
target_link_libraries(bench_attention PRIVATE rfdetr_lib)
