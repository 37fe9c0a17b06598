#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install dependencies, build,
# list the devices, then train the tiny RF-DETR on the built-in shapes
# dataset on `auto` (first OpenCL GPU, else first CUDA GPU, else cpu),
# evaluate it every epoch and keep the best checkpoint in the next free run
# directory (runs/train, then runs/train2, ...: a second run never replaces
# the first).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
build/rfdetr devices
build/rfdetr train "$@"
