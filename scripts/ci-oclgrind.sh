#!/usr/bin/env bash
# Runs every OpenCL kernel case of test_backend_ops small enough for a
# device simulator under Oclgrind, which reports data races, out-of-bounds
# and uninitialised accesses, and barrier divergence: local memory and
# barriers make races possible, and PoCL would not show them. Any report
# fails the run. Usage: scripts/ci-oclgrind.sh [BUILD_DIR] [MAX_ELEMENTS]
set -euo pipefail
build=${1:-build}
max_elements=${2:-3000}
if ! command -v oclgrind >/dev/null; then
  echo "ci-oclgrind: oclgrind is not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Oclgrind's runtime replaces the ICD loader: opencl:0 is its simulated device.
status=0
# -cl-opt-disable: the uninitialized-value plugin cannot follow LLVM's freeze instruction,
# which the optimizer emits. Under Oclgrind the OpenCL backend keeps released buffers
# until the device closes (opencl_free says why).
oclgrind --log "$log" --check-api --data-races --uninitialized --build-options -cl-opt-disable --max-errors 20 \
  "$build/test_backend_ops" -d opencl:0 --simulator "$max_elements" || status=$?
check() {
  if [ -s "$log" ]; then
    echo "== Oclgrind reported:" >&2
    cat "$log" >&2
    exit 1
  fi
  if [ "$status" -ne 0 ]; then
    echo "ci-oclgrind: test_backend_ops failed under Oclgrind (exit $status)" >&2
    exit "$status"
  fi
}
check
# The row kernels that PoCL devices take (one work item per row, explicit
# vectors), on the simulated device told to use them.
oclgrind --log "$log" --check-api --data-races --uninitialized --build-options -cl-opt-disable --max-errors 20 \
  "$build/test_backend_ops" -d opencl:0 --simulator "$max_elements" --row-items -o basic || status=$?
check
echo "ci-oclgrind: no Oclgrind reports"
