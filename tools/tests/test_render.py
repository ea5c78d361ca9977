"""Rendering helpers: number formats, chart geometry, summary rows, annotations."""

import json

import pandas as pd

from conftest import (FIXTURE_TARGETS, INSTRUCTION_BASELINE, INSTRUCTION_VERDICT, REAL_RESULTS,
                      instruction_verdict, load_doc, scaled, write)
from perfgate import charts, load, render
from perfgate.decide import Settings, decide

GET = "state_get_inmemory/1000"


def test_times_are_shown_in_the_unit_that_reads_best():
    assert [render.fmt_ns(v) for v in (6.114, 150.4, 3480.0, 1.13e6, 2.5e9)] == \
        ["6.11 ns", "150 ns", "3.48 us", "1.13 ms", "2.5 s"]
    assert render.fmt_ns(None) == "-"


def test_allocation_counts_are_readable():
    assert [render.fmt_count(v) for v in (0, 2.28e-5, 0.5, 495, 4880.4)] == ["0", "2.3e-05", "0.5", "495", "4,880"]


def test_strip_charts_never_draw_an_axis_below_zero():
    c = charts.strip_chart("x", [0.0, 1.0], [0.5, 2.0], None)
    assert c["axis_lo"] == "0 ns"
    assert all(d["x"] >= c["x0"] for row in c["rows"] for d in row["dots"])


def test_a_target_far_above_the_data_is_marked_off_scale_instead_of_squashing_the_points():
    far = charts.strip_chart("x", [40.0, 41, 42], [44.0, 45, 46], 1000.0)
    assert far["target_x"] is None and far["target_off_scale"] and not far["target_below"]
    near = charts.strip_chart("x", [40.0, 41, 42], [44.0, 45, 46], 50.0)
    assert near["target_x"] is not None and not near["target_off_scale"]


def test_trend_points_carry_commit_and_date_for_hover():
    frame = pd.DataFrame({"run_id": [1, 2], "recorded_at": ["2026-11-01T09:00:00+00:00", "2026-11-02T09:00:00+00:00"],
                          "commit_sha": ["abcdef0123456", "0123456789ab"], "machine": ["m", "m"],
                          "benchmark": ["x", "x"], "median": [10.0, 12.0], "status": [None, "regressed"]})
    c = charts.trend_chart("x", frame, 10.0, 100.0)
    assert [(p["commit"], p["date"]) for p in c["points"]] == [("abcdef0123", "2026-11-01 09:00"),
                                                                ("0123456789", "2026-11-02 09:00")]
    assert c["points"][1]["y"] < c["points"][0]["y"]  # slower is higher
    assert c["baseline_y"] == c["points"][0]["y"]


def test_the_summary_lists_only_rows_that_matter(tmp_path, real_doc):
    cur = load.load_results(write(tmp_path / "c.json", scaled(real_doc, {GET: 1.3, "state_range/results/10": 0.6})))
    v = decide(load.load_baseline(REAL_RESULTS), cur, load.load_targets(FIXTURE_TARGETS), Settings())
    md = render.summary_markdown(v, cur)
    table_rows = [line for line in md.splitlines() if line.startswith("| ") and "`" in line]
    assert [row.split(" | ")[0] for row in table_rows] == ["| regressed", "| improved"]


def test_verdict_json_is_strict_json_with_the_run_identities(tmp_path, real_doc):
    cur = load.load_results(REAL_RESULTS)
    v = decide(load.load_baseline(REAL_RESULTS), cur, load.EMPTY_TARGETS)
    doc = json.loads(render.verdict_json(v, cur, None))
    assert doc["results"]["commit"] == "0123456789abcdef0123456789abcdef01234567" and doc["baseline"] is None


