"""Publishing the run history to a git branch without ever dropping a concurrent run.

    perfgate history sync --history reports/history.sqlite [--remote origin] [--branch perf-history]
                          [--keep-samples 200] [--attempts 6] [--repo .]

The branch holds one commit with one file, ``history.sqlite``, replaced whole on
every update (so the repository does not grow with every run). An update:

1. fetches the branch tip (if the branch exists) and takes its history.sqlite;
2. adds to it the runs of the local history it does not hold (compaction.merge:
   runs matched by recorded_at, commit, machine, profile, mode and source), and
   compacts it to the newest N runs with repetitions per profile;
3. makes a parentless commit of that one file and pushes it with
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
from pathlib import Path
from typing import Callable

from perfgate import compaction
from perfgate.errors import PerfGateError

FILE_NAME = "history.sqlite"
DEFAULT_ATTEMPTS = 6
_IDENTITY = {"GIT_AUTHOR_NAME": "perfgate", "GIT_AUTHOR_EMAIL": "perfgate@localhost",
             "GIT_COMMITTER_NAME": "perfgate", "GIT_COMMITTER_EMAIL": "perfgate@localhost"}


def _git(repo: Path, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for k, v in _IDENTITY.items():
        env.setdefault(k, v)
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, input=stdin, env=env,
                          check=False)
    if check and done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
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


def sync(history: Path | str, *, repo: Path | str = ".", remote: str = "origin", branch: str = "perf-history",
         keep_samples: int = compaction.DEFAULT_KEEP_SAMPLES, attempts: int = DEFAULT_ATTEMPTS,
         message: str = "perf history", before_push: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Merges `history` into the branch's file and pushes it; returns (runs added, attempts used).

    `before_push(attempt)` runs just before each push (tests make a concurrent writer push there)."""
    history, repo = Path(history), Path(repo)
    if not history.is_file():
        raise PerfGateError(f"history {history} does not exist; nothing to sync")
    ref = f"refs/perfgate/{branch}-base"
    for attempt in range(1, attempts + 1):
        tip = _remote_tip(repo, remote, branch)
        with tempfile.TemporaryDirectory(prefix="perfgate-sync-") as tmp:
            merged = Path(tmp) / FILE_NAME
            if tip is None:
                shutil.copyfile(history, merged)
                added = -1  # everything is new
            else:
                _git(repo, "fetch", "--quiet", "--no-tags", "--depth=1", remote, f"+{tip}:{ref}")
                blob = subprocess.run(["git", "-C", str(repo), "cat-file", "blob", f"{tip}:{FILE_NAME}"],
                                      capture_output=True, check=False)
                if blob.returncode != 0:
                    raise PerfGateError(f"history sync: branch {branch} of {remote} has no {FILE_NAME} at {tip[:12]}")
                merged.write_bytes(blob.stdout)
                added = compaction.merge(merged, history)
            if keep_samples is not None:
                compaction.compact(merged, keep_samples)
            blob_id = _git(repo, "hash-object", "-w", str(merged)).stdout.strip()
            tree = _git(repo, "mktree", stdin=f"100644 blob {blob_id}\t{FILE_NAME}\n").stdout.strip()
            commit = _git(repo, "commit-tree", tree, "-m", message).stdout.strip()
        if before_push:
            before_push(attempt)
        pushed = _git(repo, "push", "--quiet", f"--force-with-lease=refs/heads/{branch}:{tip or ''}", remote,
                      f"{commit}:refs/heads/{branch}", check=False)
        if pushed.returncode == 0:
            return added, attempt
        if attempt < attempts:
            time.sleep(random.uniform(0.2, 1.0) * attempt)  # another writer got there first: merge theirs
    raise PerfGateError(f"history sync: branch {branch} of {remote} moved under every one of {attempts} attempts; "
                        "the local history is unchanged")


def command(args) -> int:
    added, attempt = sync(args.history, repo=args.repo, remote=args.remote, branch=args.branch,
                          keep_samples=args.keep_samples, attempts=args.attempts, message=args.message)
    what = "created the branch with" if added < 0 else f"added {added} run(s) to"
    print(f"perfgate: history sync {what} {args.remote}/{args.branch} (attempt {attempt})")
    return 0


def add_arguments(p) -> None:
    p.add_argument("--history", type=Path, required=True)
    p.add_argument("--repo", type=Path, default=Path("."), help="the git repository to push from (default: .)")
    p.add_argument("--remote", default="origin")
    p.add_argument("--branch", default="perf-history")
    p.add_argument("--keep-samples", type=int, default=compaction.DEFAULT_KEEP_SAMPLES, metavar="N")
    p.add_argument("--attempts", type=int, default=DEFAULT_ATTEMPTS)
    p.add_argument("--message", default="perf history")
