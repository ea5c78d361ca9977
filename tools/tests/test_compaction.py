"""History compaction (repetitions of the newest N runs per profile, summaries of all) and
merging two copies of a history by run."""

import shutil
import sqlite3
import subprocess
import sys

import pytest

from conftest import REAL_RESULTS, TOOLS, scaled, with_context, write
from perfgate import compaction, history, load
from perfgate.__main__ import run as perfgate
from perfgate.errors import PerfGateError

GET = "state_get_inmemory/1000"


def record(db, tmp_path, real_doc, i, profile="quick", day=None):
    doc = with_context(scaled(real_doc, 1 + i / 100), statestore_git_commit=f"c{i:03d}", statestore_profile=profile)
    f = write(tmp_path / f"r{profile}{i}.json", doc)
    return history.record(db, load.load_results(f), verdict="pass",
                          recorded_at=f"2026-01-{(day or i + 1):02d}T00:00:00+00:00")


def counts(db):
    con = sqlite3.connect(db)
    out = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "summary")}
    out["samples"] = con.execute("SELECT COALESCE(SUM(length(reps)), 0) / 8 FROM samples").fetchone()[0]
    out["runs_with_samples"] = con.execute("SELECT COUNT(DISTINCT run_id) FROM samples").fetchone()[0]
    con.close()
    return out


def dump(db):
    con = sqlite3.connect(db)
    text = "\n".join(con.iterdump())
    con.close()
    return text


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from conftest import load_doc
    tmp = tmp_path_factory.mktemp("compaction")
    path, real = tmp / "h.sqlite", load_doc()
    for i in range(8):
        record(path, tmp, real, i)
    for i in range(3):
        record(path, tmp, real, 20 + i, profile="full")
    return path


@pytest.fixture
def db(tmp_path, template):
    path = tmp_path / "h.sqlite"
    shutil.copy(template, path)
    return path


def test_compaction_keeps_repetitions_of_the_newest_runs_per_profile_and_every_summary(db):
    before = counts(db)
    trend = history.trends(db, [GET], profile="quick")
    result = compaction.compact(db, keep=3)
    after = counts(db)
    assert result.runs_compacted == 5  # 8 quick runs keep 3; the 3 full runs are all within 3
    assert after["runs"] == before["runs"] == 11 and after["summary"] == before["summary"]
    assert after["runs_with_samples"] == 6
    con = sqlite3.connect(db)
    kept = [r[0] for r in con.execute("SELECT DISTINCT r.commit_sha FROM samples s JOIN runs r ON r.id = s.run_id"
                                      " WHERE r.profile = 'quick' ORDER BY r.commit_sha")]
    assert kept == ["c005", "c006", "c007"]
    assert history.trends(db, [GET], profile="quick").equals(trend)
    assert result.samples_deleted == before["samples"] - after["samples"] > 0


def test_compacting_again_changes_nothing(db):
    compaction.compact(db, keep=3)
    snapshot = dump(db)
    assert compaction.compact(db, keep=3).runs_compacted == 0
    assert dump(db) == snapshot


def test_an_interrupted_compaction_leaves_the_history_as_it_was(db):
    snapshot = dump(db)

    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compaction.compact(db, keep=1, before_commit=interrupt)
    assert dump(db) == snapshot


def test_a_compaction_killed_mid_transaction_leaves_the_history_whole(db):
    snapshot = dump(db)
    code = ("import os, signal, sys; sys.path.insert(0, sys.argv[2]); from perfgate import compaction;"
            "compaction.compact(sys.argv[1], keep=1, before_commit=lambda: os.kill(os.getpid(), signal.SIGKILL))")
    done = subprocess.run([sys.executable, "-c", code, str(db), str(TOOLS)], capture_output=True, timeout=60)
    assert done.returncode == -9
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert dump(db) == snapshot


def test_compaction_gives_the_space_back(tmp_path, real_doc):
    path = tmp_path / "big.sqlite"
    for i in range(12):
        record(path, tmp_path, real_doc, i)
    result = compaction.compact(path, keep=2)
    assert result.bytes_before - result.bytes_after >= 8 * result.samples_deleted > 0  # 8 bytes a repetition
    assert sqlite3.connect(path).execute("PRAGMA freelist_count").fetchone()[0] == 0


