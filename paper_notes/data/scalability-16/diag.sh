#!/bin/bash
# 16-thread diagnosis: where hoardlab's rptest/mstress/shbench time goes.
B=/tmp/hoardlab-bundle
L=$B/lib/libhoardlab-malloc.so
TIMEFORMAT="time real %R user %U sys %S"
for w in "rptest --scale 0.1" "mstress --scale 0.1" "shbench --scale 0.25" "larson --scale 0.2"; do
  for t in 16 4; do
    for v in glibc default "HOARDLAB_HEAP_EMPTINESS_K=64" "HOARDLAB_HEAP_MAPPING=per-thread" \
             "HOARDLAB_HEAP_MAPPING=per-thread HOARDLAB_HEAP_EMPTINESS_K=64" \
             "HOARDLAB_PURGE_RETAIN_SUPERBLOCKS=1000000 HOARDLAB_HEAP_EMPTINESS_K=64"; do
      [[ $t == 4 && "$v" != glibc && "$v" != default && "$v" != HOARDLAB_HEAP_EMPTINESS_K=64 ]] && continue
      echo "=== $w t$t $v"
      if [[ $v == glibc ]]; then
        { time $B/bin/$w --threads $t | grep -o '"ops_per_s":[0-9.]*'; } 2>&1
      else
        e=""; [[ $v != default ]] && e="$v"
        { time env $e HOARDLAB_STATS=1 LD_PRELOAD=$L $B/bin/$w --threads $t 2>/tmp/st | grep -o '"ops_per_s":[0-9.]*'; } 2>&1
        grep -E "hit rate|remote frees|superblocks  |pass-overs|held A|purged|heaps \(" /tmp/st
      fi
    done
  done
done