def test_annotations_warn_for_unenforced_regressions_and_error_for_breaches():
    doc = {"rows": [{"benchmark": "a", "metric": "real_time", "status": "regressed", "fails": False, "delta_pct": 12.0, "p_value": 0.01}],
           "targets": [{"benchmark": "b", "metric": "allocs", "status": "breach", "fails": True, "value": 1,
                        "limit": 0, "source": "get() allocations = 0"}]}
    assert render.workflow_commands(doc) == [
        "::warning title=perf regressed%3A a::a regressed +12.0%25 (p=0.010)",
        "::error title=perf target breach%3A b::b allocs 1 exceeds the F-PERF-001 limit 0 (get() allocations = 0)",
    ]
    doc = {"rows": [], "targets": [{"benchmark": "c", "metric": "median", "status": "breach", "fails": True,
                                    "value": 554.81, "limit": 300.0, "source": "put() < 300ns"}]}
    assert render.workflow_commands(doc) == [
        "::error title=perf target breach%3A c::c median 555 ns exceeds the F-PERF-001 limit 300 ns (put() < 300ns)",
    ]


def test_an_off_scale_target_label_sits_above_the_trend_plot_not_on_its_points():
    frame = pd.DataFrame({"run_id": [1, 2, 3], "recorded_at": ["2026-11-01T09:00:00+00:00"] * 3,
                          "commit_sha": ["a", "b", "c"], "machine": ["m"] * 3, "benchmark": ["x"] * 3,
                          "median": [550.0, 600.0, 580.0], "status": [None, None, None]})
    c = charts.trend_chart("x", frame, 560.0, 300.0)  # target far below the data: drawn as a label
    assert c["target_off_scale"] and c["target_y"] is None
    assert c["target_label_y"] + 3 < min(p["y"] for p in c["points"]) - 2.6  # text descent vs point radius
    assert c["target_label_y"] >= 10  # and not cut off at the top of the canvas


def test_instruction_counts_are_shown_to_a_tenth_below_a_thousand_and_grouped_above():
    assert [render.fmt_instr(v) for v in (89.3158, 171.62155, 3692.16, 914506.16, None)] == \
        ["89.3", "171.6", "3,692", "914,506", "-"]


def test_the_instruction_line_quotes_the_instruction_verdicts_own_headline_and_threshold():
    v = load.load_instruction_verdict(INSTRUCTION_VERDICT)
    assert render.instruction_line(v) == "Instruction counts (callgrind, 2% threshold): PASS: 9 unchanged"


def test_a_flagged_instruction_row_without_a_wall_time_row_is_named_in_the_report(tmp_path):
    # state_get_mmap/1000 is counted under callgrind but not in the wall-time fixture run.
    doc = scaled(load_doc(INSTRUCTION_BASELINE), {"state_get_mmap/1000": 1.1}, metric="instructions_per_op")
    instr = load.load_instruction_verdict(instruction_verdict(tmp_path, doc))
    cur = load.load_results(REAL_RESULTS)
    v = decide(load.load_baseline(REAL_RESULTS), cur, load.load_targets(FIXTURE_TARGETS), Settings())
    html = render.html_report(v, render.ReportInputs(cur, None, load.load_targets(FIXTURE_TARGETS), instructions=instr))
    line = html.split('id="instructions">', 1)[1].split("</div>", 1)[0]
    assert line.startswith("Instruction counts (callgrind, 2% threshold): FAIL: 1 regression "
                           "(state_get_mmap/1000 [instructions_per_op] +10.0%)")
    assert "not in this table: state_get_mmap/1000 regressed" in line
    assert 'class="instr-line fail"' in html


def test_the_report_states_the_rule_each_kind_of_verdict_was_judged_by(tmp_path, real_doc):
    from conftest import write
    from perfgate import load
    from perfgate.decide import Settings, decide
    run = load.load_results(write(tmp_path / "r.json", real_doc))
    baseline_mode = decide(run, run, load.EMPTY_TARGETS, Settings())
    ab_mode = decide(run, run, load.EMPTY_TARGETS, Settings(mode="ab"))
    assert "Mann-Whitney U test p < alpha" in render.significance_rule(baseline_mode)
    assert "sign test on the per-round ratios" in render.significance_rule(ab_mode)
    assert render.threshold_text(baseline_mode) == "threshold 10%"
    html = render.html_report(baseline_mode, render.ReportInputs(run, run, load.EMPTY_TARGETS))
    assert "Mann-Whitney U test p &lt; alpha" in html and "threshold threshold" not in html
