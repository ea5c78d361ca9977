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

Bad input (a runs folder that is missing or holds no JSON, a results file perfgate
cannot load, a pool CSV without its columns, an option out of range) raises
PerfGateError; run as a module, that is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfgate import changepoints, fileio, results
from perfgate.__main__ import guarded
from perfgate.errors import PerfGateError

STEPS = (0.0, 0.05, 0.10, 0.20)
POOL_COLUMNS = ("build", "benchmark", "run", "ratio")
# A pool row: (build or file, benchmark, run or repetition index, value / its median).
PoolRow = tuple[str, str, int, float]


def _repetitions(path: Path) -> dict[str, list[float]]:
    """{run name: real times of its repetitions} of one Google Benchmark JSON file (failed ones left out),
    read and validated by perfgate.results."""
    doc = results.read_document(path)
    reps: dict[str, list[float]] = defaultdict(list)
    for b in doc["benchmarks"]:
        if b.get("run_type") == "iteration" and not b.get("error_occurred"):
            reps[b.get("run_name") or b["name"]].append(float(b["real_time"]))
    return reps


def _ratios(values: list[float], where: str, name: str) -> list[float]:
    """`values` over their median; PerfGateError when that median is 0 (no ratio to take)."""
    center = float(np.median(values))
    if center == 0:
        raise PerfGateError(f"{where}: benchmark {name!r} has a median real_time of 0, so no noise ratio")
    return [v / center for v in values]


def _run_files(folder: Path) -> list[Path]:
    """The *.json runs of a runs folder, in name order; PerfGateError naming the folder when there are none."""
    if not folder.exists():
        raise PerfGateError(f"runs folder {folder} does not exist")
    if not folder.is_dir():
        raise PerfGateError(f"runs folder {folder} is not a directory")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise PerfGateError(f"runs folder {folder} holds no *.json runs (one Google Benchmark JSON file per run)")
    return files


def build_pool(run_dirs: list[Path]) -> list[PoolRow]:
    """(build, benchmark, run index, median / median over the build's runs) rows."""
    rows: list[PoolRow] = []
    for d in run_dirs:
        medians: dict[str, list[float]] = defaultdict(list)
        for f in _run_files(Path(d)):
            for name, vals in _repetitions(f).items():
                medians[name].append(float(np.median(vals)))
        for name, vals in medians.items():
            rows += [(Path(d).name, name, i, r) for i, r in enumerate(_ratios(vals, f"runs folder {d}", name))]
    return rows


def repetition_pool(files: list[Path]) -> list[PoolRow]:
    """(file, benchmark, repetition, value / median of the benchmark's repetitions in that file) rows:
    the spread inside one run, a lower bound of the run-to-run noise."""
    rows: list[PoolRow] = []
    for f in files:
        for name, vals in _repetitions(Path(f)).items():
            if len(vals) >= 5:
                rows += [(Path(f).stem, name, i, r) for i, r in enumerate(_ratios(vals, f"results file {f}", name))]
    return rows


def write_pool(rows: list[PoolRow], path: Path) -> None:
    """Writes the pool CSV atomically (PerfGateError naming the file when it cannot)."""
    text = io.StringIO()
    w = csv.writer(text)
    w.writerow(POOL_COLUMNS)
    w.writerows((b, n, i, f"{r:.6f}") for b, n, i, r in rows)
    fileio.write_atomic(path, text.getvalue())


def read_pool(path: Path) -> dict[str, np.ndarray]:
    """{build/benchmark: ratios in run order}; PerfGateError naming the file and the problem."""
    out: dict[str, list[float]] = defaultdict(list)
    reader = csv.DictReader(io.StringIO(fileio.read_text(path, "pool"), newline=""))
    try:
        absent = [c for c in POOL_COLUMNS if c not in (reader.fieldnames or [])]
        if absent:
            raise PerfGateError(f"pool file {path} has no column {absent[0]!r} (a pool has {', '.join(POOL_COLUMNS)})")
        for row in reader:
            out[f"{row['build']}/{row['benchmark']}"].append(_ratio(row["ratio"], path, reader.line_num))
    except csv.Error as exc:
        raise PerfGateError(f"pool file {path} is not CSV ({exc})") from None
    if not out:
        raise PerfGateError(f"pool file {path} has no rows")
    return {k: np.asarray(v) for k, v in out.items()}


def _ratio(text: str | None, path: Path, line: int) -> float:
    try:
        value = float(text or "")
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise PerfGateError(f"pool file {path} line {line}: ratio {text!r} is not a finite number")
    return value


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


def _parser() -> argparse.ArgumentParser:
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
    return parser


def _pool_command(args: argparse.Namespace) -> int:
    if not args.runs and not args.repetitions:
        raise PerfGateError("pool needs --runs DIR or --repetitions FILE")
    rows = (build_pool(args.runs) if args.runs else []) + repetition_pool(args.repetitions)
    if not rows:
        raise PerfGateError(f"pool: no rows from {', '.join(map(str, args.runs + args.repetitions))} (a run needs "
                            "iteration rows; a --repetitions benchmark 5 or more repetitions); no pool written")
    write_pool(rows, args.out)
    print(f"changepoints_eval: {len(rows)} run medians -> {args.out}")
    return 0


def _check_table_options(args: argparse.Namespace) -> None:
    """The table's numbers in range (PerfGateError naming the option otherwise)."""
    for option, value, least in (("--trials", args.trials, 1), ("--length", args.length, 2), ("--seed", args.seed, 0)):
        if value < least:
            raise PerfGateError(f"table: {option} must be at least {least}, not {value}")
    for block in args.block or []:
        if block < 1:
            raise PerfGateError(f"table: --block must be at least 1, not {block}")
    if args.lognormal is not None and not (math.isfinite(args.lognormal) and args.lognormal >= 0):
        raise PerfGateError(f"table: --lognormal must be a finite sd(log) >= 0, not {args.lognormal}")


def _table_command(args: argparse.Namespace) -> int:
    _check_table_options(args)
    pools = read_pool(args.pool) if args.pool else \
        {f"lognormal {args.lognormal}": np.exp(np.random.default_rng(args.seed).normal(0, args.lognormal, 100_000))}
    shortest = min(pools, key=lambda k: len(pools[k]))
    longest_block = max(args.block or [1])
    if longest_block > len(pools[shortest]):
        raise PerfGateError(f"{f'pool file {args.pool}' if args.pool else 'table'}: --block {longest_block} is "
                            f"longer than the "
                            f"{len(pools[shortest])} runs of {shortest!r}")
    for block in args.block or [1]:
        print(table(pools, Trials(args.trials, args.length, block, seed=args.seed)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line; bad input raises PerfGateError (see the module docstring)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "pool":
        return _pool_command(args)
    if (args.pool is None) == (args.lognormal is None):
        parser.error("table needs --pool or --lognormal")
    return _table_command(args)


if __name__ == "__main__":
    sys.exit(guarded(main, prog="changepoints_eval"))
