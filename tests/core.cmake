# core/ utilities without a device.
rfdetr_add_test(test_draw SOURCES test_draw.c LABELS fast)
find_path(RFDETR_STB_INCLUDE_DIR_TESTS stb/stb_image.h REQUIRED)
target_include_directories(test_draw PRIVATE ${RFDETR_STB_INCLUDE_DIR_TESTS})
rfdetr_add_test(test_api SOURCES test_api.c LABELS fast TIMEOUT 600)
# The 16-bit storage conversions of mixed precision against an independent oracle.
rfdetr_add_test(test_half SOURCES test_half.c LABELS fast)
rfdetr_add_test(test_amx_gemm SOURCES test_amx_gemm.c LABELS fast)
