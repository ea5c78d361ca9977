"""The run history: a SQLite file (reports/history.sqlite by default).

Schema (SCHEMA_VERSION 1, stored in ``PRAGMA user_version``)::

    runs     id, recorded_at (ISO 8601 UTC, when perfgate recorded it), run_date
             (the benchmark's own context date), commit_sha, branch, dirty, machine,
             profile, build_type, compiler, mode, verdict, source
    samples  run_id, benchmark, metric, repetition, value      -- every repetition
    summary  run_id, benchmark, metric, n, median, mean, min, max, status
             -- one row per run x benchmark x metric, so trends read one small row
                per point instead of aggregating samples

Trends (``trends``) read ``summary`` joined with ``runs`` through pandas.

Contract:

* Commands that read (``list_runs``, ``trends``; ``report``, ``history list``) open
  the file read-only and never write it: an empty SQLite file reads as an empty
  history; a file of another program, a schema of another version or with tables
  missing, and a file failing ``PRAGMA quick_check`` are refused (PerfGateError
  naming the file) before anything trusts them.
* ``record`` and ``prune`` write one ``BEGIN IMMEDIATE`` transaction each, so a run
  is either wholly in the history or not at all; a second writer waits (busy
  timeout) instead of failing. The journal is a rollback journal (``DELETE``), not a
  WAL: once a command returns, history.sqlite alone holds everything committed, so
  copying that one file (CI pushes it to a branch) copies the whole history; a
  failed write (disk full) rolls back and leaves the file as it was.
* ``prune`` refuses a negative, non-finite or absurd age and can say what it would
  delete without deleting (``dry_run``).
"""

from __future__ import annotations

import math
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pandas as pd

from perfgate.errors import PerfGateError
from perfgate.results import RunData

