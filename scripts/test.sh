#!/usr/bin/env bash
# The test command: installs what is missing, checks formatting, then builds the release,
# tsan and asan-ubsan presets and runs their tests, printing ctest's summary for each.
# Usage: scripts/test.sh [preset...]   (default: release tsan asan-ubsan)
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh || exit 1

presets=("$@")
[[ ${#presets[@]} -eq 0 ]] && presets=(release tsan asan-ubsan)
jobs=$(nproc)
failed=()

echo "== clang-format check"
if ! scripts/format.sh --check; then failed+=("clang-format"); fi

for preset in "${presets[@]}"; do
  echo "== preset ${preset}: configure and build"
  start=$(date +%s)
  if ! cmake --preset "$preset" >/dev/null || ! cmake --build --preset "$preset" -j "$jobs"; then
    echo "== preset ${preset}: BUILD FAILED"
    failed+=("${preset}:build")
    continue
  fi
  echo "== preset ${preset}: tests"
  log=$(mktemp)
  ctest --preset "$preset" -j "$jobs" 2>&1 | tee "$log" | grep -vE '^ +(Start|[0-9]+/[0-9]+ Test) ' || true
  summary=$(grep -E 'tests passed|tests failed' "$log" | tail -n 1)
  echo "== preset ${preset}: ${summary:-no ctest summary} ($(( $(date +%s) - start ))s)"
  if ! grep -q '100% tests passed' "$log"; then failed+=("${preset}:tests"); fi
  rm -f "$log"
done

if [[ ${#failed[@]} -ne 0 ]]; then
  echo "== FAILED: ${failed[*]}"
  exit 1
fi
echo "== all presets passed: ${presets[*]}"
