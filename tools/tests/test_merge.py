"""Shards: a deterministic plan balanced by measured duration, and the merge of shard results
into one run that the gate judges, renders and records once (a 2-shard simulation)."""

import copy
import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import INPUTS, REPO, write
from perfgate import history, load, merge
from perfgate.__main__ import run as perfgate
from perfgate.errors import PerfGateError

QUICK = INPUTS / "state_bench_quick_trimmed.json"
FULL = REPO / "baselines" / "full.json"


def names(doc):
    return list(dict.fromkeys(r["run_name"] for r in doc["benchmarks"]))


def split(doc, shards):
    """What each shard's runner writes: the rows its --benchmark_filter selects."""
    out = []
    for s in shards:
        part = copy.deepcopy(doc)
        part["benchmarks"] = [r for r in doc["benchmarks"] if re.fullmatch(s.filter, r["run_name"])]
        out.append(part)
    return out


def test_the_plan_deals_every_benchmark_once_balanced_by_measured_time():
    # The committed full baseline is re-recorded from time to time: what it holds is read
    # from it here, not written into the test.
    rows = [r for r in json.loads(FULL.read_text())["benchmarks"] if r.get("run_type") == "iteration"]
    names = {r["run_name"] for r in rows}
    flush = [r for r in rows if r["run_name"] == "state_put_mmap_flush/every:1000"]
    assert len(names) > 90 and flush and all(r["time_unit"] == "ns" for r in flush)
    times = merge.durations(FULL)
    shards = merge.plan(times, 3)
    dealt = [b for s in shards for b in s.benchmarks]
    assert sorted(dealt) == sorted(times) and len(dealt) == len(set(dealt)) == len(names)
    loads = [s.seconds for s in shards]
    assert max(loads) / min(loads) < 1.05
    assert sum(loads) == pytest.approx(sum(times.values()))
    assert merge.plan(times, 3) == shards  # deterministic
    # seconds = iterations x real_time, summed over the repetitions
    assert times["state_put_mmap_flush/every:1000"] == pytest.approx(
        sum(r["iterations"] * r["real_time"] * 1e-9 for r in flush))


def test_a_shard_filter_selects_exactly_its_benchmarks():
    times = merge.durations(QUICK)
    for s in merge.plan(times, 2):
        assert [n for n in times if re.fullmatch(s.filter, n)] == [n for n in times if n in s.benchmarks]
    odd = merge.Shard(1, ("a.b/1", "c(d)|e", "f-g:1"), 0)
    assert odd.filter == r"^(a\.b/1|c\(d\)\|e|f-g:1)$"


def test_impossible_shard_counts_are_refused():
    with pytest.raises(PerfGateError, match="--count must be >= 1"):
        merge.plan({"a": 1.0}, 0)
    with pytest.raises(PerfGateError, match="--count 3 is more than the 2 benchmarks"):
        merge.plan({"a": 1.0, "b": 2.0}, 3)


@pytest.fixture
def two_shards(tmp_path):
    doc = json.loads(QUICK.read_text())
    assert perfgate(["shards", "--profile", "quick", "--count", "2", "--durations", str(QUICK),
                     "--out", str(tmp_path / "plan.json")]) == 0
    _, shards = merge.read_plan(tmp_path / "plan.json")
    files = [write(tmp_path / f"shard{s.index}.json", part) for s, part in zip(shards, split(doc, shards))]
    return tmp_path, doc, shards, files


def test_two_shards_merge_into_one_run_judged_and_recorded_once(two_shards, capsys):
    tmp, doc, shards, files = two_shards
    assert all(len(s.benchmarks) > 5 for s in shards)
    out = tmp / "merged.json"
    assert perfgate(["merge", "--plan", str(tmp / "plan.json"), "--out", str(out), *map(str, files[::-1])]) == 0
    merged = json.loads(out.read_text())
    assert sorted(names(merged)) == sorted(names(doc))
    assert merged["context"]["statestore_shards"] == "2"
    assert merged["context"]["statestore_git_commit"] == doc["context"]["statestore_git_commit"]
    capsys.readouterr()
    code = perfgate(["check", "--baseline", str(QUICK), "--results", str(out), "--report-dir", str(tmp / "r"),
                     "--quiet"])
    whole = perfgate(["check", "--baseline", str(QUICK), "--results", str(QUICK), "--report-dir",
                      str(tmp / "w"), "--quiet"])
    assert code == whole
    sharded_rows = json.loads((tmp / "r" / "verdict.json").read_text())["rows"]
    whole_rows = json.loads((tmp / "w" / "verdict.json").read_text())["rows"]
    assert sorted((r["benchmark"], r["status"]) for r in sharded_rows) == \
        sorted((r["benchmark"], r["status"]) for r in whole_rows)
    con = sqlite3.connect(tmp / "r" / "history.sqlite")
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    assert con.execute("SELECT COUNT(DISTINCT n.benchmark) FROM summary s JOIN series n ON n.id = s.series"
                       ).fetchone()[0] == len(names(doc))


