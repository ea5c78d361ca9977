"""perfgate's own speed: `check` + report.html on a large generated input.

    PYTHONPATH=tools /usr/bin/python3 -m perfgate selfbench [--runs 3]

Generates, in a temporary directory, a baseline and a results file of
--benchmarks benchmarks x --repetitions repetitions (Google Benchmark JSON
shaped like state_bench's, with allocs_per_op and p99_ns counters; 5% of the
benchmarks slowed by 20%) and a history of --history-runs runs (every
repetition of every benchmark, written in one transaction through history.Writer,
which is much faster than recording them one by one). Then times the whole command
line, `python3 -m perfgate check ...` in a subprocess (interpreter start,
imports, loading, deciding, recording, trends, rendering), --runs times, each
against its own copy of the history, and prints min/median/max.

Goal: under 5 s for 500 x 10 with 1,000 runs of history.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

from perfgate import history

TOOLS = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 5.0
MACHINE = "Generated CPU|2 cpus|24 GiB"


def _names(n: int) -> list[str]:
    families = ["state_get_inmemory", "state_get_mmap", "state_put_inmemory", "state_put_mmap",
                "state_delete_inmemory", "state_get_config/inmemory", "peer_absl_flat_hash_map_get"]
    return [f"{families[i % len(families)]}/{1000 + i}" for i in range(n)]


def _doc(names: list[str], reps: int, rng: random.Random, slow: set[str], commit: str) -> dict:
    rows = []
    for name in names:
        center = 50.0 + (zlib.crc32(name.encode()) % 400)
        factor = 1.2 if name in slow else 1.0
        for rep in range(reps):
            rows.append({"name": name, "run_name": name, "run_type": "iteration", "repetitions": reps,
                         "repetition_index": rep, "threads": 1, "iterations": 1000000,
                         "real_time": center * factor * rng.uniform(0.97, 1.03),
                         "cpu_time": center * factor, "time_unit": "ns",
                         "allocs_per_op": 0.0, "p99_ns": center * 2.5})
    context = {"date": datetime.now(timezone.utc).isoformat(), "num_cpus": 2, "library_build_type": "debug",
               "statestore_build_type": "Release", "statestore_profile": "quick", "statestore_machine": MACHINE,
               "statestore_git_commit": commit, "statestore_git_branch": "main", "statestore_git_dirty": "false",
               "statestore_compiler": "GNU 12.2.0", "statestore_cxx_flags": "-O3 -DNDEBUG",
               "statestore_cpu_model": "Generated CPU"}
    return {"context": context, "benchmarks": rows}


def generate_history(path: Path, names: list[str], reps: int, runs: int, rng: random.Random) -> None:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    centers = {n: 50.0 + (zlib.crc32(n.encode()) % 400) for n in names}
    with history.connect(path) as conn, history.transaction(conn):  # one transaction: one sync to disk
        writer = history.Writer(conn)
        for run in range(1, runs + 1):
            when = (start + timedelta(hours=12 * run)).isoformat()
            writer.run((when, when, f"{run:040x}", "main", "false", MACHINE, "quick", "Release", "GNU 12.2.0",
                        "baseline", "pass", "generated"), run_id=run)
            samples, summary = [], []
            drift = 1 + 0.05 * ((run % 50) / 50)
            for name in names:
                values = [centers[name] * drift * rng.uniform(0.97, 1.03) for _ in range(reps)]
                samples.append((name, "real_time", history.pack(values)))
                summary.append((name, "real_time", reps, statistics.median(values), sum(values) / reps, min(values),
                                max(values), "unchanged", 1e-3 * sum(values)))  # 1e6 iterations of ns
            writer.points(run, summary)
            writer.samples(run, samples)


def main(args: argparse.Namespace) -> int:
    rng = random.Random(42)
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="perfgate-selfbench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        names = _names(args.benchmarks)
        slow = set(rng.sample(names, max(1, len(names) // 20)))
        (tmp / "baseline.json").write_text(json.dumps(_doc(names, args.repetitions, rng, set(), "a" * 40)))
        (tmp / "results.json").write_text(json.dumps(_doc(names, args.repetitions, rng, slow, "b" * 40)))
        (tmp / "targets.toml").write_text(
            'format_version = 1\nknown_profiles = ["quick"]\n'
            + "".join(f'[[target]]\nbenchmark = "{n}"\nmetric = "median"\nlimit = 2\nunit = "us"\n'
                      for n in names[:20]))
        t0 = time.perf_counter()
        master = tmp / "history-master.sqlite"
        if not master.exists():
            generate_history(master, names, args.repetitions, args.history_runs, rng)
        print(f"perfgate selfbench: generated {args.benchmarks} benchmarks x {args.repetitions} repetitions, "
              f"{args.history_runs} runs of history ({master.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        times = []
        env = dict(os.environ, PYTHONPATH=str(TOOLS))
        for i in range(args.runs):
            out = tmp / f"out{i}"
            out.mkdir(exist_ok=True)
            shutil.copyfile(master, out / "history.sqlite")
            cmd = [sys.executable, "-m", "perfgate", "check", "--baseline", str(tmp / "baseline.json"),
                   "--results", str(tmp / "results.json"), "--targets", str(tmp / "targets.toml"),
                   "--report-dir", str(out), "--quiet"]
            start = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            if proc.returncode not in (0, 1):
                print(proc.stderr, file=sys.stderr)
                return 2
            times.append(elapsed)
            size = (out / "report.html").stat().st_size
            print(f"  run {i + 1}: {elapsed:.2f} s (exit {proc.returncode}, report.html {size / 1e3:.0f} kB): "
                  f"{proc.stdout.strip()[:100]}", flush=True)
        print(f"perfgate selfbench: check + HTML, {args.runs} runs: min {min(times):.2f} s, "
              f"median {statistics.median(times):.2f} s, max {max(times):.2f} s (goal < {GOAL_SECONDS:.0f} s)")
        return 0 if max(times) < GOAL_SECONDS else 1
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _count(least: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not least <= value <= 1_000_000:
            raise argparse.ArgumentTypeError(f"must be from {least} to 1,000,000, not {value}")
        return value
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `perfgate selfbench`."""
    parser.add_argument("--runs", type=_count(1), default=3)
    parser.add_argument("--benchmarks", type=_count(1), default=500)
    parser.add_argument("--repetitions", type=_count(1), default=10)
    parser.add_argument("--history-runs", type=_count(0), default=1000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated inputs in this directory")


if __name__ == "__main__":
    standalone = argparse.ArgumentParser(prog="python3 -m perfgate.selfbench")
    add_arguments(standalone)
    sys.exit(main(standalone.parse_args()))
