"""Loading: Google Benchmark JSON, perfgate baselines and the target table.

Everything perfgate reads enters here and leaves as plain data (pandas frames and
small dataclasses); every way a file can be wrong raises PerfGateError with one
line naming the file and the problem. No other module opens an input file.

Results (Google Benchmark 1.7 JSON, ``--benchmark_out_format=json``)
    A benchmark is identified by ``run_name``. Rows with ``run_type: iteration``
    are repetitions (``repetition_index``); rows with ``run_type: aggregate`` carry
    ``aggregate_name`` mean/median/stddev/cv. Times are normalised to nanoseconds.
    A row with ``error_occurred`` marks the benchmark skipped with its message.

Baseline file (format_version 1)
    A Google Benchmark JSON document (``context`` + ``benchmarks``, unchanged) with
    perfgate's own keys added at the top level::

        {"format_version": 1, "profile": "quick", "machine": "<fingerprint>",
         "commit": "<sha>", "recorded_at": "<ISO 8601 UTC>",
         "context": {...}, "benchmarks": [...]}

    Because the Google Benchmark part is kept verbatim, a raw results file (no
    ``format_version``) loads as a baseline too: that is what same-run A/B uses.

Targets file (TOML, format_version 1): see baselines/targets.toml, which documents
each table; parsed by ``load_targets``.

Instruction verdict (``--instructions``): the verdict.json that ``perfgate check``
wrote for an instruction-count run (``benchrun instr``), read by
``load_instruction_verdict`` so that the report can show instructions per
operation beside wall time. It is shown, never re-judged.

Samples frame (``RunData.samples``), one row per repetition and metric::

    benchmark  metric       repetition  value
    str        str          int         float (ns for times, count for allocs)

The ``metric`` column is the seam for more metrics (issue 6 adds
``instructions_per_op`` from callgrind): a new counter only needs an entry in
METRIC_FIELDS and a rule in analyse.METRIC_RULES.
"""

from __future__ import annotations

import fnmatch
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from perfgate.errors import PerfGateError

BASELINE_FORMAT_VERSION = 1
TARGETS_FORMAT_VERSION = 1

# Google Benchmark time units -> nanoseconds.
TIME_UNITS_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# Metrics read from each row: metric name -> candidate JSON fields, first present wins.
# real_time/cpu_time are scaled by time_unit; counters are taken as they are.
# allocs_per_op falls back to the MemoryManager's allocs_per_iter (README.md, "Results").
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

# Context keys written by state_bench (benches/context.cc; README.md, "Results").
# library_build_type is deliberately absent: Debian's libbenchmark always says
# "debug" about itself, which says nothing about how statestore was built.
CTX_BUILD_TYPE = "statestore_build_type"
CTX_SANITIZE = "statestore_sanitize"
CTX_PROFILE = "statestore_profile"
CTX_MACHINE = "statestore_machine"
CTX_COMMIT = "statestore_git_commit"
CTX_BRANCH = "statestore_git_branch"
RELEASE_BUILD_TYPES = frozenset({"release", "relwithdebinfo"})

# Target metrics of the F-PERF-001 table -> (sample metric, statistic, unit kind).
# allocs uses the max over repetitions: a zero-allocation target must hold in
# every repetition, not just in the typical one.
TARGET_METRICS: dict[str, tuple[str, str, str]] = {
    "median": ("real_time", "median", "time"),
    "mean": ("real_time", "mean", "time"),
    "p99": ("p99_ns", "median", "time"),
    "allocs": ("allocs_per_op", "max", "count"),
}
COUNT_UNITS = frozenset({"allocs", "count"})

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
        self._groups = {key: grp["value"].to_numpy()
                        for key, grp in self.samples.groupby(["benchmark", "metric"], sort=False)}
        self._aggs = {(b, m, s): v for b, m, s, v in self.aggregates.itertuples(index=False)}
        self._metrics: dict[str, set[str]] = {}
        for b, m in list(self._groups) + [(b, m) for (b, m, _s) in self._aggs]:
            self._metrics.setdefault(b, set()).add(m)

    def is_aggregate_only(self, benchmark: str) -> bool:
        return benchmark in self._aggregate_only

    def values(self, benchmark: str, metric: str):
        """Per-repetition values (numpy array, possibly empty) of one benchmark and metric."""
        import numpy as np
        return self._groups.get((benchmark, metric), np.empty(0))

    def samples_by_repetition(self, benchmark: str, metric: str) -> dict[int, float]:
        """{repetition_index: value} of one benchmark and metric (A/B rounds pair by index)."""
        rows = self.samples[(self.samples["benchmark"] == benchmark) & (self.samples["metric"] == metric)]
        return dict(zip(rows["repetition"].astype(int), rows["value"].astype(float)))

    def aggregate(self, benchmark: str, metric: str, statistic: str) -> float | None:
        return self._aggs.get((benchmark, metric, statistic))

    def metrics_of(self, benchmark: str) -> set[str]:
        return self._metrics.get(benchmark, set())


