"""Runs one state_bench binary and returns its parsed JSON."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
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


# A console line of Google Benchmark for the median aggregate of a benchmark
# (one per benchmark when it runs with repetitions), or for a benchmark that
# ended with SkipWithError.
_MEDIAN_LINE = re.compile(r"^(?P<name>\S+)_median\s+(?P<time>[0-9.]+ \S+)")
_ERROR_LINE = re.compile(r"^(?P<name>\S+)\s+ERROR OCCURRED: '(?P<message>.*)'")


def progress_line(console_line: str) -> str | None:
    """The one progress line shown for a state_bench console line, if any:
    each benchmark's median once its repetitions are done, and each skip."""
    if match := _MEDIAN_LINE.match(console_line):
        return f"  {match['name']:<58} {match['time']}"
    if match := _ERROR_LINE.match(console_line):
        return f"  {match['name']:<58} {match['message']}"
    return None


def _with(env: dict[str, str] | None) -> dict[str, str] | None:
    """Our environment plus `env` (None: inherit ours unchanged)."""
    return None if not env else {**os.environ, **env}


def run(binary: BenchBinary, spec: RunSpec, out: Path, quiet: bool = False,
        env: dict[str, str] | None = None) -> dict[str, Any]:
    """Runs `binary` with `spec`, writing JSON to `out`; returns the parsed JSON.
    `env`: variables added to our environment for the program (e.g. its hash seed).

    Unless `quiet`, prints one progress line per benchmark to our stderr (its
    median, or why it was skipped) instead of Google Benchmark's whole table.
    A non-zero exit (with the tail of the program's stderr) or a
    missing/malformed output file raises BenchRunError.
    """
    binary.check()
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(binary.path), *spec.argv(out)]
    with tempfile.TemporaryFile(mode="w+") as errors:
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True,
                                    env=_with(env))
        except OSError as exc:
            raise BenchRunError(f"cannot start {binary.path}: {exc.strerror}") from exc
        assert proc.stdout is not None
        for line in proc.stdout:
            shown = None if quiet else progress_line(line)
            if shown:
                print(shown, file=sys.stderr, flush=True)
        returncode = proc.wait()
        errors.seek(0)
        error_tail = " / ".join(errors.read().strip().splitlines()[-3:])
    if returncode != 0:
        detail = f" ({error_tail})" if error_tail else ""
        raise BenchRunError(
            f"{binary.label} state_bench exited with {returncode}: {' '.join(cmd)}{detail}")
    return gbjson.load(out)


def list_names(binary: BenchBinary, spec: RunSpec) -> list[str]:
    """The benchmark names `binary` would run for `spec` (profile and filter), in
    its order, without running any (--benchmark_list_tests)."""
    binary.check()
    cmd = [str(binary.path), f"--profile={spec.profile}", "--benchmark_list_tests=true"]
    if spec.filter_regex:
        cmd.append(f"--benchmark_filter={spec.filter_regex}")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BenchRunError(f"cannot start {binary.path}: {exc.strerror}") from exc
    if done.returncode != 0:
        # state_bench exits 1 when the filter matches nothing: an empty list, not an error.
        if "no benchmark ran" in done.stderr:
            return []
        tail = " / ".join(done.stderr.strip().splitlines()[-3:])
        raise BenchRunError(f"{binary.label} state_bench could not list its benchmarks ({tail})")
    return done.stdout.split()


class PinnedRun:
    """One state_bench process started in the background, pinned to one CPU."""

    def __init__(self, binary: BenchBinary, spec: RunSpec, out: Path, cpu: int,
                 env: dict[str, str] | None = None) -> None:
        binary.check()
        out.parent.mkdir(parents=True, exist_ok=True)
        self.binary, self.out = binary, out
        self.cmd = [str(binary.path), *spec.argv(out)]
        self._errors = tempfile.TemporaryFile(mode="w+")
        try:
            self._proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=self._errors, env=_with(env),
                                          preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
        except OSError as exc:
            self._errors.close()
            raise BenchRunError(f"cannot start {binary.path}: {exc.strerror}") from exc

    def done(self) -> bool:
        return self._proc.poll() is not None

    def kill(self) -> None:
        """Stops the process (when the other side of its pair failed, or on Ctrl-C)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._errors.close()

    def result(self) -> dict[str, Any]:
        """Waits for the process; its JSON, or BenchRunError as run() would raise."""
        returncode = self._proc.wait()
        self._errors.seek(0)
        error_tail = " / ".join(self._errors.read().strip().splitlines()[-3:])
        self._errors.close()
        if returncode != 0:
            detail = f" ({error_tail})" if error_tail else ""
            raise BenchRunError(f"{self.binary.label} state_bench exited with {returncode}: "
                                f"{' '.join(self.cmd)}{detail}")
        return gbjson.load(self.out)
