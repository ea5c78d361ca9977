"""The run history: a SQLite file (reports/history.sqlite by default).

This module is the one owner of the file's format: opening, validating, the schema
version and its upgrade, and every statement that reads or writes a table. The
trend site, the report's charts, compaction, merge, sync, the shard planner and
selfbench all go through it.

Schema (SCHEMA_VERSION 2, stored in ``PRAGMA user_version``)::

    runs     id, uid (the run's identity in every copy of the history), recorded_at
             (ISO 8601 UTC, when perfgate recorded it), run_date (the benchmark's own
             context date), commit_sha, branch, dirty, machine, profile, build_type,
             compiler, mode, verdict, source
    series   id, benchmark, metric                    -- each name once
    summary  run_id, series, n, median, mean, min, max, status, seconds
             -- one row per run x series, keyed (run_id, series); status (the gate's
                verdict row) and seconds (the benchmark's measured time in the run:
                iterations x real time summed over its repetitions) on the real_time
                row only; n = 0 for a benchmark with aggregates but no repetitions
    samples  run_id, series, reps
             -- reps: the run's n repetitions of one series as little-endian float64,
                in repetition order (8 x n bytes)

Version 1 repeated the benchmark and metric names in every summary row and kept
one samples row per repetition: 1,000 full-profile runs took 201 MB (55 MB
compacted); the same runs take 30 MB (14 MB) in version 2 (README, "A history that
stays small").

Contract:

* Commands that read (``list_runs``, ``trends``, ``read_all``, ``durations``;
  ``report``, ``history list``, ``trends``, ``shards``) open the file read-only and
  never write it: an empty SQLite file reads as an empty history; a file of another
  program, a schema of another version or with tables missing, samples that are not
  8 x n bytes of their summary row, and a file failing ``PRAGMA quick_check`` are
  refused (PerfGateError naming the file) before anything trusts them.
* A version-1 file is read as it is (read-only, through temporary views) and is
  upgraded to version 2 only by a command that writes it: ``history migrate``, or
  the first ``record``, ``prune``, ``compact``, ``merge`` or ``sync`` into it (which
  says so on stderr). The upgrade is one ``BEGIN IMMEDIATE`` transaction, validated
  before it commits, then a VACUUM: interrupted (an exception, SIGKILL, a full disk),
  it leaves the version-1 file as it was.
* ``record``, ``prune`` and the upkeep commands write one ``BEGIN IMMEDIATE``
  transaction each, so a run is either wholly in the history or not at all; a second
  writer waits (busy timeout) instead of failing. The journal is a rollback journal
  (``DELETE``), not a WAL: once a command returns, history.sqlite alone holds
  everything committed, so copying that one file (CI pushes it to a branch) copies
  the whole history; a failed write (disk full) rolls back and leaves the file as it was.
* ``prune`` refuses a negative, non-finite or absurd age and can say what it would
  delete without deleting (``dry_run``).
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import statistics
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import groupby
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from perfgate.errors import PerfGateError
from perfgate.fmt import one_line
from perfgate.results import RunData

SCHEMA_VERSION = 2
READS = (1, SCHEMA_VERSION)
# How long a writer waits for another writer's transaction before giving up.
# Recording one run takes milliseconds; 60 s covers a slow shared disk.
BUSY_TIMEOUT_MS = 60_000
# The repetitions of one series in one run, packed: little-endian IEEE 754 doubles.
REPS_DTYPE = np.dtype("<f8")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL UNIQUE,
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
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    benchmark TEXT NOT NULL,
    metric TEXT NOT NULL,
    UNIQUE (benchmark, metric)
);
CREATE TABLE IF NOT EXISTS summary (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    series INTEGER NOT NULL REFERENCES series(id),
    n INTEGER NOT NULL,
    median REAL, mean REAL, min REAL, max REAL,
    status TEXT,
    seconds REAL,
    PRIMARY KEY (run_id, series)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS samples (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    series INTEGER NOT NULL REFERENCES series(id),
    reps BLOB NOT NULL,
    PRIMARY KEY (run_id, series)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_profile ON runs(profile, id);
CREATE INDEX IF NOT EXISTS runs_recorded ON runs(recorded_at);
"""

