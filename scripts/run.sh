#!/usr/bin/env bash
# The run command: installs what is missing, builds what an experiment needs in the release
# preset (the hoardlab CLI, the drop-in and the workloads: the `experiment-programs` target, not
# the tests), and runs the default scalability experiment (or the experiment file given). Extra
# arguments go to `hoardlab run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target experiment-programs -j "$(nproc)"
exec build/release/bin/hoardlab run "$@"
