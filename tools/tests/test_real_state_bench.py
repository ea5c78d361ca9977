"""The gate on real state_bench output (tiny and a trimmed quick run) with the committed targets."""

import json

import pytest

from conftest import INPUTS, REPO, scaled, write
from perfgate import load, render
from perfgate.decide import Settings, decide

TINY = INPUTS / "state_bench_tiny.json"
QUICK = INPUTS / "state_bench_quick_trimmed.json"
COMMITTED = load.load_targets(REPO / "baselines" / "targets.toml")


@pytest.mark.parametrize("path, profile", [(TINY, "tiny"), (QUICK, "quick")])
def test_every_committed_target_for_the_profile_finds_its_benchmark(path, profile):
    run = load.load_results(path)
    assert run.profile == profile
    verdict = decide(run, run, COMMITTED)  # raises if a target's benchmark were absent
    expected = [t for t in COMMITTED.targets if t.applies_to(profile)]
    assert len(verdict.targets) == len(expected) > 0
    assert all(r.status in ("unchanged", "skipped") for r in verdict.rows)


def test_a_tiny_run_has_too_few_repetitions_to_fail_on_timing(tmp_path):
    doc = json.loads(TINY.read_text())
    slow = load.load_results(write(tmp_path / "slow.json", scaled(doc, 1.5)))
    verdict = decide(load.load_baseline(TINY), slow, load.EMPTY_TARGETS)
    assert {r.status for r in verdict.rows} == {"insufficient"}
    assert verdict.exit_code == 0
    assert verdict.rows[0].note == "insufficient repetitions (2 vs 2; a U test needs >= 4 per side)"


@pytest.mark.parametrize("factor, status, code", [(1.20, "regressed", 1), (1.03, "unchanged", 0)])
def test_a_real_quick_run_catches_20_percent_and_passes_3_percent(tmp_path, factor, status, code):
    name = "state_get_inmemory/100000"
    doc = json.loads(QUICK.read_text())
    cur = load.load_results(write(tmp_path / "cur.json", scaled(doc, {name: factor})))
    verdict = decide(load.load_baseline(QUICK), cur, load.EMPTY_TARGETS, Settings())
    row = next(r for r in verdict.rows if r.benchmark == name)
    assert row.status == status and verdict.exit_code == code


def test_peer_ratios_pair_our_get_with_the_peers_at_the_same_key_count():
    run = load.load_results(QUICK)
    rows = render.peer_rows(COMMITTED, run)
    pairs = {(r["ours"], r["peer"]) for r in rows}
    assert ("state_get_inmemory/100000", "peer_absl_flat_hash_map_get/100000") in pairs
    assert ("state_get_inmemory/100000", "peer_lmdb_get/100000") in pairs
    assert ("state_range/results/1000", "peer_absl_btree_map_range/results/1000") in pairs
    assert ("state_snapshot/inmemory/10MB", "peer_memcpy/10MB") in pairs
    assert all(r["ratio"].endswith("x") for r in rows)


def test_the_ci_smoke_run_on_a_real_tiny_profile_passes_with_timing_not_enforced(tmp_path):
    from conftest import run_cli
    baseline = tmp_path / "baselines" / "tiny.json"
    r = run_cli("baseline", "--results", str(TINY), "--out", str(baseline))
    assert r.returncode == 0, r.stderr
    r = run_cli("check", "--baseline", str(baseline), "--results", str(TINY), "--report-dir", str(tmp_path / "reports"),
                "--no-fail-on-timing")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-2].startswith("perfgate: PASS")
    for name in ("report.html", "summary.md", "verdict.json", "history.sqlite"):
        assert (tmp_path / "reports" / name).exists()
