"""benchrun: running state_bench, merging rounds, interleaving A/B (with a stand-in binary)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchrun import ab, gbjson, runner
from benchrun.errors import BenchRunError
from benchrun.runner import BenchBinary, RunSpec, run

INPUTS = Path(__file__).parent / "inputs" / "benchrun"
FAKE = INPUTS / "fake_state_bench.py"
TOOLS = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake_env(tmp_path, monkeypatch):
    log = tmp_path / "runs.log"
    monkeypatch.setenv("FAKE_LOG", str(log))
    return log


def test_a_single_run_returns_the_programs_json(tmp_path):
    data = run(BenchBinary(FAKE), RunSpec("tiny"), tmp_path / "out.json", quiet=True)
    names = {row["run_name"] for row in data["benchmarks"]}
    assert names == {"state_get_inmemory/1000", "state_put_inmemory/1000", "state_range/results/10"}


def test_a_missing_binary_is_named_in_the_error(tmp_path):
    with pytest.raises(BenchRunError, match=r"base benchmark binary not found: .*nope \(build it first\)"):
        run(BenchBinary(tmp_path / "nope", "base"), RunSpec("tiny"), tmp_path / "out.json")


def test_a_crashing_binary_reports_its_exit_code(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EXIT", "3")
    with pytest.raises(BenchRunError, match="head state_bench exited with 3"):
        run(BenchBinary(FAKE), RunSpec("tiny"), tmp_path / "out.json", quiet=True)


def test_a_crashing_binary_error_carries_the_tail_of_its_stderr(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EXIT", "3")
    monkeypatch.setenv("FAKE_STDERR", "error: put failed while populating state_get_mmap/1000")
    with pytest.raises(BenchRunError, match=r"exited with 3: .* \(error: put failed while populating"):
        run(BenchBinary(FAKE), RunSpec("tiny"), tmp_path / "out.json", quiet=True)


def test_progress_shows_one_line_per_benchmark_median_and_each_skip():
    console = [
        "state_get_inmemory/1000                       5.01 ns         5.01 ns      2740021 allocs_per_op=0",
        "state_get_inmemory/1000_mean                  5.04 ns         5.04 ns            2 allocs_per_op=0",
        "state_get_inmemory/1000_median                5.04 ns         5.04 ns            2 allocs_per_op=0",
        "state_get_inmemory/1000_stddev               0.038 ns        0.038 ns            2 allocs_per_op=0",
        "state_snapshot/inmemory/100MB             ERROR OCCURRED: 'skipped: needs about 3.1 GiB of memory'",
        "Benchmark                                        Time             CPU   Iterations UserCounters...",
    ]
    shown = [line for line in map(runner.progress_line, console) if line]
    assert len(shown) == 2
    assert shown[0].split() == ["state_get_inmemory/1000", "5.04", "ns"]
    assert shown[1].split()[0] == "state_snapshot/inmemory/100MB"
    assert shown[1].endswith("skipped: needs about 3.1 GiB of memory")


def test_output_that_is_not_json_is_rejected_with_the_file_name(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"benchmarks": [')
    with pytest.raises(BenchRunError, match=r"bad.json is not valid JSON"):
        gbjson.load(bad)


def test_json_without_a_benchmarks_list_is_rejected(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"results": []}')
    with pytest.raises(BenchRunError, match="is not Google Benchmark JSON"):
        gbjson.load(other)


def test_merging_rounds_keeps_every_sample_with_unique_repetition_indexes(tmp_path):
    parts = [run(BenchBinary(FAKE), RunSpec("tiny", repetitions=1), tmp_path / f"r{i}.json", quiet=True)
             for i in range(3)]
    merged = gbjson.merge(parts)
    rows = [r for r in merged["benchmarks"] if r["run_name"] == "state_get_inmemory/1000"]
    assert [r["repetition_index"] for r in rows] == [0, 1, 2]
    assert all(r["repetitions"] == 3 for r in rows)
    assert all(r["run_type"] == "iteration" for r in merged["benchmarks"])
    assert merged["context"]["statestore_profile"] == "tiny"


def test_merging_drops_aggregates_that_described_one_round(tmp_path):
    part = run(BenchBinary(FAKE), RunSpec("tiny", repetitions=2), tmp_path / "r.json", quiet=True)
    assert any(r["run_type"] == "aggregate" for r in part["benchmarks"])
    assert not any(r["run_type"] == "aggregate" for r in gbjson.merge([part])["benchmarks"])


def test_merging_nothing_is_an_error():
    with pytest.raises(BenchRunError, match="nothing to merge"):
        gbjson.merge([])


def test_the_filter_matches_exactly_the_named_benchmarks():
    regex = re.compile(ab.filter_for(["state_range/results/10", "state_get_inmemory/1000"]))
    assert regex.search("state_range/results/10")
    assert regex.search("state_get_inmemory/1000")
    assert not regex.search("state_range/results/100")
    assert not regex.search("state_get_inmemory/10000")


def test_rounds_alternate_abba_so_a_linear_drift_cancels(tmp_path, fake_env, monkeypatch):
    base = BenchBinary(FAKE, "base")
    head = BenchBinary(FAKE, "head")
    order: list[str] = []
    real_run = ab.run

    def spy(binary, spec, out, quiet=False, env=None):
        order.append(binary.label)
        return real_run(binary, spec, out, quiet, env)

    monkeypatch.setattr(ab, "run", spy)
    base_parts, head_parts = ab.interleave(base, head, ab.Pass(RunSpec("tiny", None, 1), 4, tmp_path, "ab"))
    assert order == ["base", "head", "head", "base", "base", "head", "head", "base"]
    assert len(base_parts) == len(head_parts) == 4
    result = ab.write_sides(base_parts, head_parts, tmp_path)
    merged = gbjson.load(result.head_file)
    assert {r["repetition_index"] for r in merged["benchmarks"]} == {0, 1, 2, 3}


def test_the_command_line_maps_errors_to_exit_2_and_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(TOOLS))
    done = subprocess.run([sys.executable, "-m", "benchrun", "single", "--bench", str(tmp_path / "missing"),
                           "--out", str(tmp_path / "o.json")], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"benchrun: error: head benchmark binary not found: {tmp_path / 'missing'} (build it first)"]


def test_an_unknown_base_revision_is_named(tmp_path):
    from benchrun import build
    with pytest.raises(BenchRunError, match="unknown git revision 'no-such-ref-xyz'"):
        build.resolve(TOOLS.parent, "no-such-ref-xyz")


def _wrapper(tmp_path: Path, name: str, body: str) -> BenchBinary:
    """A state_bench stand-in: a shell script that sets FAKE_* and runs the fake."""
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\n{body}\nexec {sys.executable} {FAKE} \"$@\"\n")
    script.chmod(0o755)
    return BenchBinary(script, name)


def _gate_args(tmp_path: Path) -> list[str]:
    """The gate without a target table (the fake's results are a subset of tiny)."""
    targets = tmp_path / "no_targets.toml"
    targets.write_text('format_version = 1\nknown_profiles = ["tiny", "quick", "full"]\n')
    return ["--no-history", "--quiet", "--targets", str(targets)]


def _verdict(report_dir: Path) -> dict:
    import json
    return json.loads((report_dir / "verdict.json").read_text())


def _row(verdict: dict, name: str) -> dict:
    return next(r for r in verdict["rows"] if r["benchmark"] == name and r["metric"] == "real_time")


def test_ab_of_a_build_against_itself_passes_without_a_confirmation_pass(tmp_path, fake_env):
    same = _wrapper(tmp_path, "same", "")
    settings = ab.AbSettings(rounds=6, confirm_rounds=6, min_time=0.01)
    code = ab.judge(same, same, RunSpec("tiny"), settings, tmp_path / "r", _gate_args(tmp_path))
    assert code == 0
    assert _verdict(tmp_path / "r")["mode"] == "ab"
    assert not (tmp_path / "r" / "ab" / "verdict-first-pass.json").exists()
    runs = [line for line in fake_env.read_text().splitlines() if "^(" in line and not line.endswith(" list")]
    assert len(runs) == 36  # 6 rounds x 3 benchmarks x 2 sides, one benchmark per run, no confirmation runs


def test_ab_confirms_a_real_slowdown_by_rerunning_only_the_flagged_benchmarks(tmp_path, fake_env):
    base = _wrapper(tmp_path, "base", "")
    head = _wrapper(tmp_path, "head", "export FAKE_SCALE=1.3")
    settings = ab.AbSettings(rounds=6, confirm_rounds=4, min_time=0.01)
    code = ab.judge(base, head, RunSpec("tiny"), settings, tmp_path / "r", _gate_args(tmp_path))
    assert code == 1
    row = _row(_verdict(tmp_path / "r"), "state_get_inmemory/1000")
    assert row["status"] == "regressed"
    assert row["confirmation"] == "confirmed"
    assert row["n_current"] == 10  # 6 rounds + 4 confirmation rounds
    runs = [line for line in fake_env.read_text().splitlines() if "^(" in line and not line.endswith(" list")]
    assert len(runs) == 36 + 24  # then 4 confirmation rounds x 3 flagged benchmarks x 2 sides
    flagged = {"^(state_get_inmemory/1000)$", "^(state_put_inmemory/1000)$", "^(state_range/results/10)$"}
    assert {line.split()[-1] for line in runs[36:]} == flagged


def test_ab_clears_a_slowdown_that_the_confirmation_does_not_reproduce(tmp_path, fake_env):
    base = _wrapper(tmp_path, "base", "")
    # 16% slow in the first pass only (a noisy neighbour), normal when re-run:
    # the pooled median (+8%) is under the 10% line. The first pass is the
    # first 6 rounds x 3 benchmarks = 18 runs of head (listings not counted).
    runs_dir = tmp_path / "head-runs"
    runs_dir.mkdir()
    head = _wrapper(tmp_path, "head", f"""case "$*" in *list_tests*) ;; *)
  mktemp -p {runs_dir} >/dev/null
  if [ "$(ls {runs_dir} | wc -l)" -le 18 ]; then export FAKE_SCALE=1.16; fi ;; esac""")
    settings = ab.AbSettings(rounds=6, confirm_rounds=6, min_time=0.01)
    code = ab.judge(base, head, RunSpec("tiny"), settings, tmp_path / "r", _gate_args(tmp_path))
    assert code == 0
    row = _row(_verdict(tmp_path / "r"), "state_get_inmemory/1000")
    assert row["confirmation"] == "not reproduced"
    assert row["status"] != "regressed"


def test_ab_passes_the_round_min_time_to_every_run(tmp_path, fake_env):
    log = tmp_path / "argv.log"
    same = _wrapper(tmp_path, "same", f'echo "$*" >> {log}')
    settings = ab.AbSettings(rounds=2, confirm_rounds=0, min_time=0.05)
    ab.judge(same, same, RunSpec("tiny"), settings, tmp_path / "r", _gate_args(tmp_path))
    lines = [line for line in log.read_text().splitlines() if "--benchmark_out=" in line]
    assert len(lines) == 12  # 2 rounds x 3 benchmarks x 2 sides
    assert all("--benchmark_min_time=0.05" in line and "--benchmark_repetitions=1" in line for line in lines)


def test_the_confirmation_pass_takes_regressions_and_slower_undecided_rows_only(tmp_path):
    import json
    from benchrun import gate
    rows = [
        {"benchmark": "a", "status": "regressed", "delta_pct": 14.0, "threshold": 0.1},
        {"benchmark": "b", "status": "noise", "delta_pct": 12.0, "threshold": 0.1},
        {"benchmark": "c", "status": "noise", "delta_pct": -12.0, "threshold": 0.1},
        {"benchmark": "d", "status": "unchanged", "delta_pct": 3.0, "threshold": 0.1},
        {"benchmark": "e", "status": "improved", "delta_pct": -20.0, "threshold": 0.1},
        {"benchmark": "f", "status": "unchanged", "delta_pct": 6.0, "threshold": 0.1},  # over half the line
        {"benchmark": "g", "status": "unchanged", "delta_pct": 6.0, "threshold": 0.15},
        {"benchmark": "h", "status": "new", "delta_pct": None, "threshold": 0.1},
    ]
    rows = [dict(r, metric="real_time") for r in rows]
    (tmp_path / "verdict.json").write_text(json.dumps({"rows": rows}))
    assert gate.suspect_benchmarks(tmp_path) == ["a", "b", "f"]


def test_an_unreadable_verdict_is_named(tmp_path):
    from benchrun import gate
    (tmp_path / "verdict.json").write_text("{not json")
    with pytest.raises(BenchRunError, match="cannot read the gate's verdict .*verdict.json"):
        gate.suspect_benchmarks(tmp_path)


def _real_state_bench() -> Path:
    path = os.environ.get("STATE_BENCH")
    if not path or not Path(path).is_file():
        pytest.skip("STATE_BENCH (the built state_bench, set by make test-python) is not available")
    return Path(path)


def test_the_confirmation_filter_selects_exactly_its_names_in_the_real_state_bench():
    # Names with '-' and '.'-free slashes, as the standard-config benchmarks have: a
    # filter escaped for Python's re ("\-") does not even compile in Google Benchmark.
    names = ["state_get_config/mmap/8B-key/128B-val/1K", "state_put_config/inmemory/32B-key/256B-val/100K",
             "state_range/results/10"]
    done = subprocess.run([str(_real_state_bench()), "--profile=quick", "--benchmark_list_tests=true",
                           f"--benchmark_filter={ab.filter_for(names)}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == sorted(names)


def test_the_real_state_bench_fails_when_its_filter_runs_nothing(tmp_path):
    done = subprocess.run([str(_real_state_bench()), "--profile=tiny", "--benchmark_filter=^no-such-benchmark$",
                           f"--benchmark_out={tmp_path / 'out.json'}"], capture_output=True, text=True)
    assert done.returncode == 1
    assert "state_bench: no benchmark ran" in done.stderr


def test_paired_rounds_run_base_and_head_of_each_benchmark_together_on_one_cpu(tmp_path):
    log = tmp_path / "cpus.log"
    record = f'echo "$0 $(grep Cpus_allowed_list /proc/$$/status | cut -f2) $*" >> {log}'
    base, head = _wrapper(tmp_path, "base", record), _wrapper(tmp_path, "head", record)
    usable = tuple(sorted(os.sched_getaffinity(0)))
    base_parts, head_parts = ab.paired_rounds(base, head, ab.Pass(RunSpec("tiny", None, 1), 2, tmp_path / "w", "ab"),
                                              usable)
    runs = [line.split() for line in log.read_text().splitlines() if "--benchmark_out=" in line]
    cpus: dict[tuple[str, str], list[str]] = {}
    for argv in runs:
        side, allowed = Path(argv[0]).name, argv[1]
        name = next(a for a in argv if a.startswith("--benchmark_filter="))
        out = next(a for a in argv if a.startswith("--benchmark_out="))
        assert allowed in {str(c) for c in usable}  # exactly one CPU ...
        assert out.endswith(f"pair-cpu{allowed}-{side}.json")  # ... the one its pair was given
        cpus.setdefault((name, side), []).append(allowed)
    assert len(cpus) == 3 * 2 and all(len(v) == 2 for v in cpus.values())  # 3 benchmarks x 2 sides x 2 rounds
    for name in {n for n, _ in cpus}:
        assert cpus[(name, "base")] == cpus[(name, "head")]  # round by round, base and head shared a CPU
    # Each side's rounds hold every benchmark once, timed by its CPU time.
    assert len(base_parts) == len(head_parts) == 2
    for part in head_parts:
        assert sorted(r["run_name"] for r in part["benchmarks"]) == [
            "state_get_inmemory/1000", "state_put_inmemory/1000", "state_range/results/10"]
        for row in part["benchmarks"]:
            assert row["real_time"] == row["cpu_time"] and "shared_real_time" in row
        assert part["context"]["statestore_ab_schedule"].startswith("paired")


def test_a_benchmark_only_the_head_build_has_runs_alone_and_is_reported_new(tmp_path, fake_env):
    base = _wrapper(tmp_path, "base", "")
    # The head build has one benchmark more: the fake lists it when asked.
    head = _wrapper(tmp_path, "head", "")
    real_list = ab.list_names

    def names(binary, spec):
        found = real_list(binary, spec)
        return found if binary.label == "head" else [n for n in found if n != "state_range/results/10"]

    ab_settings = ab.AbSettings(rounds=6, confirm_rounds=0, min_time=0.01)
    import unittest.mock
    with unittest.mock.patch.object(ab, "list_names", names):
        code = ab.judge(base, head, RunSpec("tiny"), ab_settings, tmp_path / "r", _gate_args(tmp_path))
    assert code == 0
    assert _row(_verdict(tmp_path / "r"), "state_range/results/10")["status"] == "new"


def test_the_sequential_schedule_still_judges_whole_runs(tmp_path, fake_env):
    same = _wrapper(tmp_path, "same", "")
    settings = ab.AbSettings(rounds=6, confirm_rounds=0, min_time=0.01, schedule="sequential")
    assert ab.judge(same, same, RunSpec("tiny"), settings, tmp_path / "r", _gate_args(tmp_path)) == 0
    runs = [line for line in fake_env.read_text().splitlines() if line.startswith("?") and not line.endswith(" list")]
    assert len(runs) == 12  # 6 rounds x 2 sides, each the whole profile


def test_an_unknown_schedule_is_refused(tmp_path):
    same = _wrapper(tmp_path, "same", "")
    with pytest.raises(BenchRunError, match="unknown A/B schedule 'parallel' \\(expected paired or sequential\\)"):
        ab.judge(same, same, RunSpec("tiny"), ab.AbSettings(schedule="parallel"), tmp_path / "r", [])


def test_a_pair_whose_head_crashes_fails_the_ab_with_its_error_and_leaves_nothing_running(tmp_path):
    base = _wrapper(tmp_path, "base", "")
    head = _wrapper(tmp_path, "head", """case "$*" in *list_tests*) ;; *state_put*)
  echo "error: put failed: IOError" >&2; exit 3 ;; esac""")
    with pytest.raises(BenchRunError, match=r"head state_bench exited with 3: .*\(error: put failed: IOError\)"):
        ab.paired_rounds(base, head, ab.Pass(RunSpec("tiny", None, 1), 1, tmp_path / "w", "ab"))
    left = subprocess.run(["pgrep", "-f", str(FAKE)], capture_output=True, text=True).stdout.split()
    assert left == []


def test_both_sides_of_a_round_share_one_hash_seed_and_the_rounds_differ(tmp_path):
    # With a random seed per process, the same binary's 1K-key gets varied by up to 2x across
    # A/A pairs (README.md, "The gate measured"): a pair must compare the builds on one layout.
    log = tmp_path / "seeds.log"
    record = f'echo "$0 ${{STATESTORE_BENCH_HASH_SEED:-unset}} $*" >> {log}'
    base, head = _wrapper(tmp_path, "base", record), _wrapper(tmp_path, "head", record)
    ab.paired_rounds(base, head, ab.Pass(RunSpec("tiny", None, 1), 3, tmp_path / "w", "ab"),
                     tuple(sorted(os.sched_getaffinity(0))))
    seeds: dict[tuple[str, str], list[str]] = {}
    for argv in (line.split() for line in log.read_text().splitlines() if "--benchmark_out=" in line):
        name = next(a for a in argv if a.startswith("--benchmark_filter="))
        seeds.setdefault((name, Path(argv[0]).name), []).append(argv[1])
    assert len(seeds) == 3 * 2
    for (name, side), per_round in seeds.items():
        assert per_round == seeds[(name, "base")]  # round by round, head used base's seed
        assert len(set(per_round)) == 3 and all(s.isdigit() and int(s) > 0 for s in per_round)
    # The confirmation pass draws other seeds than the first pass; a rerun the same ones.
    assert ab.round_seed("confirm", 0) != ab.round_seed("ab", 0) == ab.round_seed("ab", 0)


def test_the_sequential_schedule_gives_each_round_one_seed_too(tmp_path, fake_env):
    log = tmp_path / "seeds.log"
    record = f'echo "$0 ${{STATESTORE_BENCH_HASH_SEED:-unset}}" >> {log}'
    base, head = _wrapper(tmp_path, "base", record), _wrapper(tmp_path, "head", record)
    ab.interleave(base, head, ab.Pass(RunSpec("tiny", None, 1), 2, tmp_path, "ab"))
    rows = [line.split() for line in log.read_text().splitlines()]
    by_round = [{Path(r[0]).name: r[1] for r in rows[i:i + 2]} for i in (0, 2)]
    assert all(r["base"] == r["head"] != "unset" for r in by_round)
    assert by_round[0]["base"] != by_round[1]["base"]


def test_the_real_state_bench_reports_its_hash_seed_and_refuses_a_bad_one(tmp_path):
    out = tmp_path / "out.json"
    argv = [str(_real_state_bench()), "--profile=tiny", "--benchmark_filter=^state_get_zero_alloc$",
            "--benchmark_min_time=0.001", f"--benchmark_out={out}"]
    env = {k: v for k, v in os.environ.items() if k != ab.HASH_SEED_ENV}
    for value, expected in ((None, "random"), ("12345", "12345")):
        if value is not None:
            env[ab.HASH_SEED_ENV] = value
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        assert gbjson.load(out)["context"]["statestore_hash_seed"] == expected
    for bad in ("0", "-1", "12x", "seed", "18446744073709551616"):
        done = subprocess.run(argv, capture_output=True, text=True, env={**env, ab.HASH_SEED_ENV: bad})
        assert done.returncode == 2
        assert f"state_bench: STATESTORE_BENCH_HASH_SEED='{bad}' must be a decimal integer" in done.stderr


def test_each_side_writes_its_benchmark_files_in_its_own_tmpfs_directory(tmp_path):
    # With both sides' files on ext4, an A/A's state_restore/mmap/1MB ratio ranged 0.53-1.94:
    # one side's writeback was charged to the other. On tmpfs there is none (ab.SCRATCH_NOTE).
    root = ab.scratch_root(min_free_bytes=1)
    if root is None:
        pytest.skip("no writable tmpfs at /dev/shm on this machine")
    log = tmp_path / "tmpdirs.log"
    record = f'echo "$0 ${{TMPDIR:-unset}} $*" >> {log}'
    base, head = _wrapper(tmp_path, "base", record), _wrapper(tmp_path, "head", record)
    scratch = ab.Scratch(root)
    try:
        base_parts, _ = ab.paired_rounds(base, head, ab.Pass(RunSpec("tiny", None, 1), 1, tmp_path / "w", "ab"),
                                         tuple(sorted(os.sched_getaffinity(0))), scratch)
        dirs = {side: str(path) for side, path in scratch.dirs.items()}
        assert all(Path(d).is_dir() for d in dirs.values())
    finally:
        scratch.remove()
    assert not any(Path(d).exists() for d in dirs.values())  # removed afterwards
    used: dict[str, set[str]] = {}
    for argv in (line.split() for line in log.read_text().splitlines() if "--benchmark_out=" in line):
        used.setdefault(Path(argv[0]).name, set()).add(argv[1])
    assert used == {"base": {dirs["base"]}, "head": {dirs["head"]}}
    assert dirs["base"] != dirs["head"] and Path(dirs["base"]).parent == root
    assert base_parts[0]["context"]["statestore_ab_scratch"].startswith(f"benchmarks' files on tmpfs ({root})")


def test_large_benchmarks_keep_the_default_tmpdir(tmp_path):
    scratch = ab.Scratch(tmp_path)
    try:
        assert scratch.env("head", "state_get_mmap/10000000") == {}
        assert scratch.env("head", "state_snapshot/mmap/100MB") == {}
        assert scratch.env("head", "state_get_mmap/1000") == {"TMPDIR": str(scratch.dirs["head"])}
    finally:
        scratch.remove()


def test_an_ab_leaves_out_the_peer_benchmarks_of_the_real_state_bench_and_keeps_all_of_ours():
    bench = BenchBinary(_real_state_bench())
    every = runner.list_names(bench, RunSpec("quick"))
    spec, left_out = ab.without_peers(bench, bench, RunSpec("quick", extra_args=["--benchmark_min_time=0.05"]))
    kept = runner.list_names(bench, spec)
    assert left_out == sum(n.startswith("peer_") for n in every) > 0
    assert kept == [n for n in every if not n.startswith("peer_")]
    assert spec.extra_args == ["--benchmark_min_time=0.05"]


def test_a_filter_that_selects_only_peers_runs_them():
    bench = BenchBinary(_real_state_bench())
    spec = RunSpec("quick", "^peer_absl_flat_hash_map_get/1000$")
    assert ab.without_peers(bench, bench, spec) == (spec, 0)


def test_peers_are_rerun_only_when_their_adapters_or_a_link_line_differ():
    from benchrun import pipeline
    assert pipeline.peers_changed(["benches/CMakeFiles/state_bench.dir/peers.cc.o"])
    assert pipeline.peers_changed(["link line of state_bench"])
    assert not pipeline.peers_changed(["core/CMakeFiles/statestore.dir/src/inmemory_state_store.cc.o",
                                       "benches/CMakeFiles/state_bench.dir/state_bench.cc.o"])
    assert not pipeline.peers_changed([])