def test_a_missing_shard_is_an_error_naming_it(two_shards):
    tmp, _, shards, files = two_shards
    with pytest.raises(PerfGateError, match=rf"shard 2 \({re.escape(shards[1].benchmarks[0])}, .* more\) of 2 "
                                            "has no results file"):
        merge.merge(files[:1], shards, "quick")


def test_a_benchmark_in_two_shards_is_an_error_naming_both_files(two_shards):
    tmp, doc, shards, files = two_shards
    second = json.loads(files[1].read_text())
    second["benchmarks"] += [r for r in doc["benchmarks"] if r["run_name"] == shards[0].benchmarks[0]]
    dup = write(tmp / "dup.json", second)
    with pytest.raises(PerfGateError, match=rf"benchmark '{re.escape(shards[0].benchmarks[0])}' is in two shard "
                                            rf"results files: {files[0]} and {dup}"):
        merge.merge([files[0], dup], shards, "quick")


def test_the_same_shard_twice_and_shards_of_other_builds_are_refused(two_shards):
    tmp, _, shards, files = two_shards
    with pytest.raises(PerfGateError, match=f"benchmark .* is in two shard results files: {files[0]} and"):
        merge.merge([files[0], write(tmp / "again.json", json.loads(files[0].read_text())), files[1]], shards, "quick")
    other = json.loads(files[1].read_text())
    other["context"]["statestore_git_commit"] = "f" * 40
    with pytest.raises(PerfGateError, match=f"{tmp / 'other.json'} comes from another build .*statestore_git_commit"):
        merge.merge([files[0], write(tmp / "other.json", other)], shards, "quick")


def test_a_shard_file_with_a_benchmark_outside_the_plan_is_refused(two_shards):
    tmp, _, shards, files = two_shards
    stray = json.loads(files[1].read_text())
    stray["benchmarks"][0] = dict(stray["benchmarks"][0], run_name="state_new_thing", name="state_new_thing")
    with pytest.raises(PerfGateError, match="benchmark 'state_new_thing' is in no shard of the plan"):
        merge.merge([files[0], write(tmp / "stray.json", stray)], shards, "quick")


def test_bad_plans_and_files_are_one_line_naming_them(tmp_path, capsys):
    bad = write(tmp_path / "plan.json", {"format_version": 1, "shards": "x"})
    assert perfgate(["merge", "--plan", str(bad), "--out", str(tmp_path / "m.json"), str(QUICK)]) == 2
    assert f"shard plan {bad} is not a perfgate shard plan" in capsys.readouterr().err
    assert perfgate(["shards", "--profile", "quick", "--count", "2", "--durations", str(tmp_path / "no.json")]) == 2
    assert f"durations file {tmp_path / 'no.json'} does not exist" in capsys.readouterr().err
    assert perfgate(["shards", "--profile", "quick", "--count", "2", "--durations", str(QUICK),
                     "--print-filter", "3"]) == 2
    assert "--print-filter must be 1..2, not 3" in capsys.readouterr().err


