#!/usr/bin/env bash
# Runs the hardened fuzz target for SECONDS from seed 1 over a small seed corpus written here.
# usage: run_fuzz.sh FUZZER SECONDS [EXTRA libFuzzer flags...]
# Each seed is a sequence of 14-byte records (hardened_fuzz.cpp, parse): kind, slot, a, b, the
# size's two bytes (size << 3, little-endian), 8 bytes a corruption writes.
set -euo pipefail
fuzzer=$1
seconds=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
rec() { printf "\\x$1\\x$2\\x$3\\x$4\\x$5\\x$6AAAAAAAA"; }
{ # no corruption: malloc, realloc, memalign, calloc, frees
  rec 00 00 00 11 00 02; rec 00 01 00 22 00 02; rec 01 00 00 00 00 00
  rec 02 01 00 33 40 06; rec 03 02 03 44 20 03; rec 04 03 03 55 00 03; rec 01 01 00 00 00 00
} >"$work/corpus/plain"
{ # a use-after-free write of 8 bytes into a freed 32-byte block
  rec 00 00 00 11 00 01; rec 00 01 00 22 00 01; rec 01 00 00 00 00 00; rec 05 00 00 00 38 00
} >"$work/corpus/uaf_write"
{ # a live block's address planted in a freed block
  rec 00 00 00 11 00 01; rec 00 01 00 22 00 01; rec 01 00 00 00 00 00; rec 05 00 80 01 00 00
} >"$work/corpus/uaf_plant"
{ # a double free of a 48-byte block
  rec 00 00 00 11 80 01; rec 01 00 00 00 00 00; rec 07 00 00 00 00 00
} >"$work/corpus/double_free"
{ # an overflow from a live 16-byte block into the free one after it
  rec 00 00 00 11 80 00; rec 00 01 00 22 80 00; rec 00 02 00 33 80 00; rec 01 01 00 00 00 00
  rec 01 02 00 00 00 00; rec 06 00 00 00 00 00
} >"$work/corpus/overflow"
exec "$fuzzer" -seed=1 -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
  -print_final_stats=1 "$@" "$work/corpus"
