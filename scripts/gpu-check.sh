#!/usr/bin/env bash
# One prepared run for a machine with an NVIDIA GPU (the device tool's
# nvidia-h100-x1 / nvidia-h200): builds with CUDA for the GPU present, lists
# the devices, runs the kernel, op, training and model tests on cuda:0 and on
# the GPU's OpenCL device (NVIDIA's ICD, when installed), and the GEMM and
# training benchmarks. Writes everything under ${OUT:-gpu-check}/.
#
#   OUT=/some/dir scripts/gpu-check.sh
#
# Sized to finish in a few minutes: the learning test and PyTorch baselines
# are left out.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-check}
mkdir -p "$out"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release ${arch:+-DRFDETR_CUDA_ARCHITECTURES=$arch} > "$out/configure.txt" 2>&1
cmake --build build-gpu -j"$(nproc)" > "$out/build.txt" 2>&1 || { tail -50 "$out/build.txt"; exit 1; }
build-gpu/rfdetr devices | tee "$out/devices.txt"
gpus=$(build-gpu/rfdetr devices | awk '$1 ~ /^(cuda|opencl):/ && /type: gpu/ {print $1}' | paste -sd, -)
echo "GPU devices: ${gpus:-none}" | tee -a "$out/devices.txt"
export RFDETR_TEST_DEVICES="cpu,${gpus}"
status=0
for t in test_devices test_backend_ops test_attention test_gradcheck test_ops test_ops_vision test_random test_train_mlp \
         test_criterion test_model test_train_devices; do
  if [ -x "build-gpu/$t" ]; then
    args=""
    [ "$t" = test_train_devices ] && args=devices
    (cd . && RFDETR_BUILD_DIR=$PWD/build-gpu RFDETR_SOURCE_DIR=$PWD timeout 600 "build-gpu/$t" $args) \
      > "$out/$t.txt" 2>&1; rc=$?
    echo "$t: exit $rc ($(tail -1 "$out/$t.txt"))" | tee -a "$out/summary.txt"
    [ $rc -eq 0 ] || status=1
  fi
done
build-gpu/bench_gemm --sizes 256,512,1024,2048,4096 --devices "${gpus}" | tee "$out/bench_gemm.txt"
for d in ${gpus//,/ }; do
  RFDETR_SOURCE_DIR=$PWD build-gpu/bench_train --size nano --batch 8 --steps 5 --device "$d" --no-python --profile \
    | tee -a "$out/bench_train.txt"
done
exit $status
