"""Measures a normalised history layout on a history made by size_history.py: benchmark and
metric names in a table of their own, one summary row per run x series, and each run x series's
repetitions packed into one BLOB of little-endian doubles. A proposal for the history's schema
version 2 (the README's size figure); perfgate does not read this layout.

    python3 tools/tests/inputs/trends/size_v2_layout.py HISTORY.sqlite OUT.sqlite
"""
import collections
import sqlite3
import struct
import sys
from pathlib import Path

src_path, out = sys.argv[1], Path(sys.argv[2])
out.unlink(missing_ok=True)
src, dst = sqlite3.connect(src_path), sqlite3.connect(out)
dst.executescript("""
CREATE TABLE names (id INTEGER PRIMARY KEY, benchmark TEXT, metric TEXT, UNIQUE (benchmark, metric));
CREATE TABLE summary (series INTEGER, run_id INTEGER, n INTEGER, median REAL, mean REAL, min REAL, max REAL,
                      status TEXT, PRIMARY KEY (series, run_id)) WITHOUT ROWID;
CREATE TABLE samples (run_id INTEGER, series INTEGER, reps BLOB, PRIMARY KEY (run_id, series)) WITHOUT ROWID;
""")
ids = {}
for i, (b, m) in enumerate(src.execute("SELECT DISTINCT benchmark, metric FROM summary")):
    ids[(b, m)] = i
    dst.execute("INSERT INTO names VALUES (?, ?, ?)", (i, b, m))
dst.executemany("INSERT INTO summary VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ((ids[(b, m)], r, n, me, mn, lo, hi, st) for r, b, m, n, me, mn, lo, hi, st in
                 src.execute("SELECT run_id, benchmark, metric, n, median, mean, min, max, status FROM summary")))
reps = collections.defaultdict(list)
for r, b, m, _, v in src.execute("SELECT run_id, benchmark, metric, repetition, value FROM samples"
                                 " ORDER BY run_id, benchmark, metric, repetition"):
    reps[(r, ids[(b, m)])].append(v)
dst.executemany("INSERT INTO samples VALUES (?, ?, ?)",
                ((r, s, struct.pack(f"<{len(v)}d", *v)) for (r, s), v in reps.items()))
dst.commit()
dst.execute("VACUUM")
dst.close()
print(f"{src_path}: {Path(src_path).stat().st_size / 1e6:.1f} MB; normalised layout {out.stat().st_size / 1e6:.1f} MB")
