#!/usr/bin/env bash
# The installed hoardlab runs an experiment: `cmake --install` into a scratch prefix, then a
# one-run experiment with the installed binary alone, which must find the installed workloads
# and drop-in without being told where they are.
#   install_test.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cat > "$tmp/tiny.toml" <<'TOML'
name = "installed"
repetitions = 1
warmup = 0
threads = [1]
allocators = ["hoardlab", "glibc"]
[[benchmark]]
name = "threadtest"
args = { quick = true }
TOML
cd "$tmp"
env -u HOARDLAB_BENCH_DIR -u HOARDLAB_MALLOC_LIB \
  "$tmp/prefix/bin/hoardlab" run "$tmp/tiny.toml" --out "$tmp/res" --no-plots --quiet ||
  fail "the installed hoardlab exited $?"
rows=$(grep -c ',ok,' "$tmp/res/cells.csv" || true)
[[ "$rows" == 2 ]] || fail "expected 2 ok cells: $(cat "$tmp/res/cells.csv")"
grep -q "\"path\": \"$tmp/prefix/" "$tmp/res/machine.json" || fail "workload not from the prefix"
echo "installed hoardlab ran $rows cells"
