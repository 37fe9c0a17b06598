# Every fuzz harness (fuzz/) replays its committed seed corpus and every
# input that ever made a fuzzer fail, in the normal suite and under the
# sanitizer build (issue 14). The fuzzing itself: scripts/ci-fuzz.sh.
set(RFDETR_FUZZ_HARNESSES coco detections yolo_labels data_yaml image safetensors pth checkpoint train_state)
foreach(name ${RFDETR_FUZZ_HARNESSES})
  rfdetr_add_test(test_fuzz_replay_${name}
    SOURCES ${CMAKE_SOURCE_DIR}/fuzz/fuzz_${name}.c ${CMAKE_SOURCE_DIR}/fuzz/replay_main.c
    ARGS fuzz/corpus/${name} fuzz/regressions/${name}
    LABELS fast TIMEOUT 300)
endforeach()
