"""Publishing the run history to a git branch without ever dropping a concurrent run.

    perfgate history sync --history reports/history.sqlite [--judged reports/judged.json]
                          [--remote origin] [--branch perf-history] [--keep-samples 200]
                          [--attempts 6] [--message TEXT] [--repo .]

The one writer of the CI history branch (the workflow calls it after each run on
main). The branch holds one commit, replaced whole on every update (so the
repository does not grow with every run), with ``history.sqlite`` and, once a push
to main has been judged, ``judged.json`` (benchrun.judged: the next push's base).
An update:

1. fetches the branch tip (if the branch exists) and takes its history.sqlite;
2. adds to it the runs of the local history it does not hold (compaction.merge:
   runs matched by uid), and compacts it to the newest N runs with repetitions per
   profile (a version-1 file on the branch is upgraded to version 2 on the way);
3. makes a parentless commit of that file and of judged.json (``--judged``: this
   run's; otherwise the tip's, kept) and pushes it with
   ``--force-with-lease=<branch>:<the tip fetched in 1>``: the push replaces the
   branch only if nobody else pushed in between. If someone did, it starts over
   from 1 with their file, so their runs are merged rather than overwritten.

The local history is left as it was; CI uploads it as an artifact either way.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from perfgate import compaction
from perfgate.errors import PerfGateError

FILE_NAME = "history.sqlite"
JUDGED_NAME = "judged.json"
DEFAULT_ATTEMPTS = 6
_IDENTITY = {"GIT_AUTHOR_NAME": "perfgate", "GIT_AUTHOR_EMAIL": "perfgate@localhost",
             "GIT_COMMITTER_NAME": "perfgate", "GIT_COMMITTER_EMAIL": "perfgate@localhost"}


@dataclass(frozen=True)
class SyncOptions:
    """Where and how `sync` publishes (the command line's options)."""

    repo: Path = Path(".")                 # the git repository to push from
    remote: str = "origin"
    branch: str = "perf-history"
    keep_samples: int | None = compaction.DEFAULT_KEEP_SAMPLES  # None: no compaction
    attempts: int = DEFAULT_ATTEMPTS
    message: str = "perf history"
    judged: Path | None = None             # this run's judged.json (None: keep the branch's)


class Synced(NamedTuple):
    added: int      # runs added to the branch's history; -1: the branch was created
    attempts: int   # attempts used


def _git(repo: Path, *args: str, check: bool = True, stdin: str | None = None,
         binary: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if args[0] == "commit-tree" and \
            subprocess.run(["git", "-C", str(repo), "config", "user.email"], capture_output=True).returncode != 0:
        env = {**_IDENTITY, **env}  # no identity configured (a scratch clone): a neutral one
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=not binary, input=stdin,
                          env=env, check=False)
    if check and done.returncode != 0:
        err = done.stderr if isinstance(done.stderr, str) else done.stderr.decode("utf-8", "replace")
        tail = err.strip().splitlines()[-1:] or ["(no output)"]
        raise PerfGateError(f"history sync: git {' '.join(args[:2])} failed: {tail[0]}")
    return done


def _remote_tip(repo: Path, remote: str, branch: str) -> str | None:
    done = _git(repo, "ls-remote", "--exit-code", remote, f"refs/heads/{branch}", check=False)
    if done.returncode == 2:
        return None
    if done.returncode != 0:
        raise PerfGateError(f"history sync: cannot reach remote {remote!r}: "
                            f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return done.stdout.split()[0]


def _blob_id(repo: Path, tip: str, name: str) -> str | None:
    done = _git(repo, "rev-parse", "--verify", "--quiet", f"{tip}:{name}", check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _commit(repo: Path, opts: SyncOptions, merged: Path, tip: str | None) -> str:
    """A parentless commit of the merged history and the judged record (ours, else the tip's)."""
    entries = [f"100644 blob {_git(repo, 'hash-object', '-w', str(merged)).stdout.strip()}\t{FILE_NAME}"]
    judged = _git(repo, "hash-object", "-w", str(opts.judged)).stdout.strip() if opts.judged else \
        (_blob_id(repo, tip, JUDGED_NAME) if tip else None)
    if judged:
        entries.append(f"100644 blob {judged}\t{JUDGED_NAME}")
    tree = _git(repo, "mktree", stdin="".join(e + "\n" for e in entries)).stdout.strip()
    return _git(repo, "commit-tree", tree, "-m", opts.message).stdout.strip()


def _merged_file(history: Path, opts: SyncOptions, tip: str | None, out: Path) -> int:
    """Writes to `out` the branch's history (at `tip`) with the local runs merged in; returns
    the runs added (-1: no branch yet, the local history is the whole of it)."""
    if tip is None:
        shutil.copyfile(history, out)
        added = -1
    else:
        ref = f"refs/perfgate/{opts.branch}-base"
        _git(opts.repo, "fetch", "--quiet", "--no-tags", "--depth=1", opts.remote, f"+{tip}:{ref}")
        blob = _git(opts.repo, "cat-file", "blob", f"{tip}:{FILE_NAME}", check=False, binary=True)
        if blob.returncode != 0:
            raise PerfGateError(f"history sync: branch {opts.branch} of {opts.remote} has no {FILE_NAME} "
                                f"at {tip[:12]}")
        out.write_bytes(blob.stdout)
        added = compaction.merge(out, history)
    if opts.keep_samples is not None:
        compaction.compact(out, opts.keep_samples)
    return added


def sync(history: Path | str, opts: SyncOptions = SyncOptions(),
         before_push: Callable[[int], None] | None = None) -> Synced:
    """Merges `history` into the branch's file and pushes it (see the module docstring).

    `before_push(attempt)` runs just before each push (tests make a concurrent writer push there)."""
    history = Path(history)
    if not history.is_file():
        raise PerfGateError(f"history {history} does not exist; nothing to sync")
    if opts.judged is not None and not opts.judged.is_file():
        raise PerfGateError(f"judged record {opts.judged} does not exist")
    if opts.attempts < 1:
        raise PerfGateError(f"history sync: --attempts must be >= 1, not {opts.attempts}")
    for attempt in range(1, opts.attempts + 1):
        tip = _remote_tip(opts.repo, opts.remote, opts.branch)
        with tempfile.TemporaryDirectory(prefix="perfgate-sync-") as tmp:
            merged = Path(tmp) / FILE_NAME
            added = _merged_file(history, opts, tip, merged)
            commit = _commit(opts.repo, opts, merged, tip)
        if before_push:
            before_push(attempt)
        pushed = _git(opts.repo, "push", "--quiet", f"--force-with-lease=refs/heads/{opts.branch}:{tip or ''}",
                      opts.remote, f"{commit}:refs/heads/{opts.branch}", check=False)
        if pushed.returncode == 0:
            return Synced(added, attempt)
        if attempt < opts.attempts:
            time.sleep(random.uniform(0.2, 1.0) * attempt)  # another writer got there first: merge theirs
    raise PerfGateError(f"history sync: branch {opts.branch} of {opts.remote} moved under every one of "
                        f"{opts.attempts} attempts; the local history is unchanged")


def command(args) -> int:
    opts = SyncOptions(repo=args.repo, remote=args.remote, branch=args.branch, keep_samples=args.keep_samples,
                       attempts=args.attempts, message=args.message, judged=args.judged)
    done = sync(args.history, opts)
    what = "created the branch with" if done.added < 0 else f"added {done.added} run(s) to"
    judged = f", {JUDGED_NAME} from {args.judged}" if args.judged else ""
    print(f"perfgate: history sync {what} {args.remote}/{args.branch}{judged} (attempt {done.attempts})")
    return 0


def add_arguments(p) -> None:
    p.add_argument("--history", type=Path, required=True)
    p.add_argument("--judged", type=Path, default=None, metavar="JUDGED.json",
                   help=f"this run's judged record, published as {JUDGED_NAME} (default: keep the branch's)")
    p.add_argument("--repo", type=Path, default=Path("."), help="the git repository to push from (default: .)")
    p.add_argument("--remote", default="origin")
    p.add_argument("--branch", default="perf-history")
    p.add_argument("--keep-samples", type=int, default=compaction.DEFAULT_KEEP_SAMPLES, metavar="N")
    p.add_argument("--attempts", type=int, default=DEFAULT_ATTEMPTS)
    p.add_argument("--message", default="perf history")
