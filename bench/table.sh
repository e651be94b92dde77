#!/usr/bin/env bash
# The comparison table: every workload at 1, 2, 4 and 8 threads under each allocator, the median
# of several runs. Runs are short (--scale multiplies each workload's default work); the whole
# table takes a few minutes on a 2-core machine.
#
# usage: bench/table.sh [--bin DIR] [--runs 3] [--scale 0.1] [--threads "1 2 4 8"]
#                       [--workloads "threadtest larson ..."] [--allocators "glibc jemalloc ..."]
#                       [--csv FILE]
#   allocators: glibc jemalloc tcmalloc mimalloc tbb hoardlab, or NAME=PATH for any other .so
#
# Prints a Markdown table per workload (ops/s in millions, median of --runs; blowup and fragment
# also give peak RSS / peak live bytes). A thread count above the CPUs the process may use is
# marked "(oversubscribed)". Every run's HLBENCH line is checked: a run that failed, or whose
# malloc did not resolve into the allocator named, is left out of the medians and listed at the
# end (exit status 1); a cell with no good run reads FAIL.
# Debian's "tcmalloc" is gperftools 2.10 (per-thread caches), not the per-CPU TCMalloc.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../build/release/bin"
runs=3
scale=0.1
threads="1 2 4 8"
workloads="threadtest larson xmalloc cache-scratch cache-thrash shbench mstress rptest blowup realloc-grow fragment"
allocators="glibc jemalloc tcmalloc mimalloc tbb"
csv=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --workloads) workloads=$2; shift 2 ;;
    --allocators) allocators=$2; shift 2 ;;
    --csv) csv=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "table.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "table.sh: --runs '$runs' is not a positive integer" >&2; exit 2; }

libdir=/usr/lib/x86_64-linux-gnu
declare -A path
for a in $allocators; do
  case "$a" in
    glibc) path[$a]="" ;;
    jemalloc) path[$a]="$libdir/libjemalloc.so.2" ;;
    tcmalloc) path[$a]="$libdir/libtcmalloc_minimal.so.4" ;;
    mimalloc) path[$a]="$libdir/libmimalloc.so.2" ;;
    tbb) path[$a]="$libdir/libtbbmalloc_proxy.so.2" ;;
    hoardlab) path[$a]="$bin/../lib/libhoardlab-malloc.so" ;;
    *=*) path[${a%%=*}]="${a#*=}" ;;
    *) echo "table.sh: unknown allocator '$a' (give NAME=PATH)" >&2; exit 2 ;;
  esac
done
names=()
for a in $allocators; do names+=("${a%%=*}"); done
for a in "${names[@]}"; do
  if [[ -n "${path[$a]}" && ! -f "${path[$a]}" ]]; then
    echo "table.sh: $a: ${path[$a]} not found" >&2
    exit 2
  fi
done
cpus=$(nproc)
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT

echo "# hoardlab workloads: median of $runs runs, --scale $scale, $(nproc) CPUs ($(uname -m), $(date -u +%F))"
echo "# ops/s in millions; tcmalloc = gperftools 2.10 (Debian), not the per-CPU TCMalloc"
for w in $workloads; do
  [[ -x "$bin/$w" ]] || { echo "table.sh: $bin/$w not found" >&2; exit 2; }
  for t in $threads; do
    for a in "${names[@]}"; do
      for ((r = 1; r <= runs; r++)); do
        rc=0
        line=$(LD_PRELOAD="${path[$a]}" timeout 120 "$bin/$w" --threads "$t" --scale "$scale" \
               --seed "$r" 2>/dev/null) || rc=$?
        line=$(grep '^HLBENCH ' <<<"$line" || true)
        if [[ $rc -ne 0 || -z "$line" ]]; then
          echo "table.sh: $w under $a with $t threads (run $r) failed: exit $rc" >&2
          echo "$w $t $a $r FAIL" >>"$raw"
          continue
        fi
        echo "$w $t $a $r ${line#HLBENCH }" >>"$raw"
      done
    done
  done
done

pairs=()
for a in "${names[@]}"; do pairs+=("$a=${path[$a]}"); done
python3 - "$raw" "$cpus" "$csv" "$threads" "$workloads" "${pairs[@]}" <<'PY'
import json, os, statistics, sys
raw, cpus, csv_path, threads, workloads = sys.argv[1:6]
paths = dict(p.split("=", 1) for p in sys.argv[6:])
names = list(paths)
cpus = int(cpus)
cells = {}
rows = []
failures = []
for line in open(raw):
    w, t, a, r, js = line.split(" ", 4)
    if js.strip() == "FAIL":
        failures.append(f"{w} {a} {t} threads run {r}")
        cells.setdefault((w, int(t), a), [])
        continue
    d = json.loads(js)
    lib = d["malloc_lib"]
    if not paths[a]:
        ok = os.path.basename(lib).startswith("libc.so")
    else:
        ok = os.path.realpath(lib) == os.path.realpath(paths[a])
    cells.setdefault((w, int(t), a), [])
    if not ok or d["check"] != "ok":
        failures.append(f"{w} {a} {t} threads run {r}: malloc resolved to {lib}, check {d['check']}")
        continue
    ratio = None
    if "live_peak_bytes" in d and d["live_peak_bytes"] > 0:
        ratio = d["peak_rss_kib"] * 1024 / d["live_peak_bytes"]
    cells[(w, int(t), a)].append((d["ops_per_s"], d["peak_rss_kib"], ratio))
    rows.append((w, t, a, r, d["ops_per_s"], d["elapsed_s"], d["peak_rss_kib"],
                 d.get("live_peak_bytes", ""), lib))
if csv_path:
    with open(csv_path, "w") as f:
        f.write("workload,threads,allocator,run,ops_per_s,elapsed_s,peak_rss_kib,live_peak_bytes,malloc_lib\n")
        for row in rows:
            f.write(",".join(str(x) for x in row) + "\n")
for w in workloads.split():
    has_ratio = any(v[2] is not None for k, vs in cells.items() if k[0] == w for v in vs)
    print(f"\n## {w}" + ("  (Mops/s; in brackets: peak RSS / peak live bytes)" if has_ratio else "  (Mops/s)"))
    print("| threads | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for t in map(int, threads.split()):
        label = f"{t} (oversubscribed)" if t > cpus else str(t)
        out = []
        for a in names:
            if (w, t, a) not in cells:
                out.append("-")
                continue
            vs = cells[(w, t, a)]
            if not vs:
                out.append("FAIL")
                continue
            med = statistics.median(v[0] for v in vs) / 1e6
            s = f"{med:.2f}"
            if has_ratio:
                s += f" [{statistics.median(v[2] for v in vs):.2f}]"
            out.append(s)
        print(f"| {label} | " + " | ".join(out) + " |")
if failures:
    print("\nFailed runs (not in the medians):")
    for f in failures:
        print("- " + f)
    sys.exit(1)
PY
