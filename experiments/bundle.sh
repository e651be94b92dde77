#!/usr/bin/env bash
# Packs a release build and the peers into a folder that runs the harness on another x86-64
# Linux machine that has none of Debian's packages (a cluster node, a container with another
# distribution): the benchmarks, the `hoardlab` CLI, the shim, the peers' libraries, and the
# Debian C library and loader they were built against.
#
#   experiments/bundle.sh [--build build/release] [--prefix /tmp/hoardlab-bundle] [--out DIR]
#
# Every program and library in the bundle is patched (patchelf, from Debian) to load through
# the bundled loader and to find its libraries in PREFIX/lib, so the machine's own C library,
# whatever its version, is never mixed in, and the glibc column measures Debian's malloc as at
# home. The price is a fixed path: copy or unpack the folder to PREFIX on the target machine.
# No LD_LIBRARY_PATH is set, so the harness's own helpers (dpkg-query) keep the machine's libc.
# Then, there:
#
#   PREFIX/run.sh experiments/configs/scalability-16.toml [hoardlab run options...]
#
# run.sh points the experiment's peers at the bundled copies ([allocator_paths]) and records
# the machine (uname, /proc/cpuinfo, cgroup CPU limit) beside the results.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/release
prefix=/tmp/hoardlab-bundle
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
  --build) build="$2"; shift 2 ;;
  --prefix) prefix="$2"; shift 2 ;;
  --out) out="$2"; shift 2 ;;
  -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
  *) echo "bundle.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
out=${out:-$build/bundle}
[[ "$prefix" == /* ]] || { echo "bundle.sh: --prefix must be absolute: '$prefix'" >&2; exit 2; }
command -v patchelf >/dev/null || { echo "bundle.sh: needs patchelf (apt-get install patchelf)" >&2; exit 2; }
[[ -x "$build/bin/hoardlab" ]] || { echo "bundle.sh: $build/bin/hoardlab is not built" >&2; exit 2; }

multiarch=/usr/lib/x86_64-linux-gnu
peers=(libjemalloc.so.2 libtcmalloc_minimal.so.4 libmimalloc.so.2 libtbbmalloc_proxy.so.2)
loader=/lib64/ld-linux-x86-64.so.2

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/configs"

programs=("$build/bin/hoardlab")
for f in "$build"/bin/*; do
  [[ -x "$f" && ! -d "$f" && "$f" != "$build/bin/hoardlab" && "$f" != *_test ]] || continue
  file -b "$f" | grep -q '^ELF 64-bit LSB pie executable\|^ELF 64-bit LSB executable' || continue
  programs+=("$f")
done
libraries=("$build/lib/libhoardlab-malloc.so")
for p in "${peers[@]}"; do
  if [[ -e "$multiarch/$p" ]]; then
    libraries+=("$multiarch/$p")
  else
    echo "bundle.sh: note: $p not installed here; that peer is left out" >&2
  fi
done

# Everything the programs and libraries load, as the loader resolves it here.
declare -A deps=()
for f in "${programs[@]}" "${libraries[@]}"; do
  while read -r path; do deps["$path"]=1; done < <(ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
done
for f in "${!deps[@]}"; do
  cp -L "$f" "$out/lib/$(basename "$f")"
done
for f in "${libraries[@]}"; do cp -L "$f" "$out/lib/$(basename "$f")"; done
# tbbmalloc_proxy opens libtbbmalloc by name at run time.
[[ -e "$multiarch/libtbbmalloc.so.2" ]] && cp -L "$multiarch/libtbbmalloc.so.2" "$out/lib/"
cp -L "$loader" "$out/lib/ld-linux-x86-64.so.2"
for f in "${programs[@]}"; do cp "$f" "$out/bin/"; done

for f in "$out"/bin/*; do
  patchelf --set-interpreter "$prefix/lib/ld-linux-x86-64.so.2" --set-rpath "$prefix/lib" "$f"
done
for f in "$out"/lib/*.so*; do
  case "$(basename "$f")" in ld-linux-x86-64.so.2 | libc.so.6) continue ;; esac
  patchelf --set-rpath "$prefix/lib" "$f"
done

cp experiments/configs/*.toml "$out/configs/"
cat > "$out/run.sh" <<EOF
#!/usr/bin/env bash
# Runs an experiment from this bundle (made by experiments/bundle.sh for prefix $prefix).
set -euo pipefail
here=\$(cd "\$(dirname "\$0")" && pwd)
if [[ "\$here" != "$prefix" ]]; then
  echo "run.sh: this bundle must live at $prefix (it is at \$here); copy it there" >&2
  exit 2
fi
[[ \$# -ge 1 ]] || { echo "usage: run.sh EXPERIMENT.toml [hoardlab run options]" >&2; exit 2; }
exp="\$1"; shift
[[ -f "\$exp" ]] || exp="$prefix/configs/\$(basename "\$exp" .toml).toml"
[[ -f "\$exp" ]] || { echo "run.sh: no experiment '\$exp'" >&2; exit 2; }
name=\$(basename "\$exp" .toml)
mkdir -p "$prefix/work"
file="$prefix/work/\$name.toml"
cp "\$exp" "\$file"
{
  echo
  echo "# added by run.sh: the bundled peers"
  echo "[allocator_paths]"
  for p in jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4 \\
           mimalloc:libmimalloc.so.2 tbb:libtbbmalloc_proxy.so.2; do
    [[ -e "$prefix/lib/\${p#*:}" ]] && echo "\${p%%:*} = \"$prefix/lib/\${p#*:}\""
  done
} >> "\$file"
exec "$prefix/bin/hoardlab" run "\$file" --bench-dir "$prefix/bin" \\
  --hoardlab-lib "$prefix/lib/libhoardlab-malloc.so" "\$@"
EOF
chmod +x "$out/run.sh"
git rev-parse HEAD > "$out/COMMIT" 2>/dev/null || true
echo "bundle in $out ($(du -sh "$out" | cut -f1)); copy it to $prefix on the target machine"
