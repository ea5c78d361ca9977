"""Loading: real Google Benchmark JSON, baselines, targets, and every bad input with its message."""

import json
import re
from pathlib import Path

import pytest

from conftest import (AGGREGATES_ONLY, FIXTURE_TARGETS, INSTRUCTION_BASELINE, INSTRUCTION_VERDICT, REAL_RESULTS, REPO,
                      call_main, instruction_verdict, load_doc, run_cli, scaled, with_context, without, write)
from perfgate import load
from perfgate.errors import PerfGateError

GET = "state_get_inmemory/1000"


def test_real_results_load_as_tidy_samples_in_nanoseconds(real_doc):
    run = load.load_results(REAL_RESULTS)
    assert run.profile == "quick" and run.machine == "AMD EPYC 7B13|2 cpus|24 GiB"
    assert len(run.values(GET, "real_time")) == 5
    snap = run.values("state_snapshot/inmemory/1MB", "real_time")  # time_unit "us" in the file
    raw = [r["real_time"] for r in real_doc["benchmarks"]
           if r["run_name"] == "state_snapshot/inmemory/1MB" and r["run_type"] == "iteration"]
    assert list(snap) == pytest.approx([v * 1000 for v in raw])
    assert list(run.samples.columns) == ["benchmark", "metric", "repetition", "value"]
    assert set(run.values(GET, "allocs_per_op")) == {0.0}


def test_time_units_are_normalised_to_nanoseconds(tmp_path, real_doc):
    for unit, factor in (("ns", 1), ("us", 1e3), ("ms", 1e6), ("s", 1e9)):
        doc = json.loads(json.dumps(real_doc))
        for r in doc["benchmarks"]:
            r["time_unit"] = unit
            if r["run_name"] == GET and r["run_type"] == "iteration":
                r["real_time"] = 2.0
        run = load.load_results(write(tmp_path / f"{unit}.json", doc))
        assert set(run.values(GET, "real_time")) == {2.0 * factor}


def test_allocs_per_op_falls_back_to_the_memory_managers_allocs_per_iter(tmp_path, real_doc):
    for r in real_doc["benchmarks"]:
        if r["run_name"] == GET:
            r.pop("allocs_per_op", None)
            r["allocs_per_iter"] = 3
    run = load.load_results(write(tmp_path / "r.json", real_doc))
    assert set(run.values(GET, "allocs_per_op")) == {3.0}


def test_skipped_benchmarks_carry_their_message():
    run = load.load_results(REAL_RESULTS)
    assert run.skipped == {"state_get_inmemory/10000000": "skipped: needs 2.1 GiB, MemAvailable is 1.0 GiB"}
    assert not run.has("state_get_inmemory/10000000")


def test_aggregate_only_files_load_their_mean_and_median():
    run = load.load_results(AGGREGATES_ONLY)
    assert run.samples.empty
    assert run.is_aggregate_only(GET)
    assert run.aggregate(GET, "real_time", "median") > 0


def test_a_raw_results_file_loads_as_a_baseline_for_ab_comparisons():
    base = load.load_baseline(REAL_RESULTS)
    assert base.meta == {} and base.profile == "quick"


def test_a_perfgate_baseline_file_carries_its_machine_and_commit(tmp_path, real_doc):
    doc = dict(real_doc, format_version=1, profile="quick", machine="M|1 cpus|1 GiB", commit="abc",
               recorded_at="2026-01-01T00:00:00+00:00")
    base = load.load_baseline(write(tmp_path / "b.json", doc))
    assert (base.machine, base.commit, base.date) == ("M|1 cpus|1 GiB", "abc", "2026-01-01T00:00:00+00:00")


def test_library_build_type_debug_is_ignored(real_doc):
    assert real_doc["context"]["library_build_type"] == "debug"
    load.load_results(REAL_RESULTS)  # does not raise


