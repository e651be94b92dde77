#!/usr/bin/env python3
"""The example allocator config (experiments/configs/allocator/default.toml) sets every option
the allocator has, at its default: the README calls it "every option at its default", and an
option added to lib/config/options.def without a line there would make that untrue unnoticed.

usage: default_config_complete.py HOARDLAB_CLI DEFAULT_TOML
Reads `hoardlab options --markdown` (the README's table: key, variable, default) and the file,
names every option the file lacks or sets to a value other than the default, exit 1 if any."""
import re
import subprocess
import sys
import tomllib


def main() -> int:
    cli, path = sys.argv[1], sys.argv[2]
    table = subprocess.run([cli, "options", "--markdown"], check=True, capture_output=True,
                           text=True).stdout
    with open(path, "rb") as f:
        config = tomllib.load(f)
    problems = []
    options = 0
    for m in re.finditer(r"^\| `\[(\w+)\] (\w+)` \| `\w+` \| (`([^`]*)`|\(empty\)) \|", table, re.M):
        section, key, default = m.group(1), m.group(2), m.group(4) or ""
        options += 1
        if section not in config or key not in config[section]:
            problems.append(f"[{section}] {key} is missing (default {default or 'empty'})")
            continue
        value = config[section][key]
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if text != default:
            problems.append(f"[{section}] {key} = {text!r}, but the default is {default!r}")
    if options == 0:
        problems.append("no option found in `hoardlab options --markdown`")
    for p in problems:
        print(f"{path}: {p}")
    print(f"{options} options, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
