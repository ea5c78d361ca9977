"""benchrun profile: which benchmarks get a differential profile, the skip paths, the re-rendered
report (verdict and exit code untouched), and one small real callgrind run of state_instr."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchrun import pipeline, profile
from conftest import INPUTS, REPO, TOOLS, scaled, write
from perfgate import profdiff
from perfgate.__main__ import run as perfgate

QUICK = INPUTS / "state_bench_quick_trimmed.json"
PROFILES = INPUTS / "profile"
SLOW = "state_get_inmemory/1000"


def _verdict_doc(rows: list[dict]) -> dict:
    return {"rows": rows}


def test_only_regressed_rows_are_picked_largest_first_and_a_filter_adds_any():
    doc = _verdict_doc([
        {"benchmark": "a", "metric": "real_time", "status": "regressed", "delta_pct": 12.0},
        {"benchmark": "b", "metric": "real_time", "status": "regressed", "delta_pct": 30.0},
        {"benchmark": "c", "metric": "real_time", "status": "noise", "delta_pct": 40.0},
        {"benchmark": "d", "metric": "instructions_per_op", "status": "regressed", "delta_pct": 3.0},
        {"benchmark": "e", "metric": "real_time", "status": "unchanged", "delta_pct": 0.1},
    ])
    assert profile.flagged(doc) == [("b", "regressed (wall time +30.0%)"), ("a", "regressed (wall time +12.0%)"),
                                    ("d", "regressed (instructions +3.0%)")]
    # asked for by name first; then regressed in both wall time and instructions
    assert [n for n, _s in profile.flagged(doc, "^e$")] == ["e", "b", "a", "d"]
    assert profile.flagged(doc, "^e$")[0] == ("e", "unchanged")
    both = doc["rows"] + [{"benchmark": "a", "metric": "instructions_per_op", "status": "regressed", "delta_pct": 2.5}]
    assert profile.flagged({"rows": both})[0] == ("a", "regressed (wall time +12.0%, instructions +2.5%)")


@pytest.fixture()
def judged(tmp_path):
    """A real check that fails on SLOW (+50%), its arguments, and its outputs."""
    results = write(tmp_path / "cur.json", scaled(json.loads(QUICK.read_text()), {SLOW: 1.5}))
    out = tmp_path / "reports"
    args = ["--baseline", str(QUICK), "--results", str(results), "--report-dir", str(out), "--no-history"]
    code = perfgate(["check", *args, "--quiet"])
    verdict = json.loads((out / "verdict.json").read_text())
    assert code == 1 and any(r["benchmark"] == SLOW and r["status"] == "regressed" for r in verdict["rows"])
    return tmp_path, out, args, code, verdict


def _config(tmp_path: Path, out: Path, args: list[str], **kw) -> profile.Config:
    return profile.Config(REPO, tmp_path / "build", out, out / "verdict.json", "HEAD", check_args=args, **kw)


def test_without_valgrind_the_report_says_the_profile_was_skipped_and_why(judged, monkeypatch):
    tmp_path, out, args, code, verdict = judged
    real_which = shutil.which
    monkeypatch.setattr(profile.shutil, "which", lambda name: None if name == "valgrind" else real_which(name))
    path = profile.after_verdict(_config(tmp_path, out, args))
    doc = json.loads(path.read_text())
    assert doc["status"] == "skipped" and doc["reason"].startswith("valgrind is not installed")
    assert doc["benchmarks"][0]["verdict_status"] == "regressed (wall time +50.0%)"
    assert [e["benchmark"] for e in doc["benchmarks"]] == [SLOW]
    html = (out / "report.html").read_text()
    assert "Why: differential profiles" in html
    assert "Profile skipped: valgrind is not installed" in html
    after = json.loads((out / "verdict.json").read_text())
    assert (after["verdict"], after["exit_code"], after["rows"]) == (verdict["verdict"], code, verdict["rows"])
    assert "profile skipped: valgrind is not installed" in after["diff_profile"]["contributors"][SLOW]
    assert "valgrind is not installed" in (out / "summary.md").read_text()


def test_a_verdict_that_flagged_nothing_leaves_the_report_alone(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "verdict.json").write_text(json.dumps(_verdict_doc([{"benchmark": "x", "metric": "real_time",
                                                                "status": "unchanged"}])))
    (out / "report.html").write_text("untouched")
    path = profile.after_verdict(_config(tmp_path, out, ["--bogus"]))
    assert json.loads(path.read_text())["status"] == "none"
    assert (out / "report.html").read_text() == "untouched"


def test_a_missing_verdict_means_nothing_to_explain_not_a_crash(tmp_path):
    manifest = profile.run(_config(tmp_path, tmp_path / "reports", []))
    missing = tmp_path / "reports" / "verdict.json"
    assert manifest["status"] == "none"
    assert manifest["reason"] == f"no verdict to profile (verdict file {missing} does not exist)"
    assert profile.explain(_config(tmp_path, tmp_path / "reports", [])) is None


def test_a_verdict_perfgate_cannot_load_skips_the_profile_with_its_one_line_reason(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "verdict.json").write_text('{"rows": [')
    manifest = profile.run(_config(tmp_path, out, []))
    assert manifest["status"] == "skipped"
    assert manifest["reason"] == (f"a verdict cannot be read: verdict file {out / 'verdict.json'} is not valid JSON "
                                  "(Expecting value, line 1 column 11)")
    assert json.loads((out / "diff-profile" / "manifest.json").read_text())["reason"] == manifest["reason"]


def test_an_absent_extra_verdict_is_skipped_and_a_malformed_one_is_named(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "verdict.json").write_text(json.dumps({"rows": []}))
    extra = out / "instructions" / "verdict.json"
    cfg = _config(tmp_path, out, [], extra_verdicts=[extra])
    assert profile.run(cfg)["reason"] == "no benchmark was flagged"
    extra.parent.mkdir()
    extra.write_text(json.dumps({"rows": [{"benchmark": "x", "metric": "instructions_per_op", "status": "slower"}]}))
    manifest = profile.run(cfg)
    assert manifest["status"] == "skipped"
    assert manifest["reason"] == (f"a verdict cannot be read: verdict file {extra}: rows[0] (x) "
                                  "has unknown status 'slower'")


def _benchrun(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchrun", *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(TOOLS)), check=False)


def test_diff_profile_exits_2_with_one_line_on_a_verdict_perfgate_cannot_load(tmp_path):
    bad = tmp_path / "verdict.json"
    bad.write_text(json.dumps({"context": {}, "benchmarks": []}))
    done = _benchrun("diff-profile", "--verdict", str(bad), "--build-dir", str(tmp_path / "build"),
                     "--report-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"benchrun: error: verdict file {bad} is Google Benchmark results, not a perfgate verdict.json "
        "(pass the verdict.json that perfgate check wrote for them)"]
    assert not (tmp_path / "build").exists() and not (tmp_path / "diff-profile").exists()


def test_diff_profile_exits_2_with_one_line_on_a_baseline_perfgate_cannot_load(tmp_path):
    good = tmp_path / "verdict.json"
    good.write_text(json.dumps({"rows": []}))
    bad = tmp_path / "baseline.json"
    bad.write_text('{"format_version": 2, "commit": "abc"}')
    done = _benchrun("diff-profile", "--verdict", str(good), "--base-from-baseline", str(bad),
                     "--build-dir", str(tmp_path / "build"), "--report-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"benchrun: error: baseline file {bad} has format_version 2; this perfgate reads format_version 1"]


def test_explain_never_raises_and_says_what_failed(tmp_path, monkeypatch):
    def boom(cfg):
        raise OSError("disk full")
    monkeypatch.setattr(profile, "after_verdict", boom)
    assert profile.explain(_config(tmp_path, tmp_path, [])) == (
        "differential profile: failed (OSError: disk full); the verdict stands")


def test_the_gate_explains_ab_and_instruction_regressions_against_the_ab_base(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(pipeline.diff_profile, "explain", lambda cfg: seen.append(cfg) or "differential profile: x")
    opts = pipeline.Options(repo=REPO, build_dir=tmp_path / "b", report_dir=tmp_path / "r")
    outcome = pipeline.Outcome("line", "ab", checks={"ab": 1})
    pipeline.explain(opts, outcome, "abc123", opts.report_dir, ["--x"], timing_flagged=True)
    (cfg,) = seen
    assert (cfg.base_ref, cfg.base_src, cfg.check_args) == ("abc123", tmp_path / "b" / "base-src", ["--x"])
    assert cfg.verdict == tmp_path / "r" / "verdict.json"
    assert cfg.extra_verdicts == [tmp_path / "r" / "instructions" / "verdict.json"]
    assert cfg.extra_checks == []  # no instruction verdict in this directory: nothing more to re-render
    (tmp_path / "r" / "instructions").mkdir(parents=True)
    (tmp_path / "r" / "instructions" / "verdict.json").write_text("{}")
    seen.clear()
    pipeline.explain(opts, pipeline.Outcome("line", "ab", checks={"ab": 1}), "abc123", opts.report_dir, ["--x"], True)
    # the instruction check's report is re-rendered too, so its ::error lines name the contributors
    assert seen[0].extra_checks == [["--baseline", str(REPO / "baselines" / "instructions.json"), "--results",
                                     str(tmp_path / "r" / "instructions" / "results-instructions.json"),
                                     "--report-dir", str(tmp_path / "r" / "instructions"),
                                     "--targets", str(REPO / "baselines" / "targets.toml")]]
    assert outcome.notes == ["differential profile: x"]
    # without a base: instruction regressions against the commit of baselines/instructions.json
    seen.clear()
    pipeline.explain(opts, pipeline.Outcome("line", "baseline"), None, opts.report_dir, [], timing_flagged=False)
    assert seen[0].base_ref == profile.baseline_commit(REPO / "baselines" / "instructions.json")
    assert seen[0].verdict == tmp_path / "r" / "instructions" / "verdict.json" and seen[0].base_src is None
    # switched off, bad input, or already-built programs: nothing
    seen.clear()
    for o in (pipeline.Options(repo=REPO, build_dir=tmp_path, report_dir=tmp_path, diff_profile=False),
              pipeline.Options(repo=REPO, build_dir=tmp_path, report_dir=tmp_path, head_bench=tmp_path / "x")):
        pipeline.explain(o, pipeline.Outcome("l", "ab", checks={"ab": 1}), "abc", tmp_path, [], True)
    pipeline.explain(opts, pipeline.Outcome("l", "ab", checks={"ab": 2}), "abc", tmp_path, [], True)
    assert seen == []


def test_a_failing_profiling_build_is_a_stated_skip(judged, monkeypatch):
    tmp_path, out, args, _code, _verdict = judged

    def broken(src, dest):
        raise profile.BenchRunError("cmake --build failed: no compiler")
    monkeypatch.setattr(profile, "profile_build", broken)
    manifest = profile.run(_config(tmp_path, out, args, base_src=tmp_path))
    assert manifest["status"] == "skipped"
    assert manifest["reason"] == "profiling build failed: cmake --build failed: no compiler"


def test_the_ab_check_is_rerun_with_the_same_inputs(tmp_path):
    (tmp_path / "ab").mkdir()
    assert profile.ab_check_args(tmp_path, ["--quiet", "--instructions", "i.json"]) == [
        "--baseline", str(tmp_path / "ab" / "base.json"), "--results", str(tmp_path / "ab" / "head.json"),
        "--report-dir", str(tmp_path), "--mode", "ab", "--instructions", "i.json"]
    (tmp_path / "ab" / "verdict-first-pass.json").write_text("{}")
    assert "--confirm-from" in profile.ab_check_args(tmp_path, [])


def test_the_fixture_profile_is_rendered_with_its_contributor_in_summary_and_annotation(judged, capsys):
    tmp_path, out, args, code, verdict = judged
    prof = tmp_path / "profile.json"
    prof.write_text(json.dumps(profdiff.build(fixture_manifest())))
    assert perfgate(["check", *args, "--quiet", "--diff-profile", str(prof)]) == code
    summary = (out / "summary.md").read_text()
    # Underscores inside a word are not emphasis (fmt.md_text leaves them as they are).
    assert (f"- `{SLOW}`: +2.0 instr/op, +0.13 D1 misses/op in core/include/statestore/inmemory_state_store.h:130, "
            "inmemory_internal::HashBytes") in summary
    assert perfgate(["annotations", "--verdict", str(out / "verdict.json")]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith(f"::error title=perf regressed%3A {SLOW}")]
    assert line.endswith(": +2.0 instr/op, +0.13 D1 misses/op in core/include/statestore/inmemory_state_store.h:130, "
                         "inmemory_internal::HashBytes")
    assert json.loads((out / "verdict.json").read_text())["rows"] == verdict["rows"]


def test_a_profile_file_that_is_not_one_is_bad_input(judged, capsys):
    _tmp, out, args, _code, _verdict = judged
    bad = out / "p.json"
    bad.write_text(json.dumps({"format": "x"}))
    assert perfgate(["check", *args, "--diff-profile", str(bad)]) == 2
    assert f"profile file {bad} is not a perfgate profile" in capsys.readouterr().err


def fixture_manifest() -> dict:
    """profdiff's manifest for the committed fixtures (saved addr2line answers, source copies)."""
    def side(name: str, root: str) -> dict:
        return {"callgrind": str(PROFILES / f"get_inmemory_1000.{name}.cg.out"),
                "addr2line_output": str(PROFILES / f"get_inmemory_1000.{name}.addr2line.gz"),
                "root": root, "sources": str(PROFILES / f"src-{name}")}
    return {"format": profdiff.FORMAT, "status": "ok", "seconds": 41.5, "benchmarks": [
        {"benchmark": SLOW, "workload": SLOW, "status": "profiled", "verdict_status": "regressed", "ops": 20000,
         "base": side("base", "/work/wt/why11"), "head": side("head", "/tmp/why11/hashmul")},
        {"benchmark": "state_get_inmemory/10000000", "status": "skipped", "verdict_status": "regressed",
         "reason": "state_instr has no workload of this name"}]}


