#!/usr/bin/env bash
# A large malloc+free pair's instructions under callgrind (bench/fastpath.sh), against a budget:
# the 20 KiB and 256 KiB pairs, both served from the thread's run cache, at or below 400 (682
# and 690 before free's claim became the pagemap filter, the decay check one compare, the in-use
# count per shard and free's claim first; 547 and 555 after; 535 before the run cache's newest
# exact fit was looked at first, its scan and joins put out of line and the install and the
# counting inlined, 437 after; 419 with ensure_init's test inline; 393 with the clock read at one
# free in 16 of a loop of one size and the bin tried once; 363 linked with LTO, which a build
# without it (-DHOARDLAB_LTO=OFF, or not GCC) does not get: 430 there. paper_notes/
# large-objects.md).
# Exits 77 (skipped) without valgrind.
# usage: large_instruction_budget.sh BIN_DIR LIB_DIR [LTO]   (LTO: 1 when the library is
# link-time optimised; the default 0 holds it to the budget without)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
lib=$2
budget=430
[[ "${3:-0}" == 1 ]] && budget=400
command -v valgrind >/dev/null || { echo "valgrind is not installed: skipped"; exit 77; }

table=$("$here/../../bench/fastpath.sh" --bin "$bin" --n 2000 --sizes "20480 262144" \
  --modes pair "hoardlab=$lib/libhoardlab-malloc.so")
echo "$table"
echo "$table" | awk -v budget="$budget" '
  NR == 1 { next }
  $4 > budget { printf "over budget: %s %s B %s: %.1f > %d\n", $1, $2, $3, $4, budget; bad = 1 }
  END { exit bad }'
