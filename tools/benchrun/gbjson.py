"""Reading and merging Google Benchmark JSON files written by state_bench."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchrun.errors import BenchRunError


def load(path: Path) -> dict[str, Any]:
    """Loads one Google Benchmark JSON file, or raises BenchRunError."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise BenchRunError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BenchRunError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise BenchRunError(f"{path} is not Google Benchmark JSON (no 'benchmarks' list)")
    return data


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)