# The columns of a run, in the order Writer.run takes them (uid apart).
RUN_COLUMNS = ("recorded_at", "run_date", "commit_sha", "branch", "dirty", "machine", "profile", "build_type",
               "compiler", "mode", "verdict", "source")
# What identified a run across copies in version 1 (no uid): a version-1 run's uid is made from these.
V1_RUN_KEY = ("recorded_at", "commit_sha", "machine", "profile", "mode", "source")
# The columns of a summary row as the readers see it (the temporary view `points`, either version).
POINT_COLUMNS = ("benchmark", "metric", "n", "median", "mean", "min", "max", "status", "seconds")

# Metrics kept in the history: the ones the report charts or the gate judges.
RECORDED_METRICS = ("real_time", "allocs_per_op", "p99_ns", "instructions_per_op")

# Longest age prune accepts: a century. Beyond it datetime arithmetic overflows, and no
# history is that old; a typo such as 1e10 is refused rather than read as "delete nothing".
MAX_AGE_DAYS = 36_525
TABLES = {1: {"runs": {"id", *RUN_COLUMNS},
              "samples": {"run_id", "benchmark", "metric", "repetition", "value"},
              "summary": {"run_id", "benchmark", "metric", "n", "median", "mean", "min", "max", "status"}},
          2: {"runs": {"id", "uid", *RUN_COLUMNS},
              "series": {"id", "benchmark", "metric"},
              "summary": {"run_id", "series", "n", "median", "mean", "min", "max", "status", "seconds"},
              "samples": {"run_id", "series", "reps"}}}
# How the readers see the summary rows of each version: one view, so each query is written once.
_POINTS_VIEW = {
    1: "SELECT run_id, benchmark, metric, n, median, mean, min, max, status, NULL AS seconds FROM main.summary",
    2: ("SELECT s.run_id, n.benchmark, n.metric, s.n, s.median, s.mean, s.min, s.max, s.status, s.seconds"
        " FROM main.summary s JOIN main.series n ON n.id = s.series"),
}


def _utcnow() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


# --------------------------------------------------------------------------- opening and checking

@contextmanager
def connect(path: Path | str, *, write: bool = True) -> Iterator[sqlite3.Connection]:
    """Opens the history after checking it (see the module docstring). `write`: for the
    commands that write (creates the file and the schema when needed, upgrades a version-1
    file first); otherwise read-only. Either way the summary rows read through `points`."""
    path = Path(path)
    conn = _open(path, write)
    try:
        version = _check(conn, path, write)
        if write and version == 1:
            _upgrade(conn, path)
            version = SCHEMA_VERSION
        if version:
            _create_points_view(conn, version)
        yield conn
    except (sqlite3.DatabaseError, pd.errors.DatabaseError, UnicodeDecodeError) as exc:
        # (text that is not UTF-8: a damaged name, or a damaged page's quick_check report)
        raise PerfGateError(f"history {path} is not usable: {one_line(str(exc))}") from None
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
        raise PerfGateError(f"cannot open history {path}: {one_line(str(exc))}") from None
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


def _check(conn: sqlite3.Connection, path: Path, write: bool) -> int:
    """Refuses a history that is corrupt, foreign or of another schema; creates the
    schema in an empty file when writing. Returns the schema version (0: empty)."""
    problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise PerfGateError(f"history {path} is corrupt (quick_check: {one_line(str(problems[0]))}"
                            f"{f', and {len(problems) - 1} more problems' if len(problems) > 1 else ''})")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables.discard("sqlite_sequence")
    if version not in (0, *READS):
        raise PerfGateError(f"history {path} has schema version {version}; this perfgate reads versions "
                            f"{' and '.join(map(str, READS))}")
    if version == 0 and tables:
        raise PerfGateError(f"history {path} is an SQLite file of something else (tables: "
                            f"{', '.join(sorted(tables)[:5])}), not a perfgate history")
    if version:
        _check_tables(conn, path, version)
    if version == SCHEMA_VERSION:
        _check_samples(conn, path)
    if write:
        conn.execute("PRAGMA journal_mode = DELETE")  # also turns an older WAL history into one file
        conn.execute("PRAGMA foreign_keys = ON")
        if version == 0:
            # One transaction: a concurrent creator waits, then finds the tables there.
            conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version = {SCHEMA_VERSION};COMMIT;")
            version = SCHEMA_VERSION
    return version


