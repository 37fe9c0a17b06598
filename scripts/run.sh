#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install dependencies, build,
# list every device, benchmark GEMM on each against OpenBLAS.
# (Becomes "train on the built-in dataset" once the trainer lands.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
build/rfdetr devices
build/bench_gemm --sizes 256,512,1024 --min-time 1
