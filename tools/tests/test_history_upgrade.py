"""A history of schema version 1 (tools/tests/inputs/history_v1.sqlite, written by the version-1
perfgate): read as it is without a write, upgraded to version 2 explicitly (history migrate)
or by the first command that writes it, in one transaction that an exception or a SIGKILL
leaves undone, with every run, summary row and repetition kept."""

import shutil
import sqlite3
import subprocess
import sys

import pytest

from conftest import INPUTS, REAL_RESULTS, TOOLS, call_main
from perfgate import compaction, history, load
from perfgate.errors import PerfGateError

V1 = INPUTS / "history_v1.sqlite"


@pytest.fixture
def v1(tmp_path):
    directory = tmp_path / "h"
    directory.mkdir()
    path = directory / "history.sqlite"
    shutil.copyfile(V1, path)
    return path


def files(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def dump(db):
    con = sqlite3.connect(db)
    text = "\n".join(con.iterdump())
    con.close()
    return text


def version(db):
    con = sqlite3.connect(db)
    out = con.execute("PRAGMA user_version").fetchone()[0]
    con.close()
    return out


def contents(db):
    """Every run (with its uid), summary row and repetition, read through history.py."""
    with history.connect(db, write=False) as con:
        runs = history.read_runs(con)
        return {r["uid"]: ({c: r[c] for c in history.RUN_COLUMNS},
                           sorted(p[:8] for p in history.read_points(con, r["id"])),
                           sorted(history.read_samples(con, r["id"]))) for r in runs}


def test_the_fixture_is_a_version_1_history():
    assert version(V1) == 1
    assert {r[0] for r in sqlite3.connect(V1).execute("SELECT name FROM sqlite_master WHERE type = 'table'")} >= \
        {"runs", "samples", "summary"}


def test_a_version_1_history_is_read_as_it_is_and_left_byte_for_byte(v1, tmp_path, capsys):
    before = files(v1.parent)
    code, out, _ = call_main(capsys, "history", "list", "--history", str(v1))
    assert code == 0 and len(out.strip().splitlines()) == 1 + 8
    code, out, _ = call_main(capsys, "trends", "--history", str(v1), "--out", str(tmp_path / "t"))
    assert code == 0 and "8 runs, 30 series" in out
    code, _, err = call_main(capsys, "report", "--results", str(REAL_RESULTS), "--report-dir", str(tmp_path / "r"),
                             "--history", str(v1))
    assert code == 0 and "upgraded" not in err
    assert "c005" in (tmp_path / "r" / "report.html").read_text()  # the trend charts read it
    assert files(v1.parent) == before


def test_the_first_write_upgrades_it_keeping_every_run_summary_and_repetition(v1, capsys):
    old = contents(v1)
    assert sum(len(s) for _, _, s in old.values()) > 0  # it holds repetitions to keep
    code, _, err = call_main(capsys, "history", "add", "--results", str(REAL_RESULTS), "--history", str(v1))
    assert code == 0
    assert err.startswith(f"perfgate: upgraded history {v1} from schema version 1 to 2 (")
    assert version(v1) == 2
    new = contents(v1)
    assert len(new) == 9 and {uid: new[uid] for uid in old} == old
    assert list(history.list_runs(v1)["id"]) == list(range(9, 0, -1))


def test_history_migrate_upgrades_explicitly_then_has_nothing_to_do(v1, capsys):
    old = contents(v1)
    code, out, _ = call_main(capsys, "history", "migrate", "--history", str(v1))
    assert code == 0 and out.startswith(f"perfgate: {v1}: upgraded from schema version 1 to 2 (8 runs), ")
    assert contents(v1) == old and version(v1) == 2
    snapshot = dump(v1)
    code, out, _ = call_main(capsys, "history", "migrate", "--history", str(v1))
    assert out.strip() == f"perfgate: {v1} is already schema version 2; nothing to do"
    assert dump(v1) == snapshot


def test_an_interrupted_upgrade_leaves_the_version_1_file_as_it_was(v1):
    snapshot = dump(v1)

    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        history.migrate(v1, before_commit=interrupt)
    assert dump(v1) == snapshot and version(v1) == 1


def test_an_upgrade_killed_mid_transaction_leaves_the_version_1_file_whole(v1, capsys):
    snapshot = dump(v1)
    code = ("import os, signal, sys; sys.path.insert(0, sys.argv[2]); from perfgate import history;"
            "history.migrate(sys.argv[1], before_commit=lambda: os.kill(os.getpid(), signal.SIGKILL))")
    done = subprocess.run([sys.executable, "-c", code, str(v1), str(TOOLS)], capture_output=True, timeout=60)
    assert done.returncode == -9
    assert v1.with_name(v1.name + "-journal").exists()  # killed with the transaction open
    con = sqlite3.connect(v1)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert dump(v1) == snapshot and version(v1) == 1
    assert call_main(capsys, "history", "list", "--history", str(v1))[0] == 0


def test_two_copies_upgraded_apart_merge_without_a_duplicate_run(tmp_path):
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    shutil.copyfile(V1, a)
    shutil.copyfile(V1, b)
    run = load.load_results(REAL_RESULTS)
    history.record(a, run, recorded_at="2026-02-01T00:00:00+00:00")  # each copy upgraded by its own write
    history.record(b, run, recorded_at="2026-02-02T00:00:00+00:00")
    assert compaction.merge(a, b) == 1
    assert len(history.list_runs(a)) == 10


def test_a_version_1_copy_merges_into_a_version_2_history_and_is_only_read(tmp_path, v1):
    v2 = tmp_path / "v2.sqlite"
    shutil.copyfile(V1, v2)
    history.migrate(v2)
    assert compaction.merge(v2, v1) == 0  # the same runs, by uid
    con = sqlite3.connect(v1)
    con.execute("INSERT INTO runs (recorded_at, commit_sha, profile) VALUES ('2026-03-01', 'new', 'quick')")
    con.commit()
    con.close()
    before = v1.read_bytes()
    assert compaction.merge(v2, v1) == 1
    assert v1.read_bytes() == before and version(v1) == 1
    assert history.list_runs(v2)["commit_sha"].iloc[0] == "new"


def test_a_version_1_history_that_cannot_be_upgraded_is_left_as_it_was(v1, capsys):
    con = sqlite3.connect(v1)
    con.execute("DELETE FROM summary WHERE run_id = 5 AND benchmark = 'state_get_inmemory/1000'"
                " AND metric = 'real_time'")
    con.commit()
    con.close()
    before = v1.read_bytes()
    code, _, err = call_main(capsys, "history", "add", "--results", str(REAL_RESULTS), "--history", str(v1))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.strip() == (f"perfgate: error: history {v1} cannot be upgraded to schema version 2 (left as it "
                           "was): run 5 has repetitions of state_get_inmemory/1000 real_time without a summary row")
    assert v1.read_bytes() == before
    with pytest.raises(PerfGateError, match="cannot be upgraded"):
        history.migrate(v1)
