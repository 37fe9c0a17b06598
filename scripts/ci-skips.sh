#!/usr/bin/env bash
# Lists what the last ctest run in BUILD_DIR did not check, and why: every
# test that skipped (exit 77) and every part of a passing test that could
# not run here, each with what would enable it. ctest shows a skipped test's
# output nowhere, so the lines come from its log; tests print them as
#   NAME: skipped: WHY; to run it: WHAT
#   NAME: PART not checked: WHY; to check it: WHAT
# (tests/test_util.h test_skip / test_skip_part).
set -euo pipefail
build=${1:-build}
log="$build/Testing/Temporary/LastTest.log"
[ -f "$log" ] || exit 0
lines=$(grep -E ': skipped: .*; to run it: |: .* not checked: .*; to check it: ' "$log" | grep -v '^Command: ' | sort -u || true)
if [ -z "$lines" ]; then
    echo "== nothing skipped: every test and every part of one ran =="
    exit 0
fi
echo "== not checked on this machine (README.md, \"Tests\", lists what enables each) =="
printf '%s\n' "$lines" | sed 's/^/  /'