def _check_tables(conn: sqlite3.Connection, path: Path, version: int) -> None:
    for table, columns in TABLES[version].items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if not columns <= have:
            lacks = "is missing" if not have else "lacks columns " + ", ".join(sorted(columns - have))
            raise PerfGateError(f"history {path} is damaged: table {table} {lacks}")


def _check_samples(conn: sqlite3.Connection, path: Path) -> None:
    problem = _samples_problem(conn)
    if problem:
        raise PerfGateError(f"history {path} is damaged: {problem}")


def _samples_problem(conn: sqlite3.Connection) -> str | None:
    """None when every samples row of a version-2 file names a series, has a summary row,
    and is a BLOB of exactly n doubles (n of that summary row); else the first problem."""
    bad = conn.execute(
        "SELECT p.run_id, p.series, n.benchmark, n.metric, typeof(p.reps), length(p.reps), s.n"
        " FROM samples p LEFT JOIN series n ON n.id = p.series"
        " LEFT JOIN summary s ON s.run_id = p.run_id AND s.series = p.series"
        " WHERE n.id IS NULL OR s.n IS NULL OR typeof(p.reps) != 'blob' OR typeof(s.n) != 'integer'"
        " OR length(p.reps) != 8 * s.n LIMIT 1").fetchone()
    if bad is None:
        return None
    run_id, series, bench, metric, kind, size, n = bad
    what = f"the repetitions of run {run_id}, {bench} {metric},"
    if bench is None:
        problem = f"run {run_id} has repetitions of series {series}, which table series does not name"
    elif n is None:
        problem = f"run {run_id} has repetitions of {bench} {metric} without a summary row"
    elif kind != "blob":
        problem = f"{what} are {kind}, not a BLOB of doubles"
    else:
        problem = f"{what} are {size} bytes; their summary row's n = {n} needs {8 * n if isinstance(n, int) else '?'}"
    return problem


def _create_points_view(conn: sqlite3.Connection, version: int) -> None:
    conn.execute("DROP VIEW IF EXISTS temp.points")
    conn.execute(f"CREATE TEMP VIEW points AS {_POINTS_VIEW[version]}")


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _has_schema(conn: sqlite3.Connection) -> bool:
    return schema_version(conn) in READS


def file_size(path: Path | str) -> int:
    """Bytes of the history file (and a WAL file beside it, if any)."""
    return sum(p.stat().st_size for p in (Path(path), Path(f"{path}-wal")) if p.exists())


def _require(path: Path | str) -> None:
    if not Path(path).exists():
        raise PerfGateError(f"history {path} does not exist")


# --------------------------------------------------------------------------- the upgrade from version 1

@dataclass(frozen=True)
class Migrated:
    """What `migrate` did: the version it found, and the file's size before and after."""

    from_version: int
    runs: int
    bytes_before: int
    bytes_after: int


def migrate(path: Path | str, *, before_commit: Callable[[], None] | None = None) -> Migrated:
    """Upgrades a version-1 history to version 2 (`perfgate history migrate`); a version-2
    file is left alone. `before_commit` runs inside the transaction (tests interrupt there)."""
    path = Path(path)
    _require(path)
    before = file_size(path)
    conn = _open(path, write=True)
    try:
        version = _check(conn, path, write=True)
        if version == 1:
            _upgrade(conn, path, before_commit, quiet=True)
        runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        raise PerfGateError(f"history {path}: upgrade failed, history unchanged: {one_line(str(exc))}") from None
    finally:
        conn.close()
    return Migrated(version, runs, before, file_size(path))


def _upgrade(conn: sqlite3.Connection, path: Path, before_commit: Callable[[], None] | None = None,
             quiet: bool = False) -> None:
    """Version 1 -> 2 in one transaction (validated before it commits), then VACUUM."""
    before = file_size(path)
    with transaction(conn, before_commit):
        if schema_version(conn) != 1:
            upgraded = False  # another writer upgraded it while we waited for the lock
        else:
            _rebuild_as_v2(conn, path)
            upgraded = True
    if not upgraded:
        return
    conn.execute("VACUUM")
    if not quiet:
        print(f"perfgate: upgraded history {path} from schema version 1 to {SCHEMA_VERSION} "
              f"({before / 1e6:.1f} MB -> {file_size(path) / 1e6:.1f} MB)", file=sys.stderr)


