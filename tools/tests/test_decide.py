"""The decision table: one test per outcome, built from real Google Benchmark output."""

import re
from pathlib import Path

import pytest

from conftest import FIXTURE_TARGETS, scaled, with_context, with_samples, without, write
from perfgate import load, render
from perfgate.decide import Settings, decide
from perfgate.errors import PerfGateError

GET = "state_get_inmemory/1000"
BASE_VALUES = [100.0, 102.0, 98.0, 101.0, 99.0]


def judge(tmp_path: Path, base_doc: dict, cur_doc: dict, *, targets=None, **settings):
    b = load.load_baseline(write(tmp_path / "base.json", base_doc))
    c = load.load_results(write(tmp_path / "cur.json", cur_doc))
    return decide(b, c, targets or load.EMPTY_TARGETS, Settings(**settings))


def row(verdict, name=GET, metric="real_time"):
    return next(r for r in verdict.rows if r.benchmark == name and r.metric == metric)


# ------------------------------------------------------------------ decision table

def test_identical_inputs_never_fail(tmp_path, real_doc):
    v = judge(tmp_path, real_doc, real_doc, targets=load.load_targets(FIXTURE_TARGETS))
    assert not v.failed and v.exit_code == 0
    assert {r.status for r in v.rows} == {"unchanged", "skipped"}


def test_a_20_percent_slowdown_with_5_repetitions_fails_as_regressed(tmp_path, real_doc):
    v = judge(tmp_path, real_doc, scaled(real_doc, {GET: 1.20}))
    r = row(v)
    assert r.status == "regressed" and r.fails
    assert r.delta_pct == pytest.approx(20.0, abs=0.01)
    assert r.p_value < 0.05
    assert v.exit_code == 1
    assert re.fullmatch(rf"FAIL: 1 regression \({GET} \+20\.0% p=0\.0\d\d\)", v.headline())


def test_a_3_percent_slowdown_passes_as_unchanged(tmp_path, real_doc):
    v = judge(tmp_path, real_doc, scaled(real_doc, {GET: 1.03}))
    assert row(v).status == "unchanged"
    assert v.exit_code == 0


def test_a_slowdown_beyond_the_threshold_inside_the_spread_is_noise(tmp_path, real_doc):
    base = with_samples(real_doc, GET, BASE_VALUES)
    cur = with_samples(real_doc, GET, [99.0, 150.0, 97.0, 160.0, 115.0])  # median +15%, overlapping
    r = row(judge(tmp_path, base, cur))
    assert r.status == "noise" and not r.fails
    assert r.p_value >= 0.05
    assert "within the spread of the repetitions" in r.note


def test_a_significant_speedup_is_improved_and_suggests_a_baseline_refresh(tmp_path, real_doc):
    v = judge(tmp_path, real_doc, scaled(real_doc, {GET: 0.7}))
    r = row(v)
    assert r.status == "improved" and not r.fails
    assert r.note == "consider refreshing the baseline"


def test_too_few_repetitions_give_insufficient_not_a_failure(tmp_path, real_doc):
    base = with_samples(real_doc, GET, BASE_VALUES[:2])
    cur = with_samples(real_doc, GET, [150.0, 151.0])
    v = judge(tmp_path, base, cur)
    r = row(v)
    assert r.status == "insufficient" and not r.fails
    assert r.note == "insufficient repetitions (2 vs 2; a U test needs >= 4 per side)"
    assert v.exit_code == 0


def test_aggregate_only_files_compare_medians_and_say_the_u_test_is_impossible(tmp_path):
    agg = (Path(__file__).parent / "inputs" / "gb_aggregates_only.json").read_text()
    import json
    agg_doc = json.loads(agg)
    v = judge(tmp_path, agg_doc, scaled(agg_doc, {GET: 1.5}))
    r = row(v)
    assert r.status == "insufficient"
    assert r.note == "aggregate-only results: no repetitions, U test impossible"
    assert r.delta_pct == pytest.approx(50.0, abs=0.01)


def test_a_benchmark_absent_from_the_results_fails_as_missing(tmp_path, real_doc):
    v = judge(tmp_path, real_doc, without(real_doc, GET))
    r = row(v)
    assert r.status == "missing" and r.fails
    assert v.exit_code == 1
    assert "1 missing (state_get_inmemory/1000)" in v.headline()


