#!/usr/bin/env bash
# Instructions per malloc+free pair, counted by callgrind (or by single-stepping), for one or more
# allocators.
#
# usage: bench/fastpath.sh [--bin DIR] [--n N] [--sizes "16 64 256 4096"] [--modes "pair batch64"]
#                          [--counter callgrind|steps] LIB...
#   LIB: glibc | jemalloc | tcmalloc | mimalloc | tbb | hoardlab | a path to a preloadable .so
#        | NAME=PATH (a preloadable .so, shown as NAME: e.g. rpmalloc=/opt/lib/librpmalloc.so)
#   --bin: where fastpath-loop is (default build/release/bin)
#   --counter: callgrind (default), or steps: bench/tools/stepcount single-steps the loop alone
#     with ptrace, for an allocator valgrind cannot run (snmalloc reserves 256 GiB at start-up,
#     which valgrind refuses). A step costs tens of microseconds, so its --n defaults to 1000.
#     Both count the instructions the CPU retires and give the same figures where both run,
#     except for an allocator whose work depends on elapsed time (mimalloc's delayed purges):
#     each slows the loop by a different factor (bench/README.md).
#
# Method: fastpath-loop runs N and 2N iterations of the loop; the difference of the two totals
# is the cost of N pairs with start-up, first refills and exit cancelled out. The same is
# done for the loop with malloc and free replaced by compiler barriers, and that difference is
# subtracted, leaving the allocator's own instructions per pair. --n counts pairs: pair mode runs
# N iterations, batch64 mode N/64 iterations of 64 pairs.
# Prints a table: library, size, mode, instructions/pair.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../build/release/bin"
n=
counter=callgrind
sizes="16 64 256 4096"
modes="pair batch64"
libs=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --counter) counter=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) echo "fastpath.sh: unknown flag '$1'" >&2; exit 2 ;;
    *) libs+=("$1"); shift ;;
  esac
done
[[ ${#libs[@]} -gt 0 ]] || libs=(glibc)
case "$counter" in
  callgrind) n=${n:-200000} ;;
  steps) n=${n:-1000} ;;
  *) echo "fastpath.sh: --counter '$counter' is neither callgrind nor steps" >&2; exit 2 ;;
esac
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "fastpath.sh: --n '$n' is not a positive integer" >&2; exit 2; }
loop="$bin/fastpath-loop"
[[ -x "$loop" ]] || { echo "fastpath.sh: $loop not found (build the fastpath-loop target)" >&2; exit 2; }
stepcount="$bin/stepcount"
if [[ "$counter" == callgrind ]]; then
  command -v valgrind >/dev/null || { echo "fastpath.sh: valgrind is not installed" >&2; exit 2; }
else
  [[ -x "$stepcount" ]] || { echo "fastpath.sh: $stepcount not found (build the stepcount target)" >&2; exit 2; }
fi

libdir=/usr/lib/x86_64-linux-gnu
resolve() {
  case "$1" in
    glibc) echo "" ;;
    jemalloc) echo "$libdir/libjemalloc.so.2" ;;
    tcmalloc) echo "$libdir/libtcmalloc_minimal.so.4" ;;
    mimalloc) echo "$libdir/libmimalloc.so.2" ;;
    tbb) echo "$libdir/libtbbmalloc_proxy.so.2" ;;
    hoardlab) echo "$bin/../lib/libhoardlab-malloc.so" ;;
    *) echo "$1" ;;
  esac
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Each run is pinned to one CPU of those allowed: an allocator that picks its heap or arena by the
# CPU it runs on (hoardlab, mimalloc's arenas, tcmalloc's per-CPU caches) does other work when the
# scheduler moves it mid-loop, and on a loaded machine that happened in one run and not the next.
pin=()
if command -v taskset >/dev/null; then
  cpu=$(taskset -pc $$ 2>/dev/null | sed 's/.*: //; s/[,-].*//')
  [[ "$cpu" =~ ^[0-9]+$ ]] && pin=(taskset -c "$cpu")
fi

# total_instructions PRELOAD MODE SIZE ITERATIONS
total_instructions() {
  if [[ "$counter" == steps ]]; then
    LD_PRELOAD="$1" "${pin[@]}" "$stepcount" --marks "$loop" "$2" "$3" "$4" marks >/dev/null \
      2>"$tmp/steps.err" || {
      echo "fastpath.sh: stepcount run failed ($2 $3 $4, preload '${1:-none}'):" >&2
      cat "$tmp/steps.err" >&2
      exit 1
    }
    awk '/^instructions / { print $2 }' "$tmp/steps.err"
    return
  fi
  local out="$tmp/cg.out"
  LD_PRELOAD="$1" "${pin[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$loop" "$2" "$3" "$4" >/dev/null 2>"$tmp/valgrind.err" || {
    echo "fastpath.sh: callgrind run failed ($2 $3 $4, preload '${1:-none}'):" >&2
    cat "$tmp/valgrind.err" >&2
    exit 1
  }
  awk '/^summary:/ { print $2 }' "$out"
}

printf "%-12s %6s %-8s %16s\n" library size mode instructions/pair
for spec in "${libs[@]}"; do
  lib=$spec
  if [[ "$spec" == *=* ]]; then
    lib=${spec%%=*}
    preload=${spec#*=}
  else
    preload=$(resolve "$spec")
  fi
  if [[ -n "$preload" && ! -f "$preload" ]]; then
    echo "fastpath.sh: $lib: $preload not found" >&2
    exit 2
  fi
  for size in $sizes; do
    for mode in $modes; do
      # N pairs either way: a batch64 iteration is 64 pairs.
      per=1
      [[ "$mode" == batch64 ]] && per=64
      iters=$(((n + per - 1) / per))
      a=$(total_instructions "$preload" "$mode" "$size" "$iters")
      b=$(total_instructions "$preload" "$mode" "$size" $((2 * iters)))
      ea=$(total_instructions "$preload" "$mode-empty" "$size" "$iters")
      eb=$(total_instructions "$preload" "$mode-empty" "$size" $((2 * iters)))
      awk -v lib="$lib" -v size="$size" -v mode="$mode" -v a="$a" -v b="$b" -v ea="$ea" \
          -v eb="$eb" -v iters="$iters" -v per="$per" \
          'BEGIN { printf "%-12s %6d %-8s %16.1f\n", lib, size, mode, ((b - a) - (eb - ea)) / (iters * per) }'
    done
  done
done
