"""Calls the gate (perfgate) as a separate process: benchrun never judges."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchrun.errors import BenchRunError
from perfgate import verdict
from perfgate.errors import PerfGateError

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
    check in `report_dir` (the suspect rule: perfgate.status.is_suspect)."""
    try:
        return verdict.suspects(report_dir / "verdict.json")
    except PerfGateError as exc:
        raise BenchRunError(f"cannot read the gate's verdict ({exc})") from None
