"""Shared fixtures: real Google Benchmark output (inputs/) and helpers that derive
variants from it (scaled times, other contexts) without hand-writing JSON."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
INPUTS = TESTS / "inputs"
TOOLS = TESTS.parent
REPO = TOOLS.parent

sys.path.insert(0, str(TOOLS))

REAL_RESULTS = INPUTS / "gb_quick_5reps.json"
AGGREGATES_ONLY = INPUTS / "gb_aggregates_only.json"
FIXTURE_TARGETS = INPUTS / "targets_fixture.toml"
# Instruction counts: the committed baselines/instructions.json trimmed to 9 benchmarks, and the
# verdict.json that `perfgate check` wrote for it against itself (see inputs/README.md).
INSTRUCTION_BASELINE = INPUTS / "instructions_baseline_trimmed.json"
INSTRUCTION_VERDICT = INPUTS / "instructions_verdict.json"


def load_doc(path: Path = REAL_RESULTS) -> dict:
    return json.loads(path.read_text())


def scaled(doc: dict, factor: float | dict[str, float], *, metric: str = "real_time") -> dict:
    """A copy of `doc` with `metric` of the per-repetition and aggregate rows multiplied.

    `factor` is one number for every benchmark or {run_name: factor} for some."""
    out = copy.deepcopy(doc)
    for row in out["benchmarks"]:
        f = factor if isinstance(factor, (int, float)) else factor.get(row["run_name"], 1.0)
        if row.get("aggregate_name") in ("cv",) or metric not in row:
            continue
        row[metric] = row[metric] * f
    return out


def with_samples(doc: dict, name: str, values: list[float], *, metric: str = "real_time") -> dict:
    """A copy of `doc` where benchmark `name` has exactly these per-repetition values (ns)."""
    out = copy.deepcopy(doc)
    template = next(r for r in out["benchmarks"] if r["run_name"] == name and r["run_type"] == "iteration")
    rows = [r for r in out["benchmarks"] if r["run_name"] != name]
    for i, v in enumerate(values):
        row = dict(template, repetition_index=i, repetitions=len(values), time_unit="ns")
        row[metric] = v
        rows.append(row)
    out["benchmarks"] = rows
    return out


def with_context(doc: dict, **ctx: str) -> dict:
    out = copy.deepcopy(doc)
    out["context"].update(ctx)
    return out


def without(doc: dict, name: str) -> dict:
    out = copy.deepcopy(doc)
    out["benchmarks"] = [r for r in out["benchmarks"] if r["run_name"] != name]
    return out


def write(path: Path, doc: dict | str) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Runs `python3 -m perfgate ARGS` as a subprocess, as CI does."""
    env = dict(os.environ, PYTHONPATH=str(TOOLS))
    return subprocess.run([sys.executable, "-m", "perfgate", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def call_main(capsys, *args: str) -> tuple[int, str, str]:
    """Calls the entry point in-process (same exit-code mapping as the CLI)."""
    from perfgate.__main__ import run
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def real_doc() -> dict:
    return load_doc()


def instruction_verdict(tmp_path: Path, results: dict) -> Path:
    """The verdict.json that the gate itself writes for instruction `results` (a variant of
    INSTRUCTION_BASELINE) judged against INSTRUCTION_BASELINE: what CI passes as --instructions."""
    from perfgate.__main__ import run
    res = write(tmp_path / "instr-results.json", results)
    out = tmp_path / "instructions"
    run(["check", "--baseline", str(INSTRUCTION_BASELINE), "--results", str(res), "--targets", str(FIXTURE_TARGETS),
         "--report-dir", str(out), "--no-history", "--quiet"])
    return out / "verdict.json"
