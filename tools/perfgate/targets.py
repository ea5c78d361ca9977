"""Targets: the F-PERF-001 target table and the gate's settings (TOML), read.

Format (format_version 1): see baselines/targets.toml, which documents each table::

    format_version = 1
    known_profiles = ["tiny", "quick", "full"]
    [defaults]   threshold = 0.10, alpha = 0.05          (fractions in (0, 1))
    [thresholds] "glob" = 0.15                           (first matching glob wins)
    [[target]]   benchmark, metric (median|mean|p99|allocs), limit, unit, profiles, source
    [[peer]]     ours, peers = [...], label

Contract: ``load_targets`` returns Targets or raises PerfGateError with one line
naming the file, the table (``target 3 (state_get_mmap/1000)``) and the problem.
Every value is checked for type and range before use.
"""

from __future__ import annotations

import fnmatch
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfgate import fileio
from perfgate.errors import PerfGateError
from perfgate.results import TIME_UNITS_NS

FORMAT_VERSION = 1

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


def load_targets(path: Path | str) -> Targets:
    """Parses the targets TOML file (format_version 1)."""
    path = Path(path)
    text = fileio.read_text(path, "targets")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PerfGateError(f"targets file {path} is not valid TOML: {exc}") from None
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise PerfGateError(
            f"targets file {path} has format_version {version!r}; "
            f"this perfgate reads format_version {FORMAT_VERSION}"
        )
    known = doc.get("known_profiles", [])
    if not isinstance(known, list) or not all(isinstance(p, str) for p in known):
        raise PerfGateError(f"targets file {path}: known_profiles must be a list of profile names")
    known_profiles = tuple(known)
    default_threshold, alpha = _defaults(_table(doc, "defaults", path), path)
    return Targets(str(path), _targets(doc, path, known_profiles), _thresholds(doc, path), _peers(doc, path),
                   known_profiles, default_threshold, alpha)


def _table(doc: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise PerfGateError(f"targets file {path}: [{key}] must be a table, not {_toml_type(value)}")
    return value


def _array_of_tables(doc: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise PerfGateError(f"targets file {path}: {key} must be an array of tables ([[{key}]]), "
                            f"not {_toml_type(value)}")
    return value


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


def _is_number(value: Any) -> bool:
    number = fileio.as_number(value)
    return number is not None and math.isfinite(number)


def _targets(doc: dict[str, Any], path: Path, known_profiles: tuple[str, ...]) -> list[Target]:
    targets: list[Target] = []
    seen: set[tuple[str, str]] = set()
    for i, raw in enumerate(_array_of_tables(doc, "target", path), start=1):
        target = _target(raw, f"targets file {path}: target {i}", known_profiles)
        if (target.benchmark, target.metric) in seen:
            raise PerfGateError(f"targets file {path}: target {i} ({target.benchmark}) repeats metric "
                                f"{target.metric} for the same benchmark")
        seen.add((target.benchmark, target.metric))
        targets.append(target)
    return targets


def _target(raw: Any, where: str, known_profiles: tuple[str, ...]) -> Target:
    if not isinstance(raw, dict):
        raise PerfGateError(f"{where} is not a table")
    bench = raw.get("benchmark")
    if not isinstance(bench, str) or not bench:
        raise PerfGateError(f"{where} has no benchmark name")
    where = f"{where} ({bench})"
    metric = raw.get("metric")
    if not isinstance(metric, str) or metric not in TARGET_METRICS:
        raise PerfGateError(f"{where} has unknown metric {metric!r} (known: {', '.join(TARGET_METRICS)})")
    unit = raw.get("unit")
    kind = TARGET_METRICS[metric][2]
    if kind == "time" and (not isinstance(unit, str) or unit not in TIME_UNITS_NS):
        raise PerfGateError(f"{where} has unknown unit {unit!r} for metric {metric} (known: ns, us, ms, s)")
    if kind == "count" and (not isinstance(unit, str) or unit not in COUNT_UNITS):
        raise PerfGateError(f"{where} has unknown unit {unit!r} for metric {metric} (known: allocs)")
    limit = fileio.as_number(raw.get("limit"))
    if limit is None or not math.isfinite(limit) or limit < 0:
        raise PerfGateError(f"{where} has a bad limit {raw.get('limit')!r} (a number >= 0)")
    source = raw.get("source", "")
    if not isinstance(source, str):
        raise PerfGateError(f"{where}: source must be a string, not {_toml_type(source)}")
    assert isinstance(unit, str)  # checked above for either kind
    limit_value = limit * TIME_UNITS_NS[unit] if kind == "time" else limit
    return Target(bench, metric, limit_value, unit, _profiles(raw.get("profiles"), where, known_profiles), source)


def _profiles(profiles: Any, where: str, known_profiles: tuple[str, ...]) -> tuple[str, ...] | None:
    if profiles is None:
        return None
    if not isinstance(profiles, list) or not profiles or not all(isinstance(p, str) for p in profiles):
        raise PerfGateError(f"{where}: profiles must be a non-empty list of profile names")
    unknown = [p for p in profiles if known_profiles and p not in known_profiles]
    if unknown:
        raise PerfGateError(
            f"{where} names unknown profile {unknown[0]!r} (known_profiles: {', '.join(known_profiles)})"
        )
    return tuple(profiles)


def _thresholds(doc: dict[str, Any], path: Path) -> list[tuple[str, float]]:
    thresholds: list[tuple[str, float]] = []
    for pattern, value in _table(doc, "thresholds", path).items():
        if not _is_number(value) or not 0 < value < 10:
            raise PerfGateError(f"targets file {path}: threshold for {pattern!r} must be a fraction like 0.10, "
                                f"not {value!r}")
        thresholds.append((pattern, float(value)))
    return thresholds


def _peers(doc: dict[str, Any], path: Path) -> list[PeerGroup]:
    peers: list[PeerGroup] = []
    for i, raw in enumerate(_array_of_tables(doc, "peer", path), start=1):
        ours = raw.get("ours") if isinstance(raw, dict) else None
        others = raw.get("peers") if isinstance(raw, dict) else None
        label = raw.get("label", "") if isinstance(raw, dict) else ""
        if not isinstance(ours, str) or not isinstance(others, list) or not others \
                or not all(isinstance(p, str) for p in others) or not isinstance(label, str):
            raise PerfGateError(f"targets file {path}: peer {i} needs 'ours' (a name) and 'peers' (a list of names)")
        peers.append(PeerGroup(ours, tuple(others), label))
    return peers


def _defaults(defaults: dict[str, Any], path: Path) -> tuple[float | None, float | None]:
    default_threshold = defaults.get("threshold")
    alpha = defaults.get("alpha")
    for key, value in (("threshold", default_threshold), ("alpha", alpha)):
        if value is not None and (not _is_number(value) or not 0 < value < 1):
            raise PerfGateError(f"targets file {path}: defaults.{key} must be a fraction between 0 and 1, "
                                f"not {value!r}")
    return default_threshold, alpha
