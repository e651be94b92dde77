#!/usr/bin/env python3
"""Runs one workload and checks its HLBENCH line; the ctest driver of bench/.

usage: check_hlbench.py [--preload LIB] [--expect-lib glibc|PATH] [--expect-exit N]
                        [--expect-stderr TEXT] [--expect-stdout TEXT]
                        [--expect-at-least FIELD=N ...] -- PROGRAM [ARGS...]

Checks: the exit status (0 unless --expect-exit), and for a run that should succeed: exactly
one stdout line, `HLBENCH {json}`, whose fields are present and sane, whose check is "ok", and
whose malloc_lib names the preloaded library (or glibc's libc when nothing is preloaded), so a
preload that silently failed cannot pass. --expect-at-least adds a lower bound on a numeric field
of the line (repeatable).
"""
import argparse
import json
import os
import subprocess
import sys

REQUIRED = {
    "workload": str, "threads": int, "params": dict, "elapsed_s": (int, float), "ops": int,
    "ops_per_s": (int, float), "peak_rss_kib": int, "malloc_lib": str, "seed": int, "check": str,
}


def fail(message, proc=None):
    print("FAIL: " + message, file=sys.stderr)
    if proc is not None:
        print("--- stdout ---\n" + proc.stdout + "--- stderr ---\n" + proc.stderr, file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preload", default="")
    ap.add_argument("--expect-lib", default="glibc")
    ap.add_argument("--expect-exit", type=int, default=0)
    ap.add_argument("--expect-stderr", default="")
    ap.add_argument("--expect-stdout", default="",
                    help="only check that stdout contains this text (e.g. for --help)")
    ap.add_argument("--expect-at-least", action="append", default=[], metavar="FIELD=N",
                    help="the HLBENCH field FIELD is a number of at least N")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("no program to run")

    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if args.preload:
        env["LD_PRELOAD"] = args.preload
    proc = subprocess.run(command, env=env, capture_output=True, text=True,
                          timeout=args.timeout)
    if proc.returncode != args.expect_exit:
        fail(f"{' '.join(command)} exited {proc.returncode}, expected {args.expect_exit}", proc)
    if args.expect_stderr and args.expect_stderr not in proc.stderr:
        fail(f"stderr does not mention '{args.expect_stderr}'", proc)
    if args.expect_stdout:
        if args.expect_stdout not in proc.stdout:
            fail(f"stdout does not mention '{args.expect_stdout}'", proc)
        print("ok: stdout mentions " + repr(args.expect_stdout))
        return
    if args.expect_exit != 0:
        print(f"ok: exit {proc.returncode}")
        return

    lines = proc.stdout.splitlines()
    if len(lines) != 1 or not lines[0].startswith("HLBENCH "):
        fail(f"expected exactly one 'HLBENCH ' line on stdout, got {len(lines)} lines", proc)
    try:
        result = json.loads(lines[0][len("HLBENCH "):])
    except json.JSONDecodeError as e:
        fail(f"the HLBENCH line is not JSON: {e}", proc)
    for key, kind in REQUIRED.items():
        if key not in result:
            fail(f"field '{key}' is missing", proc)
        if not isinstance(result[key], kind) or isinstance(result[key], bool):
            fail(f"field '{key}' has the wrong type: {result[key]!r}", proc)
    program = os.path.basename(command[0])
    if result["workload"] != program:
        fail(f"workload is '{result['workload']}', the program is '{program}'", proc)
    if result["check"] != "ok":
        fail(f"check is '{result['check']}'", proc)
    if result["ops"] <= 0 or result["elapsed_s"] <= 0 or result["ops_per_s"] <= 0:
        fail("ops, elapsed_s and ops_per_s must be positive", proc)
    if result["peak_rss_kib"] <= 0:
        fail("peak_rss_kib must be positive", proc)
    if program in ("blowup", "fragment") and result.get("live_peak_bytes", 0) <= 0:
        fail("live_peak_bytes must be reported and positive", proc)
    for bound in args.expect_at_least:
        field, _, least = bound.partition("=")
        try:
            least = float(least)
        except ValueError:
            ap.error(f"--expect-at-least '{bound}' is not FIELD=NUMBER")
        value = result.get(field)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            fail(f"field '{field}' is missing or not a number: {value!r}", proc)
        if value < least:
            fail(f"field '{field}' is {value}, expected at least {least:g}", proc)

    lib = result["malloc_lib"]
    if args.expect_lib == "glibc":
        if not os.path.basename(lib).startswith("libc.so"):
            fail(f"malloc resolved to {lib}, expected glibc's libc.so", proc)
    elif os.path.realpath(lib) != os.path.realpath(args.expect_lib):
        fail(f"malloc resolved to {lib}, expected {args.expect_lib}", proc)
    print(f"ok: {result['workload']} {result['ops_per_s']:.0f} ops/s under {lib}")


if __name__ == "__main__":
    main()
