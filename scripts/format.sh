#!/usr/bin/env bash
# clang-format over the project's own C and C++ sources. --check: report, change nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=(-i)
[[ "${1:-}" == "--check" ]] && mode=(--dry-run -Werror)
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.cpp' '*.h' '*.hpp' '*.c' | while read -r f; do [[ -f "$f" ]] && echo "$f"; done)
[[ ${#files[@]} -eq 0 ]] && exit 0
clang-format "${mode[@]}" "${files[@]}"