@dataclass(frozen=True)
class Target:
    """One row of the F-PERF-001 Performance Targets table."""

    benchmark: str
    metric: str  # a key of TARGET_METRICS
    limit: float  # in ns for time metrics, in allocations for allocs
    unit: str  # as written in the file, for display
    profiles: tuple[str, ...] | None  # None: every profile
    source: str = ""

    @property
    def sample_metric(self) -> str:
        return TARGET_METRICS[self.metric][0]

    @property
    def statistic(self) -> str:
        return TARGET_METRICS[self.metric][1]

    def applies_to(self, profile: str) -> bool:
        return self.profiles is None or profile in self.profiles


@dataclass(frozen=True)
class PeerGroup:
    """Our benchmark and the peer benchmarks it is compared with (ratio ours/peer)."""

    ours: str
    peers: tuple[str, ...]
    label: str = ""


@dataclass
class Targets:
    """The parsed targets file."""

    path: str
    targets: list[Target]
    thresholds: list[tuple[str, float]]  # (glob pattern, fraction), first match wins
    peers: list[PeerGroup]
    known_profiles: tuple[str, ...]
    default_threshold: float | None = None
    alpha: float | None = None

    def threshold_for(self, benchmark: str, fallback: float) -> float:
        for pattern, value in self.thresholds:
            if fnmatch.fnmatchcase(benchmark, pattern):
                return value
        return fallback


EMPTY_TARGETS = Targets(path="", targets=[], thresholds=[], peers=[], known_profiles=())

INSTRUCTION_METRIC = "instructions_per_op"


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


# --------------------------------------------------------------------------- files

# Said after "does not exist" for files a person is expected to create.
MISSING_HINTS = {
    "baseline": " (record one from a Release results file: perfgate baseline --results FILE, "
                "or make perf-baseline PROFILE=<profile>)",
    "instruction verdict": " (the instruction-count check writes it: "
                           "make perf-gate PROFILE=instructions REPORT_DIR=reports/instructions)",
}


def _read_text(path: Path, what: str) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PerfGateError(f"{what} file {path} does not exist{MISSING_HINTS.get(what, '')}") from None
    except IsADirectoryError:
        raise PerfGateError(f"{what} file {path} is a directory") from None
    except OSError as exc:
        raise PerfGateError(f"cannot read {what} file {path}: {exc.strerror}") from None
    if not data.strip():
        raise PerfGateError(f"{what} file {path} is empty")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PerfGateError(f"{what} file {path} is not UTF-8 text") from None


def _read_json(path: Path, what: str) -> Any:
    text = _read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # Google Benchmark JSON always ends with the closing brace of the document;
        # without it, the writer stopped early.
        hint = "; truncated: did the benchmark crash mid-write?" if not text.rstrip().endswith("}") else ""
        raise PerfGateError(
            f"{what} file {path} is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno}{hint})"
        ) from None


# --------------------------------------------------------------------------- results

def load_results(path: Path | str, *, what: str = "results", require_release: bool = True) -> RunData:
    """Loads and validates a Google Benchmark JSON results file."""
    path = Path(path)
    doc = _read_json(path, what)
    return _parse_gbench(doc, path, what, require_release=require_release)


def load_baseline(path: Path | str) -> RunData:
    """Loads a perfgate baseline (format_version 1) or a raw Google Benchmark file."""
    path = Path(path)
    doc = _read_json(path, "baseline")
    meta: dict[str, Any] = {}
    if isinstance(doc, dict) and "format_version" in doc:
        version = doc["format_version"]
        if version != BASELINE_FORMAT_VERSION:
            raise PerfGateError(
                f"baseline file {path} has format_version {version!r}; "
                f"this perfgate reads format_version {BASELINE_FORMAT_VERSION}"
            )
        meta = {k: doc.get(k) for k in ("profile", "machine", "commit", "recorded_at") if doc.get(k)}
    run = _parse_gbench(doc, path, "baseline", require_release=True)
    run.meta = meta
    return run


