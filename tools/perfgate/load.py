"""The load step: every input file perfgate reads, by the module that owns its format.

    results.py   Google Benchmark JSON -> RunData          load_results
    baseline.py  perfgate baselines -> RunData (+ meta)    load_baseline
    targets.py   the F-PERF-001 target table -> Targets    load_targets
    verdict.py   verdict.json -> InstructionVerdict, ...   load_instruction_verdict
    history.py   the run history (SQLite)

This module only re-exports their readers and types under the names the rest of
perfgate (and its tests) has always used; it reads nothing itself.
"""

from __future__ import annotations

from perfgate.baseline import FORMAT_VERSION as BASELINE_FORMAT_VERSION
from perfgate.baseline import load_baseline
from perfgate.results import (AGGREGATE_COLUMNS, CTX_BRANCH, CTX_BUILD_TYPE, CTX_COMMIT, CTX_MACHINE,
                              CTX_PROFILE, CTX_SANITIZE, METRIC_FIELDS, RELEASE_BUILD_TYPES, SAMPLE_COLUMNS,
                              TIME_METRICS, TIME_UNITS_NS, RunData, load_results)
from perfgate.targets import FORMAT_VERSION as TARGETS_FORMAT_VERSION
from perfgate.targets import (COUNT_UNITS, EMPTY_TARGETS, TARGET_METRICS, PeerGroup, Target, Targets,
                              load_targets)
from perfgate.verdict import (INSTRUCTION_METRIC, InstructionRow, InstructionVerdict,
                              load_instruction_verdict)

__all__ = [
    "AGGREGATE_COLUMNS", "BASELINE_FORMAT_VERSION", "COUNT_UNITS", "CTX_BRANCH", "CTX_BUILD_TYPE", "CTX_COMMIT",
    "CTX_MACHINE", "CTX_PROFILE", "CTX_SANITIZE", "EMPTY_TARGETS", "INSTRUCTION_METRIC", "METRIC_FIELDS",
    "RELEASE_BUILD_TYPES", "SAMPLE_COLUMNS", "TARGETS_FORMAT_VERSION", "TARGET_METRICS", "TIME_METRICS",
    "TIME_UNITS_NS", "InstructionRow", "InstructionVerdict", "PeerGroup", "RunData", "Target", "Targets",
    "load_baseline", "load_instruction_verdict", "load_results", "load_targets",
]
