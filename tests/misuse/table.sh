#!/usr/bin/env bash
# The misuse outcome table (paper_notes/hardening.md): every program of cases/ against hoardlab's
# default and hardened libraries, glibc, jemalloc and mimalloc, as a Markdown table.
#
# usage: tests/misuse/table.sh [BUILD_DIR]   (default build/release; build the misuse-tests target)
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/release}
bin=$build/tests/misuse
libdir=/usr/lib/x86_64-linux-gnu
names=(default hardened glibc jemalloc mimalloc)
libs=("$build/lib/libhoardlab-malloc.so" "$build/lib/libhoardlab-malloc-hardened.so" ""
      "$libdir/libjemalloc.so.2" "$libdir/libmimalloc.so.2")
printf '| case |'
printf ' %s |' "${names[@]}"
printf '\n|---|'
printf -- '---|%.0s' "${names[@]}"
printf '\n'
for src in "$here"/cases/*.c; do
  case=$(basename "$src" .c)
  printf '| %s |' "$case"
  for lib in "${libs[@]}"; do
    outcome=$("$here/run_case.sh" "$bin/misuse_$case" "$lib" | sed 's/0x[0-9a-f]*/0x.../g; s/|/\\|/g')
    printf ' %s |' "$outcome"
  done
  printf '\n'
done