def test_samples_without_a_summary_are_refused_and_nothing_changes(db):
    con = sqlite3.connect(db)
    con.execute("DELETE FROM summary WHERE run_id = 1 AND series = (SELECT id FROM series WHERE benchmark = ?"
                " AND metric = 'real_time')", (GET,))
    con.commit()
    con.close()
    snapshot = dump(db)
    with pytest.raises(PerfGateError, match=f"is damaged: run 1 has repetitions of {GET} real_time without a "
                                            "summary row$"):
        compaction.compact(db, keep=1)
    assert dump(db) == snapshot


def test_compacting_or_merging_what_is_not_a_history_names_the_file(tmp_path, db):
    with pytest.raises(PerfGateError, match="does not exist"):
        compaction.compact(tmp_path / "none.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(PerfGateError, match=f"history {junk} is not usable"):
        compaction.compact(junk)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(PerfGateError, match=r"is an SQLite file of something else \(tables: t\), not a perfgate "):
        compaction.compact(other)
    snapshot = dump(db)
    with pytest.raises(PerfGateError, match=f"history {other} is an SQLite file of something else"):
        compaction.merge(db, other)
    with pytest.raises(PerfGateError, match=f"history {junk} is not usable"):
        compaction.merge(db, junk)
    assert dump(db) == snapshot
    with pytest.raises(PerfGateError, match="must be >= 0"):
        compaction.compact(other, keep=-1)


def test_the_command_line_compacts_and_reports(db, capsys):
    assert perfgate(["history", "compact", "--history", str(db), "--keep-samples", "3"]) == 0
    out = capsys.readouterr().out
    assert "5 runs compacted" in out and "MB" in out


def test_two_copies_that_each_recorded_a_run_merge_into_one_with_both(tmp_path, real_doc, db):
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    shutil.copy(db, a)
    shutil.copy(db, b)
    record(a, tmp_path, real_doc, 30, day=28)
    record(b, tmp_path, real_doc, 31, day=29)
    s0, sa, sb = counts(db)["samples"], counts(a)["samples"], counts(b)["samples"]
    assert compaction.merge(a, b) == 1
    commits = [r[0] for r in sqlite3.connect(a).execute("SELECT commit_sha FROM runs ORDER BY recorded_at")]
    assert commits[-2:] == ["c030", "c031"] and len(commits) == 13
    assert counts(a)["samples"] == sa + (sb - s0) > sa
    assert compaction.merge(a, b) == 0  # nothing new the second time
    assert history.trends(a, [GET], profile="quick")["commit_sha"].tolist()[-2:] == ["c030", "c031"]


def test_merging_keeps_a_compacted_run_compacted(tmp_path, real_doc, db):
    other = tmp_path / "o.sqlite"
    shutil.copy(db, other)
    compaction.compact(db, keep=1)
    assert compaction.merge(db, other) == 0
    assert counts(db)["runs_with_samples"] == 2


def test_an_interrupted_merge_leaves_the_history_as_it_was(tmp_path, real_doc, db):
    other = tmp_path / "o.sqlite"
    shutil.copy(db, other)
    record(other, tmp_path, real_doc, 40, day=30)
    snapshot = dump(db)

    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compaction.merge(db, other, before_commit=interrupt)
    assert dump(db) == snapshot


def test_two_runs_alike_in_everything_but_their_uid_are_both_kept(tmp_path, db):
    """Two jobs recording the same results file in the same second are two runs (version 1
    matched runs by recorded_at, commit, machine, profile, mode and source, and kept one)."""
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    shutil.copy(db, a)
    shutil.copy(db, b)
    run = load.load_results(REAL_RESULTS)
    for path in (a, b):
        history.record(path, run, recorded_at="2026-01-30T00:00:00+00:00")
    assert compaction.merge(a, b) == 1
    assert counts(a)["runs"] == 13
