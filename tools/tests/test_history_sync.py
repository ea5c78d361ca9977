"""The history branch: one file replaced whole, and two writers at once never drop a run."""

import multiprocessing
import sqlite3
import subprocess

import pytest

from conftest import TOOLS, scaled, with_context, write
from perfgate import history, history_sync, load
from perfgate.errors import PerfGateError


def git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


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
    assert history_sync.sync(db, repo=work) == (-1, 1)
    add_run(db, tmp_path, real_doc, "r2", 2)
    assert history_sync.sync(db, repo=work) == (1, 1)
    assert git("--git-dir", str(remote), "rev-list", "--count", "perf-history").strip() == "1"
    assert git("--git-dir", str(remote), "ls-tree", "--name-only", "perf-history").split() == ["history.sqlite"]
    assert branch_commits(remote) == ["r1", "r2"]


def test_a_writer_that_lost_the_race_merges_the_winners_run_instead_of_dropping_it(tmp_path, remote, real_doc):
    a, b = clone(tmp_path, remote, "a"), clone(tmp_path, remote, "b")
    base = tmp_path / "base.sqlite"
    add_run(base, tmp_path, real_doc, "r0", 1)
    history_sync.sync(base, repo=a)
    db_a, db_b = tmp_path / "ha.sqlite", tmp_path / "hb.sqlite"
    db_a.write_bytes(base.read_bytes())
    db_b.write_bytes(base.read_bytes())
    add_run(db_a, tmp_path, real_doc, "ra", 2)
    add_run(db_b, tmp_path, real_doc, "rb", 3)

    def b_pushes_first(attempt):
        if attempt == 1:
            assert history_sync.sync(db_b, repo=b) == (1, 1)

    added, attempts = history_sync.sync(db_a, repo=a, before_push=b_pushes_first)
    assert attempts == 2 and added == 1
    assert branch_commits(remote) == ["r0", "ra", "rb"]


def _writer(args):
    import sys
    tools, db, work, barrier = args
    sys.path.insert(0, tools)
    from perfgate import history_sync as hs
    barrier.wait()
    return hs.sync(db, repo=work, attempts=20)


def test_two_writers_at_once_both_land(tmp_path, remote, real_doc):
    dbs, works = [], []
    for k in range(2):
        db = tmp_path / f"w{k}.sqlite"
        for j in range(2):
            add_run(db, tmp_path, real_doc, f"w{k}-{j}", 1 + 10 * k + j)
        dbs.append(db)
        works.append(clone(tmp_path, remote, f"work{k}"))
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=((str(TOOLS), str(db), str(w), barrier),)) for db, w in zip(dbs, works)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert branch_commits(remote) == ["w0-0", "w0-1", "w1-0", "w1-1"]


def test_an_unreachable_remote_and_a_missing_history_are_one_line(tmp_path, real_doc):
    work = clone(tmp_path, tmp_path / "nowhere.git", "a")
    db = tmp_path / "h.sqlite"
    with pytest.raises(PerfGateError, match=f"history {db} does not exist; nothing to sync"):
        history_sync.sync(db, repo=work)
    add_run(db, tmp_path, real_doc, "r1", 1)
    with pytest.raises(PerfGateError, match="history sync: cannot reach remote 'origin'"):
        history_sync.sync(db, repo=work)