def _rebuild_as_v2(conn: sqlite3.Connection, path: Path) -> None:
    """Inside the upgrade's transaction: the version-2 tables from the version-1 ones, checked."""
    for index in ("samples_run", "runs_profile", "runs_recorded"):
        conn.execute(f"DROP INDEX IF EXISTS {index}")
    for table in ("runs", "samples", "summary"):
        conn.execute(f"ALTER TABLE {table} RENAME TO v1_{table}")
    for statement in _SCHEMA.replace("IF NOT EXISTS ", "").split(";"):
        if statement.strip():
            conn.execute(statement)  # not executescript: it would commit the transaction first
    _copy_v1(conn)
    for table in ("samples", "summary", "runs"):
        conn.execute(f"DROP TABLE v1_{table}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    problem = _samples_problem(conn)
    if problem:
        raise PerfGateError(f"history {path} cannot be upgraded to schema version {SCHEMA_VERSION} "
                            f"(left as it was): {problem}")


def _copy_v1(conn: sqlite3.Connection) -> None:
    """Fills the version-2 tables from the v1_ ones (inside the upgrade's transaction)."""
    cols = ", ".join(RUN_COLUMNS)
    rows = conn.execute(f"SELECT id, {cols} FROM v1_runs ORDER BY id").fetchall()
    uids = _v1_uids([dict(zip(RUN_COLUMNS, r[1:])) for r in rows])
    conn.executemany(f"INSERT INTO runs (id, uid, {cols}) VALUES ({', '.join('?' * (len(RUN_COLUMNS) + 2))})",
                     ((r[0], uid, *r[1:]) for r, uid in zip(rows, uids)))
    conn.execute("INSERT INTO series (benchmark, metric) SELECT benchmark, metric FROM v1_summary"
                 " UNION SELECT benchmark, metric FROM v1_samples ORDER BY 1, 2")
    conn.execute("INSERT INTO summary (run_id, series, n, median, mean, min, max, status)"
                 " SELECT s.run_id, n.id, s.n, s.median, s.mean, s.min, s.max, s.status FROM v1_summary s"
                 " JOIN series n ON n.benchmark = s.benchmark AND n.metric = s.metric"
                 " WHERE s.run_id IN (SELECT id FROM runs) ORDER BY s.run_id, n.id")
    cur = conn.execute("SELECT p.run_id, n.id, p.value FROM v1_samples p"
                       " JOIN series n ON n.benchmark = p.benchmark AND n.metric = p.metric"
                       " WHERE p.run_id IN (SELECT id FROM runs) ORDER BY p.run_id, n.id, p.repetition")
    packed = ((run_id, series, pack([v for *_, v in group]))
              for (run_id, series), group in groupby(cur, key=lambda r: (r[0], r[1])))
    conn.executemany("INSERT INTO samples (run_id, series, reps) VALUES (?, ?, ?)", packed)
    # Ids of deleted runs stay unused, as AUTOINCREMENT promised in version 1.
    conn.execute("UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence"
                 " WHERE name = 'v1_runs'), 0)) WHERE name = 'runs'")


def _v1_uids(runs: Sequence[dict[str, Any]]) -> list[str]:
    """The uids of version-1 runs (in id order), made from what identified a run in version 1,
    so that two copies of one version-1 history, upgraded apart, give their runs the same uids.
    Runs that share that key are told apart by their order."""
    seen: dict[str, int] = {}
    out = []
    for run in runs:
        key = "\x1f".join("\x00" if run[c] is None else str(run[c]) for c in V1_RUN_KEY)
        k = seen.get(key, 0)
        seen[key] = k + 1
        out.append(hashlib.sha256(f"{key}\x1e{k}".encode("utf-8", "surrogatepass")).hexdigest()[:32])
    return out


# --------------------------------------------------------------------------- writing

@contextmanager
def transaction(conn: sqlite3.Connection, before_commit: Callable[[], None] | None = None) -> Iterator[None]:
    """One BEGIN IMMEDIATE transaction: committed when the block ends, rolled back when it
    raises (anything, KeyboardInterrupt included). `before_commit` runs just before COMMIT."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        if before_commit:
            before_commit()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def pack(values: Iterable[float]) -> bytes:
    """The repetitions of one run x series as stored in samples.reps."""
    return np.asarray(list(values), dtype=REPS_DTYPE).tobytes()


def unpack(blob: bytes, path: Path | str = "") -> list[float]:
    if not isinstance(blob, bytes) or len(blob) % REPS_DTYPE.itemsize:
        raise PerfGateError(f"history {path} is damaged: repetitions of {len(blob)} bytes, not whole doubles")
    return np.frombuffer(blob, dtype=REPS_DTYPE).tolist()


class Writer:
    """Writes runs into a connection opened with connect(write=True), inside the caller's
    transaction; keeps the series ids it has looked up."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._ids: dict[tuple[str, str], int] = {}

    def run(self, values: Sequence[Any], *, run_id: int | None = None, uid: str | None = None) -> int:
        """Inserts one run (values in RUN_COLUMNS order); returns its id (`run_id`, or the next
        free one). `uid`: the run's identity from another copy (default: a new one)."""
        columns = ("uid", *RUN_COLUMNS) + (("id",) if run_id is not None else ())
        row = (uid or uuid.uuid4().hex, *values) + ((run_id,) if run_id is not None else ())
        cur = self.conn.execute(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                                row)
        return int(cur.lastrowid or 0)

    def points(self, run_id: int, rows: Iterable[Sequence[Any]]) -> None:
        """Summary rows of one run, each (benchmark, metric, n, median, mean, min, max, status, seconds)."""
        self.conn.executemany(
            "INSERT INTO summary (run_id, series, n, median, mean, min, max, status, seconds)"
            " VALUES (?,?,?,?,?,?,?,?,?)", ((run_id, self.series(r[0], r[1]), *r[2:9]) for r in rows))

    def samples(self, run_id: int, reps: Iterable[tuple[str, str, bytes]]) -> None:
        """The packed repetitions of one run, each (benchmark, metric, pack(values))."""
        self.conn.executemany("INSERT INTO samples (run_id, series, reps) VALUES (?,?,?)",
                              ((run_id, self.series(b, m), blob) for b, m, blob in reps))

    def series(self, benchmark: str, metric: str) -> int:
        key = (benchmark, metric)
        found = self._ids.get(key)
        if found is None:
            self.conn.execute("INSERT OR IGNORE INTO series (benchmark, metric) VALUES (?, ?)", key)
            found = self._ids[key] = self.conn.execute(
                "SELECT id FROM series WHERE benchmark = ? AND metric = ?", key).fetchone()[0]
        return found


def _summarise(run: RunData, statuses: dict[str, str]) -> tuple[list[tuple], list[tuple[str, str, bytes]]]:
    """(summary rows, packed repetitions) of a run's recorded metrics."""
    samples = run.samples[run.samples["metric"].isin(RECORDED_METRICS)].sort_values(
        ["benchmark", "metric", "repetition"], kind="stable")
    points: list[tuple] = []
    reps: list[tuple[str, str, bytes]] = []

    def extras(bench: str, metric: str) -> tuple[str | None, float | None]:
        return (statuses.get(bench), run.durations.get(bench)) if metric == "real_time" else (None, None)

    for (bench, metric), values in samples.groupby(["benchmark", "metric"], sort=False)["value"]:
        v = values.to_numpy(dtype=float)
        points.append((bench, metric, len(v), float(np.median(v)), float(v.mean()), float(v.min()), float(v.max()),
                       *extras(bench, metric)))
        reps.append((bench, metric, v.astype(REPS_DTYPE).tobytes()))
    have = {(p[0], p[1]) for p in points}
    aggs = run.aggregates[run.aggregates["metric"].isin(RECORDED_METRICS)]
    for (bench, metric), grp in aggs.groupby(["benchmark", "metric"], sort=False):
        if (bench, metric) in have:
            continue  # aggregate-only benchmarks: summary rows from the aggregates
        by = dict(zip(grp["statistic"], grp["value"]))
        center = by.get("median", by.get("mean"))
        points.append((bench, metric, 0, center, by.get("mean", center), None, None, *extras(bench, metric)))
    return points, reps


def record(path: Path | str, run: RunData, *, mode: str = "baseline", verdict: str = "",
           statuses: dict[str, str] | None = None, recorded_at: str | None = None) -> int:
    """Records one run (all its repetitions and a per-benchmark summary); returns its id."""
    points, reps = _summarise(run, statuses or {})
    values = (recorded_at or _utcnow(), run.ctx("date"), run.commit, run.ctx("statestore_git_branch"),
              run.ctx("statestore_git_dirty"), run.machine, run.profile, run.ctx("statestore_build_type"),
              run.ctx("statestore_compiler"), mode, verdict, run.path)
    with connect(path) as conn, transaction(conn):
        writer = Writer(conn)
        run_id = writer.run(values)
        writer.points(run_id, points)
        writer.samples(run_id, reps)
    return run_id


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
            _delete_runs(conn, sorted(doomed))
            conn.execute("COMMIT")
        else:
            conn.execute("ROLLBACK")
    return Pruned(sorted(doomed), cutoff, total - len(doomed))


def _delete_runs(conn: sqlite3.Connection, ids: list[int]) -> None:
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM doomed")
    conn.executemany("INSERT INTO doomed VALUES (?)", [(i,) for i in ids])
    for table in ("samples", "summary", "runs"):
        key = "id" if table == "runs" else "run_id"
        conn.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT id FROM doomed)")
    conn.execute("DELETE FROM series WHERE id NOT IN (SELECT series FROM summary)")
    conn.execute("DROP TABLE doomed")


