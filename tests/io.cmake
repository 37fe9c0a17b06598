# Weight files and the matcher's assignment solver (issues 6 and 7).
rfdetr_add_test(test_safetensors SOURCES test_safetensors.c LABELS fast TIMEOUT 120)
rfdetr_add_test(test_safetensors_python SOURCES test_safetensors.c LABELS fast TIMEOUT 120 ARGS --python)
rfdetr_add_test(test_safetensors_fuzz SOURCES test_safetensors.c LABELS fast TIMEOUT 300 ARGS --fuzz)
rfdetr_add_test(test_lsa SOURCES test_lsa.c LABELS fast TIMEOUT 120)
rfdetr_add_test(test_lsa_scipy SOURCES test_lsa.c LABELS fast TIMEOUT 300 ARGS --scipy)
rfdetr_add_test(test_pth SOURCES test_pth.c LABELS fast TIMEOUT 120)
rfdetr_add_test(test_pth_torch SOURCES test_pth.c LABELS fast TIMEOUT 300 ARGS --torch)
rfdetr_add_test(test_pth_fuzz SOURCES test_pth.c LABELS fast TIMEOUT 300 ARGS --fuzz)
