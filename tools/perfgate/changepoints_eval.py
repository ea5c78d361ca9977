"""Measures change-point detection on synthetic series made from real noise.

    python3 -m perfgate.changepoints_eval pool --runs DIR [--runs DIR2 ...] --out POOL.csv
    python3 -m perfgate.changepoints_eval table --pool POOL.csv [--trials 200] [--length 50]

`pool` reads Google Benchmark JSON files of repeated runs of one build (a directory
per build: each file one run, in the order of their names) and writes, per
benchmark, each run's median real time as a ratio to the median of that
benchmark over the runs of its build: the run-to-run noise of this machine.

`table` draws series of `length` points from that pool (a benchmark picked per
trial; points drawn iid, or as moving blocks of `block` consecutive runs to
keep the drift of slow spells), multiplies the points from a random position
on by 1 + step, runs `changepoints.detect` and counts:

  found   a change point within `tolerance` commits of the true one, same sign
  false   every other change point, per 1,000 points

Deterministic for a given seed. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfgate import changepoints

STEPS = (0.0, 0.05, 0.10, 0.20)
# A pool row: (build or file, benchmark, run or repetition index, value / its median).
PoolRow = tuple[str, str, int, float]


def _repetitions(path: Path) -> dict[str, list[float]]:
    """{run name: real times of its repetitions} of one Google Benchmark JSON file (failed ones left out)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    reps: dict[str, list[float]] = defaultdict(list)
    for b in doc["benchmarks"]:
        if b.get("run_type") == "iteration" and not b.get("error_occurred"):
            reps[b["run_name"]].append(float(b["real_time"]))
    return reps


def build_pool(run_dirs: list[Path]) -> list[PoolRow]:
    """(build, benchmark, run index, median / median over the build's runs) rows."""
    rows: list[PoolRow] = []
    for d in run_dirs:
        files = sorted(Path(d).glob("*.json"))
        if not files:
            raise SystemExit(f"changepoints_eval: {d} holds no *.json runs")
        medians: dict[str, list[float]] = defaultdict(list)
        for f in files:
            for name, vals in _repetitions(f).items():
                medians[name].append(float(np.median(vals)))
        for name, vals in medians.items():
            center = float(np.median(vals))
            rows += [(Path(d).name, name, i, v / center) for i, v in enumerate(vals)]
    return rows


def repetition_pool(files: list[Path]) -> list[PoolRow]:
    """(file, benchmark, repetition, value / median of the benchmark's repetitions in that file) rows:
    the spread inside one run, a lower bound of the run-to-run noise."""
    rows: list[PoolRow] = []
    for f in files:
        for name, vals in _repetitions(Path(f)).items():
            if len(vals) >= 5:
                center = float(np.median(vals))
                rows += [(Path(f).stem, name, i, v / center) for i, v in enumerate(vals)]
    return rows


def read_pool(path: Path) -> dict[str, np.ndarray]:
    """{build/benchmark: ratios in run order}."""
    out: dict[str, list[float]] = defaultdict(list)
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out[f"{row['build']}/{row['benchmark']}"].append(float(row["ratio"]))
    return {k: np.asarray(v) for k, v in out.items()}


def draw(pool: np.ndarray, length: int, rng: np.random.Generator, block: int) -> np.ndarray:
    if block <= 1:
        return rng.choice(pool, size=length, replace=True)
    parts: list[np.ndarray] = []
    while sum(len(p) for p in parts) < length:
        start = int(rng.integers(0, len(pool) - block + 1))
        parts.append(pool[start:start + block])
    return np.concatenate(parts)[:length]


@dataclass(frozen=True)
class Trials:
    """How the series of one table row are drawn and scored: `trials` series of `length`
    points, drawn iid (`block` 1) or as moving blocks of `block` runs; a change point
    within `tolerance` commits of the true one counts as found. `seed` fixes the draws."""

    trials: int
    length: int
    block: int = 1
    tolerance: int = 2
    seed: int = 1


def evaluate(pools: dict[str, np.ndarray], step: float, design: Trials,
             settings: changepoints.Settings | None = None) -> dict[str, Any]:
    rng = np.random.default_rng(design.seed)
    names = sorted(pools)
    length = design.length
    found = false = 0
    errors: list[float] = []
    for t in range(design.trials):
        series = 100.0 * draw(pools[names[t % len(names)]], length, rng, design.block)
        truth = int(rng.integers(length // 5, length - length // 5)) if step else -1
        if step:
            series[truth:] *= 1 + step
        hit = False
        for cp in changepoints.detect(series, settings):
            if step and not hit and abs(cp.index - truth) <= design.tolerance and np.sign(cp.change) == np.sign(step):
                hit = True
                errors.append(cp.change - step)
            else:
                false += 1
        found += hit
    return {"step": step, "trials": design.trials, "found": found, "false": false,
            "false_per_1000": 1000 * false / (design.trials * length),
            "size_error": (float(np.min(errors)), float(np.median(errors)), float(np.max(errors))) if errors else None}


def table(pools: dict[str, np.ndarray], design: Trials) -> str:
    trials, length, block = design.trials, design.length, design.block
    lines = ["| step | noise | series | found within 2 commits | false change points | false per 1,000 points "
             "| size error min / median / max (pp) |", "|---|---|---:|---:|---:|---:|---|"]
    for step in STEPS:
        r = evaluate(pools, step, design)
        found = f"{r['found']}/{trials} ({20 * r['found'] / trials:.1f}/20)" if step else ""
        err = " / ".join(f"{100 * e:+.1f}" for e in r["size_error"]) if r["size_error"] else ""
        noise = ("iid" if block <= 1 else f"blocks of {block}") if len(pools) > 1 else next(iter(pools))
        lines.append(f"| {'A/A' if not step else f'+{step:.0%}'} | {noise} | {trials} x {length} | {found} "
                     f"| {r['false']} | {r['false_per_1000']:.2f} | {err} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="changepoints_eval", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pool")
    p.add_argument("--runs", type=Path, action="append", default=[],
                   help="directory of the runs of one build (per-run medians)")
    p.add_argument("--repetitions", type=Path, action="append", default=[],
                   help="results file whose repetitions are the pool (spread inside one run)")
    p.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("table")
    t.add_argument("--pool", type=Path, default=None)
    t.add_argument("--lognormal", type=float, default=None, metavar="SD",
                   help="instead of a pool: lognormal noise of this sd(log), for calibration")
    t.add_argument("--trials", type=int, default=200)
    t.add_argument("--length", type=int, default=50)
    t.add_argument("--block", type=int, action="append", default=None)
    t.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "pool":
        rows = (build_pool(args.runs) if args.runs else []) + repetition_pool(args.repetitions)
        with open(args.out, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["build", "benchmark", "run", "ratio"])
            w.writerows((b, n, i, f"{r:.6f}") for b, n, i, r in rows)
        print(f"changepoints_eval: {len(rows)} run medians -> {args.out}")
        return 0
    if (args.pool is None) == (args.lognormal is None):
        parser.error("table needs --pool or --lognormal")
    pools = read_pool(args.pool) if args.pool else \
        {f"lognormal {args.lognormal}": np.exp(np.random.default_rng(args.seed).normal(0, args.lognormal, 100_000))}
    for block in args.block or [1]:
        print(table(pools, Trials(args.trials, args.length, block, seed=args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
