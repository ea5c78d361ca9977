"""Builds the trend demo's history from recorded runs (record_runs.sh, record_instr_runs.sh):
run i of every directory gets the synthetic commit id sha1("demo-commit-<i>") and the time
2026-11-01 00:00 + i hours (+ k minutes for the k-th directory), recorded in time order.

    PYTHONPATH=tools python3 tools/tests/inputs/trends/build_history.py OUT.sqlite RUNS_DIR...
"""
import dataclasses
import hashlib
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from perfgate import history, load

out = Path(sys.argv[1])
out.unlink(missing_ok=True)
start = datetime(2026, 11, 1, tzinfo=timezone.utc)
runs = []
for k, d in enumerate(sys.argv[2:]):
    for f in sorted(Path(d).glob("run-*.json")):
        i = int(f.stem.split("-")[1])
        runs.append((start + timedelta(hours=i, minutes=k), i, f))
for when, i, f in sorted(runs):
    run = load.load_results(f)
    sha = hashlib.sha1(f"demo-commit-{i}".encode()).hexdigest()
    run = dataclasses.replace(run, context=dict(run.context, statestore_git_commit=sha))
    history.record(out, run, mode="baseline", recorded_at=when.isoformat())
    print(f"run {i:3d} {run.profile:12s} commit {sha[:12]} slowdown {run.ctx('statestore_slowdown')}")
print(f"{len(runs)} runs -> {out}")