def test_a_benchmark_absent_from_the_baseline_is_new(tmp_path, real_doc):
    v = judge(tmp_path, without(real_doc, GET), real_doc)
    r = row(v)
    assert r.status == "new" and not r.fails
    assert v.exit_code == 0


def test_a_benchmark_that_skipped_itself_is_skipped_with_its_message_not_missing(tmp_path, real_doc):
    v = judge(tmp_path, real_doc, real_doc)
    r = row(v, "state_get_inmemory/10000000")
    assert r.status == "skipped" and not r.fails
    assert r.note == "skipped: needs 2.1 GiB, MemAvailable is 1.0 GiB"


def test_per_benchmark_threshold_overrides_come_from_the_targets_file(tmp_path, real_doc):
    name = "state_snapshot/inmemory/1MB"
    targets = load.load_targets(FIXTURE_TARGETS)  # "state_snapshot/*" = 0.15
    v = judge(tmp_path, real_doc, scaled(real_doc, {name: 1.12}), targets=targets)
    assert row(v, name).status == "unchanged" and row(v, name).threshold == 0.15
    v = judge(tmp_path, real_doc, scaled(real_doc, {name: 1.20}), targets=targets)
    assert row(v, name).status == "regressed"


# ------------------------------------------------------------------ targets

def targets_file(tmp_path, body: str) -> load.Targets:
    p = tmp_path / "t.toml"
    p.write_text('format_version = 1\nknown_profiles = ["tiny", "quick", "full"]\n' + body)
    return load.load_targets(p)


def test_a_median_above_its_target_is_a_breach_that_fails(tmp_path, real_doc):
    t = targets_file(tmp_path, f'[[target]]\nbenchmark = "{GET}"\nmetric = "median"\nlimit = 1\nunit = "ns"\n')
    v = judge(tmp_path, real_doc, real_doc, targets=t)
    assert v.targets[0].status == "breach" and v.targets[0].fails
    assert v.exit_code == 1
    assert v.headline() == f"FAIL: 1 target breach ({GET} median)"


def test_in_ab_mode_a_breach_the_base_build_shares_is_reported_but_does_not_fail(tmp_path, real_doc):
    t = targets_file(tmp_path, f'[[target]]\nbenchmark = "{GET}"\nmetric = "median"\nlimit = 1\nunit = "ns"\n')
    v = judge(tmp_path, real_doc, real_doc, targets=t, mode="ab")
    assert v.targets[0].status == "breach" and not v.targets[0].fails
    assert "base build breaches it too" in v.targets[0].note
    assert v.exit_code == 0
    assert v.headline().startswith("PASS: ")
    assert v.headline().endswith(f"1 target breach inherited from the base ({GET} median)")


def test_in_ab_mode_a_breach_the_change_causes_fails(tmp_path, real_doc):
    median = float(load.load_results(write(tmp_path / "probe.json", real_doc)).values(GET, "real_time").max())
    limit = median * 1.5
    t = targets_file(tmp_path, f'[[target]]\nbenchmark = "{GET}"\nmetric = "median"\nlimit = {limit}\nunit = "ns"\n')
    v = judge(tmp_path, real_doc, scaled(real_doc, 2.0), targets=t, mode="ab")
    assert v.targets[0].status == "breach" and v.targets[0].fails
    assert v.exit_code == 1


def test_allocations_above_a_zero_target_fail(tmp_path, real_doc):
    t = targets_file(tmp_path, '[[target]]\nbenchmark = "state_put_inmemory/1000"\nmetric = "allocs"\n'
                               'limit = 0\nunit = "allocs"\n')
    v = judge(tmp_path, real_doc, real_doc, targets=t)
    assert v.targets[0].status == "breach" and v.targets[0].value == 0.5
    assert v.exit_code == 1


def test_zero_allocations_meet_a_zero_target(tmp_path, real_doc):
    v = judge(tmp_path, real_doc, real_doc, targets=load.load_targets(FIXTURE_TARGETS))
    zero = next(t for t in v.targets if t.benchmark == "state_get_zero_alloc")
    assert zero.status == "ok" and zero.value == 0


