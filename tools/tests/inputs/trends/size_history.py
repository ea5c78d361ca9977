"""Sizes a full-profile history: N runs made from the committed full baseline (each run's
values scaled by lognormal noise of 3%), recorded with perfgate's history.record, then
compacted to the newest K runs with repetitions; prints the file's size and, per table and
index, the bytes it takes (SQLite's dbstat).

    PYTHONPATH=tools python3 tools/tests/inputs/trends/size_history.py OUT.sqlite [RUNS] [KEEP]
"""
import dataclasses
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

from perfgate import compaction, history, load


def tables(path: Path) -> str:
    con = sqlite3.connect(path)
    rows = con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    con.close()
    return ", ".join(f"{name} {size / 1e6:.1f}" for name, size in rows if size >= 100_000)


out = Path(sys.argv[1])
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
keep = int(sys.argv[3]) if len(sys.argv) > 3 else compaction.DEFAULT_KEEP_SAMPLES
base = load.load_baseline(Path(__file__).resolve().parents[4] / "baselines" / "full.json")
rng = np.random.default_rng(1)
out.unlink(missing_ok=True)
t = time.time()
for i in range(runs):
    samples = base.samples.copy()
    samples["value"] = samples["value"] * np.exp(rng.normal(0, 0.03, len(samples)))
    run = dataclasses.replace(base, samples=samples, meta=dict(base.meta, commit=f"{i:040x}"))
    history.record(out, run, mode="baseline", recorded_at=f"2026-{1 + i // 500:02d}-01T00:00:00+00:00#{i:04d}")
raw = out.stat().st_size
print(f"{runs} runs of {len(base.order)} benchmarks recorded in {time.time() - t:.0f} s: {raw / 1e6:.1f} MB "
      f"(schema version {history.SCHEMA_VERSION}; MB per table and index: {tables(out)})")
res = compaction.compact(out, keep)
print(f"compacted to {keep} runs with repetitions: {res.runs_compacted} runs compacted, "
      f"{res.samples_deleted} samples deleted, {res.bytes_before / 1e6:.1f} MB -> {res.bytes_after / 1e6:.1f} MB "
      f"({tables(out)})")
