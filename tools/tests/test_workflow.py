"""The GitHub Actions workflow says what README and the Makefile promise.

The npm linter (make lint-workflow) checks the file against the Actions schema;
these tests check its meaning: the events, the container, the commands it runs,
the files it publishes, the message per exit code (benchrun ci-report) and the
history branch its record step writes (perfgate history sync, run for real against a scratch
remote)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent.parent
TOOLS = REPO / "tools"
WORKFLOW = REPO / ".github" / "workflows" / "perf-gate.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


@pytest.fixture(scope="module")
def job(workflow) -> dict:
    assert list(workflow["jobs"]) == ["test", "perf-gate", "shard-plan", "full-shard", "full-merge"]
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
    assert concurrency["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


def test_the_nightly_and_manual_runs_have_their_own_group_apart_from_pushes(workflow):
    group = workflow["concurrency"]["group"]
    assert "(github.event_name == 'schedule' || github.event_name == 'workflow_dispatch') && 'nightly'" in group
    # pushes fall through to github.ref: one group for main, never the nightly's
    assert group.endswith("|| github.ref }}")


def test_both_jobs_run_in_the_debian_release_the_project_is_developed_on(workflow, job):
    assert job["container"] == "debian:bookworm"
    assert workflow["jobs"]["test"]["container"] == "debian:bookworm"


def test_make_test_runs_on_pull_requests_and_pushes(workflow):
    test = workflow["jobs"]["test"]
    assert test["if"] == "github.event_name == 'pull_request' || github.event_name == 'push'"
    assert any(step.get("run") == "make test" for step in test["steps"])


def _step(job: dict, prefix: str) -> dict:
    return next(s for s in job["steps"] if s.get("name", "").startswith(prefix))


def test_pull_requests_run_the_quick_profile_as_a_same_run_ab_against_the_merge_base(job):
    base = _step(job, "Choose the base revision")
    assert 'echo "base=$(git merge-base "origin/$BASE_REF" HEAD)"' in base["run"]
    gate = _step(job, "Perf gate (same-run A/B and instruction counts)")
    assert gate["env"]["BASE"] == "${{ steps.base.outputs.base }}"
    assert 'tools/perf-gate PROFILE=quick BASE="$BASE" -- --no-history 2>&1 | tee reports/gate.log' in gate["run"]
    # the script's own exit code, not tee's
    assert 'echo "exit_code=${PIPESTATUS[0]}" >> "$GITHUB_OUTPUT"' in gate["run"]


def test_pushes_to_main_are_judged_against_the_last_judged_commit_not_event_before(job):
    fetch = _step(job, "Fetch the run history and the last judged commit")
    assert 'git show FETCH_HEAD:judged.json > reports/judged-before.json' in fetch["run"]
    base = _step(job, "Choose the base revision")
    assert re.search(r'benchrun push-base --record reports/judged-before.json \\\n\s+--head "\$HEAD_SHA" '
                     r'--before "\$BEFORE" \| tee -a "\$GITHUB_OUTPUT"', base["run"])
    gate = _step(job, "Perf gate (same-run A/B and instruction counts)")
    assert "BEFORE" not in gate["run"] and "BEFORE" not in gate.get("env", {})
    assert 'if [ "${COMMITS:-1}" -gt 1 ]' in gate["run"] and "judges $COMMITS commits at once" in gate["run"]


def test_a_push_run_records_what_it_judged_only_when_it_judged(job):
    record = _step(job, "Record the run and the judged commit")
    assert "pull_request" in record["if"] and "refs/heads/main" in record["if"]
    assert 'if [ "$EVENT" = push ] && { [ "$GATE_CODE" = 0 ] || [ "$GATE_CODE" = 1 ]; }' in record["run"]
    assert "benchrun judged-record" in record["run"] and "perfgate history sync" in record["run"]
    assert '${judged:+--judged "$judged"}' in record["run"]


def test_the_committed_baseline_run_reports_timing_without_enforcing_it_and_feeds_the_history(job):
    trend = _step(job, "Against the committed baseline")
    # (a sharded nightly leaves it to the full-shard and full-merge jobs: test_workflow_trends.py)
    assert trend["if"] == "github.event_name != 'pull_request' && env.SHARDED != 'true'"
    assert 'tools/perf-gate PROFILE="$PROFILE" REPORT_DIR=reports/trend --no-base --no-instructions' in trend["run"]
    assert "--history reports/history.sqlite" in trend["run"]
    # quick on pushes (the trends pull requests read), full nightly, by hand as chosen
    assert "github.event_name == 'push'" in job["env"]["PROFILE"] and "'full'" in job["env"]["PROFILE"]
    record = _step(job, "Record the run")
    assert "steps.trend.outputs.exit_code != '2'" in record["if"]


def test_every_make_target_and_tool_it_calls_exists(workflow, job):
    scripts = _scripts(job) + "\n" + _scripts(workflow["jobs"]["test"])
    called = set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", scripts))
    assert called == {"test"}
    assert called <= _makefile_targets()
    tools = set(re.findall(r"\b(tools/[a-z/.-]+[a-z])", scripts))
    assert {"tools/perf-gate", "tools/setup.sh"} <= tools
    for tool in tools:
        assert os.access(REPO / tool, os.X_OK), f"{tool} is not an executable file"


def test_it_publishes_the_report_summary_annotations_and_fails_with_the_cause(job):
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    for path in ("reports/report.html", "reports/summary.md", "reports/verdict.json", "reports/decision.json",
                 "reports/results-*.json", "reports/*.log", "reports/trend/", "reports/instructions/",
                 "reports/ab/"):
        assert path in upload["with"]["path"]
    assert upload["if"] == "always()"
    scripts = _scripts(job)
    assert "perfgate annotations" in scripts
    assert "for dir in reports reports/trend reports/instructions" in scripts
    fail = _step(job, "Fail with the cause")
    assert fail["if"] == "always()"
    assert 'benchrun ci-report --summary "$GITHUB_STEP_SUMMARY"' in fail["run"]
    assert "=${{ steps.gate.outputs.exit_code }}=reports/gate.log" in fail["run"]
    assert "=${{ steps.trend.outputs.exit_code }}=reports/trend.log" in fail["run"]


def test_the_build_directory_is_cached_and_the_history_kept_on_its_branch(job):
    cache = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/cache@"))
    assert cache["with"]["path"] == "build"
    assert job["env"]["HISTORY_BRANCH"] == "perf-history"


# ------------------------------------------------------------------ messages per exit code

def ci_report(tmp_path: Path, *checks: str) -> tuple[int, str, str]:
    summary = tmp_path / "summary.md"
    done = subprocess.run([sys.executable, "-m", "benchrun", "ci-report", "--summary", str(summary),
                           *(a for c in checks for a in ("--check", c))],
                          capture_output=True, text=True, env={"PYTHONPATH": str(TOOLS), "PATH": "/usr/bin:/bin"})
    return done.returncode, done.stdout, summary.read_text() if summary.exists() else ""


def test_a_regression_is_reported_as_one_and_bad_input_as_the_other(tmp_path):
    gate_log = tmp_path / "gate.log"
    gate_log.write_text("perf-gate: same-run A/B ...\nperf-gate: FAIL (exit 1) in 90 s: state_get_inmemory/1000\n")
    trend_log = tmp_path / "trend.log"
    trend_log.write_text("perf-gate: ERROR (exit 2): baseline file baselines/quick.json is not JSON\n")
    code, out, summary = ci_report(tmp_path, f"A/B=1={gate_log}", f"baseline=2={trend_log}")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == ("::error title=perf gate (A/B)%3A regression or target breach (exit 1)::"
                        "perf-gate: FAIL (exit 1) in 90 s: state_get_inmemory/1000")
    assert lines[1].startswith("::error title=perf gate (baseline)%3A could not judge%3A bad input%2C or a build")
    assert lines[1].endswith("::perf-gate: ERROR (exit 2): baseline file baselines/quick.json is not JSON")
    assert "| A/B | regression or target breach (exit 1) |" in summary
    assert "| baseline | could not judge: bad input, or a build or run that failed (exit 2) |" in summary


def test_passing_and_not_run_checks_annotate_nothing_and_pass(tmp_path):
    log = tmp_path / "gate.log"
    log.write_text("perf-gate: PASS (exit 0) in 3 s: no code change\n")
    code, out, summary = ci_report(tmp_path, f"A/B=0={log}", "baseline==")
    assert (code, out) == (0, "")
    assert "| A/B | passed | perf-gate: PASS (exit 0) in 3 s: no code change |" in summary
    assert "| baseline | not run |  |" in summary


def test_a_message_cannot_inject_workflow_commands_or_markdown(tmp_path):
    log = tmp_path / "gate.log"
    log.write_text("perf-gate: FAIL (exit 1) in 1 s: bench/100% [evil]|x\n")
    code, out, summary = ci_report(tmp_path, f"A/B=1={log}")
    assert out.strip().endswith("::perf-gate: FAIL (exit 1) in 1 s: bench/100%25 [evil]|x")
    assert "bench/100% \\[evil\\]\\|x" in summary


def test_a_malformed_check_is_bad_input(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchrun", "ci-report", "--check", "A/B=x=log"],
                          capture_output=True, text=True, env={"PYTHONPATH": str(TOOLS), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert "--check A/B: exit code 'x' is not a number" in done.stderr


# ------------------------------------------------------------------ the history branch

def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


RESULTS = TOOLS / "tests" / "inputs" / "state_bench_tiny.json"
SHA = "ab" * 20


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A CI checkout: a clone of a scratch remote with this repository's tools/ and a reports/."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    git(work, "remote", "add", "origin", str(origin))
    (work / "tools").symlink_to(TOOLS)
    (work / "reports").mkdir()
    return work


def record_step(job: dict, work: Path, event: str, run_number: int) -> subprocess.CompletedProcess:
    """Runs the workflow's own record step in `work`, its ${{ }} expressions filled in."""
    script = _step(job, "Record the run and the judged commit")["run"]
    values = {"github.sha": SHA, "github.run_number": str(run_number), "github.run_id": str(1000 + run_number)}
    script = re.sub(r"\$\{\{ (github\.[a-z_]+) \}\}", lambda m: values[m.group(1)], script)
    assert "${{" not in script
    env = dict(os.environ, EVENT=event, GATE_CODE="0", BASE="cd" * 20, HISTORY_BRANCH=job["env"]["HISTORY_BRANCH"])
    return subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True, text=True,
                          timeout=120)


