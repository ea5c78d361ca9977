"""Results: Google Benchmark JSON (1.7, ``--benchmark_out_format=json``), read and written.

Contract: ``load_results`` (and ``parse`` for a document already read) returns a
validated RunData or raises PerfGateError with one line naming the file and the
problem; ``read_document`` returns the raw, validated document for tools that
rewrite it (benchrun merges rounds); ``write_document`` writes one atomically.

What is read: a benchmark is identified by ``run_name`` (``name`` when absent).
Rows with ``run_type: iteration`` are repetitions (``repetition_index``); rows with
``run_type: aggregate`` carry ``aggregate_name`` mean/median (stddev/cv are
recomputed from samples). Times are normalised to nanoseconds. A row with
``error_occurred`` marks the benchmark skipped with its message. Context keys
written by state_bench are named by the CTX_ constants (benches/context.cc).

Samples frame (``RunData.samples``), one row per repetition and metric::

    benchmark  metric       repetition  value
    str        str          int         float (ns for times, count for allocs)

The ``metric`` column is the seam for more metrics: a new counter only needs an
entry in METRIC_FIELDS and a rule in analyse.METRIC_RULES.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perfgate import fileio
from perfgate.errors import PerfGateError

# Google Benchmark time units -> nanoseconds.
TIME_UNITS_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# Metrics read from each row: metric name -> candidate JSON fields, first present wins.
# real_time/cpu_time are scaled by time_unit; counters are taken as they are.
# allocs_per_op falls back to the MemoryManager's allocs_per_iter.
METRIC_FIELDS: dict[str, tuple[str, ...]] = {
    "real_time": ("real_time",),
    "cpu_time": ("cpu_time",),
    "allocs_per_op": ("allocs_per_op", "allocs_per_iter"),
    "p50_ns": ("p50_ns",),
    "p99_ns": ("p99_ns",),
    "p999_ns": ("p999_ns",),
    "instructions_per_op": ("instructions_per_op",),
}
TIME_METRICS = frozenset({"real_time", "cpu_time"})

# Context keys written by state_bench (benches/context.cc).
# library_build_type is deliberately absent: Debian's libbenchmark always says
# "debug" about itself, which says nothing about how statestore was built.
CTX_BUILD_TYPE = "statestore_build_type"
CTX_SANITIZE = "statestore_sanitize"
CTX_PROFILE = "statestore_profile"
CTX_MACHINE = "statestore_machine"
CTX_COMMIT = "statestore_git_commit"
CTX_BRANCH = "statestore_git_branch"
RELEASE_BUILD_TYPES = frozenset({"release", "relwithdebinfo"})

# Longest benchmark name (and skip message) accepted: Google Benchmark names are
# family/args, well under a hundred characters; a megabyte-long name is not a benchmark.
MAX_NAME = 1000

SAMPLE_COLUMNS = ["benchmark", "metric", "repetition", "value"]
AGGREGATE_COLUMNS = ["benchmark", "metric", "statistic", "value"]


@dataclass
class RunData:
    """One results (or baseline) file, loaded and validated."""

    path: str
    context: dict[str, Any]
    samples: pd.DataFrame  # SAMPLE_COLUMNS, from iteration rows
    aggregates: pd.DataFrame  # AGGREGATE_COLUMNS, mean/median aggregate rows
    skipped: dict[str, str]  # benchmark -> error message
    order: list[str]  # benchmarks in file order (incl. skipped)
    meta: dict[str, Any] = field(default_factory=dict)  # baseline keys, if any
    # Seconds each benchmark measured: iterations x real time, summed over its repetitions (rows
    # without a usable iterations count add nothing). The fixture setup outside the timed loop is not in it.
    durations: dict[str, float] = field(default_factory=dict)

    @property
    def benchmarks(self) -> list[str]:
        return self.order

    def ctx(self, key: str, default: str = "") -> str:
        value = self.context.get(key, default)
        return default if value is None else str(value)

    @property
    def profile(self) -> str:
        return str(self.meta.get("profile") or self.ctx(CTX_PROFILE))

    @property
    def machine(self) -> str:
        return str(self.meta.get("machine") or self.ctx(CTX_MACHINE))

    @property
    def commit(self) -> str:
        return str(self.meta.get("commit") or self.ctx(CTX_COMMIT))

    @property
    def date(self) -> str:
        return str(self.meta.get("recorded_at") or self.ctx("date"))

    def has(self, benchmark: str) -> bool:
        return benchmark in self._measured

    def __post_init__(self) -> None:
        names = set(self.samples["benchmark"].unique()) | set(self.aggregates["benchmark"].unique())
        self._measured = names
        self._aggregate_only = names - set(self.samples["benchmark"].unique())
        # Grouped once, in bulk (pandas' group indices and medians are computed in C):
        # per-group Python work would dominate a 35,000-benchmark file.
        grouped = self.samples.groupby(["benchmark", "metric"], sort=False)
        values = self.samples["value"].to_numpy(dtype=float)
        reps = self.samples["repetition"].to_numpy()
        indices = grouped.indices if len(self.samples) else {}
        self._groups: dict[tuple[str, str], np.ndarray] = {key: values[idx] for key, idx in indices.items()}
        self._reps: dict[tuple[str, str], np.ndarray] = {key: reps[idx] for key, idx in indices.items()}
        self._medians: dict[tuple[str, str], float] = (grouped["value"].median().to_dict()
                                                       if len(self.samples) else {})
        self._aggs = {(b, m, s): v for b, m, s, v in self.aggregates.itertuples(index=False)}
        self._metrics: dict[str, set[str]] = {}
        for b, m in list(self._groups) + [(b, m) for (b, m, _s) in self._aggs]:
            self._metrics.setdefault(b, set()).add(m)

    def is_aggregate_only(self, benchmark: str) -> bool:
        return benchmark in self._aggregate_only

    def values(self, benchmark: str, metric: str) -> np.ndarray:
        """Per-repetition values (numpy array, possibly empty) of one benchmark and metric."""
        return self._groups.get((benchmark, metric), np.empty(0))

    def samples_by_repetition(self, benchmark: str, metric: str) -> dict[int, float]:
        """{repetition_index: value} of one benchmark and metric (A/B rounds pair by index)."""
        values = self._groups.get((benchmark, metric), np.empty(0))
        reps = self._reps.get((benchmark, metric), np.empty(0))
        return dict(zip((int(r) for r in reps), (float(v) for v in values)))

    def center(self, benchmark: str, metric: str) -> float | None:
        """The median of the repetitions; for aggregate-only results the median
        aggregate, else the mean; None when the benchmark has no such metric."""
        median = self._medians.get((benchmark, metric))
        if median is not None:
            return float(median)
        for stat in ("median", "mean"):
            value = self.aggregate(benchmark, metric, stat)
            if value is not None:
                return value
        return None

    def aggregate(self, benchmark: str, metric: str, statistic: str) -> float | None:
        return self._aggs.get((benchmark, metric, statistic))

    def metrics_of(self, benchmark: str) -> set[str]:
        return self._metrics.get(benchmark, set())


# --------------------------------------------------------------------------- reading

def load_results(path: Path | str, *, what: str = "results", require_release: bool = True) -> RunData:
    """Loads and validates a Google Benchmark JSON results file."""
    path = Path(path)
    return parse(fileio.read_json(path, what), path, what, require_release=require_release)


def read_document(path: Path | str, what: str = "results") -> dict[str, Any]:
    """The raw document of a results file, after the same validation as load_results
    (Release build not required): for tools that rewrite it."""
    path = Path(path)
    doc = fileio.read_json(path, what)
    parse(doc, path, what, require_release=False)
    return doc


def write_document(doc: dict[str, Any], path: Path | str) -> None:
    """Writes a Google Benchmark JSON document atomically."""
    fileio.write_atomic(Path(path), json.dumps(doc, indent=1) + "\n")


def parse(doc: Any, path: Path, what: str, *, require_release: bool) -> RunData:
    """Validates a parsed Google Benchmark document and turns it into RunData."""
    rows = _benchmark_rows(doc, path, what)
    context = doc.get("context", {})
    if not isinstance(context, dict):
        raise PerfGateError(f"{what} file {path}: 'context' is not an object")
    if require_release:
        _require_release(context, path, what)
    acc = _Rows(path, what)
    for i, row in enumerate(rows):
        acc.add(i, row)
    return acc.run_data(context)


def require_measured(run: RunData, what: str = "results") -> None:
    """Refuses a run in which no benchmark was measured (every one skipped itself):
    there is nothing to judge or to keep, and a PASS would be a lie."""
    if run.skipped and not any(run.has(name) for name in run.order):
        first = next(iter(run.skipped.items()))
        raise PerfGateError(f"{what} file {run.path} measured nothing: all {len(run.order)} benchmarks skipped "
                            f"themselves (first: {first[0]}: {first[1]})")


def _benchmark_rows(doc: Any, path: Path, what: str) -> list[Any]:
    if not isinstance(doc, dict) or "benchmarks" not in doc:
        raise PerfGateError(f"{what} file {path} is not Google Benchmark JSON (no 'benchmarks' list)")
    rows = doc["benchmarks"]
    if not isinstance(rows, list):
        raise PerfGateError(f"{what} file {path} is not Google Benchmark JSON ('benchmarks' is not a list)")
    if not rows:
        raise PerfGateError(f"{what} file {path} has no benchmarks")
    return rows


def _require_release(context: dict[str, Any], path: Path, what: str) -> None:
    build_type = context.get(CTX_BUILD_TYPE)
    if build_type is not None and str(build_type).lower() not in RELEASE_BUILD_TYPES:
        raise PerfGateError(
            f"{what} file {path} comes from a {build_type!r} build of statestore "
            f"(context {CTX_BUILD_TYPE}); timings need a Release build"
        )
    # A Release build with ASan/UBSan is Release in name only: state_bench warns about it
    # and promises that the gate refuses it.
    if str(context.get(CTX_SANITIZE, "")).lower() == "on":
        raise PerfGateError(
            f"{what} file {path} comes from a statestore build with sanitizers on "
            f"(context {CTX_SANITIZE}); timings need a build without them"
        )


def _short(value: Any) -> str:
    """repr of a bad value for an error message, cut to one short line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Rows:
    """Accumulates the rows of one file into samples, aggregates and skips."""

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what
        self.samples: list[tuple[str, str, int, float]] = []
        self.aggregates: list[tuple[str, str, str, float]] = []
        self.skipped: dict[str, str] = {}
        self.order: list[str] = []
        self._seen_order: set[str] = set()
        self._seen_reps: set[tuple[str, int]] = set()
        self._seen_aggs: set[tuple[str, str]] = set()
        self._next_rep: dict[str, int] = {}
        self.durations: dict[str, float] = {}

    def _error(self, message: str) -> PerfGateError:
        return PerfGateError(f"{self.what} file {self.path}: {message}")

    def add(self, i: int, row: Any) -> None:
        if not isinstance(row, dict):
            raise self._error(f"benchmarks[{i}] is not an object")
        name = row.get("run_name") or row.get("name")
        if not isinstance(name, str) or not name:
            raise self._error(f"benchmarks[{i}] has no run_name")
        if len(name) > MAX_NAME:
            raise self._error(f"benchmarks[{i}] has a run_name of {len(name):,} characters (at most {MAX_NAME:,})")
        if name not in self._seen_order:
            self._seen_order.add(name)
            self.order.append(name)
        if row.get("error_occurred"):
            message = row.get("error_message")
            self.skipped[name] = str(message)[:MAX_NAME] if message else "error_occurred without a message"
            return
        unit = row.get("time_unit", "ns")
        if not isinstance(unit, str) or unit not in TIME_UNITS_NS:
            raise self._error(f"benchmark {name!r} has unknown time_unit {_short(unit)}")
        if row.get("run_type", "iteration") == "aggregate":
            self._add_aggregate(name, row, TIME_UNITS_NS[unit])
        else:
            self._add_repetition(name, row, TIME_UNITS_NS[unit])

    def _add_aggregate(self, name: str, row: dict[str, Any], scale: float) -> None:
        stat = row.get("aggregate_name")
        if stat not in ("mean", "median"):
            return  # stddev/cv: recomputed from samples when we have them
        if (name, stat) in self._seen_aggs:
            raise self._error(f"benchmark {name!r} has two {stat} aggregates")
        self._seen_aggs.add((name, stat))
        for metric, value in self._metrics(row, scale, name):
            self.aggregates.append((name, metric, stat, value))

    def _add_repetition(self, name: str, row: dict[str, Any], scale: float) -> None:
        rep = row.get("repetition_index")
        if rep is None:
            rep = self._next_rep.get(name, 0)
        if isinstance(rep, bool) or not isinstance(rep, int) or rep < 0:
            raise self._error(f"benchmark {name!r} has a bad repetition_index {_short(rep)}")
        self._next_rep[name] = max(self._next_rep.get(name, 0), rep + 1)
        if (name, rep) in self._seen_reps:
            raise self._error(f"duplicate benchmark {name!r} repetition {rep} "
                              "(same run_name and repetition_index twice)")
        self._seen_reps.add((name, rep))
        for metric, value in self._metrics(row, scale, name):
            self.samples.append((name, metric, rep, value))
            if metric == "real_time":
                self._add_duration(name, row.get("iterations"), value)

    def _add_duration(self, name: str, iterations: Any, real_time_ns: float) -> None:
        count = fileio.as_number(iterations)
        if count is not None and 0 <= count < math.inf:
            self.durations[name] = self.durations.get(name, 0.0) + count * real_time_ns * 1e-9

    def _metrics(self, row: dict[str, Any], scale: float, name: str) -> list[tuple[str, float]]:
        if "real_time" not in row:
            raise self._error(f"benchmark {name!r} has a row without real_time (every measured row has one)")
        out = []
        for metric, fields in METRIC_FIELDS.items():
            for fld in fields:
                if fld in row:
                    raw = row[fld]
                    break
            else:
                continue
            value = fileio.as_number(raw)
            if value is None:
                raise self._error(f"benchmark {name!r} has a non-numeric or out-of-range {metric}: {_short(raw)}")
            if math.isnan(value):
                if metric in TIME_METRICS:
                    raise self._error(f"benchmark {name!r} has a NaN {metric}")
                continue  # GB writes NaN for counters it cannot aggregate; not a measurement
            if value < 0 or math.isinf(value):
                raise self._error(f"benchmark {name!r} has a negative or infinite {metric} ({value})")
            out.append((metric, value * scale if metric in TIME_METRICS else value))
        return out

    def run_data(self, context: dict[str, Any]) -> RunData:
        measured = {s[0] for s in self.samples} | {a[0] for a in self.aggregates}
        if not measured and not self.skipped:
            raise PerfGateError(f"{self.what} file {self.path} has no benchmarks")
        # A benchmark that errored in some repetitions but ran in others is not skipped.
        skipped = {name: msg for name, msg in self.skipped.items() if name not in measured}
        return RunData(
            path=str(self.path),
            context=context,
            samples=pd.DataFrame(self.samples, columns=SAMPLE_COLUMNS),
            aggregates=pd.DataFrame(self.aggregates, columns=AGGREGATE_COLUMNS),
            skipped=skipped,
            order=self.order,
            durations={name: secs for name, secs in self.durations.items() if math.isfinite(secs)},
        )
