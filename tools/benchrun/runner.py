"""Runs one state_bench binary and returns its parsed JSON."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchrun import gbjson
from benchrun.errors import BenchRunError


@dataclass(frozen=True)
class BenchBinary:
    """A state_bench executable and the label it carries in logs ("base", "head")."""

    path: Path
    label: str = "head"

    def check(self) -> None:
        if not self.path.is_file():
            raise BenchRunError(f"{self.label} benchmark binary not found: {self.path} (build it first)")


@dataclass
class RunSpec:
    """What to run: a profile, optionally narrowed and with extra Google Benchmark flags."""

    profile: str
    filter_regex: str | None = None
    repetitions: int | None = None
    extra_args: list[str] = field(default_factory=list)

    def argv(self, out: Path) -> list[str]:
        args = [f"--profile={self.profile}", f"--benchmark_out={out}", "--benchmark_out_format=json"]
        if self.filter_regex:
            args.append(f"--benchmark_filter={self.filter_regex}")
        if self.repetitions is not None:
            args.append(f"--benchmark_repetitions={self.repetitions}")
        return args + list(self.extra_args)


def run(binary: BenchBinary, spec: RunSpec, out: Path, quiet: bool = False) -> dict[str, Any]:
    """Runs `binary` with `spec`, writing JSON to `out`; returns the parsed JSON.

    Console output of state_bench goes to our stderr unless `quiet`. A non-zero
    exit or a missing/malformed output file raises BenchRunError.
    """
    binary.check()
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(binary.path), *spec.argv(out)]
    sink = subprocess.DEVNULL if quiet else sys.stderr
    try:
        completed = subprocess.run(cmd, stdout=sink, stderr=sink, check=False)
    except OSError as exc:
        raise BenchRunError(f"cannot start {binary.path}: {exc.strerror}") from exc
    if completed.returncode != 0:
        raise BenchRunError(
            f"{binary.label} state_bench exited with {completed.returncode}: {' '.join(cmd)}")
    return gbjson.load(out)
