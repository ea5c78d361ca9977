"""The GitHub Actions workflow says what README and the Makefile promise.

The npm linter (make lint-workflow) checks the file against the Actions schema;
these tests check its meaning: the events, the container, the commands it runs
and the files it publishes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "perf-gate.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


@pytest.fixture(scope="module")
def job(workflow) -> dict:
    assert list(workflow["jobs"]) == ["perf-gate"]
    return workflow["jobs"]["perf-gate"]


def _scripts(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, re.MULTILINE))


def test_it_runs_on_pull_requests_pushes_to_main_a_nightly_schedule_and_by_hand(workflow):
    on = workflow["on"]
    assert "pull_request" in on
    assert on["push"]["branches"] == ["main"]
    assert len(on["schedule"]) == 1 and on["schedule"][0]["cron"].count(" ") == 4
    assert "workflow_dispatch" in on


def test_a_new_push_to_a_pull_request_cancels_the_superseded_run(workflow):
    concurrency = workflow["concurrency"]
    assert "pull_request.number" in concurrency["group"]
    assert "pull_request" in str(concurrency["cancel-in-progress"])


def test_it_runs_in_the_debian_release_the_project_is_developed_on(job):
    assert job["container"] == "debian:bookworm"


def _step(job: dict, prefix: str) -> dict:
    return next(s for s in job["steps"] if s.get("name", "").startswith(prefix))


def test_pull_requests_run_the_quick_profile_as_a_same_run_ab_against_the_merge_base(job):
    gate = _step(job, "Perf gate (same-run A/B)")
    assert gate["env"]["EVENT"] == "${{ github.event_name }}"
    assert 'base=$(git merge-base "origin/$BASE_REF" HEAD)' in gate["run"]
    assert re.search(r'make perf-gate PROFILE=quick BASE="\$base" GATE_ARGS="--no-history \$gate_args"', gate["run"])
    assert "make perf-gate PROFILE=instructions" in _scripts(job)


def test_pushes_to_main_are_judged_by_an_ab_against_the_commit_main_was_at_before(job):
    gate = _step(job, "Perf gate (same-run A/B)")
    assert gate["env"]["BEFORE"] == "${{ github.event.before }}"
    assert 'base="$BEFORE"' in gate["run"]
    # A new branch has an all-zero "before", and a force-push may name a commit no longer fetched.
    assert '[[ "$BEFORE" =~ ^0*$ ]]' in gate["run"] and 'git cat-file -e "$BEFORE^{commit}"' in gate["run"]


def test_the_committed_baseline_run_reports_timing_without_enforcing_it_and_feeds_the_history(job):
    trend = _step(job, "Against the committed baseline")
    assert trend["if"] == "github.event_name != 'pull_request'"
    assert 'make perf-gate PROFILE="$PROFILE" REPORT_DIR=reports/trend' in trend["run"]
    assert "--no-fail-on-timing --history reports/history.sqlite" in trend["run"]
    # quick on pushes (the trends pull requests read), full nightly, by hand as chosen
    assert "github.event_name == 'push'" in job["env"]["PROFILE"] and "'full'" in job["env"]["PROFILE"]
    record = _step(job, "Record the run")
    assert "steps.trend.outputs.exit_code != '2'" in record["if"]


def test_every_make_target_it_calls_exists(job):
    called = set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", _scripts(job)))
    assert called, "the workflow calls no make target"
    assert called <= _makefile_targets()


def test_it_publishes_the_report_summary_annotations_and_fails_on_exit_1_or_2(job):
    steps = {step.get("name", ""): step for step in job["steps"]}
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    for path in ("reports/report.html", "reports/summary.md", "reports/verdict.json", "reports/results-*.json"):
        assert path in upload["with"]["path"]
    assert upload["if"] == "always()"
    scripts = _scripts(job)
    assert "GITHUB_STEP_SUMMARY" in scripts
    assert "perfgate annotations" in scripts
    fail = steps["Fail on regression (1) or bad input (2)"]
    assert "exit 1" in fail["run"]
    for step in ("gate", "instr", "trend"):
        assert f"steps.{step}.outputs.exit_code != '0'" in fail["if"]
    for path in ("reports/trend/", "reports/instructions/", "reports/ab/"):
        assert path in upload["with"]["path"]
    assert "for dir in reports reports/trend reports/instructions" in scripts


def test_the_build_directory_is_cached_and_the_history_kept_on_its_branch(job):
    cache = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/cache@"))
    assert cache["with"]["path"] == "build"
    assert job["env"]["HISTORY_BRANCH"] == "perf-history"
    record = next(s for s in job["steps"] if s.get("name", "").startswith("Record the run"))
    assert "pull_request" in record["if"] and "refs/heads/main" in record["if"]


def test_instruction_counts_run_first_and_the_wall_time_gate_shows_their_verdict(job):
    names = [step.get("name", "") for step in job["steps"]]
    instr, gate = names.index("Instruction counts"), names.index("Perf gate (same-run A/B)")
    assert instr < gate
    instr_run = job["steps"][instr]["run"]
    assert "make perf-gate PROFILE=instructions REPORT_DIR=reports/instructions" in instr_run
    assert 'echo "exit_code=$?" >> "$GITHUB_OUTPUT"' in instr_run and "exit 0" in instr_run  # its own exit code
    gate_run = job["steps"][gate]["run"]
    assert 'gate_args="--instructions reports/instructions/verdict.json"' in gate_run
    # Only when the instruction check wrote a verdict: a missing file would make the wall-time gate exit 2.
    assert "if [ -f reports/instructions/verdict.json ]" in gate_run
    # Both the pull request's A/B and the baseline command pass it; the Makefile forwards GATE_ARGS to
    # perfgate check in both modes.
    assert re.search(r'make perf-gate PROFILE=quick BASE="\$base" GATE_ARGS="--no-history \$gate_args"', gate_run)
    trend_run = _step(job, "Against the committed baseline")["run"]
    assert 'if [ -f reports/instructions/verdict.json ]' in trend_run and "$gate_args" in trend_run
    makefile = (REPO / "Makefile").read_text()
    assert "--report-dir $(REPORT_DIR) $(GATE_ARGS)" in makefile and "-- $(GATE_ARGS)" in makefile
    fail = next(s for s in job["steps"] if s.get("name") == "Fail on regression (1) or bad input (2)")
    assert "steps.instr.outputs.exit_code != '0'" in fail["if"]
