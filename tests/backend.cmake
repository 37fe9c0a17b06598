# Backend contract and kernel tests.
rfdetr_add_test(test_devices SOURCES test_devices.c LABELS fast)
rfdetr_add_test(test_backend_ops
  SOURCES test_backend_ops.c kernel_cases_gemm.c kernel_cases_basic.c kernel_cases_conv.c
          kernel_cases_sampling.c kernel_cases_loss.c kernel_cases_optim.c kernel_cases_rng.c
          kernel_cases_attention.c
  LABELS fast TIMEOUT 1800)
rfdetr_add_test(test_gradcheck
  SOURCES test_gradcheck.c gradcheck_basic.c gradcheck_conv.c gradcheck_sampling.c gradcheck_loss.c
  LABELS fast)
rfdetr_add_test(test_ops SOURCES test_ops.c op_harness.c LABELS fast)
