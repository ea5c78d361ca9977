#!/usr/bin/python3
"""A stand-in for state_bench in benchrun's tests.

Writes the real state_bench output in tiny_state_bench.json (beside this file)
to --benchmark_out, narrowed by --benchmark_filter and --benchmark_repetitions
like the real program, with every time multiplied by $FAKE_SCALE. Appends its
label ($FAKE_LABEL) to $FAKE_LOG so tests can see the order of runs, prints
$FAKE_STDERR to stderr and exits with $FAKE_EXIT when set. With
--benchmark_list_tests=true it prints the matching names instead.
"""
import json
import os
import re
import sys
from pathlib import Path

args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
if os.environ.get("FAKE_LOG"):
    with open(os.environ["FAKE_LOG"], "a") as log:
        listing = " list" if args.get("benchmark_list_tests") == "true" else ""
        log.write(os.environ.get("FAKE_LABEL", "?") + " " + args.get("benchmark_filter", "") + listing + "\n")
if os.environ.get("FAKE_STDERR"):
    print(os.environ["FAKE_STDERR"], file=sys.stderr)
if os.environ.get("FAKE_EXIT"):
    sys.exit(int(os.environ["FAKE_EXIT"]))
data = json.loads((Path(__file__).parent / "tiny_state_bench.json").read_text())
pattern = re.compile(args.get("benchmark_filter", "."))
if args.get("benchmark_list_tests") == "true":
    names = dict.fromkeys(r["run_name"] for r in data["benchmarks"] if pattern.search(r["run_name"]))
    print("\n".join(names))
    sys.exit(0 if names else 1)
reps = int(args.get("benchmark_repetitions", "2"))
scale = float(os.environ.get("FAKE_SCALE", "1"))
rows = []
for row in data["benchmarks"]:
    if not pattern.search(row["run_name"]):
        continue
    if row["run_type"] == "iteration" and row["repetition_index"] >= reps:
        continue
    if reps == 1 and row["run_type"] == "aggregate":
        continue
    row["real_time"] *= scale
    row["cpu_time"] *= scale
    rows.append(row)
data["benchmarks"] = rows
Path(args["benchmark_out"]).write_text(json.dumps(data))
