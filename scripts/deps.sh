#!/usr/bin/env bash
# Installs the Debian packages hoardlab needs, when missing. Idempotent and quiet when
# everything is present; uses sudo when not root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  clang-14 clang libclang-rt-14-dev clang-format clang-tidy
  libboost-dev libhwloc-dev hwloc libbenchmark-dev libgtest-dev libgmock-dev
  libtomlplusplus-dev libcli11-dev libfmt-dev nlohmann-json3-dev gnuplot-nox
  libjemalloc-dev libgoogle-perftools-dev libmimalloc-dev libtbb-dev
  valgrind python3 sqlite3 perl gzip tar util-linux patchelf file
  slurm-wlm munge  # tests/cluster starts a one-node Slurm of its own from these programs
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "hoardlab: installing missing Debian packages: ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "hoardlab: need root or sudo to install: ${missing[*]}" >&2
  echo "hoardlab: install them with: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "hoardlab: packages installed"