def branch_file(work: Path, name: str) -> bytes:
    git(work, "fetch", "-q", "origin", "perf-history")
    return subprocess.run(["git", "-C", str(work), "show", f"FETCH_HEAD:{name}"], check=True,
                          capture_output=True).stdout


def history_runs(work: Path) -> list[str]:
    db = work / "fetched.sqlite"
    db.write_bytes(branch_file(work, "history.sqlite"))
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT source FROM runs ORDER BY id")]


def add_run(work: Path, tag: str) -> None:
    results = work / f"{tag}.json"
    results.write_bytes(RESULTS.read_bytes())
    subprocess.run([sys.executable, "-m", "perfgate", "history", "add", "--results", str(results), "--history",
                    str(work / "reports" / "history.sqlite")], check=True, capture_output=True,
                   env={"PYTHONPATH": str(TOOLS)})


def test_the_record_step_publishes_the_run_and_what_a_push_judged_and_keeps_both(job, checkout):
    add_run(checkout, "push1")
    done = record_step(job, checkout, "push", 1)
    assert done.returncode == 0, done.stderr
    assert "perfgate: history sync created the branch with origin/perf-history, judged.json from " \
           "reports/judged.json (attempt 1)" in done.stdout
    assert json.loads(branch_file(checkout, "judged.json"))["commit"] == SHA
    # The nightly records from a copy of the branch it fetched earlier; a push run landed meanwhile.
    nightly = checkout.parent / "nightly.sqlite"
    nightly.write_bytes((checkout / "reports" / "history.sqlite").read_bytes())
    add_run(checkout, "push2")
    assert record_step(job, checkout, "push", 2).returncode == 0
    (checkout / "reports" / "history.sqlite").write_bytes(nightly.read_bytes())
    (checkout / "reports" / "judged.json").unlink()
    add_run(checkout, "nightly")
    done = record_step(job, checkout, "schedule", 3)
    assert done.returncode == 0, done.stderr
    assert "added 1 run(s) to origin/perf-history (attempt 1)" in done.stdout
    assert [Path(s).name for s in history_runs(checkout)] == ["push1.json", "push2.json", "nightly.json"]
    assert json.loads(branch_file(checkout, "judged.json"))["run"] == "1002", "the nightly dropped the judged record"
    assert git(checkout, "log", "-1", "--format=%s", "FETCH_HEAD") == f"perf history: run 3 ({SHA})"
