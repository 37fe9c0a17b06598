#!/usr/bin/env bash
# The smallest build a user can make (issue 13): no OpenCL, no CUDA, no MPI
# (issue 11), the cpu backend only. Builds it in build-minimal, checks that
# only cpu was compiled in, runs the fast suite, then the install check
# against it (its pkg-config and CMake packages must not ask for OpenCL,
# CUDA or MPI).
#   scripts/ci-minimal.sh         scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
# No OpenCL here: the suite's demand for two PoCL devices does not apply.
unset RFDETR_TEST_MIN_OPENCL_DEVICES
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cmake -S . -B build-minimal -DCMAKE_BUILD_TYPE=Release -DRFDETR_OPENCL=OFF -DRFDETR_CUDA=OFF -DRFDETR_MPI=OFF | tee "$log"
grep -q 'rfdetr backends: cpu; opencl=OFF; cuda=OFF' "$log" || { echo "ci-minimal: the build is not cpu-only" >&2; exit 1; }
grep -q 'rfdetr several processes: mpi=OFF; nccl=OFF' "$log" || { echo "ci-minimal: the build has MPI or NCCL" >&2; exit 1; }
cmake --build build-minimal -j"$jobs"
ctest --test-dir build-minimal -L fast --output-on-failure --timeout 3000
if grep -Eq 'OpenCL|clblast|cuda|ompi|mpi' build-minimal/rfdetr.pc; then
  echo "ci-minimal: build-minimal/rfdetr.pc names OpenCL, CUDA or MPI" >&2
  exit 1
fi
bash scripts/ci-install.sh build-minimal