def _state_instr() -> Path | None:
    env = os.environ.get("STATE_INSTR")
    path = Path(env) if env else REPO / "build" / "release" / "benches" / "state_instr"
    return path if path.is_file() and shutil.which("valgrind") and shutil.which("addr2line") else None


@pytest.mark.skipif(_state_instr() is None, reason="state_instr, valgrind or addr2line not available")
def test_one_real_callgrind_run_per_side_isolates_the_fixed_operation_count(tmp_path):
    binary = _state_instr()
    entry = {"benchmark": SLOW, "workload": SLOW, "status": "profiled", "verdict_status": "regressed"}
    jobs = [(entry, "base"), (entry, "head")]
    profile._run_jobs(jobs, shutil.which("valgrind"), {"base": binary, "head": binary},
                      {"base": REPO, "head": REPO}, 2000, tmp_path)
    assert entry["status"] == "profiled" and entry["ops"] == 2000
    doc = profdiff.build({"format": profdiff.FORMAT, "benchmarks": [entry]})
    (result,) = doc["benchmarks"]
    # the same binary on both sides: nothing changed, and it says so plainly
    assert result["unchanged"] is True
    assert result["headline"].startswith("same instructions and simulated misses: look at memory layout")
    # the measured loop only: about 90 instructions per get (README: 89.3), no fixture setup
    assert 60 < result["totals"]["ir"]["head"] < 140


