#!/usr/bin/env bash
# The long crash test (docs/train.md): `rfdetr train` interrupted KILLS times
# (default 300) at random moments — every 4th a SIGINT (Ctrl-C), the rest
# SIGKILL — each interrupted run resumed with `--resume DIR` alone and
# interrupted again until one finishes, every finished run compared byte for
# byte with the uninterrupted one; then a SIGKILL at every write in turn.
# The CI version (ctest -R test_train_crash) sends 10 random signals.
# Usage: scripts/crash-test.sh [KILLS] [SEED]   (after building into build/)
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-300}
seed=${2:-$RANDOM}
export RFDETR_BUILD_DIR=${RFDETR_BUILD_DIR:-build}
echo "crash test: $kills random signals, seed $seed"
"$RFDETR_BUILD_DIR/test_train_crash" random "$kills" "$seed"
"$RFDETR_BUILD_DIR/test_train_crash" sweep
