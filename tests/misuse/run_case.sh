#!/usr/bin/env bash
# Runs one misuse program in a child process with a library preloaded, prints its outcome, and,
# with an expectation, exits 0 when the outcome meets it.
#
# usage: run_case.sh PROGRAM LIBRARY [EXPECT]
#   LIBRARY: a preloadable .so, or "" for the C library's own malloc
#   EXPECT:  detect:REGEX  killed by SIGABRT after a stderr line "hoardlab: " matching REGEX
#            ok            exited 0 (ran to the end: the misuse was harmless or left alone)
#            safe:REGEX    either of the two: whether the corrupted block is ever popped again
#                          depends on where the threads ran (which heap and cache it went to)
#            reported:REGEX  exited 0 after a stderr line "hoardlab: " matching REGEX and saying
#                          it was left alone (hardened.on_error=report)
#            guard         exited 6: the program's own overflow faulted where it expected a guard
#                          page (overflow_into_header), before any allocator call saw the damage
# Outcomes: "detected: <first stderr line>", "aborted: <...>", "ok", "PLANTED (the planted address
# was handed out)", "contract broken", "stopped by a guard page at the overflow", "crashed
# (SIGSEGV)", "exit N", "timeout".
set -u
program=$1
lib=$2
expect=${3:-}
err=$(mktemp)
out=$(mktemp)
trap 'rm -f "$err" "$out"' EXIT
LD_PRELOAD="$lib" timeout -s KILL 20 "$program" >"$out" 2>"$err"
rc=$?
first=$(grep -m1 -v '^$' "$err" | cut -c1-160)
case $rc in
  0) outcome="ok" ;;
  3) outcome="PLANTED (the planted address was handed out)" ;;
  4) outcome="contract broken: $(head -n1 "$out")" ;;
  6) outcome="stopped by a guard page at the overflow" ;;
  134) outcome="aborted: ${first:-no message}" ;;
  137) outcome="timeout" ;;
  139) outcome="crashed (SIGSEGV)${first:+: $first}" ;;
  *) outcome="exit $rc${first:+: $first}" ;;
esac
echo "$outcome"
case $expect in
  "") exit 0 ;;
  ok) [[ $rc -eq 0 ]] ;;
  guard) [[ $rc -eq 6 ]] ;;
  safe:*)
    regex=${expect#safe:}
    [[ $rc -eq 0 ]] || { [[ $rc -eq 134 ]] && grep -Eq "^hoardlab: ($regex)" "$err"; } ;;
  reported:*)
    regex=${expect#reported:}
    [[ $rc -eq 0 ]] && grep -Eq "^hoardlab: ($regex).*left alone" "$err" || {
      echo "expected exit 0 after 'hoardlab: $regex ... left alone'; stderr:" >&2
      cat "$err" >&2
      exit 1
    } ;;
  detect:*)
    regex=${expect#detect:}
    [[ $rc -eq 134 ]] && grep -Eq "^hoardlab: ($regex)" "$err" || {
      echo "expected an abort with 'hoardlab: $regex'; stderr:" >&2
      cat "$err" >&2
      exit 1
    } ;;
  *) echo "run_case.sh: unknown expectation '$expect'" >&2; exit 2 ;;
esac
