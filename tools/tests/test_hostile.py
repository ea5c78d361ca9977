"""Hostile input (issue 15): every case an independent pass found ending in a traceback,
a silent pass, forged CI output, a write by a reading command or lost history, each
with the result it gets now. Inputs are the real fixtures, changed in code."""

from __future__ import annotations

import copy
import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (FIXTURE_TARGETS, INSTRUCTION_VERDICT, REAL_RESULTS, TOOLS, call_main, load_doc, with_context,
                      with_samples, write)
from perfgate import analyse, history, load
from perfgate.decide import decide
from perfgate.errors import PerfGateError

GET = "state_get_inmemory/1000"
PUT = "state_put_inmemory/1000"  # no target of the fixture table names it


def _one_line_error(code: int, err: str, pattern: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("perfgate: error: "), err
    assert "Traceback" not in err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def _check(capsys, tmp_path: Path, *extra: str, results: Path | str = REAL_RESULTS,
           baseline: Path | str = REAL_RESULTS, targets: Path | str = FIXTURE_TARGETS) -> tuple[int, str, str]:
    return call_main(capsys, "check", "--baseline", str(baseline), "--results", str(results), "--targets",
                     str(targets), "--report-dir", str(tmp_path / "out"), "--no-history", *extra)


# --------------------------------------------------------------------------- tracebacks -> exit 2

def test_json_nested_deeper_than_the_parser_can_follow_exits_2(tmp_path, capsys):
    deep = write(tmp_path / "deep.json", '{"benchmarks": ' + "[" * 200_000 + "]" * 200_000 + "}")
    code, _, err = _check(capsys, tmp_path, results=deep)
    _one_line_error(code, err, rf"results file {re.escape(str(deep))} nests JSON too deeply to read$")


def test_an_integer_literal_of_5000_digits_exits_2(tmp_path, capsys):
    text = REAL_RESULTS.read_text().replace('"iterations": ', '"iterations": ' + "9" * 5000 + ", \"x\": ", 1)
    big = write(tmp_path / "big.json", text)
    code, _, err = _check(capsys, tmp_path, results=big)
    _one_line_error(code, err, r"results file .*big\.json is not usable JSON \(Exceeds the limit \(4300 digits\)")


def test_a_zero_median_in_the_baseline_is_judged_and_named_without_a_traceback(tmp_path, capsys, real_doc):
    base = write(tmp_path / "base.json", with_samples(real_doc, GET, [0.0] * 5))
    code, out, err = _check(capsys, tmp_path, baseline=base)
    assert (code, err) == (1, "")
    assert f"perfgate: FAIL: 1 regression ({GET} from a zero baseline p=0.00" in out


@pytest.mark.parametrize("toml, message", [
    ("thresholds = 0.1", r"\[thresholds\] must be a table, not a number"),
    ("defaults = 1", r"\[defaults\] must be a table, not a number"),
    ('peer = "absl"', r"peer must be an array of tables \(\[\[peer\]\]\), not a string"),
    ("target = 5", r"target must be an array of tables \(\[\[target\]\]\), not a number"),
    ('[[peer]]\nours = "a"\npeers = [1]', r"peer 1 needs 'ours' \(a name\) and 'peers' \(a list of names\)"),
    ('[[target]]\nbenchmark = "x"\nmetric = ["median"]\nlimit = 1\nunit = "ns"', r"target 1 \(x\) has unknown metric"),
    ('[[target]]\nbenchmark = "x"\nmetric = "median"\nlimit = 1\nunit = ["ns"]', r"target 1 \(x\) has unknown unit"),
    ('[thresholds]\n"x*" = inf', r"threshold for 'x\*' must be a fraction like 0.10, not inf"),
], ids=["thresholds-number", "defaults-number", "peer-string", "target-number", "peer-names", "metric-list",
        "unit-list", "threshold-inf"])
def test_a_targets_file_with_a_value_of_the_wrong_toml_type_exits_2(tmp_path, capsys, toml, message):
    targets = write(tmp_path / "t.toml", f"format_version = 1\n{toml}\n")
    code, _, err = _check(capsys, tmp_path, targets=targets)
    _one_line_error(code, err, rf"targets file {re.escape(str(targets))}: {message}")


BAD_VERDICTS = [
    ([], r"is not a perfgate verdict\.json \(no 'rows' list\)"),
    ({"rows": {"a": 1}}, r"is not a perfgate verdict\.json \(no 'rows' list\)"),
    ({"rows": [1]}, r"rows\[0\] is not a verdict row"),
    ({"rows": [{"benchmark": 1, "metric": "real_time", "status": "regressed"}]}, r"rows\[0\] is not a verdict row"),
    ({"rows": [{"benchmark": "a", "metric": "real_time", "status": "regressed", "delta_pct": "12"}]},
     r"rows\[0\] \(a\) has a non-numeric delta_pct: '12'"),
    ({"rows": [{"benchmark": "a", "metric": "real_time", "status": "sideways"}]},
     r"rows\[0\] \(a\) has unknown status 'sideways'"),
    ({"rows": [], "targets": [{"benchmark": "b", "metric": "allocs", "status": "breach"}]},
     r"targets\[0\] \(b\) has no limit"),
    ({"rows": [], "targets": {"x": 1}}, r"'targets' is not a list"),
    ({"rows": [{"benchmark": "a", "metric": "real_time", "status": "regressed", "confirmation": 3}]},
     r"rows\[0\] \(a\) has a non-text confirmation: 3"),
]


@pytest.mark.parametrize("doc, message", BAD_VERDICTS, ids=[f"v{i}" for i in range(len(BAD_VERDICTS))])
def test_annotations_of_a_verdict_of_unexpected_shape_exit_2(tmp_path, capsys, doc, message):
    path = write(tmp_path / "verdict.json", doc)
    code, out, err = call_main(capsys, "annotations", "--verdict", str(path))
    _one_line_error(code, err, rf"verdict file {re.escape(str(path))}(: | ){message}")
    assert out == ""


@pytest.mark.parametrize("doc, message", BAD_VERDICTS[:6], ids=[f"v{i}" for i in range(6)])
def test_confirm_from_a_verdict_of_unexpected_shape_exits_2(tmp_path, capsys, doc, message):
    path = write(tmp_path / "first.json", doc)
    code, _, err = _check(capsys, tmp_path, "--mode", "ab", "--confirm-from", str(path))
    _one_line_error(code, err, rf"first-pass verdict file {re.escape(str(path))}(: | ){message}")


@pytest.mark.parametrize("option", ["--runs", "--benchmarks", "--repetitions"])
def test_selfbench_with_a_zero_count_is_a_usage_error(capsys, option):
    code, _, err = call_main(capsys, "selfbench", option, "0")
    _one_line_error(code, err, rf"selfbench: argument {option}: must be from 1 to 1,000,000, not 0")


def _history_with_runs(tmp_path: Path, n: int = 3) -> Path:
    db = tmp_path / "h.sqlite"
    run = load.load_results(REAL_RESULTS)
    for _ in range(n):
        history.record(db, run)
    return db


@pytest.mark.parametrize("age", ["nan", "inf", "1e10", "-5", "-0.5"])
def test_prune_refuses_an_age_that_is_negative_non_finite_or_absurd_and_keeps_every_run(tmp_path, capsys, age):
    db = _history_with_runs(tmp_path)
    before = db.read_bytes()
    code, _, err = call_main(capsys, "history", "prune", "--history", str(db), "--older-than", age)
    _one_line_error(code, err, r"history prune: --older-than must be a number of days from 0 to 36,525, not ")
    assert db.read_bytes() == before and len(history.list_runs(db)) == 3


def test_prune_dry_run_says_what_it_would_delete_and_deletes_nothing(tmp_path, capsys):
    db = _history_with_runs(tmp_path)
    before = db.read_bytes()
    code, out, _ = call_main(capsys, "history", "prune", "--history", str(db), "--keep", "1", "--dry-run")
    assert code == 0
    assert out.strip() == f"perfgate: would delete 2 run(s) beyond the newest 1 from {db} (ids 1, 2); 1 remain"
    assert db.read_bytes() == before


def _schema_1_without_tables(tmp_path: Path) -> Path:
    db = tmp_path / "v1.sqlite"
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 1")
    con.close()
    return db


@pytest.mark.parametrize("command", ["report", "list"])
def test_a_schema_1_history_without_its_tables_exits_2_and_is_left_alone(tmp_path, capsys, command):
    db = _schema_1_without_tables(tmp_path)
    before = db.read_bytes()
    if command == "report":
        code, _, err = call_main(capsys, "report", "--results", str(REAL_RESULTS), "--targets", str(FIXTURE_TARGETS),
                                 "--report-dir", str(tmp_path / "out"), "--history", str(db))
    else:
        code, _, err = call_main(capsys, "history", "list", "--history", str(db))
    _one_line_error(code, err, rf"history {re.escape(str(db))} is damaged: table runs is missing$")
    assert db.read_bytes() == before


def _damage(db: Path, kind: str) -> str:
    """Damages a version-2 history one way; returns the problem the error must name."""
    con = sqlite3.connect(db)
    run_id, series, bench, metric = con.execute(
        "SELECT p.run_id, p.series, n.benchmark, n.metric FROM samples p JOIN series n ON n.id = p.series"
        " ORDER BY p.run_id, p.series LIMIT 1").fetchone()
    where = f"WHERE run_id = {run_id} AND series = {series}"
    statements, problem = {
        "short blob": ([f"UPDATE samples SET reps = substr(reps, 1, 13) {where}"],
                       f"is damaged: the repetitions of run {run_id}, {bench} {metric}, are 13 bytes; their summary "
                       "row's n = 5 needs 40"),
        "text": ([f"UPDATE samples SET reps = 'five doubles' {where}"],
                 f"is damaged: the repetitions of run {run_id}, {bench} {metric}, are text, not a BLOB of doubles"),
        "unnamed series": ([f"DELETE FROM series WHERE id = {series}"],
                           f"is damaged: run {run_id} has repetitions of series {series}, which table series does "
                           "not name"),
        "no summary": ([f"DELETE FROM summary {where}"],
                       f"is damaged: run {run_id} has repetitions of {bench} {metric} without a summary row"),
        "missing table": (["DROP TABLE series"], "is damaged: table series is missing"),
        "newer version": (["PRAGMA user_version = 3"], "has schema version 3; this perfgate reads versions 1 and 2"),
    }[kind]
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()
    return problem


@pytest.mark.parametrize("command", ["list", "report", "trends", "add", "compact", "merge", "migrate"])
@pytest.mark.parametrize("kind", ["short blob", "text", "unnamed series", "no summary", "missing table",
                                  "newer version"])
def test_a_damaged_version_2_history_exits_2_naming_the_file_and_the_problem(tmp_path, capsys, command, kind):
    db = _history_with_runs(tmp_path, 2)
    problem = _damage(db, kind)
    good = tmp_path / "good" / "h.sqlite"
    history.record(good, load.load_results(REAL_RESULTS))
    before = db.read_bytes()
    args = {"list": ["history", "list", "--history", str(db)],
            "report": ["report", "--results", str(REAL_RESULTS), "--targets", str(FIXTURE_TARGETS),
                       "--report-dir", str(tmp_path / "out"), "--history", str(db)],
            "trends": ["trends", "--history", str(db), "--out", str(tmp_path / "out")],
            "add": ["history", "add", "--results", str(REAL_RESULTS), "--history", str(db)],
            "compact": ["history", "compact", "--history", str(db)],
            "merge": ["history", "merge", "--history", str(good), "--from", str(db)],
            "migrate": ["history", "migrate", "--history", str(db)]}[command]
    code, _, err = call_main(capsys, *args)
    _one_line_error(code, err, f"history {re.escape(str(db))} {re.escape(problem)}$")
    assert db.read_bytes() == before


# --------------------------------------------------------------------------- silent passes

def _drop_field(doc: dict, name: str, field: str) -> dict:
    out = copy.deepcopy(doc)
    for row in out["benchmarks"]:
        if row["run_name"] == name:
            row.pop(field, None)
    return out


def test_a_benchmark_whose_rows_carry_no_real_time_exits_2_naming_it(tmp_path, capsys, real_doc):
    bad = write(tmp_path / "r.json", _drop_field(real_doc, PUT, "real_time"))  # no target names PUT
    code, _, err = _check(capsys, tmp_path, results=bad)
    _one_line_error(code, err, rf"results file .*r\.json: benchmark .{re.escape(PUT)}. has a row without real_time")


def _all_errored(doc: dict) -> dict:
    out = copy.deepcopy(doc)
    names = list(dict.fromkeys(r["run_name"] for r in out["benchmarks"]))
    out["benchmarks"] = [{"name": n, "run_name": n, "run_type": "iteration", "error_occurred": True,
                          "error_message": f"setup failed for {n}"} for n in names]
    return out


def test_a_run_in_which_every_benchmark_errored_exits_2_naming_the_first(tmp_path, capsys, real_doc):
    bad = write(tmp_path / "r.json", _all_errored(real_doc))
    code, _, err = _check(capsys, tmp_path, results=bad)
    _one_line_error(code, err, rf"results file .*r\.json measured nothing: all 9 benchmarks skipped themselves "
                               rf"\(first: {re.escape(GET)}: setup failed for {re.escape(GET)}\)$")


def test_baseline_refuses_a_run_in_which_every_benchmark_errored(tmp_path, capsys, real_doc):
    bad = write(tmp_path / "r.json", _all_errored(real_doc))
    code, _, err = call_main(capsys, "baseline", "--results", str(bad), "--out", str(tmp_path / "b.json"))
    _one_line_error(code, err, r"results file .*r\.json measured nothing")
    assert not (tmp_path / "b.json").exists()


def test_an_all_errored_baseline_exits_2(tmp_path, capsys, real_doc):
    bad = write(tmp_path / "b.json", _all_errored(real_doc))
    code, _, err = _check(capsys, tmp_path, baseline=bad)
    _one_line_error(code, err, r"baseline file .*b\.json measured nothing")


@pytest.mark.parametrize("context", ["Debug", ["statestore_build_type", "Debug"], 3])
def test_a_context_that_is_not_an_object_exits_2(tmp_path, capsys, real_doc, context):
    doc = dict(real_doc, context=context)
    bad = write(tmp_path / "r.json", doc)
    code, _, err = _check(capsys, tmp_path, results=bad)
    _one_line_error(code, err, r"results file .*r\.json: 'context' is not an object$")
    code, _, err = call_main(capsys, "baseline", "--results", str(bad), "--out", str(tmp_path / "b.json"))
    _one_line_error(code, err, r"'context' is not an object$")


@pytest.mark.parametrize("field, value", [("allocs_per_op", -1), ("p99_ns", -5.0), ("allocs_per_op", 1e400)])
def test_a_negative_or_infinite_counter_exits_2(tmp_path, capsys, real_doc, field, value):
    doc = copy.deepcopy(real_doc)
    next(r for r in doc["benchmarks"] if r["run_name"] == GET)[field] = value
    bad = write(tmp_path / "r.json", json.dumps(doc).replace("Infinity", "1e400"))
    code, _, err = _check(capsys, tmp_path, results=bad)
    metric = "allocs_per_op" if field == "allocs_per_op" else field
    _one_line_error(code, err, rf"benchmark '{re.escape(GET)}' has a negative or infinite {metric}")


@pytest.mark.parametrize("text, key", [
    ('{"benchmarks": [], "benchmarks": [1]}', "benchmarks"),
    ('{"context": {"statestore_build_type": "Debug", "statestore_build_type": "Release"}, "benchmarks": []}',
     "statestore_build_type"),
])
def test_a_key_given_twice_in_one_object_exits_2(tmp_path, capsys, text, key):
    bad = write(tmp_path / "r.json", text)
    code, _, err = _check(capsys, tmp_path, results=bad)
    _one_line_error(code, err, rf"results file .*r\.json has the key '{key}' twice in one object$")


# --------------------------------------------------------------------------- forged CI output

HOSTILE_NAME = "evil`) [x](https://e.example) <img src=x>|cell\n## Heading\n::error::forged %0A\r::warning::cr"


def _renamed(doc: dict, old: str, new: str) -> dict:
    out = copy.deepcopy(doc)
    for row in out["benchmarks"]:
        if row["run_name"] == old:
            row["run_name"] = row["name"] = new
    return out


def _hostile_run(tmp_path: Path, real_doc: dict) -> tuple[Path, Path]:
    """A baseline and results where PUT is named HOSTILE_NAME and 40% slower, and the
    machine fingerprints differ by a value carrying a newline and Markdown."""
    base_doc = with_context(_renamed(real_doc, PUT, HOSTILE_NAME), statestore_machine="box A\n# machine heading")
    cur_doc = with_context(_renamed(real_doc, PUT, HOSTILE_NAME), statestore_machine="box B `code` <b>x</b>|")
    for row in cur_doc["benchmarks"]:
        if row["run_name"] == HOSTILE_NAME and row["run_type"] == "iteration":
            row["real_time"] *= 1.4
    return write(tmp_path / "base.json", base_doc), write(tmp_path / "cur.json", cur_doc)


def test_summary_md_shows_hostile_names_and_context_values_as_text(tmp_path, capsys, real_doc):
    base, cur = _hostile_run(tmp_path, real_doc)
    code, _, _ = _check(capsys, tmp_path, results=cur, baseline=base)
    assert code == 1
    summary = (tmp_path / "out" / "summary.md").read_text()
    lines = summary.splitlines()
    assert [line for line in lines if line.startswith("#")] == [lines[0]]  # only our heading
    assert not any(line.startswith("::") for line in lines)
    outside_code = re.sub(r"(`+) .*? \1|(`+)[^` ].*?\2", "", summary)  # code spans show text literally
    assert not re.search(r"(?<!\\)<(img|b)|(?<!\\)\]\(https", outside_code), outside_code
    assert "\\<img src=x\\>" in lines[0] and "\\<b\\>x\\</b\\>" in summary
    row = next(line for line in lines if line.startswith("| regressed |"))
    assert row.count(" | ") + 2 == 8 and row.count("|") - row.count("\\|") == 8  # 7 cells, none split
    assert "``" in row  # a longer fence around the name's backtick


def test_annotations_escape_names_so_no_line_forges_a_workflow_command(tmp_path, capsys, real_doc):
    base, cur = _hostile_run(tmp_path, real_doc)
    _check(capsys, tmp_path, results=cur, baseline=base)
    code, out, _ = call_main(capsys, "annotations", "--verdict", str(tmp_path / "out" / "verdict.json"))
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("::error title=perf regressed%3A evil`) [x](https%3A//e.example)")
    assert "\n" not in lines[0][:-1] and "\r" not in lines[0]
    title, message = lines[0][len("::error "):].split("::", 1)
    assert "::" not in message.replace("%0A::", "") or "%0A::error::forged %250A%0D::warning" in message
    assert "," not in title and ":" not in title.removeprefix("title=")
    assert "%0A## Heading%0A::error::forged %250A%0D::warning::cr" in message


def test_console_lines_of_check_cannot_pass_for_workflow_commands(tmp_path, capsys, real_doc):
    base, cur = _hostile_run(tmp_path, real_doc)
    code, out, _ = _check(capsys, tmp_path, results=cur, baseline=base)
    assert code == 1
    lines = out.splitlines()
    assert not [line for line in lines if line.lstrip().startswith("::") or line.startswith("#")]
    assert any("evil`) [x](https://e.example) <img src=x>|cell\\n## Heading\\n::error::forged %0A\\r::warning" in line
               for line in lines)


def test_an_error_message_quoting_a_hostile_name_stays_one_line(tmp_path, capsys, real_doc):
    doc = _renamed(real_doc, PUT, "x\n::error::forged")
    next(r for r in doc["benchmarks"] if r["run_name"] == "x\n::error::forged")["time_unit"] = "ps"
    code, _, err = _check(capsys, tmp_path, results=write(tmp_path / "r.json", doc))
    _one_line_error(code, err, r"benchmark 'x\\n::error::forged' has unknown time_unit 'ps'")


# --------------------------------------------------------------------------- reading commands never write

def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def _foreign(tmp_path: Path) -> Path:
    db = tmp_path / "other.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.commit()
    con.close()
    return db


@pytest.mark.parametrize("kind", ["empty", "foreign"])
def test_report_and_history_list_leave_an_empty_or_foreign_sqlite_file_byte_for_byte(tmp_path, capsys, kind):
    hist_dir = tmp_path / "h"
    hist_dir.mkdir()
    db = _foreign(hist_dir) if kind == "foreign" else write(hist_dir / "empty.sqlite", "")
    before = _files(hist_dir)
    code_r, _, err_r = call_main(capsys, "report", "--results", str(REAL_RESULTS), "--targets", str(FIXTURE_TARGETS),
                                 "--report-dir", str(tmp_path / "out"), "--history", str(db))
    code_l, out_l, err_l = call_main(capsys, "history", "list", "--history", str(db))
    assert _files(hist_dir) == before
    if kind == "empty":
        assert (code_r, code_l) == (0, 0) and out_l.strip() == f"perfgate: {db} holds no runs"
    else:
        for code, err in ((code_r, err_r), (code_l, err_l)):
            _one_line_error(code, err, r"is an SQLite file of something else \(tables: invoices\), "
                                       r"not a perfgate history$")


def test_check_refuses_to_record_into_a_foreign_sqlite_file(tmp_path, capsys):
    db = _foreign(tmp_path)
    before = db.read_bytes()
    code, _, err = call_main(capsys, "check", "--baseline", str(REAL_RESULTS), "--results", str(REAL_RESULTS),
                             "--targets", str(FIXTURE_TARGETS), "--report-dir", str(tmp_path / "out"),
                             "--history", str(db))
    _one_line_error(code, err, r"not a perfgate history$")
    assert db.read_bytes() == before


def _corrupt(db: Path) -> None:
    """Overwrites one page in the middle of the file (a table b-tree page of samples)."""
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    middle = (len(data) // page // 2) * page
    data[middle:middle + page] = b"\x0d\xff" * (page // 2)
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("command", ["report", "list", "prune"])
def test_a_history_with_a_corrupt_page_is_refused_before_it_is_trusted(tmp_path, capsys, command):
    db = _history_with_runs(tmp_path, 4)
    _corrupt(db)
    before = db.read_bytes()
    args = {"report": ["report", "--results", str(REAL_RESULTS), "--targets", str(FIXTURE_TARGETS),
                       "--report-dir", str(tmp_path / "out"), "--history", str(db)],
            "list": ["history", "list", "--history", str(db)],
            "prune": ["history", "prune", "--history", str(db), "--keep", "1"]}[command]
    code, _, err = call_main(capsys, *args)
    _one_line_error(code, err, rf"history {re.escape(str(db))} (is corrupt \(quick_check: |is not usable: )")
    assert db.read_bytes() == before


# --------------------------------------------------------------------------- disk full, temp files

def _run_with_file_size_limit(limit: int, *args: str) -> subprocess.CompletedProcess:
    """`python3 -m perfgate ARGS` with writes beyond `limit` bytes per file failing (EFBIG),
    as on a full disk."""
    def limit_writes() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    env = dict(os.environ, PYTHONPATH=str(TOOLS))
    return subprocess.run([sys.executable, "-m", "perfgate", *args], env=env, capture_output=True, text=True,
                          preexec_fn=limit_writes, timeout=120)


def test_a_disk_full_while_recording_leaves_the_history_whole_and_without_the_run(tmp_path):
    db = _history_with_runs(tmp_path, 2)
    size = db.stat().st_size
    bigger = TOOLS / "tests" / "inputs" / "state_bench_quick_trimmed.json"  # 33 benchmarks: the file must grow
    done = _run_with_file_size_limit(size, "history", "add", "--results", str(bigger), "--history", str(db))
    _one_line_error(done.returncode, done.stderr, rf"history {re.escape(str(db))} is not usable: ")
    copy_alone = tmp_path / "copy.sqlite"
    shutil.copyfile(db, copy_alone)  # what CI pushes: the one file
    con = sqlite3.connect(copy_alone)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2
    con.close()
    assert list(history.list_runs(db)["id"]) == [2, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.sqlite", "h.sqlite"]


def test_a_recorded_run_is_whole_in_the_one_file_ci_copies(tmp_path):
    db = _history_with_runs(tmp_path, 2)
    copy_alone = tmp_path / "copy.sqlite"
    shutil.copyfile(db, copy_alone)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.sqlite", "h.sqlite"]
    assert list(history.list_runs(copy_alone)["id"]) == [2, 1]


def test_a_write_that_fails_leaves_no_temp_file_and_the_old_file(tmp_path):
    target = tmp_path / "verdict.json"
    target.mkdir()  # the rename over it fails
    (target / "x").write_text("keep")
    from perfgate import render
    with pytest.raises(PerfGateError, match=r"cannot write .*verdict\.json: "):
        render.write_text(target, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verdict.json"]


def test_a_disk_full_while_writing_the_reports_exits_2_and_leaves_no_temp_file(tmp_path):
    out = tmp_path / "out"
    done = _run_with_file_size_limit(2000, "check", "--baseline", str(REAL_RESULTS), "--results", str(REAL_RESULTS),
                                     "--targets", str(FIXTURE_TARGETS), "--report-dir", str(out), "--no-history")
    _one_line_error(done.returncode, done.stderr, r"cannot write .*verdict\.json: File too large$")
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------- the decision's edges

def test_exactly_the_threshold_is_not_beyond_it(tmp_path, real_doc):
    base_values = [100.0, 101.0, 102.0, 103.0, 104.0]
    base = load.load_results(write(tmp_path / "b.json", with_samples(real_doc, GET, base_values)))
    cur = load.load_results(write(tmp_path / "c.json", with_samples(real_doc, GET, [v * 1.10 for v in base_values])))
    row = next(r for r in decide(base, cur, load.EMPTY_TARGETS).rows if r.benchmark == GET)
    assert (row.status, round(row.delta_pct, 6)) == ("unchanged", 10.0)
    cur = load.load_results(write(tmp_path / "d.json", with_samples(real_doc, GET, [v * 1.1001 for v in base_values])))
    assert next(r for r in decide(base, cur, load.EMPTY_TARGETS).rows if r.benchmark == GET).status == "regressed"


def _one_repetition(tmp_path: Path, name: str, base: float, current: float) -> tuple:
    doc = load_doc()
    b = load.load_results(write(tmp_path / f"b{current}.json", with_samples(doc, name, [base])))
    c = load.load_results(write(tmp_path / f"c{current}.json", with_samples(doc, name, [current])))
    return b, c


@pytest.mark.parametrize("current, status, fails", [
    (10_000.0, "regressed", True),   # x1000 (Google Benchmark's test5 inputs: +99,900%)
    (0.0, "improved", False),        # -100% (its test1 inputs)
    (31.0, "regressed", True),       # just beyond x3
    (29.0, "insufficient", False),   # +190%: too few repetitions, under the gross bound
    (30.0, "insufficient", False),   # exactly x3 is not beyond it
    (3.0, "improved", False),        # a third of the time, and a bit less
    (11.5, "insufficient", False),
])
def test_one_repetition_a_side_cannot_hide_a_change_beyond_the_gross_bound(tmp_path, current, status, fails):
    base, cur = _one_repetition(tmp_path, GET, 10.0, current)
    row = next(r for r in decide(base, cur, load.EMPTY_TARGETS).rows if r.benchmark == GET)
    assert (row.status, row.fails) == (status, fails)
    if status != "insufficient":
        assert row.note == ("insufficient repetitions (1 vs 1; a U test needs >= 4 per side); judged on the change "
                            "alone: beyond the gross bound (x3 either way)")
    assert analyse.GROSS_FACTOR == 3.0


def test_a_gross_regression_with_too_few_repetitions_fails_the_check_loudly(tmp_path, capsys, real_doc):
    base = write(tmp_path / "b.json", with_samples(real_doc, GET, [10.0]))
    cur = write(tmp_path / "c.json", with_samples(real_doc, GET, [10_000.0]))
    code, out, _ = _check(capsys, tmp_path, results=cur, baseline=base)
    assert code == 1
    assert f"perfgate: FAIL: 1 regression ({GET} +99900.0%)" in out
    assert "judged on the change alone: beyond the gross bound (x3 either way)" in out


def test_the_instruction_verdict_fixture_still_loads():
    assert load.load_instruction_verdict(INSTRUCTION_VERDICT).verdict == "pass"


# --------------------------------------------------------------------------- the escaping functions

def test_markdown_escaping_leaves_no_active_character_and_no_line_break():
    from perfgate.fmt import md_code, md_text
    assert md_text("a\n# b [l](u) <img> x|y `c` *e* _u_ state_get") == \
        "a\\\\n\\# b \\[l\\](u) \\<img\\> x\\|y \\`c\\` \\*e\\* \\_u\\_ state_get"
    assert md_code("a``b|c") == "```a``b\\|c```"
    assert md_code("`x") == "`` `x ``"
    assert md_code("q|r", table=False) == "`q|r`"


def test_workflow_command_escaping_follows_the_runner_rules():
    from perfgate.fmt import workflow_data, workflow_property
    assert workflow_data("50% of\r\nx::y") == "50%25 of%0D%0Ax::y"
    assert workflow_property("a: b, c%\n") == "a%3A b%2C c%25%0A"


def test_console_text_shows_control_characters_as_escapes():
    from perfgate.fmt import one_line
    assert one_line("a\nb\rc\td\x1b[31m\x85e\u2028") == "a\\nb\\rc\\td\\x1b[31m\\x85e\\u2028"


def test_reading_an_older_wal_history_writes_nothing_beside_it(tmp_path, capsys):
    hist_dir = tmp_path / "h"
    db = _history_with_runs(hist_dir, 2) if hist_dir.mkdir() is None else None
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"  # as histories were written before
    con.close()
    before = _files(hist_dir)
    code, out, _ = call_main(capsys, "history", "list", "--history", str(db))
    assert code == 0 and len(out.strip().splitlines()) == 3
    assert _files(hist_dir) == before