SCHEMA_VERSION = 1
# How long a writer waits for another writer's transaction before giving up.
# Recording one run takes milliseconds; 60 s covers a slow shared disk.
BUSY_TIMEOUT_MS = 60_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL,
    run_date TEXT,
    commit_sha TEXT,
    branch TEXT,
    dirty TEXT,
    machine TEXT,
    profile TEXT,
    build_type TEXT,
    compiler TEXT,
    mode TEXT,
    verdict TEXT,
    source TEXT
);
CREATE TABLE IF NOT EXISTS samples (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    benchmark TEXT NOT NULL,
    metric TEXT NOT NULL,
    repetition INTEGER NOT NULL,
    value REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS summary (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    benchmark TEXT NOT NULL,
    metric TEXT NOT NULL,
    n INTEGER NOT NULL,
    median REAL, mean REAL, min REAL, max REAL,
    status TEXT,
    PRIMARY KEY (benchmark, metric, run_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS samples_run ON samples(run_id);
CREATE INDEX IF NOT EXISTS runs_profile ON runs(profile, id);
CREATE INDEX IF NOT EXISTS runs_recorded ON runs(recorded_at);
"""

# The columns of a run, in the order insert_run takes them.
RUN_COLUMNS = ("recorded_at", "run_date", "commit_sha", "branch", "dirty", "machine", "profile", "build_type",
               "compiler", "mode", "verdict", "source")

# Metrics kept in the history: the ones the report charts or the gate judges.
RECORDED_METRICS = ("real_time", "allocs_per_op", "p99_ns", "instructions_per_op")


def _utcnow() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


# Longest age prune accepts: a century. Beyond it datetime arithmetic overflows, and no
# history is that old; a typo such as 1e10 is refused rather than read as "delete nothing".
MAX_AGE_DAYS = 36_525
TABLES = {"runs": {"id", *RUN_COLUMNS},
          "samples": {"run_id", "benchmark", "metric", "repetition", "value"},
          "summary": {"run_id", "benchmark", "metric", "n", "median", "mean", "min", "max", "status"}}


@contextmanager
def connect(path: Path | str, *, write: bool = True) -> Iterator[sqlite3.Connection]:
    """Opens the history after checking it (see the module docstring). `write`: for
    record and prune (creates the file and the schema when needed); otherwise read-only."""
    path = Path(path)
    conn = _open(path, write)
    try:
        _check(conn, path, write)
        yield conn
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
        raise PerfGateError(f"history {path} is not usable: {_one_line(exc)}") from None
    finally:
        conn.close()


def _open(path: Path, write: bool) -> sqlite3.Connection:
    try:
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        else:
            _require(path)
            uri = f"{path.resolve().as_uri()}?mode=ro"
            if _is_closed_wal(path):
                # A WAL-mode file (histories written before the rollback journal) opened read-only
                # would leave -wal and -shm files beside it; with no -wal file nothing is pending,
                # so it is read as the immutable file it is.
                uri += "&immutable=1"
            conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except (OSError, sqlite3.Error) as exc:
        raise PerfGateError(f"cannot open history {path}: {_one_line(exc)}") from None
    return conn


def _is_closed_wal(path: Path) -> bool:
    """True for a file in WAL mode (header bytes 18-19 are 2) with no -wal file beside it."""
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError:
        return False
    wal = path.with_name(path.name + "-wal")
    return header[:16] == b"SQLite format 3\x00" and header[18:20] == b"\x02\x02" and not wal.exists()


def _check(conn: sqlite3.Connection, path: Path, write: bool) -> None:
    """Refuses a history that is corrupt, foreign or of another schema; creates the
    schema in an empty file when writing."""
    problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise PerfGateError(f"history {path} is corrupt (quick_check: {_one_line(problems[0])}"
                            f"{f', and {len(problems) - 1} more problems' if len(problems) > 1 else ''})")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables.discard("sqlite_sequence")
    if version not in (0, SCHEMA_VERSION):
        raise PerfGateError(f"history {path} has schema version {version}; this perfgate reads {SCHEMA_VERSION}")
    if version == 0 and tables:
        raise PerfGateError(f"history {path} is an SQLite file of something else (tables: "
                            f"{', '.join(sorted(tables)[:5])}), not a perfgate history")
    if version == SCHEMA_VERSION:
        for table, columns in TABLES.items():
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if not columns <= have:
                lacks = "is missing" if not have else "lacks columns " + ", ".join(sorted(columns - have))
                raise PerfGateError(f"history {path} is damaged: table {table} {lacks}")
    if write:
        conn.execute("PRAGMA journal_mode = DELETE")  # also turns an older WAL history into one file
        conn.execute("PRAGMA foreign_keys = ON")
        if version == 0:
            # One transaction: a concurrent creator waits, then finds the tables there.
            conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version = {SCHEMA_VERSION};COMMIT;")


def _has_schema(conn: sqlite3.Connection) -> bool:
    return conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def record(path: Path | str, run: RunData, *, mode: str = "baseline", verdict: str = "",
           statuses: dict[str, str] | None = None, recorded_at: str | None = None) -> int:
    """Records one run (all its repetitions and a per-benchmark summary); returns its id."""
    statuses = statuses or {}
    samples = run.samples[run.samples["metric"].isin(RECORDED_METRICS)]
    summary = (samples.groupby(["benchmark", "metric"], sort=False)["value"]
               .agg(["count", "median", "mean", "min", "max"]).reset_index())
    aggs = run.aggregates[run.aggregates["metric"].isin(RECORDED_METRICS)]
    have = set(zip(summary["benchmark"], summary["metric"]))
    extra = []  # aggregate-only benchmarks: summary rows from the aggregates
    for (bench, metric), grp in aggs.groupby(["benchmark", "metric"], sort=False):
        if (bench, metric) in have:
            continue
        by = dict(zip(grp["statistic"], grp["value"]))
        center = by.get("median", by.get("mean"))
        extra.append((bench, metric, 0, center, by.get("mean", center), None, None))
    with connect(path) as conn:
        try:
            conn.execute("BEGIN IMMEDIATE")
            run_id = insert_run(conn, (recorded_at or _utcnow(), run.ctx("date"), run.commit,
                                       run.ctx("statestore_git_branch"), run.ctx("statestore_git_dirty"),
                                       run.machine, run.profile, run.ctx("statestore_build_type"),
                                       run.ctx("statestore_compiler"), mode, verdict, run.path))
            conn.executemany(
                "INSERT INTO samples (run_id, benchmark, metric, repetition, value) VALUES (?,?,?,?,?)",
                ((run_id, b, m, int(r), float(v)) for b, m, r, v in samples.itertuples(index=False)))
            rows: list[tuple] = [(run_id, b, m, int(n), float(med), float(mean), float(lo), float(hi),
                     statuses.get(b) if m == "real_time" else None)
                    for b, m, n, med, mean, lo, hi in summary.itertuples(index=False)]
            rows += [(run_id, b, m, n, med, mean, lo, hi, statuses.get(b) if m == "real_time" else None)
                     for b, m, n, med, mean, lo, hi in extra]
            conn.executemany("INSERT INTO summary (run_id, benchmark, metric, n, median, mean, min, max, status)"
                             " VALUES (?,?,?,?,?,?,?,?,?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return run_id


def insert_run(conn: sqlite3.Connection, values: tuple, run_id: int | None = None) -> int:
    """Inserts one row of `runs` (values in RUN_COLUMNS order) inside the caller's
    transaction; returns its id (`run_id`, or the next free one)."""
    columns = ("id", *RUN_COLUMNS) if run_id is not None else RUN_COLUMNS
    row = (run_id, *values) if run_id is not None else tuple(values)
    cur = conn.execute(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", row)
    return int(cur.lastrowid or 0)


def list_runs(path: Path | str, limit: int | None = None) -> pd.DataFrame:
    """The runs, newest first, with their benchmark counts (read-only)."""
    query = ("SELECT r.id, r.recorded_at, r.commit_sha, r.branch, r.machine, r.profile, r.mode, r.verdict,"
             " (SELECT COUNT(*) FROM summary s WHERE s.run_id = r.id AND s.metric = 'real_time') AS benchmarks"
             " FROM runs r ORDER BY r.id DESC")
    if limit:
        query += f" LIMIT {int(limit)}"
    with connect(path, write=False) as conn:
        if not _has_schema(conn):
            return pd.DataFrame(columns=["id", "recorded_at", "commit_sha", "branch", "machine", "profile", "mode",
                                         "verdict", "benchmarks"])
        return pd.read_sql_query(query, conn)


@dataclass(frozen=True)
class Pruned:
    """What prune deleted (or, dry_run, would delete)."""

    ids: list[int]
    cutoff: str | None  # runs recorded before this time went (--older-than)
    remaining: int


def prune(path: Path | str, *, keep: int | None = None, older_than_days: float | None = None,
          now: datetime | None = None, dry_run: bool = False) -> Pruned:
    """Deletes runs beyond the newest `keep` and/or recorded more than `older_than_days` ago
    (a run goes if either says so); `dry_run`: deletes nothing, says what would go."""
    if keep is None and older_than_days is None:
        raise PerfGateError("history prune needs --keep N and/or --older-than DAYS")
    if keep is not None and keep < 0:
        raise PerfGateError(f"history prune: --keep must be >= 0, not {keep}")
    if older_than_days is not None and not (math.isfinite(older_than_days)
                                            and 0 <= older_than_days <= MAX_AGE_DAYS):
        raise PerfGateError(f"history prune: --older-than must be a number of days from 0 to {MAX_AGE_DAYS:,}, "
                            f"not {older_than_days}")
    _require(path)
    cutoff = None
    if older_than_days is not None:
        cutoff = ((now or datetime.now(timezone.utc)) - timedelta(days=older_than_days)).isoformat()
    with connect(path, write=not dry_run) as conn:
        if not _has_schema(conn):
            return Pruned([], cutoff, 0)
        conn.execute("BEGIN IMMEDIATE" if not dry_run else "BEGIN")
        doomed: set[int] = set()
        if keep is not None:
            doomed |= {r[0] for r in conn.execute("SELECT id FROM runs ORDER BY id DESC LIMIT -1 OFFSET ?", (keep,))}
        if cutoff is not None:
            doomed |= {r[0] for r in conn.execute("SELECT id FROM runs WHERE recorded_at < ?", (cutoff,))}
        total = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        if not dry_run:
            ids = [(i,) for i in sorted(doomed)]
            conn.executemany("DELETE FROM samples WHERE run_id = ?", ids)
            conn.executemany("DELETE FROM summary WHERE run_id = ?", ids)
            conn.executemany("DELETE FROM runs WHERE id = ?", ids)
            conn.execute("COMMIT")
        else:
            conn.execute("ROLLBACK")
    return Pruned(sorted(doomed), cutoff, total - len(doomed))


def trends(path: Path | str, benchmarks: list[str], *, profile: str, metric: str = "real_time",
           last: int = 200) -> pd.DataFrame:
    """Per-run medians of `benchmarks` over the last `last` runs of `profile`.

    Columns: run_id, recorded_at, commit_sha, machine, benchmark, median, status. Empty
    frame when the history does not exist yet.
    """
    columns = ["run_id", "recorded_at", "commit_sha", "machine", "benchmark", "median", "status"]
    if not benchmarks or not Path(path).exists():
        return pd.DataFrame(columns=columns)
    with connect(path, write=False) as conn:
        if not _has_schema(conn):
            return pd.DataFrame(columns=columns)
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (name TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM wanted")
        conn.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", [(b,) for b in benchmarks])
        query = (
            "WITH recent AS (SELECT id, recorded_at, commit_sha, machine FROM runs WHERE profile = ?"
            " ORDER BY id DESC LIMIT ?)"
            " SELECT r.id AS run_id, r.recorded_at, r.commit_sha, r.machine, s.benchmark, s.median, s.status"
            " FROM recent r JOIN summary s ON s.run_id = r.id"
            " WHERE s.metric = ? AND s.benchmark IN (SELECT name FROM wanted) ORDER BY s.benchmark, r.id")
        return pd.read_sql_query(query, conn, params=(profile, int(last), metric))


def _require(path: Path | str) -> None:
    if not Path(path).exists():
        raise PerfGateError(f"history {path} does not exist")