def _parse_gbench(doc: Any, path: Path, what: str, *, require_release: bool) -> RunData:
    if not isinstance(doc, dict) or "benchmarks" not in doc:
        raise PerfGateError(f"{what} file {path} is not Google Benchmark JSON (no 'benchmarks' list)")
    rows = doc["benchmarks"]
    if not isinstance(rows, list):
        raise PerfGateError(f"{what} file {path} is not Google Benchmark JSON ('benchmarks' is not a list)")
    if not rows:
        raise PerfGateError(f"{what} file {path} has no benchmarks")
    context = doc.get("context") if isinstance(doc.get("context"), dict) else {}
    build_type = context.get(CTX_BUILD_TYPE)
    if require_release and build_type is not None and str(build_type).lower() not in RELEASE_BUILD_TYPES:
        raise PerfGateError(
            f"{what} file {path} comes from a {build_type!r} build of statestore "
            f"(context {CTX_BUILD_TYPE}); timings need a Release build"
        )
    # A Release build with ASan/UBSan is Release in name only: state_bench warns about it
    # and promises that the gate refuses it.
    if require_release and str(context.get(CTX_SANITIZE, "")).lower() == "on":
        raise PerfGateError(
            f"{what} file {path} comes from a statestore build with sanitizers on "
            f"(context {CTX_SANITIZE}); timings need a build without them"
        )

    samples: list[tuple[str, str, int, float]] = []
    aggregates: list[tuple[str, str, str, float]] = []
    skipped: dict[str, str] = {}
    order: list[str] = []
    seen_order: set[str] = set()
    seen_reps: set[tuple[str, int]] = set()
    seen_aggs: set[tuple[str, str]] = set()
    next_rep: dict[str, int] = {}

    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise PerfGateError(f"{what} file {path}: benchmarks[{i}] is not an object")
        name = row.get("run_name") or row.get("name")
        if not isinstance(name, str) or not name:
            raise PerfGateError(f"{what} file {path}: benchmarks[{i}] has no run_name")
        if name not in seen_order:
            seen_order.add(name)
            order.append(name)
        if row.get("error_occurred"):
            skipped[name] = str(row.get("error_message") or "error_occurred without a message")
            continue
        run_type = row.get("run_type", "iteration")
        unit = row.get("time_unit", "ns")
        if unit not in TIME_UNITS_NS:
            raise PerfGateError(f"{what} file {path}: benchmark {name!r} has unknown time_unit {unit!r}")
        scale = TIME_UNITS_NS[unit]
        if run_type == "aggregate":
            stat = row.get("aggregate_name")
            if stat not in ("mean", "median"):
                continue  # stddev/cv: recomputed from samples when we have them
            if (name, stat) in seen_aggs:
                raise PerfGateError(f"{what} file {path}: benchmark {name!r} has two {stat} aggregates")
            seen_aggs.add((name, stat))
            for metric, value in _row_metrics(row, scale, name, path, what):
                aggregates.append((name, metric, stat, value))
            continue
        rep = row.get("repetition_index")
        if rep is None:
            rep = next_rep.get(name, 0)
        if not isinstance(rep, int) or rep < 0:
            raise PerfGateError(f"{what} file {path}: benchmark {name!r} has a bad repetition_index {rep!r}")
        next_rep[name] = max(next_rep.get(name, 0), rep + 1)
        if (name, rep) in seen_reps:
            raise PerfGateError(
                f"{what} file {path}: duplicate benchmark {name!r} repetition {rep} "
                "(same run_name and repetition_index twice)"
            )
        seen_reps.add((name, rep))
        for metric, value in _row_metrics(row, scale, name, path, what):
            samples.append((name, metric, rep, value))

    measured = {s[0] for s in samples} | {a[0] for a in aggregates}
    if not measured and not skipped:
        raise PerfGateError(f"{what} file {path} has no benchmarks")
    # A benchmark that errored in some repetitions but ran in others is not skipped.
    for name in list(skipped):
        if name in measured:
            del skipped[name]
    return RunData(
        path=str(path),
        context=context,
        samples=pd.DataFrame(samples, columns=SAMPLE_COLUMNS),
        aggregates=pd.DataFrame(aggregates, columns=AGGREGATE_COLUMNS),
        skipped=skipped,
        order=order,
    )


