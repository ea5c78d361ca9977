"""changepoints_eval: the noise pool it builds from real runs, and every bad input as exit 2 with
one line naming the file or folder (never a traceback, never exit 1)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

from conftest import INPUTS, TOOLS, write
from perfgate import changepoints_eval
from perfgate.__main__ import guarded

QUICK = INPUTS / "state_bench_quick_trimmed.json"
NOISE_POOL = INPUTS / "trends" / "noise_runs.csv"


def run_eval(*args: str) -> subprocess.CompletedProcess:
    """The module as it is run: python3 -m perfgate.changepoints_eval."""
    return subprocess.run([sys.executable, "-m", "perfgate.changepoints_eval", *args], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(TOOLS)), check=False)


def error_of(capsys, *args: str) -> str:
    """The one stderr line of a run that must exit 2 (having printed nothing before it)."""
    assert guarded(changepoints_eval.main, list(args), prog="changepoints_eval") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    return line


def test_a_runs_folder_without_json_files_exits_2_with_one_line_naming_it(tmp_path):
    empty = tmp_path / "runs"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a run")
    done = run_eval("pool", "--runs", str(empty), "--out", str(tmp_path / "pool.csv"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"changepoints_eval: error: runs folder {empty} holds no *.json runs (one Google Benchmark JSON file per run)"]
    assert done.stdout == "" and not (tmp_path / "pool.csv").exists()


def test_a_missing_runs_folder_or_a_file_given_as_one_is_named(tmp_path, capsys):
    assert error_of(capsys, "pool", "--runs", str(tmp_path / "nope"), "--out", str(tmp_path / "p.csv")) == (
        f"changepoints_eval: error: runs folder {tmp_path / 'nope'} does not exist")
    assert error_of(capsys, "pool", "--runs", str(QUICK), "--out", str(tmp_path / "p.csv")) == (
        f"changepoints_eval: error: runs folder {QUICK} is not a directory")


def test_a_run_perfgate_cannot_load_is_named_with_perfgates_message(tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "1.json").write_text(QUICK.read_text())
    (runs / "2.json").write_text('{"context": {}, "benchmarks": [')
    assert error_of(capsys, "pool", "--runs", str(runs), "--out", str(tmp_path / "p.csv")) == (
        f"changepoints_eval: error: results file {runs / '2.json'} is not valid JSON "
        "(Expecting value, line 1 column 32; truncated: did the benchmark crash mid-write?)")
    write(runs / "2.json", {"context": {}})
    assert error_of(capsys, "pool", "--runs", str(runs), "--out", str(tmp_path / "p.csv")) == (
        f"changepoints_eval: error: results file {runs / '2.json'} is not Google Benchmark JSON "
        "(no 'benchmarks' list)")


def test_a_benchmark_whose_median_time_is_zero_is_named_not_divided_by(tmp_path, capsys):
    doc = json.loads(QUICK.read_text())
    name = next(r["run_name"] for r in doc["benchmarks"] if r.get("run_type") == "iteration")
    for row in doc["benchmarks"]:
        if row.get("run_name") == name:
            row["real_time"] = 0
    bad = write(tmp_path / "zero.json", doc)
    assert error_of(capsys, "pool", "--repetitions", str(bad), "--out", str(tmp_path / "p.csv")) == (
        f"changepoints_eval: error: results file {bad}: benchmark {name!r} has a median real_time of 0, "
        "so no noise ratio")


def test_the_pool_of_real_runs_is_each_runs_median_over_the_builds_median(tmp_path, capsys):
    runs = tmp_path / "build-a"
    runs.mkdir()
    doc = json.loads(QUICK.read_text())
    slower = copy.deepcopy(doc)
    for row in slower["benchmarks"]:
        row["real_time"] = row["real_time"] * 1.5
    write(runs / "1.json", doc)
    write(runs / "2.json", slower)
    write(runs / "3.json", doc)
    out = tmp_path / "pool.csv"
    assert guarded(changepoints_eval.main, ["pool", "--runs", str(runs), "--out", str(out)]) == 0
    pools = changepoints_eval.read_pool(out)
    assert pools and all(key.startswith("build-a/") for key in pools)
    for ratios in pools.values():
        assert list(ratios) == pytest.approx([1.0, 1.5, 1.0], abs=1e-6)
    assert out.read_text().splitlines()[0] == "build,benchmark,run,ratio"


def test_a_pool_with_nothing_to_read_or_nowhere_to_write_is_refused(tmp_path, capsys):
    assert error_of(capsys, "pool", "--out", str(tmp_path / "p.csv")) == (
        "changepoints_eval: error: pool needs --runs DIR or --repetitions FILE")
    blocker = write(tmp_path / "file", {})
    assert error_of(capsys, "pool", "--repetitions", str(QUICK), "--out", str(blocker / "p.csv")) == (
        f"changepoints_eval: error: cannot write {blocker / 'p.csv'}: {blocker} is a file, not a directory")


@pytest.mark.parametrize("text, message", [
    (None, "pool file {path} does not exist"),
    ("", "pool file {path} is empty"),
    ("build,benchmark,run\na,b,0\n",
     "pool file {path} has no column 'ratio' (a pool has build, benchmark, run, ratio)"),
    ("build,benchmark,run,ratio\n", "pool file {path} has no rows"),
    ("build,benchmark,run,ratio\na,b,0,1.0\na,b,1,fast\n", "pool file {path} line 3: ratio 'fast' is not a finite "
                                                           "number"),
    ("build,benchmark,run,ratio\na,b,0,nan\n", "pool file {path} line 2: ratio 'nan' is not a finite number"),
    ("build,benchmark,run,ratio\na,b,0\n", "pool file {path} line 2: ratio None is not a finite number"),
    ("build,benchmark,run,ratio\na,b,0," + "1" * 200_000 + "\n",
     "pool file {path} is not CSV (field larger than field limit (131072))"),
])
def test_a_pool_file_that_is_not_one_is_named_with_the_problem(tmp_path, capsys, text, message):
    path = tmp_path / "pool.csv"
    if text is not None:
        path.write_text(text)
    assert error_of(capsys, "table", "--pool", str(path), "--trials", "2") == (
        "changepoints_eval: error: " + message.format(path=path))


@pytest.mark.parametrize("args, message", [
    (["--trials", "0"], "table: --trials must be at least 1, not 0"),
    (["--length", "1"], "table: --length must be at least 2, not 1"),
    (["--seed", "-1"], "table: --seed must be at least 0, not -1"),
    (["--block", "0"], "table: --block must be at least 1, not 0"),
    (["--block", "3", "--block", "21"], f"pool file {NOISE_POOL}: --block 21 is longer than the 20 runs of "
                                        "'ref/state_get_inmemory/1000'"),
])
def test_table_options_out_of_range_are_one_line(capsys, args, message):
    assert error_of(capsys, "table", "--pool", str(NOISE_POOL), *args) == "changepoints_eval: error: " + message


def test_a_negative_lognormal_sd_is_refused(capsys):
    assert error_of(capsys, "table", "--lognormal", "-0.1") == (
        "changepoints_eval: error: table: --lognormal must be a finite sd(log) >= 0, not -0.1")


def test_the_table_of_the_committed_pool_counts_found_steps(capsys):
    assert changepoints_eval.main(["table", "--pool", str(NOISE_POOL), "--trials", "4", "--length", "30"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 + len(changepoints_eval.STEPS)
    assert lines[2].startswith("| A/A | iid | 4 x 30 |")