def test_p99_and_mean_targets_read_their_own_statistics(tmp_path, real_doc):
    t = targets_file(tmp_path, f'[[target]]\nbenchmark = "{GET}"\nmetric = "p99"\nlimit = 40\nunit = "ns"\n'
                               '[[target]]\nbenchmark = "state_snapshot/inmemory/1MB"\nmetric = "mean"\n'
                               'limit = 1\nunit = "s"\n')
    v = judge(tmp_path, real_doc, real_doc, targets=t)
    p99, mean = v.targets
    assert p99.value == 46.0 and p99.status == "breach"
    assert mean.status == "ok" and mean.value > 1000  # us in the file, ns inside


def test_targets_apply_only_to_the_profiles_they_list(tmp_path, real_doc):
    # The fixture's state_get_mmap/1000 target is for "full" only; the results are "quick".
    v = judge(tmp_path, real_doc, real_doc, targets=load.load_targets(FIXTURE_TARGETS))
    assert all(t.benchmark != "state_get_mmap/1000" for t in v.targets)
    full = with_context(real_doc, statestore_profile="full")
    with pytest.raises(PerfGateError, match=r"target state_get_mmap/1000 \(median\) applies to profile 'full' "
                                            r"but the results file .* has no such benchmark"):
        judge(tmp_path, full, full, targets=load.load_targets(FIXTURE_TARGETS))


def test_a_target_on_a_skipped_benchmark_is_reported_skipped(tmp_path, real_doc):
    v = judge(tmp_path, real_doc, real_doc, targets=load.load_targets(FIXTURE_TARGETS))
    t = next(t for t in v.targets if t.benchmark == "state_get_inmemory/10000000")
    assert t.status == "skipped" and not t.fails


def test_a_target_naming_an_absent_benchmark_is_an_error_naming_it(tmp_path, real_doc):
    t = targets_file(tmp_path, '[[target]]\nbenchmark = "state_nope/1"\nmetric = "median"\nlimit = 1\nunit = "ns"\n')
    with pytest.raises(PerfGateError, match=r"target state_nope/1 \(median\) applies to profile 'quick'"):
        judge(tmp_path, real_doc, real_doc, targets=t)


# ------------------------------------------------------------------ machines, modes

def test_a_baseline_from_another_machine_warns_prominently_and_marks_rows(tmp_path, real_doc):
    base = with_context(real_doc, statestore_machine="Intel Xeon|8 cpus|64 GiB")
    v = judge(tmp_path, base, scaled(real_doc, {GET: 1.2}))
    assert v.cross_machine
    assert v.warnings[0].startswith("CROSS-MACHINE: the baseline was recorded on 'Intel Xeon|8 cpus|64 GiB', "
                                    "this run on 'AMD EPYC 7B13|2 cpus|24 GiB'")
    assert all(r.cross_machine for r in v.rows if r.status not in ("skipped",))


def test_ab_mode_does_not_compare_machines(tmp_path, real_doc):
    base = with_context(real_doc, statestore_machine="elsewhere")
    v = judge(tmp_path, base, real_doc, mode="ab")
    assert not v.cross_machine and v.mode == "ab"


def test_no_fail_on_timing_reports_timing_failures_but_passes(tmp_path, real_doc):
    t = targets_file(tmp_path, f'[[target]]\nbenchmark = "{GET}"\nmetric = "median"\nlimit = 1\nunit = "ns"\n')
    v = judge(tmp_path, real_doc, without(scaled(real_doc, {GET: 1.3}), "state_range/results/10"),
              targets=t, fail_on_timing=False)
    assert row(v).status == "regressed" and not row(v).fails
    assert v.targets[0].status == "breach" and not v.targets[0].fails
    assert v.exit_code == 0
    assert v.headline() == (f"PASS (timing not enforced): 1 regression ({GET} +30.0% p=0.008), "
                            f"1 target breach ({GET} median), 1 missing (state_range/results/10); "
                            "6 unchanged, 1 skipped, 0 of 1 targets met")


def test_no_fail_on_timing_still_fails_on_an_allocation_breach(tmp_path, real_doc):
    t = targets_file(tmp_path, '[[target]]\nbenchmark = "state_put_inmemory/1000"\nmetric = "allocs"\n'
                               'limit = 0\nunit = "allocs"\n')
    v = judge(tmp_path, real_doc, real_doc, targets=t, fail_on_timing=False)
    assert v.exit_code == 1


