# Vision ops (core/ops_vision.h): every op on every device, finite
# differences through the composite ops, and parity with PyTorch (skipped
# where python3 cannot import torch).
rfdetr_add_test(test_ops_vision SOURCES test_ops_vision.c LABELS fast)
rfdetr_add_test(test_ops_vision_torch SOURCES test_ops_vision.c LABELS fast torch ARGS --torch TIMEOUT 300)
