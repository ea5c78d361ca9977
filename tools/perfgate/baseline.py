"""Baselines: a committed results file with perfgate's own keys, read and written.

Format (format_version 1): a Google Benchmark JSON document (``context`` +
``benchmarks``, unchanged) with perfgate's keys added at the top level::

    {"format_version": 1, "profile": "quick", "machine": "<fingerprint>",
     "commit": "<sha>", "dirty": "false", "compiler": "...", "cxx_flags": "...",
     "recorded_at": "<ISO 8601 UTC>", "source": "<results path>",
     "context": {...}, "benchmarks": [...]}

Because the Google Benchmark part is kept verbatim, a raw results file (no
``format_version``) loads as a baseline too: that is what same-run A/B uses.

Contract: ``load_baseline`` returns a validated RunData (with ``meta``) or raises
PerfGateError naming the file; ``recorded_commit`` is the commit a loaded baseline
names (None for a raw results file); ``make_baseline`` refuses results that must not
become a baseline (not Release, no profile, an injected slowdown) and returns the
document that ``write_baseline`` writes atomically.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from perfgate import fileio, results
from perfgate.errors import PerfGateError
from perfgate.results import RunData

FORMAT_VERSION = 1
META_KEYS = ("profile", "machine", "commit", "recorded_at")
MISSING_HINT = (" (record one from a Release results file: perfgate baseline --results FILE, "
                "or make perf-baseline PROFILE=<profile>)")


def load_baseline(path: Path | str) -> RunData:
    """Loads a perfgate baseline (format_version 1) or a raw Google Benchmark file."""
    path = Path(path)
    doc = fileio.read_json(path, "baseline", MISSING_HINT)
    meta: dict[str, Any] = {}
    if isinstance(doc, dict) and "format_version" in doc:
        version = doc["format_version"]
        if version != FORMAT_VERSION:
            raise PerfGateError(
                f"baseline file {path} has format_version {version!r}; "
                f"this perfgate reads format_version {FORMAT_VERSION}"
            )
        meta = {k: doc.get(k) for k in META_KEYS if doc.get(k)}
    run = results.parse(doc, path, "baseline", require_release=True)
    run.meta = meta
    return run


def recorded_commit(path: Path | str) -> str | None:
    """The commit a baseline was recorded at (its "commit"; None when it names none, as a raw
    Google Benchmark file does), after the validation of load_baseline."""
    commit = load_baseline(path).meta.get("commit")
    if commit is not None and not isinstance(commit, str):
        raise PerfGateError(f"baseline file {path}: 'commit' is not a string: {commit!r:.60}")
    return commit


def make_baseline(results_path: Path, *, allow_slowdown: bool = False) -> tuple[RunData, dict[str, Any]]:
    """The results file's run and the baseline document made from it; refuses what
    must not become a baseline (PerfGateError)."""
    doc = fileio.read_json(results_path, "results")
    run = results.parse(doc, results_path, "results", require_release=True)
    results.require_measured(run)
    build_type = run.ctx(results.CTX_BUILD_TYPE)
    if build_type.lower() not in results.RELEASE_BUILD_TYPES:
        raise PerfGateError(f"results file {results_path} does not say it comes from a Release build "
                            f"(context {results.CTX_BUILD_TYPE} is {build_type or 'absent'}); "
                            "refusing to make it a baseline")
    if not run.profile:
        raise PerfGateError(f"results file {results_path} has no statestore_profile; cannot name the baseline")
    if run.ctx("statestore_slowdown") not in ("", "none") and not allow_slowdown:
        raise PerfGateError(f"results file {results_path} was built with an injected slowdown "
                            f"({run.ctx('statestore_slowdown')}); refusing to make it a baseline")
    baseline = {
        "format_version": FORMAT_VERSION,
        "profile": run.profile,
        "machine": run.machine,
        "commit": run.commit,
        "dirty": run.ctx("statestore_git_dirty"),
        "compiler": run.ctx("statestore_compiler"),
        "cxx_flags": run.ctx("statestore_cxx_flags"),
        "recorded_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "source": str(results_path),
        "context": doc.get("context", {}),
        "benchmarks": doc["benchmarks"],
    }
    return run, baseline


def write_baseline(doc: dict[str, Any], path: Path) -> None:
    """Writes a baseline document atomically."""
    fileio.write_atomic(path, json.dumps(doc, indent=1) + "\n")
