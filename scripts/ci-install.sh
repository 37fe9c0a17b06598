#!/usr/bin/env bash
# The installable library end to end (issue 13): `cmake --install` into a
# scratch prefix, then examples/predict built against it four ways (CMake
# find_package and a pkg-config Makefile, each shared and static), each
# predicting with a model the installed `rfdetr` has just trained, and each
# printing exactly the detections `rfdetr predict` prints.
#   scripts/ci-install.sh [BUILD_DIR]    (default: build, configured already)
# Exits non-zero on the first difference. scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${1:-build}
jobs=$(nproc)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rfdetr-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "ci-install: $*" >&2; exit 1; }

cmake --build "$build" -j"$jobs" --target rfdetr rfdetr_shared rfdetr_lib >/dev/null
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"

# What was installed: the public header alone, both libraries, the packages.
pc=$(find "$prefix" -name rfdetr.pc)
[ -n "$pc" ] || fail "no rfdetr.pc installed"
libdir=$(cd "$(dirname "$pc")/.." && pwd)
[ "$(ls "$prefix/include")" = "rfdetr.h" ] || fail "include/ holds more than rfdetr.h: $(ls "$prefix/include")"
for f in librfdetr.a librfdetr.so librfdetr.so.0 cmake/rfdetr/rfdetr-config.cmake; do
  [ -e "$libdir/$f" ] || fail "missing $libdir/$f"
done
[ -x "$prefix/bin/rfdetr" ] || fail "missing bin/rfdetr"
soname=$(readelf -d "$libdir/librfdetr.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = librfdetr.so.0 ] || fail "soname '$soname', expected librfdetr.so.0"

# A model: one epoch of tiny on a few generated images, by the installed CLI.
rfdetr=$prefix/bin/rfdetr
"$rfdetr" make-shapes "$tmp/data" --train 8 --valid 2 --size 128 >/dev/null
"$rfdetr" train --data "$tmp/data" --device cpu --epochs 1 --batch 4 --resolution 128 --warmup-steps 1 \
  --out "$tmp/run" >"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; fail "training the model failed"; }
weights=$tmp/run/checkpoint_best_total.safetensors
[ -f "$weights" ] || fail "training wrote no $weights"
image=$(ls "$tmp/data/valid/"*.jpg | head -1)
"$rfdetr" predict --weights "$weights" --image "$image" --device cpu --threshold 0 >"$tmp/expected.txt" 2>"$tmp/predict.log" ||
  { cat "$tmp/predict.log"; fail "rfdetr predict failed"; }
grep -q ' box ' "$tmp/expected.txt" || fail "rfdetr predict printed no boxes"

# Runs one build of the example and compares its detections with the CLI's;
# $2: whether the program may depend on librfdetr.so.
check() {
  local exe=$1 shared=$2
  "$exe" "$weights" "$image" 0 cpu >"$tmp/got.txt" || fail "$exe failed"
  diff "$tmp/expected.txt" "$tmp/got.txt" >&2 || fail "$exe: detections differ from rfdetr predict's"
  if readelf -d "$exe" | grep -q 'NEEDED.*librfdetr'; then
    [ "$shared" = yes ] || fail "$exe should contain the static library but needs librfdetr.so"
  else
    [ "$shared" = no ] || fail "$exe should use librfdetr.so"
  fi
  echo "ci-install: $exe: $(grep -c ' box ' "$tmp/got.txt") detections, as rfdetr predict"
}

# CMake: find_package(rfdetr), shared then static.
for kind in shared static; do
  static=OFF; [ $kind = static ] && static=ON
  cmake -S examples/predict -B "$tmp/cmake-$kind" -DCMAKE_PREFIX_PATH="$prefix" -DPREDICT_STATIC=$static \
    >"$tmp/cmake-$kind.log" 2>&1 || { cat "$tmp/cmake-$kind.log"; fail "configuring the example ($kind) failed"; }
  cmake --build "$tmp/cmake-$kind" >>"$tmp/cmake-$kind.log" 2>&1 || { cat "$tmp/cmake-$kind.log"; fail "building the example ($kind) failed"; }
  check "$tmp/cmake-$kind/predict" $([ $kind = shared ] && echo yes || echo no)
done

# pkg-config: the example's Makefile, shared then static, out of the source tree.
cp -r examples/predict "$tmp/make"
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
make -s -C "$tmp/make" predict predict-static
check "$tmp/make/predict" yes
check "$tmp/make/predict-static" no
echo "ci-install: installed package, find_package and pkg-config builds (shared and static) all pass"
