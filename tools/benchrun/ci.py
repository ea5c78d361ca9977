"""CI: one message per check with the cause its exit code means, for annotations and
the job summary (`benchrun ci-report`). A check is NAME=CODE=LOG: the exit code of
tools/perf-gate (empty: not run) and the file its output was saved to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from benchrun.errors import BenchRunError
from perfgate.fmt import md_text, workflow_data, workflow_property

CAUSES = {
    0: "passed",
    1: "regression or target breach (exit 1)",
    2: "could not judge: bad input, or a build or run that failed (exit 2)",
}
# The verdict line tools/perf-gate ends with (or its one error line).
_LAST = re.compile(r"^perf-gate: (?:PASS|FAIL|ERROR) .*$", re.MULTILINE)


@dataclass(frozen=True)
class Check:
    name: str
    code: int | None
    line: str


def parse_check(text: str) -> Check:
    parts = text.split("=", 2)
    if len(parts) != 3 or not parts[0]:
        raise BenchRunError(f"--check must be NAME=CODE=LOG, not '{text}'")
    name, code_text, log = parts
    if code_text and not code_text.isdigit():
        raise BenchRunError(f"--check {name}: exit code '{code_text}' is not a number")
    code = int(code_text) if code_text else None
    line = ""
    if log and Path(log).is_file():
        matches = _LAST.findall(Path(log).read_text(errors="replace"))
        line = matches[-1] if matches else ""
    return Check(name, code, line)


def annotation_lines(checks: list[Check]) -> list[str]:
    out = []
    for c in checks:
        if c.code in (1, 2):
            title = workflow_property(f"perf gate ({c.name}): {CAUSES[c.code]}")
            out.append(f"::error title={title}::{workflow_data(c.line or CAUSES[c.code])}")
        elif c.code not in (0, None):
            out.append(f"::error title={workflow_property(f'perf gate ({c.name})')}::"
                       f"{workflow_data(f'exited {c.code}: ' + (c.line or 'see the log'))}")
    return out


def summary(checks: list[Check]) -> str:
    lines = ["### Perf gate checks", "", "| check | result | last line |", "|---|---|---|"]
    for c in checks:
        if c.code is None:
            result = "not run"
        else:
            result = CAUSES.get(c.code, f"exited {c.code}")
        lines.append(f"| {md_text(c.name)} | {md_text(result)} | {md_text(c.line) if c.line else ''} |")
    return "\n".join(lines) + "\n"


def failed(checks: list[Check]) -> bool:
    return any(c.code not in (0, None) for c in checks)