def test_durations_and_shard_files_are_validated_as_google_benchmark_results(tmp_path, capsys):
    doc = json.loads(QUICK.read_text())
    shards = merge.plan(merge.durations(QUICK), 2)
    files = [write(tmp_path / f"shard{s.index}.json", part) for s, part in zip(shards, split(doc, shards))]
    empty = write(tmp_path / "empty.json", {"context": {}, "benchmarks": []})
    assert perfgate(["shards", "--profile", "quick", "--count", "2", "--durations", str(empty)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"perfgate: error: durations file {empty} has no benchmarks"]
    bad = split(doc, shards)[1]
    bad["benchmarks"][0]["real_time"] = "fast"
    write(files[1], bad)
    name = bad["benchmarks"][0]["run_name"]
    with pytest.raises(PerfGateError) as err:
        merge.merge(files, shards, "quick")
    assert str(err.value) == (f"shard results file {files[1]}: benchmark {name!r} has a non-numeric or "
                              "out-of-range real_time: 'fast'")
    files[1].write_text('{"context": {}, "context": {}, "benchmarks": []}')
    with pytest.raises(PerfGateError, match=f"^shard results file {files[1]} has the key 'context' twice"):
        merge.merge(files, shards, "quick")


@pytest.mark.skipif(not os.environ.get("STATE_BENCH"), reason="STATE_BENCH (the built state_bench) not set")
def test_two_real_shards_of_the_tiny_profile_merge_and_pass(tmp_path):
    bench = Path(os.environ["STATE_BENCH"])
    listing = subprocess.run([str(bench), "--profile=tiny", "--benchmark_list_tests=true"], capture_output=True,
                             text=True, timeout=60, check=True).stdout.split()
    listing = [n for n in listing if n.startswith(("state_get_inmemory/", "state_range/"))]  # a few quick ones
    times = {n: float(len(n)) for n in listing}  # a plan needs durations; any deterministic ones will do
    shards = merge.plan(times, 2)
    files = []
    for s in shards:
        out = tmp_path / f"shard{s.index}.json"
        subprocess.run([str(bench), "--profile=tiny", f"--benchmark_filter={s.filter}", f"--benchmark_out={out}",
                        "--benchmark_out_format=json"], capture_output=True, timeout=120, check=True)
        files.append(out)
    doc = merge.merge(files, shards, "tiny")
    assert sorted(dict.fromkeys(r["run_name"] for r in doc["benchmarks"])) == sorted(listing)


def test_the_plan_prefers_the_durations_the_history_measured_on_the_runners(tmp_path, capsys):
    """The history's run took 2x the baseline's time for every benchmark but the longest (100x
    less) and lacks the shortest: the plan deals by the history's times, the missing one scaled 2x."""
    doc = json.loads(QUICK.read_text())
    base = merge.durations(QUICK)
    longest, dropped = max(base, key=base.get), min(base, key=base.get)
    run = copy.deepcopy(doc)
    run["benchmarks"] = [dict(r, real_time=r["real_time"] * (0.01 if r["run_name"] == longest else 2.0))
                         for r in doc["benchmarks"] if r["run_name"] != dropped]
    db = tmp_path / "h.sqlite"
    history.record(db, load.load_results(write(tmp_path / "run.json", run)))
    expected = {b: t * (0.01 if b == longest else 2.0) for b, t in base.items()}
    args = ["shards", "--profile", "quick", "--count", "2", "--durations", str(QUICK)]
    assert perfgate([*args, "--history", str(db), "--out", str(tmp_path / "plan.json")]) == 0
    err = capsys.readouterr().err
    assert f"perfgate: durations from history {db} (median of the newest 1 quick runs) for {len(base) - 1} of " \
           f"{len(base)} benchmarks, the rest {QUICK} scaled" in err
    _, shards = merge.read_plan(tmp_path / "plan.json")
    assert [s.benchmarks for s in shards] == [s.benchmarks for s in merge.plan(expected, 2)]
    assert [s.benchmarks for s in shards] != [s.benchmarks for s in merge.plan(base, 2)]
    assert sum(s.seconds for s in shards) == pytest.approx(sum(expected.values()), rel=1e-3)
    assert "history" in json.loads((tmp_path / "plan.json").read_text())["durations_from"]
    # Every shard prints its filter from the one plan (the history may move before it starts).
    assert perfgate(["shards", "--plan", str(tmp_path / "plan.json"), "--print-filter", "2"]) == 0
    assert capsys.readouterr().out.strip() == shards[1].filter


def test_a_history_without_durations_leaves_the_files_and_says_so(tmp_path, capsys):
    from conftest import INPUTS as inputs
    db = tmp_path / "h.sqlite"
    db.write_bytes((inputs / "history_v1.sqlite").read_bytes())  # version 1: no durations recorded
    assert merge.with_history({"a": 1.0}, {}) == ({"a": 1.0}, 0)
    assert perfgate(["shards", "--profile", "quick", "--count", "2", "--durations", str(QUICK), "--history",
                     str(db), "--print-filter", "1"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == merge.plan(merge.durations(QUICK), 2)[0].filter
    assert f"durations from {QUICK} (the history has none of them)" in err
    assert db.read_bytes() == (inputs / "history_v1.sqlite").read_bytes()


def test_shards_needs_a_profile_and_count_or_a_plan_to_print_from(tmp_path, capsys):
    assert perfgate(["shards", "--count", "2"]) == 2
    assert "shards: --profile and --count are required (or --plan with --print-filter)" in capsys.readouterr().err
    plan = tmp_path / "plan.json"
    assert perfgate(["shards", "--profile", "quick", "--count", "2", "--durations", str(QUICK), "--out",
                     str(plan)]) == 0
    assert perfgate(["shards", "--plan", str(plan)]) == 2
    assert "shards: --plan takes only --print-filter" in capsys.readouterr().err
