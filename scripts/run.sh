#!/usr/bin/env bash
# The run command: installs what is missing, builds the release preset, and runs the default
# scalability experiment (or the experiment file given). Extra arguments go to `hoardlab run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
exec build/release/bin/hoardlab run "$@"
