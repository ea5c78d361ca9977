"""verdict.json: the machine-readable verdict of ``perfgate check``, written and read.

Format (format_version 1; files without the key are read as version 1)::

    {"format_version": 1, "verdict": "pass"|"fail", "exit_code": 0|1, "headline": str,
     "mode": "baseline"|"ab", "profile": str, "threshold": float, "alpha": float,
     "fail_on_timing": bool, "cross_machine": bool, "warnings": [str], "counts": {status: int},
     "rows": [{"benchmark", "metric", "status", "fails", "baseline", "current", "delta_pct",
               "p_value", "threshold", "n_baseline", "n_current", "note", "cross_machine",
               "confirmation", "paired"}],
     "targets": [{"benchmark", "metric", "limit", "unit", "status", "fails", "value", "source", "note"}],
     "results": {...}, "baseline": {...} | null, "instructions": {...} | null,
     "diff_profile": {"path", "status", "reason", "contributors": {benchmark: str}} | null}

Contract: ``dumps`` serialises a Verdict (no NaN: non-finite numbers become null);
``load_verdict`` returns the validated document or raises PerfGateError with one
line naming the file and the problem (every row's types are checked, so callers may
index it freely); ``load_instruction_verdict``, ``confirm_statuses`` and
``suspects`` are the readers that the CLI and benchrun use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfgate import fileio, status
from perfgate.errors import PerfGateError

if TYPE_CHECKING:
    from perfgate.decide import Verdict
    from perfgate.results import RunData

FORMAT_VERSION = 1
INSTRUCTION_METRIC = "instructions_per_op"
MISSING_HINT_INSTRUCTIONS = (" (the instruction-count check writes it: "
                             "make perf-gate PROFILE=instructions REPORT_DIR=reports/instructions)")

_ROW_NUMBERS = ("baseline", "current", "delta_pct", "p_value", "threshold")
_TARGET_NUMBERS = ("value",)


@dataclass(frozen=True)
class InstructionRow:
    """One benchmark of an instruction-count verdict, as that verdict judged it."""

    benchmark: str
    status: str  # unchanged | regressed | improved | new | missing | skipped
    baseline: float | None  # instructions per operation
    current: float | None
    delta_pct: float | None
    threshold: float | None  # fraction, e.g. 0.02
    fails: bool = False
    note: str = ""


@dataclass(frozen=True)
class InstructionVerdict:
    """The verdict.json of an instruction-count `perfgate check` (--instructions).

    Shown beside the wall-time verdict; it never changes that verdict or its exit code."""

    path: str
    verdict: str  # pass | fail
    headline: str  # that check's own verdict line
    counts: dict[str, int]
    rows: dict[str, InstructionRow]  # benchmark -> row, in the file's order

    @property
    def thresholds(self) -> list[float]:
        """The distinct thresholds of the rows, ascending (one, 0.02, unless overridden)."""
        return sorted({r.threshold for r in self.rows.values() if r.threshold is not None})


# --------------------------------------------------------------------------- writing

def document(verdict: Verdict, run: RunData, baseline: RunData | None,
             instructions: InstructionVerdict | None = None, profile: dict[str, Any] | None = None) -> dict[str, Any]:
    """The verdict.json document of `verdict`."""
    doc: dict[str, Any] = {"format_version": FORMAT_VERSION, **verdict.to_dict()}
    doc["results"] = {"path": run.path, "commit": run.commit, "machine": run.machine, "profile": run.profile}
    doc["baseline"] = None if baseline is None else {
        "path": baseline.path, "commit": baseline.commit, "machine": baseline.machine, "profile": baseline.profile,
        "recorded_at": baseline.date}
    # Shown beside the wall-time verdict, not part of it: "verdict" and "exit_code" above ignore it.
    doc["instructions"] = None if instructions is None else {
        "path": instructions.path, "verdict": instructions.verdict, "headline": instructions.headline,
        "counts": instructions.counts}
    # The differential profile (profile_view.verdict_entry) explains rows; it is not part of the verdict either.
    doc["diff_profile"] = profile
    return doc


def dumps(verdict: Verdict, run: RunData, baseline: RunData | None,
          instructions: InstructionVerdict | None = None, profile: dict[str, Any] | None = None) -> str:
    """verdict.json's text."""
    return json.dumps(document(verdict, run, baseline, instructions, profile), indent=1, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- reading

def load_verdict(path: Path | str, what: str = "verdict", missing_hint: str = "") -> dict[str, Any]:
    """The validated verdict.json document (see the module docstring)."""
    path = Path(path)
    doc = fileio.read_json(path, what, missing_hint, benchmark_output=False)
    return validate(doc, path, what)


def validate(doc: Any, path: Path, what: str = "verdict") -> dict[str, Any]:
    """Checks the shape and types of a verdict document; returns it."""
    if isinstance(doc, dict) and "benchmarks" in doc and "rows" not in doc:
        raise PerfGateError(f"{what} file {path} is Google Benchmark results, not a perfgate verdict.json "
                            "(pass the verdict.json that perfgate check wrote for them)")
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise PerfGateError(f"{what} file {path} is not a perfgate verdict.json (no 'rows' list)")
    version = doc.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise PerfGateError(f"{what} file {path} has format_version {version!r}; "
                            f"this perfgate reads format_version {FORMAT_VERSION}")
    for key in ("verdict", "headline", "mode"):
        if key in doc and not isinstance(doc[key], str):
            raise PerfGateError(f"{what} file {path}: '{key}' is not a string")
    if "verdict" in doc and doc["verdict"] not in ("pass", "fail"):
        raise PerfGateError(f"{what} file {path}: 'verdict' is {doc['verdict']!r}, not 'pass' or 'fail'")
    for i, row in enumerate(doc["rows"]):
        _check_row(row, f"{what} file {path}: rows[{i}]", status.RELATIVE, _ROW_NUMBERS)
    targets = doc.get("targets", [])
    if not isinstance(targets, list):
        raise PerfGateError(f"{what} file {path}: 'targets' is not a list")
    for i, row in enumerate(targets):
        _check_row(row, f"{what} file {path}: targets[{i}]", status.TARGET, _TARGET_NUMBERS + ("limit",))
        if row.get("limit") is None:
            raise PerfGateError(f"{what} file {path}: targets[{i}] ({row['benchmark']}) has no limit")
    return doc


def _check_row(row: Any, where: str, statuses: frozenset[str], numbers: tuple[str, ...]) -> None:
    if not isinstance(row, dict) or not isinstance(row.get("benchmark"), str) \
            or not isinstance(row.get("status"), str) or not isinstance(row.get("metric"), str):
        raise PerfGateError(f"{where} is not a verdict row (needs benchmark, metric and status)")
    where = f"{where} ({row['benchmark']})"
    if row["status"] not in statuses:
        raise PerfGateError(f"{where} has unknown status {row['status']!r}")
    for key in numbers:
        value = row.get(key)
        if value is not None and fileio.as_number(value) is None:
            raise PerfGateError(f"{where} has a non-numeric {key}: {_short(value)}")
    for key in ("note", "source", "confirmation", "unit"):
        value = row.get(key)
        if value is not None and not isinstance(value, str):
            raise PerfGateError(f"{where} has a non-text {key}: {_short(value)}")
    if not isinstance(row.get("fails", False), bool):
        raise PerfGateError(f"{where}: 'fails' is not true or false")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def confirm_statuses(path: Path | str) -> dict[str, str]:
    """{benchmark: status} of the wall-time rows of a first-pass verdict (--confirm-from)."""
    doc = load_verdict(path, "first-pass verdict")
    return {row["benchmark"]: row["status"] for row in doc["rows"]
            if row["metric"] == "real_time"}


def suspects(path: Path | str) -> list[str]:
    """The benchmarks of a first-pass verdict that a confirmation pass should run again
    (status.is_suspect), sorted by name."""
    doc = load_verdict(path)
    return sorted({row["benchmark"] for row in doc["rows"]
                   if status.is_suspect(row["status"], row.get("delta_pct"), row.get("threshold"))})


def load_instruction_verdict(path: Path | str) -> InstructionVerdict:
    """Loads the verdict.json of an instruction-count `perfgate check` (benchrun instr results).

    Its instructions_per_op rows are kept; in an instruction run, decide() labels the rows of
    missing and skipped benchmarks with the placeholder metric real_time, so those are kept
    too when every other row is an instructions_per_op row."""
    path = Path(path)
    what = "instruction verdict"
    doc = fileio.read_json(path, what, MISSING_HINT_INSTRUCTIONS, benchmark_output=False)
    if isinstance(doc, dict) and "benchmarks" in doc and "rows" not in doc:
        validate(doc, path, what)  # raises: results, not a verdict
    keys = ("verdict", "headline", "rows")
    absent = [k for k in keys if k not in doc] if isinstance(doc, dict) else list(keys)
    if absent:
        raise PerfGateError(f"{what} file {path} is not a perfgate verdict.json "
                            f"(no {', '.join(repr(k) for k in absent)})")
    if doc["verdict"] not in ("pass", "fail") or not isinstance(doc["headline"], str) \
            or not isinstance(doc["rows"], list):
        raise PerfGateError(f"{what} file {path} is not a perfgate verdict.json "
                            "(bad 'verdict', 'headline' or 'rows')")
    validate(doc, path, what)
    rows = [_instruction_row(raw) for raw in doc["rows"]]
    judged = [r for r, raw in zip(rows, doc["rows"]) if raw["metric"] == INSTRUCTION_METRIC]
    if not judged:
        raise PerfGateError(f"{what} file {path} has no {INSTRUCTION_METRIC} rows: it is the verdict of a "
                            "wall-time run, not of an instruction-count run (make perf-gate PROFILE=instructions)")
    placeholders = [r for r, raw in zip(rows, doc["rows"]) if raw["metric"] != INSTRUCTION_METRIC]
    if all(r.status in (status.MISSING, status.SKIPPED) for r in placeholders):
        judged = rows  # file order
    counts = doc.get("counts") if isinstance(doc.get("counts"), dict) else {}
    return InstructionVerdict(str(path), doc["verdict"], doc["headline"],
                              {str(k): v for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)},
                              {r.benchmark: r for r in judged})


def _instruction_row(raw: dict[str, Any]) -> InstructionRow:
    numbers = {key: None if raw.get(key) is None else float(raw[key])
               for key in ("baseline", "current", "delta_pct", "threshold")}
    return InstructionRow(raw["benchmark"], raw["status"], fails=bool(raw.get("fails")),
                          note=str(raw.get("note") or ""), **numbers)
