"""Google Benchmark JSON files of state_bench runs: read and written through perfgate's
results module (one owner of the format), and merged across A/B rounds here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchrun.errors import BenchRunError
from perfgate import results
from perfgate.errors import PerfGateError


def load(path: Path) -> dict[str, Any]:
    """Loads and validates one Google Benchmark JSON file, or raises BenchRunError."""
    try:
        return results.read_document(path)
    except PerfGateError as exc:
        raise BenchRunError(str(exc)) from None


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Concatenates the per-repetition rows of several runs of one binary.

    Rounds of an A/B each hold one or a few repetitions; the merged
    file holds them all, renumbered so that (run_name, repetition_index) stays
    unique, which is what the gate requires. Aggregate rows are dropped: they
    described one round only, and the gate recomputes statistics from samples.
    """
    if not parts:
        raise BenchRunError("nothing to merge: no benchmark runs")
    merged: dict[str, Any] = {"context": dict(parts[0].get("context", {})), "benchmarks": []}
    next_index: dict[str, int] = {}
    for part in parts:
        for row in part["benchmarks"]:
            if row.get("run_type") == "aggregate":
                continue
            name = row.get("run_name", row.get("name"))
            row = dict(row)
            row["repetition_index"] = next_index.get(name, 0)
            next_index[name] = row["repetition_index"] + 1
            merged["benchmarks"].append(row)
    for row in merged["benchmarks"]:
        row["repetitions"] = next_index[row.get("run_name", row.get("name"))]
    return merged


def write(data: dict[str, Any], path: Path) -> None:
    """Writes a Google Benchmark JSON document atomically, or raises BenchRunError."""
    try:
        results.write_document(data, path)
    except PerfGateError as exc:
        raise BenchRunError(str(exc)) from None
