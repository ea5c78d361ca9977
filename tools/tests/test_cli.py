"""The command line as CI and the Makefile call it: outputs, exit codes, subcommands."""

import json
import re
import sqlite3

from conftest import (FIXTURE_TARGETS, INSTRUCTION_BASELINE, INSTRUCTION_VERDICT, REAL_RESULTS, call_main,
                      instruction_verdict, load_doc, run_cli, scaled, with_context, with_samples, without, write)

GET = "state_get_inmemory/1000"


def check(capsys, tmp_path, results, baseline=REAL_RESULTS, *extra):
    return call_main(capsys, "check", "--baseline", str(baseline), "--results", str(results),
                     "--targets", str(FIXTURE_TARGETS), "--report-dir", str(tmp_path / "out"), *extra)


def test_a_passing_check_writes_all_outputs_records_history_and_exits_0(tmp_path, capsys):
    code, out, err = check(capsys, tmp_path, REAL_RESULTS)
    assert code == 0, err
    assert out.strip().splitlines()[-2] == "perfgate: PASS: 8 unchanged, 1 skipped, 5 targets met"
    for name in ("report.html", "summary.md", "verdict.json", "history.sqlite"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert summary.startswith("## ✅ perf gate: PASS: 8 unchanged")
    assert "Nothing to review" in summary
    assert summary.rstrip().endswith("Full report (tables, charts, trends): `report.html` in the perf-report artifact.")
    verdict = json.loads((tmp_path / "out" / "verdict.json").read_text())
    assert verdict["verdict"] == "pass" and verdict["counts"]["unchanged"] == 8
    # the profile name survives beside the (absent) differential profile
    assert verdict["profile"] == "quick" and verdict["diff_profile"] is None
    con = sqlite3.connect(tmp_path / "out" / "history.sqlite")
    assert con.execute("SELECT verdict FROM runs").fetchall() == [("pass",)]


def test_a_regression_exits_1_with_one_console_line_per_changed_benchmark(tmp_path, real_doc):
    slow = write(tmp_path / "slow.json", scaled(real_doc, {GET: 1.25}))
    r = run_cli("check", "--baseline", str(REAL_RESULTS), "--results", str(slow), "--targets", str(FIXTURE_TARGETS),
                "--report-dir", str(tmp_path / "out"))
    assert r.returncode == 1, r.stderr
    lines = r.stdout.rstrip().splitlines()
    assert lines[0].startswith(f"  regressed    {GET}  median 6.11 ns -> 7.64 ns (+25.0%, p=0.0")
    assert lines[1].startswith("  skipped      state_get_inmemory/10000000  skipped: needs 2.1 GiB")
    assert lines[-2].startswith(f"perfgate: FAIL: 1 regression ({GET} +25.0% p=0.0")
    assert lines[-1] == f"perfgate: report {tmp_path / 'out' / 'report.html'} (summary.md, verdict.json beside it)"
    assert len(lines) == 4
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert summary.startswith(f"## ❌ perf gate: FAIL: 1 regression ({GET} +25.0%")
    assert f"| regressed | `{GET}` | 6.11 ns | 7.64 ns | +25.0% |" in summary
    assert "unchanged" not in summary.split("\n", 1)[1].split("Full report")[0].replace("8 unchanged", "")


def test_no_fail_on_timing_exits_0_but_still_reports_the_regression(tmp_path, capsys, real_doc):
    slow = write(tmp_path / "slow.json", scaled(real_doc, {GET: 1.25}))
    code, out, _ = check(capsys, tmp_path, slow, REAL_RESULTS, "--no-fail-on-timing")
    assert code == 0
    assert "(not enforced)" in out
    assert out.strip().splitlines()[-2].startswith("perfgate: PASS (timing not enforced): 1 regression")
    assert (tmp_path / "out" / "summary.md").read_text().startswith("## ⚠️ perf gate: PASS (timing not enforced)")


def test_no_history_leaves_the_history_alone(tmp_path, capsys):
    code, _, _ = check(capsys, tmp_path, REAL_RESULTS, REAL_RESULTS, "--no-history")
    assert code == 0 and not (tmp_path / "out" / "history.sqlite").exists()


def test_the_cross_machine_warning_reaches_console_summary_and_report(tmp_path, capsys, real_doc):
    base = write(tmp_path / "base.json", with_context(real_doc, statestore_machine="other|4 cpus|8 GiB"))
    code, out, _ = check(capsys, tmp_path, REAL_RESULTS, base)
    assert code == 0
    assert out.startswith("perfgate: warning: CROSS-MACHINE: the baseline was recorded on 'other|4 cpus|8 GiB'")
    assert "> **Warning:** CROSS-MACHINE" in (tmp_path / "out" / "summary.md").read_text()
    assert 'class="warn cross"' in (tmp_path / "out" / "report.html").read_text()


def test_baseline_promotes_release_results_with_machine_commit_and_date(tmp_path, capsys):
    out_file = tmp_path / "baselines" / "quick.json"
    code, out, err = call_main(capsys, "baseline", "--results", str(REAL_RESULTS), "--out", str(out_file))
    assert code == 0, err
    doc = json.loads(out_file.read_text())
    assert doc["format_version"] == 1 and doc["profile"] == "quick"
    assert doc["machine"] == "AMD EPYC 7B13|2 cpus|24 GiB"
    assert doc["commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert doc["recorded_at"].endswith("+00:00")
    assert len(doc["benchmarks"]) == len(json.loads(REAL_RESULTS.read_text())["benchmarks"])
    assert out.startswith(f"perfgate: wrote baseline {out_file} (profile quick, 9 benchmarks")
    # and it is a valid baseline for check
    code, _, _ = check(capsys, tmp_path, REAL_RESULTS, out_file)
    assert code == 0


def test_baseline_refuses_results_that_do_not_say_release(tmp_path, capsys, real_doc):
    del real_doc["context"]["statestore_build_type"]
    res = write(tmp_path / "r.json", real_doc)
    code, _, err = call_main(capsys, "baseline", "--results", str(res), "--out", str(tmp_path / "b.json"))
    assert code == 2
    assert err.strip() == (f"perfgate: error: results file {res} does not say it comes from a Release build "
                           "(context statestore_build_type is absent); refusing to make it a baseline")


def test_baseline_refuses_a_debug_build(tmp_path, capsys, real_doc):
    res = write(tmp_path / "r.json", with_context(real_doc, statestore_build_type="Debug"))
    code, _, err = call_main(capsys, "baseline", "--results", str(res), "--out", str(tmp_path / "b.json"))
    assert code == 2 and "comes from a 'Debug' build of statestore" in err
    assert not (tmp_path / "b.json").exists()


def test_baseline_refuses_results_with_an_injected_slowdown(tmp_path, capsys, real_doc):
    res = write(tmp_path / "r.json", with_context(real_doc, statestore_slowdown="15%"))
    code, _, err = call_main(capsys, "baseline", "--results", str(res), "--out", str(tmp_path / "b.json"))
    assert code == 2 and "built with an injected slowdown (15%); refusing to make it a baseline" in err
    assert not (tmp_path / "b.json").exists()


def test_baseline_accepts_an_injected_slowdown_only_when_told_it_is_the_self_test(tmp_path, capsys, real_doc):
    res = write(tmp_path / "r.json", with_context(real_doc, statestore_slowdown="^none$:1"))
    code, out, _ = call_main(capsys, "baseline", "--results", str(res), "--out", str(tmp_path / "b.json"),
                             "--allow-slowdown")
    assert code == 0 and "wrote baseline" in out
    assert (tmp_path / "b.json").exists()


def test_report_renders_without_judging_and_exits_0_even_for_slow_results(tmp_path, capsys, real_doc):
    slow = write(tmp_path / "slow.json", scaled(real_doc, 3.0))
    code, out, _ = call_main(capsys, "report", "--results", str(slow), "--baseline", str(REAL_RESULTS),
                             "--targets", str(FIXTURE_TARGETS), "--report-dir", str(tmp_path / "out"))
    assert code == 0
    assert out.strip() == f"perfgate: wrote {tmp_path / 'out' / 'report.html'} (not judged)"
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'data-verdict="report"' in html and "not judged" in html
    assert not (tmp_path / "out" / "verdict.json").exists()


def test_history_add_list_and_prune_from_the_command_line(tmp_path, capsys):
    db = str(tmp_path / "h.sqlite")
    for _ in range(3):
        code, out, _ = call_main(capsys, "history", "add", "--results", str(REAL_RESULTS), "--history", db)
        assert code == 0 and out.startswith("perfgate: recorded run ")
    code, out, _ = call_main(capsys, "history", "list", "--history", db)
    assert code == 0 and len(out.strip().splitlines()) == 4 and "0123456789ab" in out
    code, out, _ = call_main(capsys, "history", "prune", "--history", db, "--keep", "1")
    assert code == 0 and out.strip() == f"perfgate: deleted 2 run(s) beyond the newest 1 from {db} (ids 1, 2); 1 remain"
    code, _, err = call_main(capsys, "history", "prune", "--history", db)
    assert code == 2 and err.strip() == "perfgate: error: history prune needs --keep N and/or --older-than DAYS"


def test_annotations_turn_a_verdict_into_github_error_lines(tmp_path, capsys, real_doc):
    slow = write(tmp_path / "slow.json", scaled(real_doc, {GET: 1.25}))
    check(capsys, tmp_path, slow)
    code, out, _ = call_main(capsys, "annotations", "--verdict", str(tmp_path / "out" / "verdict.json"))
    assert code == 0
    assert out.startswith(f"::error title=perf regressed%3A {GET}::{GET} regressed +25.0%25 (p=0.0")


def test_a_confirmation_pass_marks_rows_in_verdict_json(tmp_path, capsys, real_doc):
    slow = write(tmp_path / "slow.json", scaled(real_doc, {GET: 1.25}))
    assert check(capsys, tmp_path, slow, REAL_RESULTS, "--mode", "ab")[0] == 1
    first = tmp_path / "first.json"
    first.write_text((tmp_path / "out" / "verdict.json").read_text())
    code, out, _ = check(capsys, tmp_path, REAL_RESULTS, REAL_RESULTS, "--mode", "ab", "--confirm-from", str(first))
    assert code == 0
    rows = json.loads((tmp_path / "out" / "verdict.json").read_text())["rows"]
    assert next(r for r in rows if r["benchmark"] == GET)["confirmation"] == "not reproduced"


def test_selfbench_generates_inputs_times_check_and_prints_min_median_max(tmp_path):
    r = run_cli("selfbench", "--runs", "2", "--benchmarks", "12", "--repetitions", "5", "--history-runs", "6",
                "--keep", str(tmp_path / "sb"))
    # Exit 1 means over the goal: a measurement, not a test result (this machine may be loaded).
    assert r.returncode in (0, 1), r.stderr
    assert "generated 12 benchmarks x 5 repetitions, 6 runs of history" in r.stdout
    assert re.search(r"check \+ HTML, 2 runs: min \d+\.\d\d s, median \d+\.\d\d s, max \d+\.\d\d s \(goal < 5 s\)",
                     r.stdout)
    assert (tmp_path / "sb" / "out1" / "report.html").exists()


def test_the_threshold_flag_decides_whether_a_12_percent_slowdown_fails(tmp_path, capsys, real_doc):
    base_values = [10.0, 10.2, 9.8, 10.1, 9.9]  # well under the fixture target of 100 ns
    base = write(tmp_path / "base.json", with_samples(real_doc, GET, base_values))
    slow = write(tmp_path / "slow.json", with_samples(real_doc, GET, [v * 1.12 for v in base_values]))
    code, out, _ = check(capsys, tmp_path, slow, base, "--threshold", "0.10", "--no-history")
    assert code == 1 and out.strip().splitlines()[-2].startswith(f"perfgate: FAIL: 1 regression ({GET} +12.0%")
    code, out, _ = check(capsys, tmp_path, slow, base, "--threshold", "0.15", "--no-history")
    assert code == 0 and out.strip().splitlines()[-2].startswith("perfgate: PASS: 8 unchanged")
    assert json.loads((tmp_path / "out" / "verdict.json").read_text())["threshold"] == 0.15


def test_check_writes_into_reports_of_the_working_directory_by_default(tmp_path):
    r = run_cli("check", "--baseline", str(REAL_RESULTS), "--results", str(REAL_RESULTS),
                "--targets", str(FIXTURE_TARGETS), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for name in ("report.html", "summary.md", "verdict.json", "history.sqlite"):
        assert (tmp_path / "reports" / name).stat().st_size > 0


def test_history_add_refuses_results_that_are_not_from_a_release_build(tmp_path, capsys, real_doc):
    res = write(tmp_path / "r.json", with_context(real_doc, statestore_build_type="Debug"))
    code, _, err = call_main(capsys, "history", "add", "--results", str(res), "--history", str(tmp_path / "h.sqlite"))
    assert code == 2 and "comes from a 'Debug' build of statestore" in err
    assert not (tmp_path / "h.sqlite").exists()


# --------------------------------------------------------------------------- --instructions

def _row(html: str, name: str) -> str:
    """The <tr> of one benchmark in the results table of report.html."""
    match = re.search(rf'<tr id="row-[^"]*" data-name="{re.escape(name)}".*?</tr>', html, re.DOTALL)
    assert match, name
    return match.group(0)


def _failing_instructions(tmp_path):
    """An instruction verdict that fails: GET +5% instructions, state_put_inmemory/1000 missing."""
    doc = scaled(without(load_doc(INSTRUCTION_BASELINE), "state_put_inmemory/1000"), {GET: 1.05},
                 metric="instructions_per_op")
    return instruction_verdict(tmp_path, doc)


def test_the_instruction_verdict_fixture_is_what_the_gate_writes_for_its_baseline(tmp_path):
    made = json.loads(instruction_verdict(tmp_path, load_doc(INSTRUCTION_BASELINE)).read_text())
    fixture = json.loads(INSTRUCTION_VERDICT.read_text())
    assert made["rows"] == fixture["rows"] and made["headline"] == fixture["headline"]


def test_check_with_instructions_shows_them_in_console_summary_verdict_json_and_report(tmp_path, capsys):
    code, out, err = check(capsys, tmp_path, REAL_RESULTS, REAL_RESULTS, "--instructions", str(INSTRUCTION_VERDICT))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[-3] == "perfgate: Instruction counts (callgrind, 2% threshold): PASS: 9 unchanged"
    assert lines[-2] == "perfgate: PASS: 8 unchanged, 1 skipped, 5 targets met"
    summary = (tmp_path / "out" / "summary.md").read_text().splitlines()
    assert summary[:3] == ["## ✅ perf gate: PASS: 8 unchanged, 1 skipped, 5 targets met", "",
                           "Instruction counts (callgrind, 2% threshold): PASS: 9 unchanged"]
    verdict = json.loads((tmp_path / "out" / "verdict.json").read_text())
    assert verdict["instructions"] == {"path": str(INSTRUCTION_VERDICT), "verdict": "pass",
                                       "headline": "PASS: 9 unchanged, no targets checked",
                                       "counts": {"unchanged": 9}}
    html = (tmp_path / "out" / "report.html").read_text()
    assert '<th class="num" data-key="instr"' in html and ">instr/op</th>" in html
    assert ">89.3 (+0.0%)</td>" in _row(html, GET)
    assert ">914,506 (+0.0%)</td>" in _row(html, "state_snapshot/inmemory/1MB")
    assert re.search(r'data-sort="">-</td>', _row(html, "state_get_zero_alloc"))  # no instruction row
    assert "Instruction counts (callgrind, 2% threshold): PASS: 9 unchanged" in html


def test_without_instructions_the_report_has_no_instr_column_and_verdict_json_says_null(tmp_path, capsys):
    assert check(capsys, tmp_path, REAL_RESULTS)[0] == 0
    assert "instr/op" not in (tmp_path / "out" / "report.html").read_text()
    assert json.loads((tmp_path / "out" / "verdict.json").read_text())["instructions"] is None
    assert "Instruction counts" not in (tmp_path / "out" / "summary.md").read_text()


def test_a_failing_instruction_verdict_is_shown_but_leaves_the_wall_time_verdict_and_exit_code_alone(tmp_path, capsys):
    instr = _failing_instructions(tmp_path)
    assert json.loads(instr.read_text())["exit_code"] == 1
    code, out, _ = check(capsys, tmp_path, REAL_RESULTS, REAL_RESULTS, "--instructions", str(instr))
    assert code == 0
    assert out.strip().splitlines()[-2] == "perfgate: PASS: 8 unchanged, 1 skipped, 5 targets met"
    verdict = json.loads((tmp_path / "out" / "verdict.json").read_text())
    assert (verdict["verdict"], verdict["exit_code"], verdict["instructions"]["verdict"]) == ("pass", 0, "fail")
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert ("Instruction counts (callgrind, 2% threshold): FAIL: 1 regression "
            f"({GET} \\[instructions_per_op\\] +5.0%), 1 missing (state_put_inmemory/1000)\n") in summary
    assert f"| regressed | `{GET}` | 89.3 | 93.8 | +5.0% |" in summary
    assert "| missing | `state_put_inmemory/1000` | 171.6 | - | - |" in summary
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'class="num delta-up"' in _row(html, GET)
    assert '93.8 (+5.0%) <span class="chip small st-regressed">regressed</span>' in _row(html, GET)
    assert '- <span class="chip small st-missing">missing</span>' in _row(html, "state_put_inmemory/1000")


def test_a_passing_instruction_verdict_does_not_rescue_a_wall_time_regression(tmp_path, capsys, real_doc):
    slow = write(tmp_path / "slow.json", scaled(real_doc, {GET: 1.25}))
    code, out, _ = check(capsys, tmp_path, slow, REAL_RESULTS, "--instructions", str(INSTRUCTION_VERDICT))
    assert code == 1
    assert out.strip().splitlines()[-2].startswith(f"perfgate: FAIL: 1 regression ({GET} +25.0%")


def test_a_bad_instruction_verdict_exits_2_with_one_line_before_writing_anything(tmp_path, capsys):
    code, _, err = check(capsys, tmp_path, REAL_RESULTS, REAL_RESULTS, "--instructions", str(REAL_RESULTS))
    assert code == 2
    assert err.strip() == (f"perfgate: error: instruction verdict file {REAL_RESULTS} is Google Benchmark results, "
                           "not a perfgate verdict.json (pass the verdict.json that perfgate check wrote for them)")
    assert not (tmp_path / "out").exists()


def test_report_accepts_instructions_too(tmp_path, capsys):
    code, _, err = call_main(capsys, "report", "--results", str(REAL_RESULTS), "--targets", str(FIXTURE_TARGETS),
                             "--report-dir", str(tmp_path / "out"), "--instructions", str(INSTRUCTION_VERDICT))
    assert code == 0, err
    html = (tmp_path / "out" / "report.html").read_text()
    assert ">instr/op</th>" in html and ">89.3 (+0.0%)</td>" in _row(html, GET)
    code, _, err = call_main(capsys, "report", "--results", str(REAL_RESULTS), "--report-dir", str(tmp_path / "o2"),
                             "--instructions", str(tmp_path / "none.json"))
    assert code == 2 and f"instruction verdict file {tmp_path / 'none.json'} does not exist" in err
