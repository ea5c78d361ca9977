#!/usr/bin/python3
"""End-to-end check of state_bench (registered with CTest by benches/tests/CMakeLists.txt).

Usage: check_bench_json.py STATE_BENCH OUT_JSON

Runs `STATE_BENCH --profile=tiny --benchmark_out=OUT_JSON --benchmark_out_format=json`
and checks the Google Benchmark JSON against json-contract.md: every expected name of
the tiny profile (also the list `--list_profile` prints), two repetitions per name with
aggregates, the counters, the context keys, and zero allocations per get. Also checks
the command-line error path. Exit status 0 when all checks pass.
"""

import json
import os
import subprocess
import sys

TINY_NAMES = [
    "state_get_inmemory/1000", "state_get_mmap/1000",
    "state_put_inmemory/1000", "state_put_mmap/1000",
    "state_delete_inmemory/1000", "state_delete_mmap/1000",
    "state_range/results/10",
    "state_snapshot/inmemory/1MB", "state_restore/inmemory/1MB",
    "state_get_zero_alloc",
]
PEER_TINY_NAMES = ["peer_absl_flat_hash_map_get/1000"]
LATENCY_COUNTERS = ["p50_ns", "p99_ns", "p999_ns", "timer_overhead_ns"]
CONTEXT_KEYS = [
    "statestore_build_type", "statestore_git_commit", "statestore_git_dirty", "statestore_git_branch",
    "statestore_compiler", "statestore_cxx_flags", "statestore_sanitize", "statestore_profile",
    "statestore_cpu_model", "statestore_peers", "statestore_machine", "statestore_slowdown",
]

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def main():
    bench, out = sys.argv[1], sys.argv[2]

    bad = subprocess.run([bench, "--profile=huge"], capture_output=True, text=True)
    check(bad.returncode == 2, f"--profile=huge exited {bad.returncode}, expected 2")
    check("state_bench: unknown profile 'huge' (expected tiny, quick or full)" in bad.stderr,
          f"--profile=huge said {bad.stderr!r}")

    # Mmap benchmarks without a usable temporary directory are skipped with the reason.
    no_tmp_out = out + ".no-tmpdir.json"
    no_tmp = subprocess.run([bench, "--profile=tiny", "--benchmark_filter=^state_get_mmap/1000$",
                             f"--benchmark_out={no_tmp_out}", "--benchmark_out_format=json"],
                            capture_output=True, text=True, env=dict(os.environ, TMPDIR="/nonexistent/state_bench_test"))
    check(no_tmp.returncode == 0, f"state_bench without a temp dir exited {no_tmp.returncode}")
    with open(no_tmp_out) as f:
        rows = [r for r in json.load(f)["benchmarks"] if r["run_type"] == "iteration"]
    check(len(rows) > 0 and all(r.get("error_occurred") for r in rows), "mmap rows without a temp dir not skipped")
    expected_msg = ("skipped: cannot create a temporary directory in /nonexistent/state_bench_test "
                    "(No such file or directory); set TMPDIR to a writable directory with free space")
    check(all(r.get("error_message") == expected_msg for r in rows),
          f"skip message was {[r.get('error_message') for r in rows][:1]}")

    listed = subprocess.run([bench, "--profile=tiny", "--list_profile"], capture_output=True, text=True, check=True)
    listed_names = listed.stdout.split()

    run = subprocess.run([bench, "--profile=tiny", f"--benchmark_out={out}", "--benchmark_out_format=json"],
                         capture_output=True, text=True)
    check(run.returncode == 0, f"state_bench exited {run.returncode}: {run.stderr[-2000:]}")
    with open(out) as f:
        data = json.load(f)

    ctx = data["context"]
    for key in CONTEXT_KEYS:
        check(key in ctx, f"context lacks {key}")
    check(ctx.get("statestore_profile") == "tiny", f"statestore_profile is {ctx.get('statestore_profile')!r}")
    check(ctx.get("statestore_git_dirty") in ("true", "false", "unknown"), "statestore_git_dirty not a flag")
    check(ctx.get("statestore_machine", "").count("|") == 2, "statestore_machine is not cpu|cpus|GiB")
    if ctx.get("statestore_build_type") != "Release" or ctx.get("statestore_sanitize") == "on":
        check("WARNING: state_bench was built with" in run.stderr, "no loud warning for a non-Release build")

    expected = TINY_NAMES + (PEER_TINY_NAMES if ctx.get("statestore_peers") == "on" else [])
    check(sorted(listed_names) == sorted(expected), f"--list_profile printed {listed_names}")

    rows = data["benchmarks"]
    iterations = {}
    aggregates = {}
    for row in rows:
        name = row["run_name"]
        if row["run_type"] == "iteration":
            iterations.setdefault(name, []).append(row)
        else:
            aggregates.setdefault(name, set()).add(row["aggregate_name"])
    check(sorted(iterations) == sorted(expected), f"names in JSON {sorted(iterations)} != {sorted(expected)}")
    for name in expected:
        reps = iterations.get(name, [])
        check(len(reps) == 2, f"{name}: {len(reps)} repetitions, expected 2")
        check({"mean", "median", "stddev", "cv"} <= aggregates.get(name, set()), f"{name}: aggregates missing")
        for row in reps:
            check(not row.get("error_occurred"), f"{name}: error {row.get('error_message')}")
            check("allocs_per_op" in row, f"{name}: no allocs_per_op")
            check("allocs_per_iter" in row, f"{name}: no allocs_per_iter (MemoryManager not registered?)")
            check(row["real_time"] > 0, f"{name}: real_time {row['real_time']}")
            check("/" not in name or not name.endswith(("/real_time", "/manual_time")), f"{name}: suffixed name")
            if name.startswith(("state_get_", "state_put_", "state_delete_", "peer_")):
                for counter in LATENCY_COUNTERS:
                    check(counter in row, f"{name}: no {counter}")
                if "p50_ns" in row:
                    check(0 <= row["p50_ns"] <= row["p99_ns"] <= row["p999_ns"], f"{name}: percentiles out of order")
            if name in ("state_get_zero_alloc", "state_get_inmemory/1000", "state_get_mmap/1000"):
                check(row.get("allocs_per_op") == 0, f"{name}: allocs_per_op {row.get('allocs_per_op')} != 0")

    if failures:
        for f in failures:
            print("FAIL:", f)
        return 1
    print(f"ok: {len(expected)} benchmarks, {len(rows)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
