#!/usr/bin/env bash
# The malloc+free hits' instructions per pair under callgrind (bench/fastpath.sh), against a
# budget: the default build at or below the best peer of paper_notes/peers-research.md ("Fast
# path": rpmalloc 2.0.1's 40.2 per pair in batches of 16-byte blocks), the hardened build at
# what it costs today (108: 106 for the encoded, checked lists, 2 for the header past the guard
# page, paper_notes/hardening.md). Exits 77 (skipped) without valgrind.
# usage: instruction_budget.sh BIN_DIR LIB_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
lib=$2
command -v valgrind >/dev/null || { echo "valgrind is not installed: skipped"; exit 77; }

table=$("$here/../../bench/fastpath.sh" --bin "$bin" --n 2000 --sizes "16 4096" \
  --modes "pair batch64" "hoardlab=$lib/libhoardlab-malloc.so" \
  "hardened=$lib/libhoardlab-malloc-hardened.so")
echo "$table"
echo "$table" | awk '
  NR == 1 { next }
  { budget = $1 == "hoardlab" ? 40.0 : 108.0 }
  $4 > budget { printf "over budget: %s %s B %s: %.1f > %.1f\n", $1, $2, $3, $4, budget; bad = 1 }
  END { exit bad }'
