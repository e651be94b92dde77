#!/usr/bin/env bash
# experiments/slurm/run-array.sbatch on a real Slurm: a one-node cluster (munged, slurmctld,
# slurmd) is started in a scratch directory with its own configuration, ports, state and logs;
# the smoke experiment's --emit-jobs commands run as a job array, `hoardlab merge` joins them,
# and the merged table must hold the same cells as a direct `hoardlab run`, every one ok.
#   slurm_array_test.sh SOURCE_DIR BUILD_DIR
# Exits 77 (ctest's skip) only when a Slurm or MUNGE program is missing.
set -euo pipefail
src=$1
build=$2
hoardlab=$build/bin/hoardlab
experiment=$src/experiments/configs/smoke.toml
sbatch_script=$src/experiments/slurm/run-array.sbatch
# Seconds for the whole array; the smoke cells take a few seconds each, one at a time.
array_deadline_s=${HOARDLAB_CLUSTER_TEST_DEADLINE_S:-120}

log() { echo "[$(date +%H:%M:%S)] $*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

missing=()
for p in munged slurmctld slurmd sbatch squeue scontrol scancel; do
  command -v "$p" >/dev/null 2>&1 || [[ -x /usr/sbin/$p ]] || missing+=("$p")
done
if [[ ${#missing[@]} -ne 0 ]]; then
  echo "SKIP: Slurm/MUNGE programs missing: ${missing[*]} (scripts/deps.sh installs slurm-wlm, munge)"
  exit 77
fi
export PATH=$PATH:/usr/sbin
[[ -x $hoardlab ]] || fail "no hoardlab at $hoardlab"

tmp=$(mktemp -d /tmp/hoardlab-slurm.XXXXXX)
chmod 755 "$tmp" # slurmd's job steps and munged check the path's permissions
export SLURM_CONF=$tmp/slurm.conf
daemon_pids=()
job=""

# The daemons and the array are started with this variable, which their children inherit
# (slurmstepd, the job's shell, the benchmarks) and this script does not export: every process
# of this cluster carries it, nothing else does.
marker=HOARDLAB_SLURM_TEST_DIR=$tmp
cluster_pids() {
  grep -lzxF "$marker" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 || true
}

shutdown_cluster() {
  local rc=$?
  set +e
  if [[ -n $job ]]; then
    scancel --quiet "$job"
    for _ in $(seq 50); do
      [[ -z $(squeue -h -j "$job" -o %i 2>/dev/null) ]] && break
      sleep 0.1
    done
  fi
  for pid in "${daemon_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${daemon_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive -eq 0 ]] && break
    sleep 0.1
  done
  for pid in "${daemon_pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  wait 2>/dev/null
  local left
  left=$(cluster_pids | tr '\n' ' ')
  if [[ -n $left ]]; then
    echo "FAIL: processes the cluster left behind: $left" >&2
    # shellcheck disable=SC2086
    ps -o pid=,ppid=,comm= -p ${left// /,} >&2
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null
    for _ in $(seq 50); do
      [[ -z $(cluster_pids) ]] && break
      sleep 0.1
    done
    [[ $rc -eq 0 ]] && rc=1
  fi
  if [[ $rc -ne 0 ]]; then
    for f in "$tmp"/log/*.log; do
      [[ -e $f ]] || continue
      echo "---- last lines of $f" >&2
      tail -n 20 "$f" >&2
    done
  fi
  rm -rf "$tmp"
  log "cluster stopped, scratch directory removed"
  exit "$rc"
}
trap shutdown_cluster EXIT
trap 'exit 130' INT TERM

free_ports() {
  python3 - <<'PY'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

mkdir -p "$tmp"/{munge,state,spool,log,work}
me=$(id -un)
host=$(hostname -s)
read -r ctld_port slurmd_port < <(free_ports)
# slurmd -C reports this machine's CPUs, sockets, cores and memory as a NodeName line; a node
# configured with more than it has would be drained instead of running the array.
node_line=$(slurmd -C | head -n 1)
[[ $node_line == "NodeName=$host "* ]] || fail "slurmd -C printed '$node_line', not host $host"
node_cpus=$(grep -o ' CPUs=[0-9]*' <<<"$node_line" | cut -d= -f2)
node_mem=$(grep -o ' RealMemory=[0-9]*' <<<"$node_line" | cut -d= -f2)

dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
env "$marker" munged --foreground --force --key-file="$tmp/munge/munge.key" \
  --socket="$tmp/munge/munge.socket" --pid-file="$tmp/munge/munged.pid" \
  --seed-file="$tmp/munge/munge.seed" --log-file="$tmp/log/munged.log" >"$tmp/log/munged.out" 2>&1 &
daemon_pids+=($!)
for _ in $(seq 50); do
  [[ -S $tmp/munge/munge.socket ]] && break
  sleep 0.1
done
[[ -S $tmp/munge/munge.socket ]] || fail "munged did not create its socket"
log "munged started (pid ${daemon_pids[-1]}, socket $tmp/munge/munge.socket)"

cat >"$SLURM_CONF" <<CONF
ClusterName=hoardlab-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$me
SlurmdUser=$me
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# A container has no cgroup hierarchy of its own to hand out: track processes by their
# parentage, bind nothing, gather no accounting and keep no accounting database.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=600
# As at most sites, memory is a consumable resource with a small default per CPU, so a job
# that does not ask for the node's memory does not get it.
DefMemPerCPU=100
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

env "$marker" slurmctld -D -i -f "$SLURM_CONF" >"$tmp/log/slurmctld.out" 2>&1 &
daemon_pids+=($!)
env "$marker" slurmd -D -f "$SLURM_CONF" >"$tmp/log/slurmd.out" 2>&1 &
daemon_pids+=($!)
ready=""
for _ in $(seq 100); do
  state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n 1 || true)
  if [[ $state == idle ]]; then
    ready=1
    break
  fi
  sleep 0.2
done
[[ -n $ready ]] || fail "node $host never became idle (state '${state:-none}')"
for d in slurmctld slurmd; do
  log "$(grep -m 1 -o "$d version .*" "$tmp/log/$d.log" || echo "$d started")"
done
log "slurmctld on port $ctld_port, slurmd on port $slurmd_port; node idle: $node_line"

cd "$tmp/work"
"$hoardlab" run "$experiment" --emit-jobs jobs.txt
cells=$(wc -l <jobs.txt)
[[ $cells -ge 2 ]] || fail "emit-jobs wrote $cells commands"

submitted=$(env "$marker" sbatch --parsable --array="1-$cells" "$sbatch_script" jobs.txt)
job=${submitted%%;*}
log "sbatch: submitted array job $job with $cells tasks"

# While the array runs, the marker must find the job steps (slurmstepd) too, or the check for
# processes left behind would be blind to them.
start=$(date +%s)
seen=""
while [[ -n $(squeue -h -j "$job" -o %i 2>/dev/null) ]]; do
  (($(date +%s) - start < array_deadline_s)) || fail "array $job not done after ${array_deadline_s}s"
  seen+=" $(cluster_pids | xargs -r ps -o comm= -p 2>/dev/null | tr '\n' ' ')"
  sleep 0.2
done
seen=$(tr ' ' '\n' <<<"$seen" | sed '/^$/d' | sort -u | tr '\n' ' ')
log "array $job left the queue after $(($(date +%s) - start))s; its processes seen: $seen"
[[ " $seen " == *" slurmstepd "* ]] ||
  fail "never saw a slurmstepd by its environment; the leftover check would miss them"

# Finished jobs stay known to slurmctld for MinJobAge, so each task's end state and exit
# code can be read without an accounting database.
bad=0
for ((i = 1; i <= cells; i++)); do
  rec=$(scontrol -o show job "${job}_${i}" 2>/dev/null) || fail "slurmctld forgot task ${job}_${i}"
  st=$(grep -o 'JobState=[A-Z_]*' <<<"$rec" | cut -d= -f2)
  ec=$(grep -o ' ExitCode=[0-9:]*' <<<"$rec" | cut -d= -f2)
  node=$(grep -o ' BatchHost=[^ ]*' <<<"$rec" | cut -d= -f2)
  tres=$(grep -o ' TRES=[^ ]*' <<<"$rec" | cut -d= -f2-)
  first=$(head -n 1 "hoardlab-${job}_${i}.log" 2>/dev/null || echo "(no log)")
  log "task ${job}_${i}: $st exit $ec on $node with $tres: ${first:0:160}"
  [[ $st == COMPLETED && $ec == 0:0 ]] || bad=1
  # The whole node: every CPU and all its memory, not DefMemPerCPU times the CPUs.
  [[ $tres == "cpu=$node_cpus,mem=${node_mem}M,"* ]] ||
    fail "task ${job}_${i} held $tres, not the whole node (cpu=$node_cpus, mem=${node_mem}M)"
done
[[ $bad -eq 0 ]] || {
  for f in hoardlab-"${job}"_*.log; do
    echo "---- $f" >&2
    tail -n 5 "$f" >&2
  done
  fail "some array tasks did not complete"
}

"$hoardlab" merge smoke-jobs/*/ --out merged 2>&1 | sed 's/^/merge: /'
[[ -s merged/cells.csv ]] || fail "merge wrote no cells.csv"
"$hoardlab" run "$experiment" --out direct --no-plots --quiet
[[ -s direct/cells.csv ]] || fail "the direct run wrote no cells.csv"

# The cell and status columns of a cells.csv, found by their names, header dropped, sorted.
cell_status() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
           { print $col["cell"] "," $col["status"] }' "$1" | sort
}
merged_cells=$(cell_status merged/cells.csv | cut -d, -f1)
direct_cells=$(cell_status direct/cells.csv | cut -d, -f1)
log "merged cells: $(tr '\n' ' ' <<<"$merged_cells")"
log "direct cells: $(tr '\n' ' ' <<<"$direct_cells")"
[[ $merged_cells == "$direct_cells" ]] ||
  fail "merged and direct cell sets differ: $(diff <(echo "$merged_cells") <(echo "$direct_cells") | tr '\n' ' ')"
not_ok=$(cell_status merged/cells.csv | grep -v ',ok$' || true)
[[ -z $not_ok ]] || fail "cells that did not run ok on the cluster: $not_ok"
[[ $(wc -l <<<"$merged_cells") -eq $cells ]] || fail "merged table has not one row per array task"
log "merged table: the same $cells cells as the direct run, all ok"
# Runs from separate jobs are not paired by repetition (experiments/README.md): every ratio
# of the merged summary must be of medians.
# (The baseline against itself is the same runs, so only the other series count.)
read -r paired ratios < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
flags = [v["paired"] for row in s["rows"] for k, v in row.items()
         if isinstance(v, dict) and "paired" in v and k != s["baseline_series"]]
print(sum(flags), len(flags))' merged/results.json)
[[ $ratios -gt 0 ]] || fail "the merged summary has no ratios"
[[ $paired -eq 0 ]] || fail "$paired of $ratios ratios of separate jobs are marked paired"
log "merged summary: none of its $ratios ratios marked paired"