def test_the_committed_target_table_covers_every_f_perf_001_row():
    t = load.load_targets(REPO / "baselines" / "targets.toml")
    names = {x.benchmark for x in t.targets}
    for expected in ("state_get_inmemory/1000", "state_get_inmemory/100000", "state_get_inmemory/10000000",
                     "state_get_mmap/1000", "state_get_mmap/100000", "state_get_mmap/10000000",
                     "state_put_inmemory/1000", "state_put_inmemory/100000", "state_put_mmap/1000",
                     "state_put_mmap/100000", "state_range/results/1000", "state_snapshot/inmemory/1MB",
                     "state_snapshot/inmemory/10MB", "state_restore/inmemory/1MB", "state_restore/inmemory/10MB",
                     "state_get_zero_alloc"):
        assert expected in names
    by = {(x.benchmark, x.metric): x for x in t.targets}
    assert by[("state_range/results/1000", "median")].limit == 10_000
    assert by[("state_restore/inmemory/10MB", "median")].limit == 50_000_000
    assert by[("state_get_zero_alloc", "allocs")].limit == 0
    assert by[("state_get_inmemory/10000000", "median")].profiles == ("full",)
    assert t.threshold_for("state_snapshot/inmemory/1MB", 0.1) == 0.15
    assert t.threshold_for("state_get_inmemory/1000", 0.1) == 0.1


# ------------------------------------------------------------------ bad input: exit 2 and one line

def _bad_results(tmp_path, content) -> str:
    return str(write(tmp_path / "results.json", content))


def _check(capsys, results: str, baseline: str = str(REAL_RESULTS), targets: str = str(FIXTURE_TARGETS),
           *extra: str):
    return call_main(capsys, "check", "--baseline", baseline, "--results", results, "--targets", targets,
                     "--report-dir", str(Path(results).parent / "out"), *extra)


def _assert_one_line(code: int, err: str, pattern: str):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("perfgate: error: ")
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in err


def test_a_missing_results_file_exits_2_naming_it(tmp_path):
    r = run_cli("check", "--baseline", str(REAL_RESULTS), "--results", str(tmp_path / "nope.json"),
                "--targets", str(FIXTURE_TARGETS), "--report-dir", str(tmp_path / "out"))
    _assert_one_line(r.returncode, r.stderr, r"results file .*nope\.json does not exist$")


def test_an_empty_results_file_exits_2(tmp_path):
    r = run_cli("check", "--baseline", str(REAL_RESULTS), "--results", _bad_results(tmp_path, ""),
                "--targets", str(FIXTURE_TARGETS), "--report-dir", str(tmp_path / "out"))
    _assert_one_line(r.returncode, r.stderr, r"results file .*results\.json is empty$")