# --------------------------------------------------------------------------- upkeep (compaction.py)

def runs_to_compact(conn: sqlite3.Connection, keep: int) -> list[int]:
    """Ids of runs older than the newest `keep` of their profile that still hold repetitions."""
    return [r[0] for r in conn.execute(
        "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY COALESCE(profile, '')"
        " ORDER BY recorded_at DESC, id DESC) AS age FROM runs)"
        " WHERE age > ? AND EXISTS (SELECT 1 FROM samples s WHERE s.run_id = id) ORDER BY id", (keep,))]


def drop_samples(conn: sqlite3.Connection, ids: Sequence[int]) -> int:
    """Deletes the repetitions of runs `ids` (summary rows stay); returns how many values went."""
    dropped = 0
    for run_id in ids:
        dropped += conn.execute("SELECT COALESCE(SUM(length(reps)), 0) / 8 FROM samples WHERE run_id = ?",
                                (run_id,)).fetchone()[0]
        conn.execute("DELETE FROM samples WHERE run_id = ?", (run_id,))
    return int(dropped)


def read_runs(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every run (id, uid and RUN_COLUMNS), in recording order; version-1 runs get their uid made."""
    cols = ", ".join(RUN_COLUMNS)
    if not _has_schema(conn):
        return []
    if schema_version(conn) == 1:
        rows = [dict(zip(("id", *RUN_COLUMNS), r)) for r in conn.execute(f"SELECT id, {cols} FROM runs ORDER BY id")]
        for run, uid in zip(rows, _v1_uids(rows)):
            run["uid"] = uid
        return sorted(rows, key=lambda r: (str(r["recorded_at"]), r["id"]))
    return [dict(zip(("id", "uid", *RUN_COLUMNS), r))
            for r in conn.execute(f"SELECT id, uid, {cols} FROM runs ORDER BY recorded_at, id")]


def read_points(conn: sqlite3.Connection, run_id: int) -> list[tuple]:
    """The summary rows of one run, each in POINT_COLUMNS order."""
    return conn.execute(f"SELECT {', '.join(POINT_COLUMNS)} FROM points WHERE run_id = ?", (run_id,)).fetchall()


def read_samples(conn: sqlite3.Connection, run_id: int) -> list[tuple[str, str, bytes]]:
    """The packed repetitions of one run, each (benchmark, metric, reps), from either version."""
    if schema_version(conn) == 1:
        rows = conn.execute("SELECT benchmark, metric, value FROM samples WHERE run_id = ?"
                            " ORDER BY benchmark, metric, repetition", (run_id,))
        return [(b, m, pack(float(r[2]) for r in group)) for (b, m), group in groupby(rows, key=lambda r: r[:2])]
    return conn.execute("SELECT n.benchmark, n.metric, p.reps FROM samples p JOIN series n ON n.id = p.series"
                        " WHERE p.run_id = ?", (run_id,)).fetchall()


def copy_run(source: sqlite3.Connection, writer: Writer, run: dict[str, Any]) -> int:
    """Copies one run of `source` (a dict of read_runs) with its summary rows and repetitions
    into the writer's history, inside its transaction; returns its id there."""
    run_id = writer.run([run[c] for c in RUN_COLUMNS], uid=run["uid"])
    writer.points(run_id, read_points(source, run["id"]))
    writer.samples(run_id, read_samples(source, run["id"]))
    return run_id


def vacuum(conn: sqlite3.Connection) -> None:
    """Gives the space of deleted rows back (SQLite runs it as one transaction of its own)."""
    conn.execute("VACUUM")


# --------------------------------------------------------------------------- reading

def list_runs(path: Path | str, limit: int | None = None) -> pd.DataFrame:
    """The runs, newest first, with their benchmark counts (read-only)."""
    query = ("SELECT r.id, r.recorded_at, r.commit_sha, r.branch, r.machine, r.profile, r.mode, r.verdict,"
             " (SELECT COUNT(*) FROM points p WHERE p.run_id = r.id AND p.metric = 'real_time') AS benchmarks"
             " FROM runs r ORDER BY r.id DESC")
    if limit:
        query += f" LIMIT {int(limit)}"
    with connect(path, write=False) as conn:
        if not _has_schema(conn):
            return pd.DataFrame(columns=["id", "recorded_at", "commit_sha", "branch", "machine", "profile", "mode",
                                         "verdict", "benchmarks"])
        return pd.read_sql_query(query, conn)


def trends(path: Path | str, benchmarks: list[str], *, profile: str, metric: str = "real_time",
           last: int = 200) -> pd.DataFrame:
    """Per-run medians of `benchmarks` over the last `last` runs of `profile` (the report's charts).

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
            " SELECT r.id AS run_id, r.recorded_at, r.commit_sha, r.machine, p.benchmark, p.median, p.status"
            " FROM recent r JOIN points p ON p.run_id = r.id"
            " WHERE p.metric = ? AND p.benchmark IN (SELECT name FROM wanted) ORDER BY p.benchmark, r.id")
        return pd.read_sql_query(query, conn, params=(profile, int(last), metric))


def read_all(path: Path | str) -> tuple[list[dict[str, Any]], list[tuple]]:
    """(runs in recording order, summary rows (run_id, benchmark, metric, n, median, min, max)):
    what the trend site reads. Read-only; a missing file is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise PerfGateError(f"history {path} does not exist")
    with connect(path, write=False) as conn:
        if not _has_schema(conn):
            return [], []
        runs = [dict(zip(("id", "recorded_at", "run_date", "commit_sha", "machine", "profile", "mode"), r))
                for r in conn.execute("SELECT id, recorded_at, run_date, commit_sha, machine, profile, mode"
                                      " FROM runs ORDER BY recorded_at, id")]
        rows = conn.execute("SELECT run_id, benchmark, metric, n, median, min, max FROM points").fetchall()
    return runs, rows


def durations(path: Path | str, profile: str, *, last: int = 5) -> tuple[dict[str, float], int]:
    """The measured seconds of each benchmark of `profile`: the median over the newest `last`
    runs of the profile that recorded them; and how many runs that was (0: none has)."""
    with connect(path, write=False) as conn:
        if not _has_schema(conn):
            return {}, 0
        rows = conn.execute(
            "WITH recent AS (SELECT id FROM runs r WHERE profile = ? AND EXISTS (SELECT 1 FROM points p"
            " WHERE p.run_id = r.id AND p.seconds IS NOT NULL) ORDER BY recorded_at DESC, id DESC LIMIT ?)"
            " SELECT p.run_id, p.benchmark, p.seconds FROM points p JOIN recent r ON r.id = p.run_id"
            " WHERE p.metric = 'real_time'", (profile, int(last))).fetchall()
    per: dict[str, list[float]] = {}
    for _, bench, secs in rows:
        if isinstance(bench, str) and isinstance(secs, (int, float)) and math.isfinite(secs) and secs >= 0:
            per.setdefault(bench, []).append(float(secs))
    return {b: statistics.median(v) for b, v in per.items()}, len({r[0] for r in rows})
