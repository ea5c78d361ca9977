"""Keeping the run history small and whole: compaction, and merging two copies of it by run.

Compaction (``perfgate history compact --keep-samples N``): every repetition
(table ``samples``) is kept for the newest N runs of each profile; older runs
keep their summary rows only (n, median, mean, min, max per benchmark and
metric), which is all the trend site and the report's trend charts read. It is
explicit (never a side effect of recording), and transactional: the deletion is
one SQLite transaction, so an interrupted compaction (killed, disk full, an
exception) leaves the history exactly as it was; the space is then given back
by VACUUM, which SQLite also runs as one transaction. A run whose samples have
no summary rows is refused rather than losing its values.

Merging (``perfgate history merge --from OTHER``): adds to a history the runs
of another copy that it does not hold, with their samples and summaries, in one
transaction. Runs are matched by what identifies a run, not by the row id that
each copy numbers on its own: recorded_at, commit, machine, profile, mode and
source (see RUN_KEY). CI uses it so that two jobs recording into the history
branch at once both end up in it (history_sync.py).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from perfgate.errors import PerfGateError
from perfgate.history import RUN_COLUMNS

DEFAULT_KEEP_SAMPLES = 200
# The columns that identify a run across copies of the history (row ids differ between copies).
RUN_KEY = ("recorded_at", "commit_sha", "machine", "profile", "mode", "source")
BUSY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class CompactionResult:
    runs_compacted: int
    samples_deleted: int
    bytes_before: int
    bytes_after: int


def _open(path: Path | str) -> sqlite3.Connection:
    path = Path(path)
    if not path.is_file():
        raise PerfGateError(f"history {path} does not exist")
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise PerfGateError(f"history {path} is not usable: {exc}") from None
    missing = {"runs", "samples", "summary"} - tables
    if missing:
        conn.close()
        raise PerfGateError(f"history {path} is not a perfgate history (no table {', '.join(sorted(missing))})")
    return conn


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def runs_to_compact(conn: sqlite3.Connection, keep: int) -> list[int]:
    """Ids of runs older than the newest `keep` of their profile that still hold samples."""
    return [r[0] for r in conn.execute(
        "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY COALESCE(profile, '')"
        " ORDER BY recorded_at DESC, id DESC) AS age FROM runs)"
        " WHERE age > ? AND EXISTS (SELECT 1 FROM samples s WHERE s.run_id = id) ORDER BY id", (keep,))]


def compact(path: Path | str, keep: int = DEFAULT_KEEP_SAMPLES, *, vacuum: bool = True,
            before_commit: Callable[[], None] | None = None) -> CompactionResult:
    """Drops the repetitions of all but the newest `keep` runs per profile (summaries stay).

    `before_commit` runs inside the transaction after the deletion (tests interrupt there)."""
    if keep < 0:
        raise PerfGateError(f"history compact: --keep-samples must be >= 0, not {keep}")
    path = Path(path)
    conn = _open(path)
    before = _size(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            ids = runs_to_compact(conn, keep)
            conn.execute("CREATE TEMP TABLE doomed (id INTEGER PRIMARY KEY)")
            conn.executemany("INSERT INTO doomed VALUES (?)", [(i,) for i in ids])
            orphan = conn.execute(
                "SELECT s.run_id, s.benchmark, s.metric FROM samples s JOIN doomed d ON d.id = s.run_id"
                " WHERE NOT EXISTS (SELECT 1 FROM summary u WHERE u.run_id = s.run_id"
                " AND u.benchmark = s.benchmark AND u.metric = s.metric) LIMIT 1").fetchone()
            if orphan:
                raise PerfGateError(f"history {path}: run {orphan[0]} has samples of {orphan[1]} {orphan[2]} "
                                    "without a summary row; refusing to compact (nothing changed)")
            deleted = conn.execute("DELETE FROM samples WHERE run_id IN (SELECT id FROM doomed)").rowcount
            conn.execute("DROP TABLE doomed")
            if before_commit:
                before_commit()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if vacuum and ids:
            conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.DatabaseError as exc:
        raise PerfGateError(f"history {path}: compaction failed, history unchanged: {exc}") from None
    finally:
        conn.close()
    return CompactionResult(len(ids), deleted, before, _size(path))


def merge(into: Path | str, other: Path | str) -> int:
    """Adds the runs of `other` that `into` does not hold (matched by RUN_KEY); returns how many."""
    into, other = Path(into), Path(other)
    probe = _open(other)
    probe.close()
    conn = _open(into)
    key = " AND ".join(f"r.{c} IS o.{c}" for c in RUN_KEY)
    cols = ", ".join(RUN_COLUMNS)
    try:
        conn.execute("ATTACH DATABASE ? AS other", (str(other),))
        conn.execute("BEGIN IMMEDIATE")
        try:
            new = conn.execute(f"SELECT o.id FROM other.runs o WHERE NOT EXISTS (SELECT 1 FROM main.runs r WHERE {key})"
                               " ORDER BY o.recorded_at, o.id").fetchall()
            for (other_id,) in new:
                cur = conn.execute(f"INSERT INTO main.runs ({cols}) SELECT {cols} FROM other.runs WHERE id = ?",
                                   (other_id,))
                run_id = cur.lastrowid
                conn.execute("INSERT INTO main.samples (run_id, benchmark, metric, repetition, value)"
                             " SELECT ?, benchmark, metric, repetition, value FROM other.samples WHERE run_id = ?",
                             (run_id, other_id))
                conn.execute("INSERT INTO main.summary (run_id, benchmark, metric, n, median, mean, min, max, status)"
                             " SELECT ?, benchmark, metric, n, median, mean, min, max, status FROM other.summary"
                             " WHERE run_id = ?", (run_id, other_id))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("DETACH DATABASE other")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.DatabaseError as exc:
        raise PerfGateError(f"history {into}: merging {other} failed, history unchanged: {exc}") from None
    finally:
        conn.close()
    return len(new)


def command(args) -> int:
    """`perfgate history compact` and `perfgate history merge` (cli.py parses the options)."""
    if args.history_command == "compact":
        keep = DEFAULT_KEEP_SAMPLES if args.keep_samples is None else args.keep_samples
        r = compact(args.history, keep)
        print(f"perfgate: {args.history}: {r.runs_compacted} runs compacted to summaries "
              f"({r.samples_deleted} repetitions dropped; repetitions kept for the newest {keep} runs per profile), "
              f"{r.bytes_before / 1e6:.2f} MB -> {r.bytes_after / 1e6:.2f} MB")
        return 0
    added = merge(args.history, args.other)
    print(f"perfgate: merged {added} run(s) from {args.other} into {args.history}")
    return 0
