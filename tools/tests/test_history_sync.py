"""The history branch: one file replaced whole, and two writers at once never drop a run."""

import multiprocessing
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import TOOLS, run_cli, scaled, with_context, write
from perfgate import history, history_sync, load
from perfgate.history_sync import SyncOptions
from perfgate.errors import PerfGateError


def git(*args, cwd=None, input=None):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, input=input).stdout


@pytest.fixture
def remote(tmp_path):
    bare = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", str(bare))
    return bare


def clone(tmp_path, remote, name):
    work = tmp_path / name
    git("init", "--quiet", str(work))
    git("remote", "add", "origin", str(remote), cwd=work)
    return work


def add_run(db, tmp_path, real_doc, tag, day):
    doc = with_context(scaled(real_doc, 1.0 + day / 100), statestore_git_commit=tag)
    f = write(tmp_path / f"{tag}.json", doc)
    history.record(db, load.load_results(f), recorded_at=f"2026-02-{day:02d}T00:00:00+00:00")


def branch_commits(remote):
    con_path = remote.parent / "check.sqlite"
    con_path.write_bytes(subprocess.run(["git", "--git-dir", str(remote), "cat-file", "blob",
                                         "perf-history:history.sqlite"], capture_output=True, check=True).stdout)
    con = sqlite3.connect(con_path)
    out = sorted(r[0] for r in con.execute("SELECT commit_sha FROM runs"))
    con.close()
    return out


def test_the_branch_is_one_commit_with_one_file_replaced_whole(tmp_path, remote, real_doc):
    work = clone(tmp_path, remote, "a")
    db = tmp_path / "a.sqlite"
    add_run(db, tmp_path, real_doc, "r1", 1)
    assert history_sync.sync(db, SyncOptions(repo=work)) == (-1, 1)
    add_run(db, tmp_path, real_doc, "r2", 2)
    assert history_sync.sync(db, SyncOptions(repo=work)) == (1, 1)
    assert git("--git-dir", str(remote), "rev-list", "--count", "perf-history").strip() == "1"
    assert git("--git-dir", str(remote), "ls-tree", "--name-only", "perf-history").split() == ["history.sqlite"]
    assert branch_commits(remote) == ["r1", "r2"]


def test_a_writer_that_lost_the_race_merges_the_winners_run_instead_of_dropping_it(tmp_path, remote, real_doc):
    a, b = clone(tmp_path, remote, "a"), clone(tmp_path, remote, "b")
    base = tmp_path / "base.sqlite"
    add_run(base, tmp_path, real_doc, "r0", 1)
    history_sync.sync(base, SyncOptions(repo=a))
    db_a, db_b = tmp_path / "ha.sqlite", tmp_path / "hb.sqlite"
    db_a.write_bytes(base.read_bytes())
    db_b.write_bytes(base.read_bytes())
    add_run(db_a, tmp_path, real_doc, "ra", 2)
    add_run(db_b, tmp_path, real_doc, "rb", 3)

    def b_pushes_first(attempt):
        if attempt == 1:
            assert history_sync.sync(db_b, SyncOptions(repo=b)) == (1, 1)

    added, attempts = history_sync.sync(db_a, SyncOptions(repo=a), b_pushes_first)
    assert attempts == 2 and added == 1
    assert branch_commits(remote) == ["r0", "ra", "rb"]


def _writer(args):
    import sys
    tools, db, work, judged, barrier = args
    sys.path.insert(0, tools)
    from perfgate import history_sync as hs
    barrier.wait()
    return hs.sync(db, hs.SyncOptions(repo=Path(work), attempts=20, judged=Path(judged) if judged else None))


def test_two_writers_at_once_both_land_with_the_judged_record(tmp_path, remote, real_doc):
    """A push to main (its judged.json) and the nightly (none) record at once: both runs and
    the push's judged record end up on the branch, whichever pushed first."""
    dbs, works = [], []
    for k in range(2):
        db = tmp_path / f"w{k}.sqlite"
        for j in range(2):
            add_run(db, tmp_path, real_doc, f"w{k}-{j}", 1 + 10 * k + j)
        dbs.append(db)
        works.append(clone(tmp_path, remote, f"work{k}"))
    judged = tmp_path / "judged.json"
    judged.write_text('{"format_version": 1, "commit": "' + "a" * 40 + '"}\n')
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=((str(TOOLS), str(db), str(w), str(judged) if k == 0 else "", barrier),))
             for k, (db, w) in enumerate(zip(dbs, works))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert branch_commits(remote) == ["w0-0", "w0-1", "w1-0", "w1-1"]
    assert branch_file(remote, "judged.json") == judged.read_bytes()