def test_a_confirmation_pass_marks_first_pass_regressions_confirmed_or_not_reproduced(tmp_path, real_doc):
    first = {GET: "regressed", "state_get_inmemory/100000": "regressed"}
    cur = scaled(real_doc, {GET: 1.3})
    v = judge(tmp_path, real_doc, cur, mode="ab", confirm_from=first)
    assert row(v).confirmation == "confirmed"
    assert row(v, "state_get_inmemory/100000").confirmation == "not reproduced"
    assert row(v, "state_put_inmemory/1000").confirmation is None


def test_instruction_counts_are_judged_exactly_with_their_own_2_percent_threshold(tmp_path, real_doc):
    import copy
    base, cur = copy.deepcopy(real_doc), copy.deepcopy(real_doc)
    for doc, n in ((base, 1000.0), (cur, 1030.0)):
        for r in doc["benchmarks"]:
            if r["run_name"] == GET and r["run_type"] == "iteration":
                r["instructions_per_op"] = n
    v = judge(tmp_path, base, cur)
    r = row(v, metric="instructions_per_op")
    assert r.status == "regressed" and r.p_value is None and r.threshold == 0.02
    assert row(v).status == "unchanged"  # wall time untouched


def test_verdict_json_rows_carry_what_benchrun_reads(tmp_path, real_doc):
    d = judge(tmp_path, real_doc, scaled(real_doc, {GET: 1.2})).to_dict()
    assert d["verdict"] == "fail" and d["exit_code"] == 1 and d["counts"]["regressed"] == 1
    assert {"benchmark", "status", "metric", "delta_pct", "p_value", "confirmation"} <= set(d["rows"][0])


def _instruction_doc(counts: dict[str, float], **ctx: str) -> dict:
    """Shaped like `benchrun instr` output: one repetition, real_time = instructions."""
    rows = [{"name": n, "run_name": n, "run_type": "iteration", "repetitions": 1, "repetition_index": 0,
             "threads": 1, "iterations": 20000, "real_time": v, "cpu_time": v, "time_unit": "ns",
             "instructions_per_op": v, "instructions_total": v * 20000} for n, v in counts.items()]
    context = {"statestore_build_type": "Release", "statestore_profile": "instructions",
               "statestore_metric": "instructions", "statestore_compiler": "GNU 12.2.0",
               "statestore_cxx_flags": "-O3 -DNDEBUG", "statestore_machine": "M"}
    context.update(ctx)
    return {"context": context, "benchmarks": rows}


def test_an_instruction_run_is_judged_on_instructions_only(tmp_path):
    base = _instruction_doc({GET: 100.0, "state_put_inmemory/1000": 200.0})
    cur = _instruction_doc({GET: 101.0, "state_put_inmemory/1000": 210.0})
    v = judge(tmp_path, base, cur, targets=load.load_targets(FIXTURE_TARGETS))
    assert {r.metric for r in v.rows} == {"instructions_per_op"}
    assert [r.status for r in v.rows] == ["unchanged", "regressed"]  # +1% and +5% against 2%
    assert v.targets == []  # targets are times and allocations: not measured by an instruction run


def test_instruction_counts_from_another_compiler_are_refused(tmp_path):
    base = _instruction_doc({GET: 100.0}, statestore_compiler="Clang 15.0.6")
    with pytest.raises(PerfGateError, match=r"instruction counts depend on the compiler and flags: the baseline "
                                            r"has statestore_compiler 'Clang 15.0.6', the results 'GNU 12.2.0'; "
                                            r"record a new baseline"):
        judge(tmp_path, base, _instruction_doc({GET: 100.0}))


def test_in_ab_mode_the_change_is_the_median_per_round_ratio_and_is_labelled_paired(tmp_path, real_doc):
    # A slow spell in rounds 4-6 hits both sides: the medians of the sides barely
    # differ, but head is 15% slower in every round.
    base_rounds = [100.0, 101.0, 99.0, 200.0, 202.0, 198.0]
    head_rounds = [v * 1.15 for v in base_rounds]
    v = judge(tmp_path, with_samples(real_doc, GET, base_rounds), with_samples(real_doc, GET, head_rounds),
              mode="ab")
    r = row(v)
    assert r.status == "regressed" and r.paired
    assert r.delta_pct == pytest.approx(15.0, abs=0.01)
    line = next(text for text in render.console_lines(v) if GET in text)
    assert "(+15.0% paired, p=0.031)" in line
    # Against a committed baseline there are no rounds to pair.
    assert not row(judge(tmp_path, with_samples(real_doc, GET, base_rounds),
                         with_samples(real_doc, GET, head_rounds))).paired
