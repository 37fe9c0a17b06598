#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of untrusted input (issue 14).
# Builds the libFuzzer harnesses of fuzz/ with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer (build-fuzz/), and runs each for FUZZ_SECONDS
# (default 60) from its committed seeds (fuzz/corpus/<name>) and every input
# that ever failed (fuzz/regressions/<name>), with a 512 MB RSS limit (which
# is also libFuzzer's per-malloc limit) and a 10 s per-input limit: a memory
# error, undefined behaviour, a resource bomb or a hang fails the run.
# AddressSanitizer's quarantine of freed memory is cut to 64 MB so that the
# limit measures what the parsers hold, not what the sanitizer keeps.
#   scripts/ci-fuzz.sh [HARNESS...]      (default: all of them)
# A failing input lands in build-fuzz/crashes/<name>/: reproduce it with
# build-fuzz/fuzz_<name> FILE, fix it, and commit it to fuzz/regressions/<name>/
# so the normal suite (test_fuzz_replay_<name>) replays it from then on.
# docs/fuzzing.md has the longer runs.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
all="coco detections yolo_labels data_yaml image safetensors pth checkpoint train_state"
harnesses=${*:-$all}

CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRFDETR_FUZZ=ON -DRFDETR_CUDA=OFF \
  -DRFDETR_OPENCL=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzzers

failed=""
for name in $harnesses; do
  work=build-fuzz/corpus/$name # grows from run to run; the committed seeds stay small
  crashes=build-fuzz/crashes/$name
  mkdir -p "$work" "$crashes"
  dirs=("$work" "fuzz/corpus/$name")
  [ -d "fuzz/regressions/$name" ] && dirs+=("fuzz/regressions/$name")
  echo "== fuzz_$name: ${seconds} s =="
  if ! ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=64 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "build-fuzz/fuzz_$name" -max_total_time="$seconds" -rss_limit_mb=512 -timeout=10 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "${dirs[@]}" >"build-fuzz/$name.log" 2>&1; then
    failed="$failed $name"
    tail -n 60 "build-fuzz/$name.log"
  fi
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|cov: .*DONE|DONE .*cov:" "build-fuzz/$name.log" | tail -n 3 || true
done
if [ -n "$failed" ]; then
  echo "fuzzing failed:$failed (inputs in build-fuzz/crashes/)"
  exit 1
fi
echo "== fuzzing passed: $harnesses =="
