# Turns a harness cells.csv holding the large-object size sweep (benchmarks sweep-<n>k and
# sweep-<n>m) into the table large-size-sweep.gp plots: one row per size, one column per series,
# in thousands of pairs per CPU second (the cell's median ops/s x its wall time / its user + sys
# time, so time the process spent waiting for the shared CPUs does not count against it).
#
#   awk -F, -v order="hoardlab hoardlab-31e40ab glibc ..." -f sweep-dat.awk cells.csv
#
# `order` names the series in column order (the first is drawn thick); a series the file lacks
# is an error, so a renamed series cannot silently drop out of the figure.
NR == 1 {
  for (i = 1; i <= NF; ++i) col[$i] = i
  for (k in need) if (!(k in col)) { print "sweep-dat.awk: no column " k > "/dev/stderr"; exit 2 }
  next
}
BEGIN {
  split("benchmark series status ops_per_s wall_s user_s sys_s", req, " ")
  for (i in req) need[req[i]] = 1
  n_series = split(order, series, " ")
  if (n_series == 0) { print "sweep-dat.awk: set -v order=\"series ...\"" > "/dev/stderr"; exit 2 }
}
$col["benchmark"] ~ /^sweep-[0-9]+[km]$/ && $col["status"] == "ok" {
  b = $col["benchmark"]; sub(/^sweep-/, "", b)
  kib = b + 0; if (b ~ /m$/) kib *= 1024
  cpu = $col["user_s"] + $col["sys_s"]
  if (cpu <= 0) { print "sweep-dat.awk: no CPU time in " $col["benchmark"] "/" $col["series"] > "/dev/stderr"; exit 2 }
  value[kib, $col["series"]] = $col["ops_per_s"] * $col["wall_s"] / cpu / 1000
  sizes[kib] = 1
}
END {
  if (length(sizes) == 0) { print "sweep-dat.awk: no sweep cells" > "/dev/stderr"; exit 2 }
  line = "size_kib"
  for (s = 1; s <= n_series; ++s) line = line " " series[s]
  print line
  n = 0
  for (k in sizes) sorted[++n] = k + 0
  for (i = 2; i <= n; ++i) for (j = i; j > 1 && sorted[j - 1] > sorted[j]; --j) {
    t = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = t
  }
  for (i = 1; i <= n; ++i) {
    line = sorted[i]
    for (s = 1; s <= n_series; ++s) {
      if (!((sorted[i], series[s]) in value)) {
        print "sweep-dat.awk: no cell sweep at " sorted[i] " KiB for " series[s] > "/dev/stderr"; exit 2
      }
      line = line " " sprintf("%.0f", value[sorted[i], series[s]])
    }
    print line
  }
}
