"""Every commit on main judged: the base of a push's A/B is the last commit a completed
gate run judged, not the commit main was at before the push.

GitHub keeps at most one pending run per concurrency group, and a new push cancels the
pending one: with three quick pushes the middle one is never run. Judged against
`github.event.before`, the third push would compare with the second, and whatever the
second brought in would land unseen. So each completed push run records the commit it
judged (judged.json on the `perf-history` branch, beside the run history), and the next
push compares against that record:

  record is an ancestor of HEAD      base = record (the range may hold several commits)
  record no longer on main (force    base = merge-base(record, HEAD): the newest commit
  push rewrote it)                   whose content was judged
  no record yet (first run), or it   base = github.event.before when it is a commit here,
  shares no history with HEAD        else HEAD's first parent, else no base

judged.json: {"format_version": 1, "commit": SHA, "base": SHA or null, "run": RUN_ID,
"exit_code": N, "recorded_at": ISO-8601}; a re-run of the run that judged HEAD compares
against the same base again. A run that could not judge (exit 2) records nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchrun.errors import BenchRunError

RECORD_FORMAT_VERSION = 1
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class PushBase:
    base: str | None
    commits: int
    reason: str

    def github_output(self) -> str:
        """Lines for $GITHUB_OUTPUT (the reason is one line by construction)."""
        return f"base={self.base or ''}\ncommits={self.commits}\nreason={self.reason}\n"


def _git(repo: Path, *args: str) -> str | None:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _is_commit(repo: Path, sha: str | None) -> bool:
    return bool(sha) and not re.fullmatch(r"0*", sha or "") and \
        _git(repo, "cat-file", "-e", f"{sha}^{{commit}}") is not None


def _count(repo: Path, base: str, head: str) -> int:
    return int(_git(repo, "rev-list", "--count", f"{base}..{head}") or 0)


def load_record(path: Path) -> dict[str, Any] | None:
    """The judged record, None when the file does not exist; BenchRunError when malformed."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BenchRunError(f"judged record {path} is not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format_version") != RECORD_FORMAT_VERSION \
            or not _SHA.match(str(doc.get("commit", ""))):
        raise BenchRunError(f"judged record {path} is not a format_version {RECORD_FORMAT_VERSION} record "
                            f"with a 40-hex commit")
    return doc


def push_base(repo: Path, head: str, record: dict[str, Any] | None, before: str | None) -> PushBase:
    """The base of a push to main's A/B (see the module doc)."""
    head = _git(repo, "rev-parse", "--verify", f"{head}^{{commit}}") or ""
    if not head:
        raise BenchRunError(f"head commit {head} is not in {repo}")
    judged = record["commit"] if record else None
    if judged and _is_commit(repo, judged):
        if judged == head:  # a re-run of the run that judged it: the same comparison again
            earlier = record.get("base") if record else None
            if earlier and _is_commit(repo, earlier):
                n = _count(repo, earlier, head)
                return PushBase(earlier, n, f"{head[:12]} was judged before against {earlier[:12]}: "
                                            f"the same comparison again ({_commits(n)})")
            return PushBase(None, 0, f"{head[:12]} was already judged: nothing new to compare")
        if _git(repo, "merge-base", "--is-ancestor", judged, head) is not None:
            n = _count(repo, judged, head)
            return PushBase(judged, n, f"last judged commit {judged[:12]}: {_commits(n)} since")
        fork = _git(repo, "merge-base", judged, head)
        if fork:
            n = _count(repo, fork, head)
            return PushBase(fork, n, f"last judged commit {judged[:12]} is no longer on main (force push); "
                                     f"comparing with {fork[:12]}, the newest commit both share: {_commits(n)} since")
    why = "no judged record yet" if not judged else f"last judged commit {judged[:12]} is not in this history"
    if _is_commit(repo, before) and before != head:
        assert before is not None
        n = _count(repo, before, head)
        return PushBase(before, n, f"{why}; comparing with the commit before the push ({before[:12]}): "
                                   f"{_commits(n)}")
    parent = _git(repo, "rev-parse", "--verify", "--quiet", f"{head}~1")
    if parent:
        return PushBase(parent, 1, f"{why}; comparing with the first parent ({parent[:12]})")
    return PushBase(None, 0, f"{why} and {head[:12]} has no parent: no base revision")


def _commits(n: int) -> str:
    return f"{n} commit{'' if n == 1 else 's'}"


def record(commit: str, base: str | None, run: str, exit_code: int) -> dict[str, Any]:
    for what, sha in (("judged commit", commit), ("base", base or "0" * 40)):
        if not _SHA.match(sha):
            raise BenchRunError(f"{what} must be a 40-hex commit id, not '{sha}'")
    return {"format_version": RECORD_FORMAT_VERSION, "commit": commit, "base": base, "run": run,
            "exit_code": exit_code, "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
