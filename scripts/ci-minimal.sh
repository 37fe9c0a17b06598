#!/usr/bin/env bash
# The smallest build a user can make (issue 13): no OpenCL, no CUDA, the cpu
# backend only. Builds it in build-minimal, checks that only cpu was
# compiled in, runs the fast suite, then the install check against it (its
# pkg-config and CMake packages must not ask for OpenCL or CUDA).
#   scripts/ci-minimal.sh         scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
# No OpenCL here: the suite's demand for two PoCL devices does not apply.
unset RFDETR_TEST_MIN_OPENCL_DEVICES
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cmake -S . -B build-minimal -DCMAKE_BUILD_TYPE=Release -DRFDETR_OPENCL=OFF -DRFDETR_CUDA=OFF | tee "$log"
grep -q 'rfdetr backends: cpu; opencl=OFF; cuda=OFF' "$log" || { echo "ci-minimal: the build is not cpu-only" >&2; exit 1; }
cmake --build build-minimal -j"$jobs"
ctest --test-dir build-minimal -L fast --output-on-failure --timeout 3000
if grep -Eq 'OpenCL|clblast|cuda' build-minimal/rfdetr.pc; then
  echo "ci-minimal: build-minimal/rfdetr.pc names OpenCL or CUDA" >&2
  exit 1
fi
bash scripts/ci-install.sh build-minimal
