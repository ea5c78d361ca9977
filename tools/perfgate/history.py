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

Concurrency: WAL journal (readers never block the writer), a busy timeout so a
second writer waits instead of failing, and one ``BEGIN IMMEDIATE`` transaction
per recorded run, so a run is either wholly in the history or not at all, and two
processes recording at once serialise instead of corrupting the file.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
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

# Metrics kept in the history: the ones the report charts or issue 6 gates on.
RECORDED_METRICS = ("real_time", "allocs_per_op", "p99_ns", "instructions_per_op")


def _utcnow() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@contextmanager
def connect(path: Path | str) -> Iterator[sqlite3.Connection]:
    """Opens (creating if needed) the history with WAL, busy timeout and the schema."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise PerfGateError(f"cannot open history {path}: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise PerfGateError(f"history {path} has schema version {version}; this perfgate reads {SCHEMA_VERSION}")
        if version == 0:
            # One transaction: a concurrent creator waits, then finds the tables there.
            conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version = {SCHEMA_VERSION};COMMIT;")
        yield conn
    except sqlite3.DatabaseError as exc:
        raise PerfGateError(f"history {path} is not usable: {exc}") from None
    finally:
        conn.close()


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
            rows = [(run_id, b, m, int(n), float(med), float(mean), float(lo), float(hi),
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
        # Fold the WAL back into the main file now, so that copying history.sqlite alone
        # (CI pushes it to a branch) carries this run even if a reader still holds the WAL.
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    return run_id


def insert_run(conn: sqlite3.Connection, values: tuple, run_id: int | None = None) -> int:
    """Inserts one row of `runs` (values in RUN_COLUMNS order) inside the caller's
    transaction; returns its id (`run_id`, or the next free one)."""
    columns = ("id", *RUN_COLUMNS) if run_id is not None else RUN_COLUMNS
    row = (run_id, *values) if run_id is not None else tuple(values)
    cur = conn.execute(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", row)
    return int(cur.lastrowid or 0)


def list_runs(path: Path | str, limit: int | None = None) -> pd.DataFrame:
    """The runs, newest first, with their benchmark counts."""
    _require(path)
    with connect(path) as conn:
        query = ("SELECT r.id, r.recorded_at, r.commit_sha, r.branch, r.machine, r.profile, r.mode, r.verdict,"
                 " (SELECT COUNT(*) FROM summary s WHERE s.run_id = r.id AND s.metric = 'real_time') AS benchmarks"
                 " FROM runs r ORDER BY r.id DESC")
        if limit:
            query += f" LIMIT {int(limit)}"
        return pd.read_sql_query(query, conn)


def prune(path: Path | str, *, keep: int | None = None, older_than_days: float | None = None,
          now: datetime | None = None) -> int:
    """Deletes runs beyond the newest `keep` and/or recorded more than `older_than_days` ago.

    Returns how many runs were deleted. Both limits may be given: a run goes if either says so.
    """
    if keep is None and older_than_days is None:
        raise PerfGateError("history prune needs --keep N and/or --older-than DAYS")
    if keep is not None and keep < 0:
        raise PerfGateError(f"history prune: --keep must be >= 0, not {keep}")
    _require(path)
    with connect(path) as conn:
        conn.execute("BEGIN IMMEDIATE")
        doomed: set[int] = set()
        if keep is not None:
            doomed |= {r[0] for r in conn.execute("SELECT id FROM runs ORDER BY id DESC LIMIT -1 OFFSET ?", (keep,))}
        if older_than_days is not None:
            cutoff = ((now or datetime.now(timezone.utc)) - timedelta(days=older_than_days)).isoformat()
            doomed |= {r[0] for r in conn.execute("SELECT id FROM runs WHERE recorded_at < ?", (cutoff,))}
        ids = [(i,) for i in sorted(doomed)]
        conn.executemany("DELETE FROM samples WHERE run_id = ?", ids)
        conn.executemany("DELETE FROM summary WHERE run_id = ?", ids)
        conn.executemany("DELETE FROM runs WHERE id = ?", ids)
        conn.execute("COMMIT")
    return len(doomed)


def trends(path: Path | str, benchmarks: list[str], *, profile: str, metric: str = "real_time",
           last: int = 200) -> pd.DataFrame:
    """Per-run medians of `benchmarks` over the last `last` runs of `profile`.

    Columns: run_id, recorded_at, commit_sha, machine, benchmark, median, status. Empty
    frame when the history does not exist yet.
    """
    columns = ["run_id", "recorded_at", "commit_sha", "machine", "benchmark", "median", "status"]
    if not benchmarks or not Path(path).exists():
        return pd.DataFrame(columns=columns)
    with connect(path) as conn:
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