def test_a_truncated_results_file_exits_2_and_says_it_looks_truncated(tmp_path):
    text = REAL_RESULTS.read_text()
    r = run_cli("check", "--baseline", str(REAL_RESULTS), "--results", _bad_results(tmp_path, text[: len(text) // 2]),
                "--targets", str(FIXTURE_TARGETS), "--report-dir", str(tmp_path / "out"))
    _assert_one_line(r.returncode, r.stderr,
                     r"results file .* is not valid JSON \(.*, line \d+ column \d+; "
                     r"truncated: did the benchmark crash mid-write\?\)$")


def test_malformed_json_exits_2_with_the_parse_position(tmp_path, capsys):
    code, _, err = _check(capsys, _bad_results(tmp_path, '{"context": {}, "benchmarks": [}, "x": 1}'))
    _assert_one_line(code, err, r"is not valid JSON \(Expecting value, line 1 column 32\)$")


def test_json_that_is_not_google_benchmark_output_exits_2(tmp_path, capsys):
    code, _, err = _check(capsys, _bad_results(tmp_path, '{"foo": 1}'))
    _assert_one_line(code, err, r"is not Google Benchmark JSON \(no 'benchmarks' list\)$")


def test_json_with_no_benchmarks_exits_2(tmp_path, capsys, real_doc):
    code, _, err = _check(capsys, _bad_results(tmp_path, dict(real_doc, benchmarks=[])))
    _assert_one_line(code, err, r"results file .* has no benchmarks$")


def test_a_nan_time_exits_2_naming_the_benchmark(tmp_path, capsys, real_doc):
    real_doc["benchmarks"][0]["real_time"] = float("nan")
    code, _, err = _check(capsys, _bad_results(tmp_path, json.dumps(real_doc)))
    _assert_one_line(code, err, rf"benchmark '{GET}' has a NaN real_time$")


def test_a_negative_time_exits_2_naming_the_benchmark(tmp_path, capsys, real_doc):
    real_doc["benchmarks"][0]["cpu_time"] = -1.5
    code, _, err = _check(capsys, _bad_results(tmp_path, real_doc))
    _assert_one_line(code, err, rf"benchmark '{GET}' has a negative or infinite cpu_time \(-1\.5\)$")


def test_an_unknown_time_unit_exits_2(tmp_path, capsys, real_doc):
    real_doc["benchmarks"][0]["time_unit"] = "fortnights"
    code, _, err = _check(capsys, _bad_results(tmp_path, real_doc))
    _assert_one_line(code, err, rf"benchmark '{GET}' has unknown time_unit 'fortnights'$")


def test_a_duplicate_repetition_exits_2(tmp_path, capsys, real_doc):
    real_doc["benchmarks"].append(dict(real_doc["benchmarks"][0]))
    code, _, err = _check(capsys, _bad_results(tmp_path, real_doc))
    _assert_one_line(code, err, rf"duplicate benchmark '{GET}' repetition 0 \(same run_name and "
                                r"repetition_index twice\)$")


def test_results_from_a_debug_build_of_our_code_exit_2(tmp_path, capsys, real_doc):
    code, _, err = _check(capsys, _bad_results(tmp_path, with_context(real_doc, statestore_build_type="Debug")))
    _assert_one_line(code, err, r"comes from a 'Debug' build of statestore \(context statestore_build_type\); "
                                r"timings need a Release build$")


def test_a_baseline_of_an_unknown_format_version_exits_2(tmp_path, capsys, real_doc):
    base = write(tmp_path / "base.json", dict(real_doc, format_version=7))
    code, _, err = _check(capsys, str(REAL_RESULTS), str(base))
    _assert_one_line(code, err, r"baseline file .*base\.json has format_version 7; this perfgate reads "
                                r"format_version 1$")


def test_a_missing_baseline_file_exits_2(tmp_path, capsys):
    code, _, err = _check(capsys, str(REAL_RESULTS), str(tmp_path / "baselines" / "tiny.json"))
    _assert_one_line(code, err, r"baseline file .*tiny\.json does not exist \(record one from a Release results "
                                r"file: perfgate baseline --results FILE, or make perf-baseline PROFILE=<profile>\)$")


TARGET_ROW = '[[target]]\nbenchmark = "state_get_inmemory/1000"\nmetric = "{metric}"\nlimit = 1\nunit = "{unit}"\n'


@pytest.mark.parametrize("body, pattern", [
    ("format_version = 2\n", r"targets file .* has format_version 2; this perfgate reads format_version 1$"),
    ("known_profiles = []\n", r"targets file .* has format_version None; this perfgate reads format_version 1$"),
    ("format_version = 1\n" + TARGET_ROW.format(metric="p95", unit="ns"),
     r"target 1 \(state_get_inmemory/1000\) has unknown metric 'p95' \(known: median, mean, p99, allocs\)$"),
    ("format_version = 1\n" + TARGET_ROW.format(metric="median", unit="ps"),
     r"target 1 \(state_get_inmemory/1000\) has unknown unit 'ps' for metric median \(known: ns, us, ms, s\)$"),
    ("format_version = 1\n" + TARGET_ROW.format(metric="allocs", unit="bytes"),
     r"has unknown unit 'bytes' for metric allocs \(known: allocs\)$"),
    ('format_version = 1\nknown_profiles = ["quick"]\n' + TARGET_ROW.format(metric="median", unit="ns")
     + 'profiles = ["nightly"]\n',
     r"target 1 \(state_get_inmemory/1000\) names unknown profile 'nightly' \(known_profiles: quick\)$"),
    ("format_version = 1\n[[target]]\nmetric = 'median'\n", r"target 1 has no benchmark name$"),
    ("format_version = 1\n" + TARGET_ROW.format(metric="median", unit="ns").replace("limit = 1", "limit = -3"),
     r"has a bad limit -3 \(a number >= 0\)$"),
    ("format_version = 1\n[thresholds]\n'state_*' = 15\n",
     r"threshold for 'state_\*' must be a fraction like 0.10, not 15$"),
    ("format_version = = 1\n", r"targets file .* is not valid TOML: "),
])
def test_a_bad_targets_file_exits_2_with_its_message(tmp_path, capsys, body, pattern):
    targets = tmp_path / "targets.toml"
    targets.write_text(body)
    code, _, err = _check(capsys, str(REAL_RESULTS), str(REAL_RESULTS), str(targets))
    _assert_one_line(code, err, pattern)


def test_a_target_for_a_benchmark_absent_from_the_results_exits_2_naming_it(tmp_path, capsys):
    targets = tmp_path / "targets.toml"
    targets.write_text('format_version = 1\n' + TARGET_ROW.format(metric="median", unit="ns")
                       .replace("state_get_inmemory/1000", "state_get_mmap/1000"))
    code, _, err = _check(capsys, str(REAL_RESULTS), str(REAL_RESULTS), str(targets))
    _assert_one_line(code, err, r"target state_get_mmap/1000 \(median\) applies to profile 'quick' but the "
                                r"results file .* has no such benchmark$")


def test_a_target_needing_a_counter_the_benchmark_lacks_exits_2(tmp_path, capsys):
    targets = tmp_path / "targets.toml"
    targets.write_text('format_version = 1\n' + TARGET_ROW.format(metric="p99", unit="ns")
                       .replace("state_get_inmemory/1000", "state_range/results/10"))
    code, _, err = _check(capsys, str(REAL_RESULTS), str(REAL_RESULTS), str(targets))
    _assert_one_line(code, err, r"target state_range/results/10 \(p99\) needs counter p99_ns, which the "
                                r"results file .* does not report for it$")


def test_a_bad_threshold_is_a_usage_error_on_one_line(tmp_path):
    r = run_cli("check", "--baseline", str(REAL_RESULTS), "--results", str(REAL_RESULTS), "--threshold", "10")
    _assert_one_line(r.returncode, r.stderr, r"^perfgate: error: check: argument --threshold: must be a fraction "
                                             r"between 0 and 1 \(e\.g\. 0\.10\), not 10 \(see --help\)$")


def test_a_missing_required_argument_is_a_usage_error_on_one_line(capsys):
    code, _, err = call_main(capsys, "check", "--results", str(REAL_RESULTS))
    _assert_one_line(code, err, r"the following arguments are required: --baseline")


def test_a_missing_first_pass_verdict_exits_2(tmp_path, capsys):
    code, _, err = _check(capsys, str(REAL_RESULTS), str(REAL_RESULTS), str(FIXTURE_TARGETS),
                          "--confirm-from", str(tmp_path / "v.json"))
    _assert_one_line(code, err, r"first-pass verdict file .*v\.json does not exist$")


def test_a_bad_file_leaves_no_partial_outputs(tmp_path, capsys):
    code, _, _ = _check(capsys, _bad_results(tmp_path, ""))
    assert code == 2
    assert not (tmp_path / "out").exists()


def test_results_from_a_build_with_sanitizers_exit_2(tmp_path, capsys, real_doc):
    code, _, err = _check(capsys, _bad_results(tmp_path, with_context(real_doc, statestore_sanitize="on")))
    _assert_one_line(code, err, r"results file .* comes from a statestore build with sanitizers on \(context "
                                r"statestore_sanitize\); timings need a build without them$")


def _first_iteration(doc: dict, **fields) -> dict:
    doc["benchmarks"][0].update(fields)
    return doc


@pytest.mark.parametrize("make, pattern", [
    (lambda d: "[]", r"is not Google Benchmark JSON \(no 'benchmarks' list\)$"),
    (lambda d: dict(d, benchmarks={}), r"is not Google Benchmark JSON \('benchmarks' is not a list\)$"),
    (lambda d: dict(d, benchmarks=[7]), r": benchmarks\[0\] is not an object$"),
    (lambda d: dict(d, benchmarks=[{"real_time": 1}]), r": benchmarks\[0\] has no run_name$"),
    (lambda d: _first_iteration(d, real_time="fast"), rf"benchmark '{GET}' has a non-numeric or out-of-range real_time: 'fast'$"),
    (lambda d: _first_iteration(d, real_time=float("inf")), rf"benchmark '{GET}' has a negative or infinite "
                                                            r"real_time \(inf\)$"),
    (lambda d: _first_iteration(d, repetition_index="0"), rf"benchmark '{GET}' has a bad repetition_index '0'$"),
    (lambda d: dict(d, benchmarks=d["benchmarks"] + [r for r in d["benchmarks"] if r["run_name"] == GET
                                                     and r.get("aggregate_name") == "median"]),
     rf"benchmark '{GET}' has two median aggregates$"),
    (lambda d: dict(d, benchmarks=[r for r in d["benchmarks"] if r.get("aggregate_name") in ("stddev", "cv")]),
     r"results file .* has no benchmarks$"),
])
def test_every_malformed_results_file_exits_2_with_its_own_message(tmp_path, capsys, real_doc, make, pattern):
    doc = make(real_doc)
    code, _, err = _check(capsys, _bad_results(tmp_path, doc if isinstance(doc, str) else json.dumps(doc)))
    _assert_one_line(code, err, pattern)


def test_a_results_file_that_is_not_utf8_or_is_a_directory_exits_2(tmp_path, capsys):
    binary = tmp_path / "results.json"
    binary.write_bytes(b"\xff\xfe{\x00")
    code, _, err = _check(capsys, str(binary))
    _assert_one_line(code, err, r"results file .*results\.json is not UTF-8 text$")
    (tmp_path / "dir.json").mkdir()
    code, _, err = _check(capsys, str(tmp_path / "dir.json"))
    _assert_one_line(code, err, r"results file .*dir\.json is a directory$")


@pytest.mark.parametrize("which", ["baseline", "targets"])
def test_a_missing_or_empty_baseline_or_targets_file_exits_2_naming_it(tmp_path, capsys, which):
    files = {"baseline": str(REAL_RESULTS), "targets": str(FIXTURE_TARGETS)}
    files[which] = str(tmp_path / f"absent.{which}")
    code, _, err = _check(capsys, str(REAL_RESULTS), files["baseline"], files["targets"])
    _assert_one_line(code, err, rf"{which} file .*absent\.{which} does not exist")
    empty = tmp_path / f"empty.{which}"
    empty.write_text("\n  \n")
    files[which] = str(empty)
    code, _, err = _check(capsys, str(REAL_RESULTS), files["baseline"], files["targets"])
    _assert_one_line(code, err, rf"{which} file .*empty\.{which} is empty$")


def test_a_truncated_baseline_and_one_with_no_benchmarks_exit_2(tmp_path, capsys, real_doc):
    text = REAL_RESULTS.read_text()
    cut = write(tmp_path / "cut.json", text[: len(text) // 3])
    code, _, err = _check(capsys, str(REAL_RESULTS), str(cut))
    _assert_one_line(code, err, r"baseline file .*cut\.json is not valid JSON \(.*; truncated: did the benchmark "
                                r"crash mid-write\?\)$")
    empty = write(tmp_path / "none.json", dict(real_doc, format_version=1, benchmarks=[]))
    code, _, err = _check(capsys, str(REAL_RESULTS), str(empty))
    _assert_one_line(code, err, r"baseline file .*none\.json has no benchmarks$")


def test_a_baseline_from_a_debug_build_exits_2(tmp_path, capsys, real_doc):
    base = write(tmp_path / "base.json", with_context(real_doc, statestore_build_type="Debug"))
    code, _, err = _check(capsys, str(REAL_RESULTS), str(base))
    _assert_one_line(code, err, r"baseline file .*base\.json comes from a 'Debug' build of statestore")


def test_a_report_dir_that_is_a_file_exits_2(tmp_path, capsys):
    blocker = write(tmp_path / "reports", "not a directory")
    code, _, err = call_main(capsys, "check", "--baseline", str(REAL_RESULTS), "--results", str(REAL_RESULTS),
                             "--targets", str(FIXTURE_TARGETS), "--report-dir", str(blocker / "out"))
    _assert_one_line(code, err, rf"cannot write .*verdict\.json: {re.escape(str(blocker))} is a file, "
                                r"not a directory$")


def test_the_readme_documents_every_context_key_state_bench_writes():
    context_cc = (REPO / "benches" / "context.cc").read_text()
    written = set(re.findall(r'ctx\.emplace_back\("(statestore_\w+)"', context_cc))
    assert len(written) >= 12
    readme = (REPO / "tools" / "perfgate" / "README.md").read_text()
    undocumented = sorted(k for k in written | {"statestore_metric", "library_build_type"} if f"`{k}`" not in readme)
    assert undocumented == []


# --------------------------------------------------------------------------- instruction verdict (--instructions)

def test_an_instruction_verdict_loads_its_rows_by_benchmark():
    v = load.load_instruction_verdict(INSTRUCTION_VERDICT)
    assert v.verdict == "pass" and v.headline == "PASS: 9 unchanged, no targets checked"
    assert v.counts == {"unchanged": 9} and v.thresholds == [0.02]
    assert len(v.rows) == 9
    row = v.rows[GET]
    assert (row.status, row.baseline, row.current, row.delta_pct) == ("unchanged", 89.3158, 89.3158, 0.0)


def test_the_missing_rows_of_an_instruction_verdict_are_kept_though_labelled_real_time(tmp_path):
    doc = scaled(without(load_doc(INSTRUCTION_BASELINE), "state_put_inmemory/1000"), {GET: 1.05},
                 metric="instructions_per_op")
    path = instruction_verdict(tmp_path, doc)
    raw = {r["benchmark"]: r for r in json.loads(path.read_text())["rows"]}
    assert raw["state_put_inmemory/1000"]["metric"] == "real_time"  # decide()'s placeholder label
    v = load.load_instruction_verdict(path)
    assert v.verdict == "fail"
    assert v.rows["state_put_inmemory/1000"].status == "missing"
    assert v.rows[GET].status == "regressed" and v.rows[GET].delta_pct == pytest.approx(5.0)


def _wall_time_verdict(tmp_path) -> Path:
    out = tmp_path / "wall"
    assert call_main_quiet("check", "--baseline", str(REAL_RESULTS), "--results", str(REAL_RESULTS),
                           "--targets", str(FIXTURE_TARGETS), "--report-dir", str(out), "--no-history") == 0
    return out / "verdict.json"


def call_main_quiet(*args: str) -> int:
    from perfgate.__main__ import run
    return run(list(args))


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "nope.json",
     "instruction verdict file {p} does not exist (the instruction-count check writes it: "
     "make perf-gate PROFILE=instructions REPORT_DIR=reports/instructions)"),
    (lambda d: write(d / "empty.json", " \n"), "instruction verdict file {p} is empty"),
    (lambda d: write(d / "half.json", '{"verdict": "pass", "rows": ['),
     "instruction verdict file {p} is not valid JSON (Expecting value, line 1 column 30)"),
    (lambda d: INSTRUCTION_BASELINE,
     "instruction verdict file {p} is Google Benchmark results, not a perfgate verdict.json "
     "(pass the verdict.json that perfgate check wrote for them)"),
    (lambda d: write(d / "list.json", "[1, 2]"),
     "instruction verdict file {p} is not a perfgate verdict.json (no 'verdict', 'headline', 'rows')"),
    (lambda d: write(d / "partial.json", {"verdict": "pass", "rows": []}),
     "instruction verdict file {p} is not a perfgate verdict.json (no 'headline')"),
    (lambda d: write(d / "odd.json", {"verdict": "maybe", "headline": "x", "rows": []}),
     "instruction verdict file {p} is not a perfgate verdict.json (bad 'verdict', 'headline' or 'rows')"),
    (lambda d: write(d / "badrow.json", {"verdict": "pass", "headline": "PASS", "rows": [{"benchmark": GET}]}),
     "instruction verdict file {p}: rows[0] is not a verdict row (needs benchmark, metric and status)"),
    (lambda d: write(d / "badnum.json", {"verdict": "pass", "headline": "PASS", "rows": [
        {"benchmark": GET, "metric": "instructions_per_op", "status": "unchanged", "current": "89"}]}),
     f"instruction verdict file {{p}}: rows[0] ({GET}) has a non-numeric current: '89'"),
    (_wall_time_verdict,
     "instruction verdict file {p} has no instructions_per_op rows: it is the verdict of a wall-time run, "
     "not of an instruction-count run (make perf-gate PROFILE=instructions)"),
], ids=["missing", "empty", "not-json", "gbench-results", "not-an-object", "no-headline", "bad-verdict",
        "bad-row", "bad-number", "wall-time-verdict"])
def test_a_bad_instruction_verdict_is_refused_naming_the_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(PerfGateError) as err:
        load.load_instruction_verdict(path)
    assert str(err.value) == message.format(p=path)
