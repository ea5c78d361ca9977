"""Keeping the run history small and whole: compaction, and merging two copies of it by run.

Both open, read and write the file through history.py (the owner of its format), so
they check it the same way every other command does and upgrade a version-1 file
before they write it.

Compaction (``perfgate history compact --keep-samples N``): every repetition
(table ``samples``) is kept for the newest N runs of each profile; older runs
keep their summary rows only (n, median, mean, min, max per benchmark and
metric), which is all the trend site and the report's trend charts read. It is
explicit (never a side effect of recording), and transactional: the deletion is
one SQLite transaction, so an interrupted compaction (killed, disk full, an
exception) leaves the history exactly as it was; the space is then given back
by VACUUM, which SQLite also runs as one transaction.

Merging (``perfgate history merge --from OTHER``): adds to a history the runs
of another copy that it does not hold, with their summaries and repetitions, in
one transaction. Runs are matched by their uid, which every copy of a run keeps
(row ids differ between copies; a version-1 run's uid is made from its recorded_at,
commit, machine, profile, mode and source, the same in every copy). CI uses it so
that two jobs recording into the history branch at once both end up in it
(history_sync.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from perfgate import history
from perfgate.errors import PerfGateError

DEFAULT_KEEP_SAMPLES = 200


@dataclass(frozen=True)
class CompactionResult:
    runs_compacted: int
    samples_deleted: int
    bytes_before: int
    bytes_after: int


def _existing(path: Path | str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise PerfGateError(f"history {path} does not exist")
    return path


def compact(path: Path | str, keep: int = DEFAULT_KEEP_SAMPLES, *, vacuum: bool = True,
            before_commit: Callable[[], None] | None = None) -> CompactionResult:
    """Drops the repetitions of all but the newest `keep` runs per profile (summaries stay).

    `before_commit` runs inside the transaction after the deletion (tests interrupt there)."""
    if keep < 0:
        raise PerfGateError(f"history compact: --keep-samples must be >= 0, not {keep}")
    path = _existing(path)
    before = history.file_size(path)
    with history.connect(path) as conn:
        with history.transaction(conn, before_commit):
            ids = history.runs_to_compact(conn, keep)
            deleted = history.drop_samples(conn, ids)
        if vacuum and ids:
            history.vacuum(conn)
    return CompactionResult(len(ids), deleted, before, history.file_size(path))


def merge(into: Path | str, other: Path | str, *, before_commit: Callable[[], None] | None = None) -> int:
    """Adds the runs of `other` that `into` does not hold (matched by uid); returns how many.
    `other` is only read (either schema version); `into` is written in one transaction."""
    into, other = Path(into), _existing(other)
    _existing(into)
    with history.connect(other, write=False) as source:
        theirs = history.read_runs(source)
        with history.connect(into) as conn:
            ours = {r["uid"] for r in history.read_runs(conn)}
            new = [r for r in theirs if r["uid"] not in ours]
            with history.transaction(conn, before_commit):
                writer = history.Writer(conn)
                for run in new:
                    history.copy_run(source, writer, run)
    return len(new)


def command(args) -> int:
    """`perfgate history compact`, `merge` and `migrate` (cli.py parses the options)."""
    if args.history_command == "compact":
        keep = DEFAULT_KEEP_SAMPLES if args.keep_samples is None else args.keep_samples
        r = compact(args.history, keep)
        print(f"perfgate: {args.history}: {r.runs_compacted} runs compacted to summaries "
              f"({r.samples_deleted} repetitions dropped; repetitions kept for the newest {keep} runs per profile), "
              f"{r.bytes_before / 1e6:.2f} MB -> {r.bytes_after / 1e6:.2f} MB")
        return 0
    if args.history_command == "migrate":
        m = history.migrate(args.history)
        if m.from_version == history.SCHEMA_VERSION:
            print(f"perfgate: {args.history} is already schema version {history.SCHEMA_VERSION}; nothing to do")
        else:
            print(f"perfgate: {args.history}: upgraded from schema version {m.from_version} to "
                  f"{history.SCHEMA_VERSION} ({m.runs} runs), {m.bytes_before / 1e6:.2f} MB -> "
                  f"{m.bytes_after / 1e6:.2f} MB")
        return 0
    added = merge(args.history, args.other)
    print(f"perfgate: merged {added} run(s) from {args.other} into {args.history}")
    return 0