def test_instruction_mode_profiles_against_the_commit_its_baseline_was_recorded_at(tmp_path):
    commit = profile.baseline_commit(REPO / "baselines" / "instructions.json")
    assert commit and len(commit) == 40
    assert profile.baseline_commit(QUICK) is None  # a raw results file names no commit of its own
    unnamed = tmp_path / "unnamed.json"
    unnamed.write_text(json.dumps({**json.loads(QUICK.read_text()), "format_version": 1, "commit": ""}))
    assert profile.baseline_commit(unnamed) is None
    (tmp_path / "b.json").write_text("{}")
    with pytest.raises(profile.BenchRunError) as err:
        profile.baseline_commit(tmp_path / "b.json")
    assert str(err.value) == f"baseline file {tmp_path / 'b.json'} is not Google Benchmark JSON (no 'benchmarks' list)"
    with pytest.raises(profile.BenchRunError, match=r"^baseline file .*nope\.json does not exist \(record one"):
        profile.baseline_commit(tmp_path / "nope.json")
    unnamed.write_text(json.dumps({**json.loads(QUICK.read_text()), "format_version": 1, "commit": 12}))
    with pytest.raises(profile.BenchRunError) as err:
        profile.baseline_commit(unnamed)
    assert str(err.value) == f"baseline file {unnamed}: 'commit' is not a string: 12"


def test_an_unknown_base_revision_is_a_stated_skip(judged):
    tmp_path, out, args, _code, _verdict = judged
    cfg = _config(tmp_path, out, args)
    cfg.base_ref = "no-such-ref-anywhere"
    manifest = profile.run(cfg)
    assert manifest["status"] == "skipped"
    assert manifest["reason"].startswith("no base to compare with: unknown git revision 'no-such-ref-anywhere'")
