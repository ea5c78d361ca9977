"""benchrun selftest: the table it publishes is computed from the trials it ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchrun import selftest
from benchrun.errors import BenchRunError
from benchrun.selftest import Trial


def _trial(mode: str, pct: int, index: int, code: int, status: str, delta: float, seconds: float = 5.0,
           others: list[str] | None = None) -> Trial:
    return Trial(mode, pct, index, code, status, delta, others or [], seconds)


def test_the_summary_counts_false_alarms_catches_and_failures_elsewhere():
    trials = [
        _trial("ab", 0, 0, 0, "unchanged", 0.5),
        _trial("ab", 0, 1, 1, "unchanged", -1.0, others=["state_get_mmap/1000"]),  # a false alarm elsewhere
        _trial("ab", 15, 0, 1, "regressed", 16.0, 9.0),
        _trial("ab", 15, 1, 0, "noise", 13.0, 7.0),
        _trial("instructions", 0, 0, 0, "unchanged", 0.0, 1.5),
    ]
    rows = {(r["mode"], r["case"]): r for r in selftest.summarise(trials)}
    assert list(rows) == [("ab", "A/A"), ("ab", "+15%"), ("instructions", "A/A")]
    aa = rows[("ab", "A/A")]
    assert (aa["trials"], aa["failed"], aa["other_failures"]) == (2, 1, 1)
    slow = rows[("ab", "+15%")]
    assert (slow["failed"], slow["caught"]) == (1, 1)
    assert (slow["target_delta_min_pct"], slow["target_delta_median_pct"], slow["target_delta_max_pct"]) == \
        (13.0, 14.5, 16.0)
    assert slow["seconds_median"] == 8.0


def test_the_markdown_table_has_a_row_per_mode_and_case(tmp_path):
    trials = [_trial("baseline", 0, 0, 1, "regressed", 40.0), _trial("baseline", 25, 0, 1, "regressed", 60.0)]
    config = selftest.Config(Path("."), tmp_path, tmp_path)
    text = selftest.markdown(selftest.summarise(trials), config, "a machine", "today")
    assert "| baseline | A/A | 1 | 1/1 |  | 0 | +40.0 / +40.0 / +40.0 | 5.0 |" in text
    assert "| baseline | +25% | 1 | 1/1 | 1/1 | 0 | +60.0 / +60.0 / +60.0 | 5.0 |" in text
    assert f"Target `{selftest.DEFAULT_TARGET}`" in text


def test_the_target_is_not_repeated_among_its_companions(tmp_path):
    config = selftest.Config(Path("."), tmp_path, tmp_path, target="state_get_mmap/1000")
    assert config.names.count("state_get_mmap/1000") == 1
    assert config.filter_regex.startswith("^(") and "state_get_mmap/1000" in config.filter_regex


def test_an_unknown_mode_is_refused_before_anything_is_built(tmp_path):
    config = selftest.Config(Path("."), tmp_path / "build", tmp_path / "work")
    with pytest.raises(BenchRunError, match="unknown self-test mode 'fast'"):
        selftest.run_selftest(config, ["fast"], [0, 15], 1)
    assert not (tmp_path / "build").exists()


def test_a_whole_profile_self_test_runs_every_benchmark_and_says_so(tmp_path):
    config = selftest.Config(Path("."), tmp_path, tmp_path, whole_profile=True)
    assert config.filter_regex is None
    text = selftest.markdown([], config, "a machine", "today")
    assert "every benchmark of the `quick` profile" in text
    assert "companions" not in text


def test_the_aa_case_compares_two_builds_from_two_checkouts_not_one_binary(tmp_path, monkeypatch):
    import subprocess
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "t@example.com"],
                 ["config", "user.name", "t"], ["commit", "-q", "--allow-empty", "-m", "one"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    built: list[tuple[int, Path, str]] = []

    def fake_build(config, pct, source=None, suffix=""):
        built.append((pct, source, suffix))
        out = tmp_path / f"out-{pct}{suffix}"
        return selftest.Variant(pct, out / "state_bench", out / "state_instr")

    judged: list[tuple[Path, Path]] = []

    class FakeRunner:
        def __init__(self, config, reference, targets):
            self.reference = reference

        def prepare(self, mode):
            pass

        def trial(self, mode, variant, index):
            judged.append((self.reference.bench, variant.bench))
            return _trial(mode, variant.slowdown_pct, index, 0, "unchanged", 0.0)

    monkeypatch.setattr(selftest, "build_variant", fake_build)
    monkeypatch.setattr(selftest, "Runner", FakeRunner)
    monkeypatch.setattr(selftest.instr, "context_of", lambda path: {"statestore_machine": "m"})
    config = selftest.Config(repo, tmp_path / "build", tmp_path / "work")
    selftest.run_selftest(config, ["ab"], [0, 15], 1)
    src_a, src_b = (tmp_path / "build" / "selftest-src-a").resolve(), (tmp_path / "build" / "selftest-src-b").resolve()
    assert (src_a / ".git").exists() and (src_b / ".git").exists()
    assert built == [(0, src_a, ""), (0, src_b, "-b"), (15, src_b, "")]
    a, aa_b = judged[0]
    assert a == tmp_path / "out-0" / "state_bench" and aa_b == tmp_path / "out-0-b" / "state_bench"
