"""Calls the gate (perfgate) as a separate process: benchrun never judges."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchrun.errors import BenchRunError

TOOLS_DIR = Path(__file__).resolve().parent.parent


def check(baseline: Path, results: Path, report_dir: Path, extra: list[str]) -> int:
    """Runs `perfgate check`; returns its exit code (0 pass, 1 fail, 2 bad input)."""
    env = dict(os.environ, PYTHONPATH=str(TOOLS_DIR))
    cmd = [sys.executable, "-m", "perfgate", "check", "--baseline", str(baseline),
           "--results", str(results), "--report-dir", str(report_dir), *extra]
    return subprocess.run(cmd, env=env, check=False).returncode


def baseline(results: Path, out: Path, extra: list[str] | None = None) -> int:
    """Runs `perfgate baseline` (promote `results` to a baseline file at `out`)."""
    env = dict(os.environ, PYTHONPATH=str(TOOLS_DIR))
    cmd = [sys.executable, "-m", "perfgate", "baseline", "--results", str(results), "--out", str(out),
           *(extra or [])]
    return subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL).returncode


def suspect_benchmarks(report_dir: Path) -> list[str]:
    """Names of the benchmarks a confirmation pass should run again, from the last
    check in `report_dir`: those marked regressed, and those whose first-pass
    estimate is slower by more than half the threshold without being judged
    regressed (six rounds cannot tell a real +10% from a noisy +6% here; the
    confirmation's extra rounds can)."""
    path = report_dir / "verdict.json"
    try:
        verdict = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchRunError(f"cannot read the gate's verdict {path}: {exc}") from exc
    suspects = set()
    for row in verdict.get("rows", []):
        delta, threshold = row.get("delta_pct"), row.get("threshold")
        undecided = (row.get("status") in ("noise", "unchanged") and delta is not None and threshold
                     and delta > 50 * threshold)
        if row.get("status") == "regressed" or undecided:
            suspects.add(row["benchmark"])
    return sorted(suspects)