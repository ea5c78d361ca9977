"""tools/perf-gate end to end: the real command, real state_bench builds, the tiny profile
narrowed to two benchmarks, on scratch git checkouts that play each situation.

The builds come from `make test` (STATE_BENCH, STATE_INSTR: the Release build;
STATE_BENCH_SLOW: state_get_inmemory/1000 made 30% slower by the benchmark-side
STATESTORE_BENCH_SLOWDOWN option, Makefile target build-slowdown)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PERF_GATE = REPO / "tools" / "perf-gate"
TARGET = "state_get_inmemory/1000"
CONTROL = "state_range/results/10"
FILTER = f"^({TARGET}|{CONTROL})$"
TARGETS = f"""format_version = 1
known_profiles = ["tiny", "quick", "full"]

[[target]]
benchmark = "{TARGET}"
metric = "median"
limit = 100
unit = "ns"
profiles = ["tiny", "quick", "full"]
source = "get() < 100ns, InMemory, 1K-10M keys"
"""


def _binary(var: str, default: Path) -> Path:
    path = Path(os.environ.get(var, default))
    if not path.is_file():
        pytest.fail(f"{path} is not built: run this suite through `make test` (it builds it), or set {var}")
    return path


@pytest.fixture(scope="module")
def bench() -> Path:
    return _binary("STATE_BENCH", REPO / "build" / "release" / "benches" / "state_bench")


@pytest.fixture(scope="module")
def instr() -> Path:
    return _binary("STATE_INSTR", REPO / "build" / "release" / "benches" / "state_instr")


@pytest.fixture(scope="module")
def slow_bench() -> Path:
    return _binary("STATE_BENCH_SLOW", REPO / "build" / "test-slowdown" / "benches" / "state_bench")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A clean checkout at main with the committed baselines and a two-benchmark target table."""
    repo = tmp_path / "checkout"
    (repo / "core").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    shutil.copytree(REPO / "baselines", repo / "baselines")
    (repo / "baselines" / "targets.toml").write_text(TARGETS)
    (repo / "core" / "hash.cc").write_text("// the short-key hash\n")
    (repo / "README.md").write_text("readme\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "main")
    return repo


def perf_gate(repo: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(PERF_GATE), "--repo", str(repo), "--report-dir", str(repo / "reports"), "PROFILE=tiny",
           f"FILTER={FILTER}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=repo)


def decision(repo: Path) -> dict:
    return json.loads((repo / "reports" / "decision.json").read_text())


def test_unchanged_code_passes_says_what_it_compared_and_enforces_no_timing(checkout, bench, instr):
    done = perf_gate(checkout, "--head-bench", str(bench), "--head-instr", str(instr),
                     "--instr-filter", f"^{TARGET}$")
    assert done.returncode == 0, done.stderr
    assert "perf-gate: no base revision (clean tree at main" in done.stderr
    assert "timing reported, not enforced: no base revision; use BASE=" in done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("perf-gate: PASS (exit 0)")
    record = decision(checkout)
    assert record["kind"] == "baseline" and record["checks"] == {"instructions": 0, "timing": 0}
    assert {"build", "instructions", "timing"} <= set(record["phases"])  # where the seconds went
    verdict = json.loads((checkout / "reports" / "verdict.json").read_text())
    assert verdict["fail_on_timing"] is False  # the committed wall-time baseline is never enforced by default
    assert (checkout / "reports" / "instructions" / "verdict.json").is_file()
    summary = (checkout / "reports" / "summary.md").read_text()
    assert summary.startswith("### What the perf gate compared\n\nno base revision (clean tree at main")


def test_a_slowed_get_fails_with_exit_1_naming_it_and_not_the_range_scan(checkout, bench, slow_bench):
    (checkout / "core" / "hash.cc").write_text("// the short-key hash, now with more work\n")
    done = perf_gate(checkout, "--base-bench", str(bench), "--head-bench", str(slow_bench), "--no-instructions")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "perf-gate: same-run A/B of the working tree against HEAD" in done.stderr
    assert "uncommitted changes to what the benchmarks build (1 file under core/" in done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("perf-gate: FAIL (exit 1)") and TARGET in last and CONTROL not in last
    verdict = json.loads((checkout / "reports" / "verdict.json").read_text())
    status = {r["benchmark"]: r["status"] for r in verdict["rows"]}
    assert status[TARGET] == "regressed" and status[CONTROL] != "regressed"
    assert decision(checkout)["checks"] == {"ab": 1}


def test_a_docs_only_branch_is_not_measured_and_passes_in_seconds(checkout):
    git(checkout, "checkout", "-qb", "docs")
    (checkout / "README.md").write_text("better words\n")
    git(checkout, "commit", "-qam", "docs")
    done = perf_gate(checkout)  # nothing prebuilt: it must not even build
    assert done.returncode == 0, done.stderr
    assert "perf-gate: no code change: benchmarks not re-run (no change under core/, benches/, CMakeLists.txt" \
        in done.stderr
    assert decision(checkout)["kind"] == "skip"
    assert not (checkout / "build").exists()


def test_a_change_that_compiles_to_the_same_code_is_not_measured(checkout, bench):
    (checkout / "core" / "hash.cc").write_text("// a comment only\n")
    done = perf_gate(checkout, "--base-bench", str(bench), "--head-bench", str(bench))
    assert done.returncode == 0, done.stderr
    assert "no code change: benchmarks not re-run (base and head builds have identical code" in done.stderr
    record = decision(checkout)
    assert record["kind"] == "skip" and "object files of state_bench, state_instr" in record["compared"]
    summary = (checkout / "reports" / "summary.md").read_text()
    assert "Inputs compared: compared 1" in summary and "Changed inputs of the benchmarks: `core/hash.cc`" in summary


def test_an_unknown_base_is_exit_2_with_one_line(checkout):
    done = perf_gate(checkout, "BASE=no-such-ref")
    assert done.returncode == 2
    assert done.stdout.strip().splitlines()[-1] == (
        f"perf-gate: ERROR (exit 2): unknown git revision 'no-such-ref' (BASE=): not a commit in {checkout}")


def test_a_corrupt_baseline_is_exit_2_naming_the_file_before_anything_is_built(checkout):
    (checkout / "baselines" / "tiny.json").write_text('{"format_version": 1, "benchmarks": [')
    done = perf_gate(checkout, "--no-instructions")  # nothing prebuilt: it would build first
    assert done.returncode == 2, done.stdout + done.stderr
    assert not (checkout / "build").exists()  # refused before building (no speed is asserted)
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("perf-gate: ERROR (exit 2): ") and "baselines/tiny.json" in last
    assert "Traceback" not in done.stdout + done.stderr


def test_a_corrupt_target_table_is_exit_2_naming_it(checkout):
    (checkout / "baselines" / "targets.toml").write_text("format_version = [\n")
    done = perf_gate(checkout, "--no-instructions")
    assert done.returncode == 2
    assert "baselines/targets.toml" in done.stdout.strip().splitlines()[-1]


def test_make_perf_gate_runs_the_same_command_and_make_reports_its_code(tmp_path):
    done = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "perf-gate", "PROFILE=nope",
                           f"REPORT_DIR={tmp_path}"], capture_output=True, text=True)
    assert done.returncode == 2  # make's own code for any failing recipe
    assert "perf-gate: ERROR (exit 2): unknown PROFILE=nope (expected one of tiny, quick, full, instructions)" \
        in done.stdout
    assert "Error 2" in done.stderr  # make's line carries the script's code
