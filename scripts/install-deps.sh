#!/usr/bin/env bash
# Installs every system package rfdetr.c needs to build, test and benchmark on
# Debian 12. Idempotent: packages already present are skipped by apt, and the
# package index is refreshed only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  # OpenCL: ICD loader, headers, PoCL (the CPU driver CI runs on), CLBlast
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo libclblast-dev
  # CPU GEMM
  libopenblas-dev
  # images (stb_image / stb_image_write) and JPEG fast path
  libstb-dev libjpeg62-turbo-dev
  # JSON: yajl's streaming parser reads COCO files (chosen by bench/json, docs/json.md)
  libyajl-dev
  # zlib: the ZIP container of PyTorch .pth checkpoints (CRC-32, deflate)
  zlib1g-dev
  # python3 for optional reference checks (tests skip when packages are absent)
  python3
  # Oclgrind: an OpenCL device simulator; CI runs the OpenCL kernel cases under
  # it to catch races, out-of-bounds accesses and barrier divergence
  oclgrind
  # clang + its runtime: the clang build, libFuzzer harnesses and their sanitizers
  clang libclang-rt-14-dev
  # Open MPI: data-parallel training across processes and machines (optional at build time)
  libopenmpi-dev openmpi-bin
  # onnx.proto (field reference) and protoc: exported graphs are decoded in tests
  libonnx-dev protobuf-compiler
)

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-deps.sh: need root or sudo to install: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps.sh: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
