#!/usr/bin/env bash
# experiments/bundle.sh: a bundle runs an experiment through its own loader and libraries, with
# the peers relocated into it, and every cell's malloc comes from the bundle.
#   bundle_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$src/experiments/bundle.sh" --build "$build" --prefix "$tmp/b" --out "$tmp/b" >/dev/null
interp=$(patchelf --print-interpreter "$tmp/b/bin/threadtest")
[[ "$interp" == "$tmp/b/lib/ld-linux-x86-64.so.2" ]] || fail "threadtest's loader is $interp"
[[ -x "$tmp/b/bin/hoardlab" && -e "$tmp/b/lib/libhoardlab-malloc.so" ]] || fail "bundle incomplete"

cat > "$tmp/check.toml" <<'TOML'
name = "bundle-check"
repetitions = 1
warmup = 0
threads = [1]
allocators = ["hoardlab", "glibc", "peers"]
[[benchmark]]
name = "threadtest"
args = { quick = true }
TOML
"$tmp/b/run.sh" "$tmp/check.toml" --out "$tmp/res" --no-plots --quiet

runs="$tmp/res/runs.jsonl"
[[ -s "$runs" ]] || fail "no runs recorded"
n=0
while read -r line; do
  n=$((n + 1))
  grep -q '"ok":true' <<<"$line" || fail "a run failed: ${line:0:300}"
  lib=$(grep -o '"malloc_lib":"[^"]*"' <<<"$line" | cut -d'"' -f4)
  [[ "$lib" == "$tmp/b/lib/"* ]] || fail "malloc came from $lib, not the bundle"
done < "$runs"
[[ $n -ge 2 ]] || fail "expected hoardlab and glibc runs, got $n"
# The wrong place is refused with a message that names where the bundle must be.
cp -a "$tmp/b" "$tmp/elsewhere"
if out=$("$tmp/elsewhere/run.sh" "$tmp/check.toml" 2>&1); then fail "ran from the wrong prefix"; fi
grep -q "must live at $tmp/b" <<<"$out" || fail "unclear message: $out"
echo "bundle ok: $n runs, every malloc from $tmp/b/lib"
