"""Same-run A/B: two builds measured in interleaved rounds on one machine.

A wall-time baseline recorded minutes (or machines) away cannot hold a 10% line on
a shared runner: the whole VM slows down by up to 2-3x for minutes at a time. So
the pull-request check measures the base revision and the head revision in the
same job, alternating between them in rounds ordered A B, B A, A B, ... (an ABBA
design cancels a linear drift within each pair of rounds). Each round runs the
whole profile once per binary with one repetition per benchmark; the rounds of
each side are merged into one file and judged by the gate's ordinary rules with
base as the baseline.

Benchmarks the gate flags as regressed, and those whose first-pass estimate is
slower by more than half the threshold without being judged regressed (six
rounds cannot tell a real +10% from a noisy +6% on this VM), are then run
again, alone, for more rounds (confirm-before-fail);
their new samples are appended on both sides and the gate judges again on all
of them, marking each first-pass regression as confirmed or not reproduced.
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchrun import gate, gbjson
from benchrun.runner import BenchBinary, RunSpec, run

# Rounds of the interleaved A/B. Five samples per side is the fewest for which a
# two-sided Mann-Whitney U test can reach p < 0.05 with room to spare (the
# smallest attainable two-sided p with 5 vs 5 is 0.008); more rounds cost time
# linearly. The confirmation re-run adds CONFIRM_ROUNDS for flagged benchmarks only
# (a filtered run costs a second or two, not a whole profile, so it can afford more:
# 16 pairs let the signed-rank test shrug off an outlier round or two).
DEFAULT_ROUNDS = 6
CONFIRM_ROUNDS = 10
# Google Benchmark --benchmark_min_time of each A/B round (one repetition per
# round). Half the quick profile's 0.1 s: the A/B draws its statistical power
# from the rounds, and the quick profile then takes about 16 s per round here,
# so 6 rounds x 2 builds fit in about 3.5 minutes.
DEFAULT_MIN_TIME = 0.05


@dataclass(frozen=True)
class AbResult:
    base_file: Path
    head_file: Path


def log(msg: str) -> None:
    print(f"benchrun: {msg}", file=sys.stderr, flush=True)


def interleave(base: BenchBinary, head: BenchBinary, spec: RunSpec, rounds: int,
               work_dir: Path, tag: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Runs `rounds` ABBA-ordered rounds; returns the per-round JSON of each side."""
    base_parts: list[dict[str, Any]] = []
    head_parts: list[dict[str, Any]] = []
    for round_index in range(rounds):
        sides = [("base", base, base_parts), ("head", head, head_parts)]
        if round_index % 2 == 1:
            sides.reverse()
        for side, binary, parts in sides:
            log(f"{tag} round {round_index + 1}/{rounds}: {side} ({binary.label})")
            parts.append(run(binary, spec, work_dir / f"{tag}-{side}-{round_index}.json", quiet=True))
    return base_parts, head_parts


# Characters special in a POSIX extended regex, the dialect Google Benchmark
# 1.7 compiles --benchmark_filter in. re.escape() is no use here: it also
# escapes '-', and "\-" is an invalid escape in that dialect.
_ERE_SPECIAL = re.compile(r"([.\[\]()*+?{}|^$\\])")


def filter_for(names: list[str]) -> str:
    """A --benchmark_filter regex (POSIX extended) that matches exactly these benchmark names."""
    return "^(" + "|".join(_ERE_SPECIAL.sub(r"\\\1", n) for n in sorted(names)) + ")$"


@dataclass(frozen=True)
class AbSettings:
    rounds: int = DEFAULT_ROUNDS
    confirm_rounds: int = CONFIRM_ROUNDS
    min_time: float | None = DEFAULT_MIN_TIME


def judge(base: BenchBinary, head: BenchBinary, spec: RunSpec, settings: AbSettings, report_dir: Path,
          gate_args: list[str], quiet_gate: bool = False) -> int:
    """The whole same-run A/B: interleaved rounds, the gate, and a confirmation
    pass for whatever the first judgement flagged. Returns the gate's exit code
    (verdict.json in `report_dir` holds the details)."""
    work = report_dir / "ab"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    extra = list(spec.extra_args)
    if settings.min_time is not None:
        extra.append(f"--benchmark_min_time={settings.min_time:g}")
    spec = RunSpec(spec.profile, spec.filter_regex, 1, extra)
    quiet = ["--quiet"] if quiet_gate else []
    base_parts, head_parts = interleave(base, head, spec, settings.rounds, work, "ab")
    sides = write_sides(base_parts, head_parts, work)
    code = gate.check(sides.base_file, sides.head_file, report_dir, ["--mode", "ab", *quiet, *gate_args])
    if code == 2 or settings.confirm_rounds <= 0:
        return code
    flagged = gate.suspect_benchmarks(report_dir)
    if not flagged:
        return code
    log(f"confirming {len(flagged)} regressed or undecided benchmark(s): {', '.join(flagged)}")
    first_verdict = work / "verdict-first-pass.json"
    shutil.copyfile(report_dir / "verdict.json", first_verdict)
    confirm_spec = RunSpec(spec.profile, filter_for(flagged), 1, extra)
    more_base, more_head = interleave(base, head, confirm_spec, settings.confirm_rounds, work, "confirm")
    sides = write_sides(base_parts + more_base, head_parts + more_head, work)
    return gate.check(sides.base_file, sides.head_file, report_dir,
                      ["--mode", "ab", "--confirm-from", str(first_verdict), *quiet, *gate_args])


def write_sides(base_parts: list[dict[str, Any]], head_parts: list[dict[str, Any]],
                work_dir: Path) -> AbResult:
    result = AbResult(work_dir / "base.json", work_dir / "head.json")
    gbjson.write(gbjson.merge(base_parts), result.base_file)
    gbjson.write(gbjson.merge(head_parts), result.head_file)
    return result