def _row_metrics(row: dict, scale: float, name: str, path: Path, what: str):
    for metric, fields in METRIC_FIELDS.items():
        for fld in fields:
            if fld in row:
                raw = row[fld]
                break
        else:
            continue
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise PerfGateError(f"{what} file {path}: benchmark {name!r} has a non-numeric {metric}: {raw!r}")
        value = float(raw)
        if metric in TIME_METRICS:
            if math.isnan(value):
                raise PerfGateError(f"{what} file {path}: benchmark {name!r} has a NaN {metric}")
            if value < 0 or math.isinf(value):
                raise PerfGateError(f"{what} file {path}: benchmark {name!r} has a negative or infinite {metric} ({value})")
            value *= scale
        elif math.isnan(value):
            continue  # GB writes NaN for counters it cannot aggregate; not a measurement
        yield metric, value


# --------------------------------------------------------------------------- instruction verdict

VERDICT_KEYS = ("verdict", "headline", "rows")


def load_instruction_verdict(path: Path | str) -> InstructionVerdict:
    """Loads the verdict.json of an instruction-count `perfgate check` (benchrun instr results).

    Its instructions_per_op rows are kept; in an instruction run, decide() labels the rows of
    missing and skipped benchmarks with the placeholder metric real_time, so those are kept
    too when every other row is an instructions_per_op row."""
    path = Path(path)
    what = "instruction verdict"
    text = _read_text(path, what)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PerfGateError(f"{what} file {path} is not valid JSON "
                            f"({exc.msg}, line {exc.lineno} column {exc.colno})") from None
    if isinstance(doc, dict) and "benchmarks" in doc and "rows" not in doc:
        raise PerfGateError(f"{what} file {path} is Google Benchmark results, not a perfgate verdict.json "
                            "(pass the verdict.json that perfgate check wrote for them)")
    absent = [k for k in VERDICT_KEYS if k not in doc] if isinstance(doc, dict) else list(VERDICT_KEYS)
    if absent or doc["verdict"] not in ("pass", "fail") or not isinstance(doc["headline"], str) \
            or not isinstance(doc["rows"], list):
        why = f"no {', '.join(repr(k) for k in absent)}" if absent else "bad 'verdict', 'headline' or 'rows'"
        raise PerfGateError(f"{what} file {path} is not a perfgate verdict.json ({why})")
    rows = [_instruction_row(raw, i, path) for i, raw in enumerate(doc["rows"])]
    judged = [r for r, raw in zip(rows, doc["rows"]) if raw["metric"] == INSTRUCTION_METRIC]
    if not judged:
        raise PerfGateError(f"{what} file {path} has no {INSTRUCTION_METRIC} rows: it is the verdict of a "
                            "wall-time run, not of an instruction-count run (make perf-gate PROFILE=instructions)")
    placeholders = [r for r, raw in zip(rows, doc["rows"]) if raw["metric"] != INSTRUCTION_METRIC]
    if all(r.status in ("missing", "skipped") for r in placeholders):
        judged = rows  # file order
    counts = doc.get("counts") if isinstance(doc.get("counts"), dict) else {}
    return InstructionVerdict(str(path), doc["verdict"], doc["headline"],
                              {str(k): int(v) for k, v in counts.items() if isinstance(v, int)},
                              {r.benchmark: r for r in judged})


def _instruction_row(raw: Any, i: int, path: Path) -> InstructionRow:
    where = f"instruction verdict file {path}: rows[{i}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("benchmark"), str) \
            or not isinstance(raw.get("status"), str) or not isinstance(raw.get("metric"), str):
        raise PerfGateError(f"{where} is not a verdict row (needs benchmark, metric and status)")
    numbers = {}
    for key in ("baseline", "current", "delta_pct", "threshold"):
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise PerfGateError(f"{where} ({raw['benchmark']}) has a non-numeric {key}: {value!r}")
        numbers[key] = None if value is None else float(value)
    return InstructionRow(raw["benchmark"], raw["status"], fails=bool(raw.get("fails")),
                          note=str(raw.get("note") or ""), **numbers)


