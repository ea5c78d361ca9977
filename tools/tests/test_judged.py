"""The base of a push to main: the last commit a completed gate run judged (benchrun.judged),
on a scratch git repository playing the pushes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchrun import judged
from benchrun.errors import BenchRunError

TOOLS = Path(__file__).resolve().parent.parent


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "main"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "t@example.com")
    git(path, "config", "user.name", "t")
    push(path, "first")
    return path


def push(repo: Path, message: str) -> str:
    """One commit on main (a push of one commit); its id."""
    (repo / "f.txt").write_text(message + "\n")
    git(repo, "add", "f.txt")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def judged_record(commit: str, base: str | None = None) -> dict:
    return judged.record(commit, base, "1", 0)


def test_a_cancelled_middle_push_is_judged_with_the_next_one(repo):
    a = push(repo, "A")                 # judged by a completed run
    b = push(repo, "B: the regression")  # its run was cancelled by the next push
    c = push(repo, "C")
    chosen = judged.push_base(repo, c, judged_record(a), before=b)
    assert chosen.base == a, "github.event.before (B) would leave B unjudged"
    assert chosen.commits == 2
    assert f"last judged commit {a[:12]}: 2 commits since" == chosen.reason


def test_a_push_right_after_a_judged_one_compares_with_it(repo):
    a = push(repo, "A")
    b = push(repo, "B")
    chosen = judged.push_base(repo, b, judged_record(a), before=a)
    assert (chosen.base, chosen.commits) == (a, 1)


def test_after_a_force_push_the_newest_shared_commit_is_the_base(repo):
    shared = push(repo, "shared")
    old = push(repo, "judged, then rewritten away")
    git(repo, "reset", "-q", "--hard", shared)
    new = push(repo, "the rewritten history")
    chosen = judged.push_base(repo, new, judged_record(old), before=old)
    assert chosen.base == shared
    assert chosen.commits == 1
    assert "no longer on main (force push)" in chosen.reason


def test_the_first_run_without_a_record_uses_the_commit_before_the_push(repo):
    a = push(repo, "A")
    b = push(repo, "B")
    chosen = judged.push_base(repo, b, None, before=a)
    assert (chosen.base, chosen.commits) == (a, 1)
    assert chosen.reason.startswith("no judged record yet; comparing with the commit before the push")


def test_without_a_record_or_a_usable_before_the_first_parent_is_the_base(repo):
    first = git(repo, "rev-parse", "HEAD")
    a = push(repo, "A")
    chosen = judged.push_base(repo, a, None, before="0" * 40)  # a new branch: before is all zeros
    assert chosen.base == first and "first parent" in chosen.reason


def test_a_root_commit_without_a_record_has_no_base(repo):
    root = git(repo, "rev-parse", "HEAD")
    chosen = judged.push_base(repo, root, None, before=None)
    assert chosen.base is None and "no parent: no base revision" in chosen.reason


def test_a_rerun_of_the_run_that_judged_head_compares_against_the_same_base(repo):
    a = push(repo, "A")
    b = push(repo, "B")
    c = push(repo, "C")
    chosen = judged.push_base(repo, c, judged_record(c, base=a), before=b)
    assert (chosen.base, chosen.commits) == (a, 2)


def test_a_record_from_another_repository_falls_back_to_before(repo):
    a = push(repo, "A")
    b = push(repo, "B")
    chosen = judged.push_base(repo, b, judged_record("f" * 40), before=a)
    assert chosen.base == a and "not in this history" in chosen.reason


def test_a_malformed_record_is_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "judged.json"
    bad.write_text('{"commit": "abc"}')
    with pytest.raises(BenchRunError, match=r"judged record .*judged.json is not a format_version 1 record"):
        judged.load_record(bad)
    assert judged.load_record(tmp_path / "absent.json") is None


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchrun", *args], capture_output=True, text=True,
                          env={"PYTHONPATH": str(TOOLS), "PATH": "/usr/bin:/bin"})


def test_the_cli_records_a_judged_run_and_prints_the_next_base_for_github_output(repo, tmp_path):
    a = push(repo, "A")
    b = push(repo, "B")
    c = push(repo, "C")
    record = tmp_path / "judged.json"
    done = run_cli("judged-record", "--commit", a, "--run", "41", "--exit-code", "1", "--out", str(record))
    assert done.returncode == 0, done.stderr
    assert json.loads(record.read_text())["commit"] == a
    done = run_cli("push-base", "--repo", str(repo), "--record", str(record), "--head", c, "--before", b)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert lines["base"] == a and lines["commits"] == "2"


def test_a_run_that_could_not_judge_records_nothing(tmp_path):
    out = tmp_path / "judged.json"
    done = run_cli("judged-record", "--commit", "a" * 40, "--run", "7", "--exit-code", "2", "--out", str(out))
    assert done.returncode == 2
    assert "exited 2 judged nothing: no record written" in done.stderr
    assert not out.exists()
