"""Same-run A/B: two builds measured in interleaved rounds on one machine.

A wall-time baseline recorded minutes (or machines) away cannot hold a 10% line on
a shared runner: the whole VM slows down by up to 2-3x for minutes at a time. So
the pull-request check measures the base revision and the head revision in the
same job, alternating between them in rounds ordered A B, B A, A B, ... (an ABBA
design cancels a linear drift within each pair of rounds). Each round runs the
whole profile once per binary with one repetition per benchmark; the rounds of
each side are merged into one file and judged by the gate's ordinary rules with
base as the baseline.

Benchmarks the gate flags as regressed are then run again, alone, for more
rounds (confirm-before-fail); their new samples are appended on both sides and
the gate judges again, marking each first-pass regression as confirmed or not
reproduced.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchrun import gbjson
from benchrun.runner import BenchBinary, RunSpec, run


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
        order = (base, head) if round_index % 2 == 0 else (head, base)
        for binary in order:
            log(f"{tag} round {round_index + 1}/{rounds}: {binary.label}")
            data = run(binary, spec, work_dir / f"{tag}-{binary.label}-{round_index}.json", quiet=True)
            (base_parts if binary is base else head_parts).append(data)
    return base_parts, head_parts


def filter_for(names: list[str]) -> str:
    """A --benchmark_filter regex that matches exactly these benchmark names."""
    return "^(" + "|".join(re.escape(n) for n in sorted(names)) + ")$"


def run_ab(base: BenchBinary, head: BenchBinary, spec: RunSpec, rounds: int, work_dir: Path) -> tuple[
        list[dict[str, Any]], list[dict[str, Any]]]:
    spec = RunSpec(spec.profile, spec.filter_regex, 1, spec.extra_args)
    return interleave(base, head, spec, rounds, work_dir, "ab")


def write_sides(base_parts: list[dict[str, Any]], head_parts: list[dict[str, Any]],
                work_dir: Path) -> AbResult:
    result = AbResult(work_dir / "base.json", work_dir / "head.json")
    gbjson.write(gbjson.merge(base_parts), result.base_file)
    gbjson.write(gbjson.merge(head_parts), result.head_file)
    return result
