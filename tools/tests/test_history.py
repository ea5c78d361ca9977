"""The SQLite run history: recording, trends, pruning, and two writers at once."""

import multiprocessing
import sqlite3
from datetime import datetime, timezone

import pytest

from conftest import REAL_RESULTS, load_doc, scaled, with_context, write
from perfgate import history, load
from perfgate.errors import PerfGateError

GET = "state_get_inmemory/1000"


def record_n(path, n, real_doc, tmp_path, start_day=1):
    ids = []
    for i in range(n):
        doc = with_context(scaled(real_doc, 1 + i / 100), statestore_git_commit=f"c{i:03d}")
        f = write(tmp_path / f"r{i}.json", doc)
        ids.append(history.record(path, load.load_results(f), verdict="pass",
                                  recorded_at=f"2026-01-{start_day + i:02d}T00:00:00+00:00"))
    return ids


def test_a_recorded_run_keeps_every_repetition_a_summary_and_the_measured_time(tmp_path):
    db = tmp_path / "h.sqlite"
    run = load.load_results(REAL_RESULTS)
    run_id = history.record(db, run, statuses={GET: "unchanged"})
    with history.connect(db, write=False) as con:
        reps = {(b, m): history.unpack(blob) for b, m, blob in history.read_samples(con, run_id)}
        points = {(p[0], p[1]): dict(zip(history.POINT_COLUMNS, p)) for p in history.read_points(con, run_id)}
        commit, machine, profile = con.execute("SELECT commit_sha, machine, profile FROM runs").fetchone()
        assert history.schema_version(con) == 2
    assert reps[(GET, "real_time")] == list(run.samples_by_repetition(GET, "real_time").values())
    get = points[(GET, "real_time")]
    assert (get["n"], get["status"], get["median"]) == (5, "unchanged", run.center(GET, "real_time"))
    # the benchmark's measured time: iterations x real time over its 5 repetitions
    rows = [r for r in load_doc()["benchmarks"] if r["run_name"] == GET and r["run_type"] == "iteration"]
    assert get["seconds"] == pytest.approx(sum(r["iterations"] * r["real_time"] * 1e-9 for r in rows))
    assert points[(GET, "p99_ns")]["seconds"] is None and points[(GET, "p99_ns")]["status"] is None
    assert (commit, machine, profile) == ("0123456789abcdef0123456789abcdef01234567",
                                          "AMD EPYC 7B13|2 cpus|24 GiB", "quick")
    # A rollback journal, not a WAL: history.sqlite alone holds the committed run (CI copies that one file).
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not db.with_name(db.name + "-wal").exists()


def test_each_name_is_stored_once_and_each_run_x_series_is_one_row(tmp_path, real_doc):
    db = tmp_path / "h.sqlite"
    record_n(db, 3, real_doc, tmp_path)
    con = sqlite3.connect(db)
    series = con.execute("SELECT COUNT(*) FROM series").fetchone()[0]
    assert con.execute("SELECT COUNT(*) FROM summary").fetchone()[0] == 3 * series
    assert con.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 3 * series
    assert {r[0] for r in con.execute("SELECT length(reps) FROM samples")} == {5 * 8}


def test_the_measured_times_of_the_newest_runs_are_the_shard_planners_durations(tmp_path, real_doc):
    db = tmp_path / "h.sqlite"
    for i, factor in enumerate([1.0, 3.0, 2.0, 2.0, 2.0]):  # the oldest of the 5 falls out of last=4
        doc = with_context(scaled(real_doc, factor), statestore_git_commit=f"c{i}")
        history.record(db, load.load_results(write(tmp_path / f"d{i}.json", doc)),
                       recorded_at=f"2026-01-0{i + 1}T00:00:00+00:00")
    one = load.load_results(REAL_RESULTS).durations[GET]
    times, runs = history.durations(db, "quick", last=4)
    assert runs == 4 and times[GET] == pytest.approx(2 * one)  # median of 3, 2, 2, 2
    assert history.durations(db, "full") == ({}, 0)


def test_trends_return_per_run_medians_in_run_order_for_the_profile(tmp_path, real_doc):
    db = tmp_path / "h.sqlite"
    record_n(db, 5, real_doc, tmp_path)
    history.record(db, load.load_results(write(tmp_path / "full.json",
                                               with_context(real_doc, statestore_profile="full"))))
    frame = history.trends(db, [GET], profile="quick")
    assert list(frame["commit_sha"]) == ["c000", "c001", "c002", "c003", "c004"]
    assert frame["median"].is_monotonic_increasing
    assert len(history.trends(db, [GET], profile="quick", last=2)) == 2


def test_trends_of_a_history_that_does_not_exist_are_empty(tmp_path):
    assert history.trends(tmp_path / "none.sqlite", [GET], profile="quick").empty


def test_prune_keeps_the_newest_n_runs(tmp_path, real_doc):
    db = tmp_path / "h.sqlite"
    ids = record_n(db, 6, real_doc, tmp_path)
    assert history.prune(db, keep=2).ids == ids[:4]
    assert list(history.list_runs(db)["id"]) == ids[:-3:-1]
    con = sqlite3.connect(db)
    assert {r[0] for r in con.execute("SELECT DISTINCT run_id FROM samples")} == set(ids[-2:])
    assert {r[0] for r in con.execute("SELECT DISTINCT run_id FROM summary")} == set(ids[-2:])


def test_prune_deletes_runs_older_than_the_given_days(tmp_path, real_doc):
    db = tmp_path / "h.sqlite"
    record_n(db, 5, real_doc, tmp_path)  # Jan 1..5
    now = datetime(2026, 1, 10, tzinfo=timezone.utc)
    pruned = history.prune(db, older_than_days=7, now=now)
    assert (len(pruned.ids), pruned.remaining) == (2, 3)  # Jan 1 and 2 are more than 7 days old
    assert len(history.list_runs(db)) == 3


def test_prune_needs_a_limit(tmp_path):
    with pytest.raises(PerfGateError, match=r"history prune needs --keep N and/or --older-than DAYS"):
        history.prune(tmp_path / "h.sqlite")


def test_listing_a_history_that_does_not_exist_is_an_error_naming_it(tmp_path):
    with pytest.raises(PerfGateError, match=r"history .*nope.sqlite does not exist"):
        history.list_runs(tmp_path / "nope.sqlite")


def test_a_file_that_is_not_a_database_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "h.sqlite"
    bad.write_text("this is not sqlite, just text padding " * 100)
    with pytest.raises(PerfGateError, match=r"history .*h.sqlite is not usable: file is not a database"):
        history.record(bad, load.load_results(REAL_RESULTS))


def _writer(db: str, n: int, start: multiprocessing.Event) -> None:
    run = load.load_results(REAL_RESULTS)
    start.wait()
    for _ in range(n):
        history.record(db, run)


def test_two_processes_writing_at_once_lose_nothing_and_corrupt_nothing(tmp_path):
    db = str(tmp_path / "h.sqlite")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(db, 15, start)) for _ in range(2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 30
    per_run = {r[0] for r in con.execute("SELECT COUNT(*) FROM samples GROUP BY run_id")}
    assert len(per_run) == 1  # every run complete: no half-written run
