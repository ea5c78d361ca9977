"""The workflow's trend page and sharded committed-baseline run: what runs when, and the two
scripts it calls (tools/ci/trends, the shard count step) run for real."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, scaled, with_context, write
from perfgate import history, load

WORKFLOW = REPO / ".github" / "workflows" / "perf-gate.yml"
TRENDS = REPO / "tools" / "ci" / "trends"


@pytest.fixture(scope="module")
def jobs() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]


def step(job: dict, name_start: str) -> dict:
    return next(s for s in job["steps"] if s.get("name", "").startswith(name_start))


def test_non_pull_request_runs_make_the_trend_page_and_put_its_summary_in_the_job_summary(jobs):
    gate = jobs["perf-gate"]
    names = [s.get("name", "") for s in gate["steps"]]
    trends = step(gate, "Trends")
    assert names.index(trends["name"]) == names.index("Against the committed baseline (targets, trends; timing "
                                                      "not enforced)") + 1
    assert "steps.trend.outcome == 'success'" in trends["if"]  # not on pull requests: no committed-baseline run
    assert trends["run"].startswith("tools/ci/trends ")
    summary = step(gate, "Summary and annotations")["run"]
    assert "reports/trends" in summary and "trends-summary.md" in summary
    assert "reports/trends/" in step(gate, "Upload the report")["with"]["path"]


def test_a_sharded_nightly_splits_the_committed_baseline_run_and_merges_it_once(jobs):
    on = yaml.safe_load(WORKFLOW.read_text())[True]
    assert on["workflow_dispatch"]["inputs"]["shards"]["default"] == "1"
    gate = jobs["perf-gate"]
    assert "env.SHARDED != 'true'" in step(gate, "Against the committed baseline")["if"]
    assert "pull_request" not in gate["env"]["SHARDED"].split("==")[0] and "schedule" in gate["env"]["SHARDED"]
    plan = jobs["shard-plan"]
    run = step(plan, "Plan the shards")["run"]
    assert '"${hist[@]}"' in run and "--out reports/plan.json" in run
    assert next(s for s in plan["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@"))["with"] \
        == {"name": "shard-plan", "path": "reports/plan.json"}
    shard = jobs["full-shard"]
    assert shard["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.shard-plan.outputs.matrix) }}"
    run = step(shard, "Run this shard's benchmarks")["run"]
    assert 'perfgate shards --plan reports/plan.json --print-filter "$SHARD"' in run and '--filter "$filter"' in run
    merge = jobs["full-merge"]
    assert merge["needs"] == ["shard-plan", "full-shard"] and "always()" in merge["if"]
    for job in (shard, merge):  # the one plan, not one made again from a history that may have moved
        assert {"name": "shard-plan", "path": "reports"} in [s.get("with") for s in job["steps"]]
    run = step(merge, "Merge the shards")["run"]
    assert "gate merge --plan reports/plan.json" in run and "gate check --baseline" in run
    assert "gate shards" not in run
    assert "--no-fail-on-timing --history reports/history.sqlite" in run
    assert "perfgate history sync --history reports/history.sqlite" in step(merge, "Record the run")["run"]


def _shard_count(jobs, value: str, tmp_path: Path) -> tuple[int, str]:
    out = tmp_path / "out"
    out.write_text("")
    script = step(jobs["shard-plan"], "Shard count")["run"]
    done = subprocess.run(["bash", "-c", script], env=dict(os.environ, SHARDS=value, GITHUB_OUTPUT=str(out)),
                          capture_output=True, text=True, timeout=30)
    return done.returncode, out.read_text() + done.stdout


@pytest.mark.parametrize("value, code, expected", [("3", 0, "count=3\nmatrix=[1,2,3]\n"), ("1", 0, "matrix=[1]"),
                                                   ("x", 2, "shards must be a whole number >= 1, not 'x'"),
                                                   ("0", 2, "not '0'")])
def test_the_shard_count_step_makes_the_matrix_or_refuses_the_input(jobs, tmp_path, value, code, expected):
    rc, text = _shard_count(jobs, value, tmp_path)
    assert rc == code and expected in text


def _plan_step(jobs, work: Path, count: str) -> subprocess.CompletedProcess:
    script = step(jobs["shard-plan"], "Plan the shards")["run"]
    env = dict(os.environ, COUNT=count, PROFILE="quick", HISTORY_BRANCH="perf-history", GITHUB_WORKSPACE=str(work),
               HOME=str(work.parent))
    return subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_plan_step_deals_by_the_history_branchs_durations_or_the_baselines_without_one(jobs, tmp_path,
                                                                                            real_doc):
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    subprocess.run(["git", "clone", "-q", str(origin), str(work)], check=True, capture_output=True)
    (work / "tools").symlink_to(REPO / "tools")
    (work / "baselines").symlink_to(REPO / "baselines")
    done = _plan_step(jobs, work, "2")
    assert done.returncode == 0, done.stderr
    plan = (work / "reports" / "plan.json").read_text()
    assert 'baselines/quick.json",' in plan and "durations from" not in done.stderr
    db = tmp_path / "h.sqlite"
    history.record(db, load.load_results(write(tmp_path / "r.json", real_doc)))
    git = ["git", "-C", str(work), "-c", "user.name=x", "-c", "user.email=x@x"]
    blob = subprocess.run([*git, "hash-object", "-w", str(db)], check=True, capture_output=True, text=True).stdout
    tree = subprocess.run([*git, "mktree"], input=f"100644 blob {blob.strip()}\thistory.sqlite\n", check=True,
                          capture_output=True, text=True).stdout.strip()
    commit = subprocess.run([*git, "commit-tree", tree, "-m", "h"], check=True, capture_output=True,
                            text=True).stdout.strip()
    subprocess.run([*git, "push", "-q", "origin", f"{commit}:refs/heads/perf-history"], check=True)
    done = _plan_step(jobs, work, "2")
    assert done.returncode == 0, done.stderr
    assert "durations from history reports/history.sqlite (median of the newest 1 quick runs)" in done.stderr
    assert '"durations_from": "history reports/history.sqlite' in (work / "reports" / "plan.json").read_text()


def test_the_ci_trends_script_compacts_the_history_and_writes_the_page_with_commit_links(tmp_path, real_doc):
    db = tmp_path / "h.sqlite"
    for i in range(3):
        f = write(tmp_path / f"r{i}.json", with_context(scaled(real_doc, 1 + i / 50), statestore_git_commit=f"c{i}"))
        history.record(db, load.load_results(f), recorded_at=f"2026-03-0{i + 1}T00:00:00+00:00")
    done = subprocess.run([str(TRENDS), "o/r", str(db), str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "0 runs compacted" in done.stdout and "3 runs" in done.stdout
    page = (tmp_path / "out" / "trends.html").read_text()
    assert '"commit_url":"https://github.com/o/r/commit/{sha}"' in page
    assert (tmp_path / "out" / "trends-summary.md").read_text().startswith("### Trends: change points")


def test_the_ci_trends_script_warns_and_passes_without_a_usable_history(tmp_path):
    done = subprocess.run([str(TRENDS), "o/r", str(tmp_path / "none.sqlite"), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "::warning::no run history at" in done.stdout
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"junk" * 1000)
    done = subprocess.run([str(TRENDS), "o/r", str(junk), str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "::warning::the trend page could not be made" in done.stdout
    assert f"history {junk} is not usable" in done.stderr


def test_every_make_target_and_tool_the_sharded_jobs_call_exists(jobs):
    import re
    scripts = "\n".join(s.get("run", "") for name in ("shard-plan", "full-shard", "full-merge")
                        for s in jobs[name]["steps"])
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", (REPO / "Makefile").read_text(), re.MULTILINE))
    assert set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", scripts)) == {"build"} <= targets
    tools = set(re.findall(r"\b(tools/[a-z/.-]+[a-z])", scripts))
    assert {"tools/ci/trends", "tools/setup.sh"} <= tools
    assert all(os.access(REPO / t, os.X_OK) for t in tools)