# --------------------------------------------------------------------------- targets

def _duration_ns(value: Any, unit: str) -> float:
    return float(value) * TIME_UNITS_NS[unit]


def load_targets(path: Path | str) -> Targets:
    """Parses the targets TOML file (format_version 1)."""
    path = Path(path)
    text = _read_text(path, "targets")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PerfGateError(f"targets file {path} is not valid TOML: {exc}") from None
    version = doc.get("format_version")
    if version != TARGETS_FORMAT_VERSION:
        raise PerfGateError(
            f"targets file {path} has format_version {version!r}; "
            f"this perfgate reads format_version {TARGETS_FORMAT_VERSION}"
        )
    known = doc.get("known_profiles", [])
    if not isinstance(known, list) or not all(isinstance(p, str) for p in known):
        raise PerfGateError(f"targets file {path}: known_profiles must be a list of profile names")
    known_profiles = tuple(known)

    targets: list[Target] = []
    seen: set[tuple[str, str]] = set()
    for i, raw in enumerate(doc.get("target", []), start=1):
        where = f"targets file {path}: target {i}"
        if not isinstance(raw, dict):
            raise PerfGateError(f"{where} is not a table")
        bench = raw.get("benchmark")
        if not isinstance(bench, str) or not bench:
            raise PerfGateError(f"{where} has no benchmark name")
        where = f"targets file {path}: target {i} ({bench})"
        metric = raw.get("metric")
        if metric not in TARGET_METRICS:
            raise PerfGateError(f"{where} has unknown metric {metric!r} (known: {', '.join(TARGET_METRICS)})")
        unit = raw.get("unit")
        kind = TARGET_METRICS[metric][2]
        if kind == "time" and unit not in TIME_UNITS_NS:
            raise PerfGateError(f"{where} has unknown unit {unit!r} for metric {metric} (known: ns, us, ms, s)")
        if kind == "count" and unit not in COUNT_UNITS:
            raise PerfGateError(f"{where} has unknown unit {unit!r} for metric {metric} (known: allocs)")
        limit = raw.get("limit")
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or math.isnan(limit) or limit < 0:
            raise PerfGateError(f"{where} has a bad limit {limit!r} (a number >= 0)")
        profiles = raw.get("profiles")
        if profiles is not None:
            if not isinstance(profiles, list) or not profiles or not all(isinstance(p, str) for p in profiles):
                raise PerfGateError(f"{where}: profiles must be a non-empty list of profile names")
            unknown = [p for p in profiles if known_profiles and p not in known_profiles]
            if unknown:
                raise PerfGateError(
                    f"{where} names unknown profile {unknown[0]!r} (known_profiles: {', '.join(known_profiles)})"
                )
            profiles = tuple(profiles)
        if (bench, metric) in seen:
            raise PerfGateError(f"{where} repeats metric {metric} for the same benchmark")
        seen.add((bench, metric))
        limit_value = _duration_ns(limit, unit) if kind == "time" else float(limit)
        targets.append(Target(bench, metric, limit_value, unit, profiles, str(raw.get("source", ""))))

    thresholds: list[tuple[str, float]] = []
    for pattern, value in doc.get("thresholds", {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 10:
            raise PerfGateError(f"targets file {path}: threshold for {pattern!r} must be a fraction like 0.10, not {value!r}")
        thresholds.append((pattern, float(value)))

    peers: list[PeerGroup] = []
    for i, raw in enumerate(doc.get("peer", []), start=1):
        ours, others = raw.get("ours"), raw.get("peers")
        if not isinstance(ours, str) or not isinstance(others, list) or not others:
            raise PerfGateError(f"targets file {path}: peer {i} needs 'ours' (a name) and 'peers' (a list)")
        peers.append(PeerGroup(ours, tuple(str(p) for p in others), str(raw.get("label", ""))))

    defaults = doc.get("defaults", {})
    default_threshold = defaults.get("threshold")
    alpha = defaults.get("alpha")
    for key, value in (("threshold", default_threshold), ("alpha", alpha)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1):
            raise PerfGateError(f"targets file {path}: defaults.{key} must be a fraction between 0 and 1, not {value!r}")
    return Targets(str(path), targets, thresholds, peers, known_profiles, default_threshold, alpha)