def branch_file(remote, name):
    return subprocess.run(["git", "--git-dir", str(remote), "cat-file", "blob", f"perf-history:{name}"],
                          capture_output=True, check=True).stdout


def test_the_judged_record_is_replaced_by_a_newer_one_and_kept_by_a_run_without_one(tmp_path, remote, real_doc):
    work = clone(tmp_path, remote, "a")
    db = tmp_path / "h.sqlite"
    first, second = tmp_path / "j1.json", tmp_path / "j2.json"
    first.write_text('{"commit": "1"}\n')
    second.write_text('{"commit": "2"}\n')
    add_run(db, tmp_path, real_doc, "r1", 1)
    history_sync.sync(db, SyncOptions(repo=work, judged=first))
    assert branch_file(remote, "judged.json") == first.read_bytes()
    add_run(db, tmp_path, real_doc, "r2", 2)
    history_sync.sync(db, SyncOptions(repo=work))  # the nightly: no judged record of its own
    assert branch_file(remote, "judged.json") == first.read_bytes()
    history_sync.sync(db, SyncOptions(repo=work, judged=second))
    assert branch_file(remote, "judged.json") == second.read_bytes()
    assert git("--git-dir", str(remote), "ls-tree", "--name-only", "perf-history").split() == \
        ["history.sqlite", "judged.json"]


def test_a_version_1_history_on_the_branch_is_upgraded_with_its_runs_kept(tmp_path, remote, real_doc):
    from conftest import INPUTS
    seed = clone(tmp_path, remote, "seed")
    blob = git("-C", str(seed), "hash-object", "-w", str(INPUTS / "history_v1.sqlite")).strip()
    tree = git("-C", str(seed), "mktree", input=f"100644 blob {blob}\thistory.sqlite\n").strip()
    commit = git("-C", str(seed), "-c", "user.name=x", "-c", "user.email=x@x", "commit-tree", tree, "-m", "v1").strip()
    git("-C", str(seed), "push", "-q", "origin", f"{commit}:refs/heads/perf-history")
    db = tmp_path / "h.sqlite"
    add_run(db, tmp_path, real_doc, "new", 9)
    assert history_sync.sync(db, SyncOptions(repo=seed)) == (1, 1)
    assert branch_commits(remote) == sorted([*(f"c{i:03d}" for i in range(6)), "0123456789abcdef0123456789abcdef01234567",
                                             "238d33c1d3e5ca4aa3a1605b2dcfe6834b18ee66", "new"])
    check = tmp_path / "check.sqlite"
    check.write_bytes(branch_file(remote, "history.sqlite"))
    assert sqlite3.connect(check).execute("PRAGMA user_version").fetchone()[0] == 2


def test_the_command_line_syncs_with_the_judged_record_and_says_what_it_did(tmp_path, remote, real_doc):
    work = clone(tmp_path, remote, "a")
    db = tmp_path / "h.sqlite"
    add_run(db, tmp_path, real_doc, "r1", 1)
    judged = tmp_path / "judged.json"
    judged.write_text("{}\n")
    args = ["history", "sync", "--history", str(db), "--repo", str(work), "--message", "perf history: run 7"]
    done = run_cli(*args, "--judged", str(judged))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"perfgate: history sync created the branch with origin/perf-history, judged.json "
                                   f"from {judged} (attempt 1)")
    assert git("--git-dir", str(remote), "log", "-1", "--format=%s", "perf-history").strip() == "perf history: run 7"
    done = run_cli(*args, "--judged", str(tmp_path / "none.json"))
    assert done.returncode == 2 and done.stderr.strip() == \
        f"perfgate: error: judged record {tmp_path / 'none.json'} does not exist"


def test_an_unreachable_remote_and_a_missing_history_are_one_line(tmp_path, real_doc):
    work = clone(tmp_path, tmp_path / "nowhere.git", "a")
    db = tmp_path / "h.sqlite"
    with pytest.raises(PerfGateError, match=f"history {db} does not exist; nothing to sync"):
        history_sync.sync(db, SyncOptions(repo=work))
    add_run(db, tmp_path, real_doc, "r1", 1)
    with pytest.raises(PerfGateError, match="history sync: cannot reach remote 'origin'"):
        history_sync.sync(db, SyncOptions(repo=work))
