"""Property-based fuzzing of every input format (issue 15): random structural mutations
of real results, baseline, targets, verdict and history files, fed to the commands that
read them. Whatever the input, perfgate exits 0, 1 or 2, never with a traceback, and an
exit 2 prints exactly one line naming what is wrong.

Deterministic (derandomize): the same cases run on every machine; no example database
is written. The number of cases per format is in CASES; the whole module runs in well
under a minute.
"""

from __future__ import annotations

import atexit
import contextlib
from collections import Counter
import copy
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from conftest import FIXTURE_TARGETS, INSTRUCTION_VERDICT, REAL_RESULTS
from perfgate import history, load
from perfgate.__main__ import run

CASES = {"results": 700, "baseline": 300, "targets": 500, "verdict": 500, "confirm": 250, "history": 120}
BASE_SETTINGS = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                         suppress_health_check=list(HealthCheck))
# Hypothesis keeps a cache (unicode tables) in ./.hypothesis; keep it out of the work tree.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="perfgate-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, True)
# Exit codes seen per format, for the closing check that the cases reach past validation.
SEEN: dict[str, Counter] = {}


def fuzz(fmt: str) -> settings:
    return settings(BASE_SETTINGS, max_examples=CASES[fmt])


class Outcome:
    """What one command did: its exit code and what it printed."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def _perfgate(*args: str) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(list(args))  # any exception other than PerfGateError escapes: a traceback
    return Outcome(code, out.getvalue(), err.getvalue())


def _assert_clean(outcome: Outcome, fmt: str) -> None:
    SEEN.setdefault(fmt, Counter())[outcome.code] += 1
    assert outcome.code in (0, 1, 2), outcome.err
    if outcome.code == 2:
        lines = outcome.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("perfgate: error: "), outcome.err
    assert "Traceback" not in outcome.err


# --------------------------------------------------------------------------- mutations of JSON documents

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from([0, -1, 1, 10**400, -0.0, 1e308, float("nan"), float("inf"), float("-inf"), 5e-324]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["", "ns", "us", "ps", "iteration", "aggregate", "median", "mean",
                                           "regressed", "breach", "real_time", "instructions_per_op",
                                           "Release", "Debug", "on", "quick", "\n::error::x", "a|b`c"]),
)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                           st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=6)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys / indexes) to a value inside `doc`."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, prefix + (i,))
    return out


def _parent(doc: Any, path: tuple) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def mutated(draw, original: Any) -> Any:
    """`original` after 1-4 random structural mutations (replace, delete, duplicate, wrap,
    add a key, rename a key) at random places."""
    doc = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return draw(JSON_VALUES)
        path = draw(st.sampled_from(paths))
        parent, key = _parent(doc, path), path[-1]
        action = draw(st.sampled_from(["replace", "delete", "duplicate", "wrap", "add", "rename", "scale"]))
        if action == "replace":
            parent[key] = draw(JSON_VALUES)
        elif action == "delete":
            del parent[key]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif action == "wrap":
            parent[key] = draw(st.sampled_from([[parent[key]], {"x": parent[key]}]))
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(JSON_VALUES)
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["name", "run_name", "benchmark", "status", "metric", "rows",
                                         "format_version", "context", "benchmarks", "x"]))] = parent.pop(key)
        elif action == "scale" and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
            parent[key] = parent[key] * draw(st.sampled_from([0, -1, 1.1, 1.0999999999, 3.0001, 1e6, 1e-9]))
    return doc


def _text(doc: Any, draw_cut: int | None) -> str:
    text = json.dumps(doc)
    if draw_cut is not None:
        text = text[:draw_cut % (len(text) + 1)]
    return text


def _small_results() -> dict:
    """The real 9-benchmark results, as the base of every results mutation."""
    return json.loads(REAL_RESULTS.read_text())


CUTS = st.one_of(st.none(), st.none(), st.none(), st.integers(0, 10**6))


# --------------------------------------------------------------------------- the properties

@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Iterator[Path]:
    """A scratch directory, in memory where the machine has /dev/shm: every case writes
    its outputs atomically with an fsync, which costs a disk flush on a real disk."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        path = Path(tempfile.mkdtemp(prefix="perfgate-fuzz-", dir=shm))
        yield path
        shutil.rmtree(path, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("fuzz")


def _check(work: Path, results: Path, baseline: Path = REAL_RESULTS, targets: Path = FIXTURE_TARGETS,
           *extra: str) -> Outcome:
    return _perfgate("check", "--baseline", str(baseline), "--results", str(results), "--targets", str(targets),
                     "--report-dir", str(work / "out"), "--no-history", "--quiet", *extra)


def test_mutated_results_exit_0_1_or_2_and_never_trace_back(work):
    base = _small_results()

    @fuzz("results")
    @given(doc=mutated(base), cut=CUTS)
    def prop(doc, cut):
        path = work / "results.json"
        path.write_text(_text(doc, cut))
        _assert_clean(_check(work, path), "results")

    prop()


def test_mutated_baselines_exit_0_1_or_2_and_never_trace_back(work):
    base = _small_results()
    base.update({"format_version": 1, "profile": "quick", "machine": "m", "commit": "c", "recorded_at": "t"})

    @fuzz("baseline")
    @given(doc=mutated(base), cut=CUTS)
    def prop(doc, cut):
        path = work / "baseline.json"
        path.write_text(_text(doc, cut))
        _assert_clean(_check(work, REAL_RESULTS, path), "baseline")
        _assert_clean(_perfgate("baseline", "--results", str(path), "--out", str(work / "b" / "out.json")), "baseline")

    prop()


TOML_VALUES = ["0.1", "0", "-1", "1e400", "nan", "inf", '"x"', '""', "[]", '["quick"]', "[1, 2]", "{a = 1}",
               "true", "1979-05-27", "10:00:00", '"state_get_inmemory/1000"', '"median"', '"allocs"', '"ns"']


@st.composite
def mutated_toml(draw, text: str) -> str:
    """`text` (a TOML file) after 1-4 line mutations: a value replaced, a line deleted
    or duplicated, a table header changed, a random line inserted, or the text cut."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["value", "delete", "duplicate", "header", "insert", "cut"]))
        if action == "value" and "=" in lines[i]:
            lines[i] = lines[i].split("=", 1)[0] + "= " + draw(st.sampled_from(TOML_VALUES))
        elif action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "header":
            lines.insert(i, draw(st.sampled_from(["[[target]]", "[target]", "[[peer]]", "[peer]", "[thresholds]",
                                                  "[[thresholds]]", "[defaults]", "[[defaults]]", "thresholds = 1",
                                                  "defaults = 1", 'peer = "absl"', "target = 5"])))
        elif action == "insert":
            key = draw(st.sampled_from(["benchmark", "metric", "limit", "unit", "profiles", "source", "ours",
                                        "peers", "label", "threshold", "alpha", "known_profiles", "format_version",
                                        '"state_*"']))
            lines.insert(i, f"{key} = {draw(st.sampled_from(TOML_VALUES))}")
        elif action == "cut":
            lines = lines[:i]
    return "\n".join(lines) + "\n"


def test_mutated_targets_exit_0_1_or_2_and_never_trace_back(work):
    text = FIXTURE_TARGETS.read_text()

    @fuzz("targets")
    @given(toml=mutated_toml(text))
    def prop(toml):
        path = work / "targets.toml"
        path.write_text(toml)
        _assert_clean(_check(work, REAL_RESULTS, REAL_RESULTS, path), "targets")

    prop()


@pytest.fixture(scope="module")
def wall_time_verdict(work) -> dict:
    """The verdict.json the gate writes for the real results judged against themselves."""
    slow = _small_results()
    for row in slow["benchmarks"]:
        if row.get("run_name") == "state_get_inmemory/1000" and "real_time" in row:
            row["real_time"] *= 1.3
    path = work / "slow.json"
    path.write_text(json.dumps(slow))
    assert _check(work, path).code == 1
    return json.loads((work / "out" / "verdict.json").read_text())


def test_mutated_verdicts_exit_0_1_or_2_and_never_trace_back(work, wall_time_verdict):
    instr = json.loads(INSTRUCTION_VERDICT.read_text())

    @fuzz("verdict")
    @given(doc=st.one_of(mutated(wall_time_verdict), mutated(instr)), cut=CUTS)
    def prop(doc, cut):
        path = work / "verdict-in.json"
        path.write_text(_text(doc, cut))
        _assert_clean(_perfgate("annotations", "--verdict", str(path)), "verdict")
        _assert_clean(_perfgate("report", "--results", str(REAL_RESULTS), "--targets", str(FIXTURE_TARGETS),
                                "--report-dir", str(work / "report"), "--instructions", str(path)), "verdict")

    prop()


def test_mutated_first_pass_verdicts_exit_0_1_or_2_and_never_trace_back(work, wall_time_verdict):
    @fuzz("confirm")
    @given(doc=mutated(wall_time_verdict), cut=CUTS)
    def prop(doc, cut):
        path = work / "first-pass.json"
        path.write_text(_text(doc, cut))
        _assert_clean(_check(work, REAL_RESULTS, REAL_RESULTS, FIXTURE_TARGETS, "--mode", "ab",
                             "--confirm-from", str(path)), "confirm")

    prop()


def test_a_history_with_random_bytes_overwritten_reads_cleanly_or_is_refused(work):
    master = work / "history-master.sqlite"
    runs = load.load_results(REAL_RESULTS)
    for _ in range(3):
        history.record(master, runs)
    data = master.read_bytes()

    @fuzz("history")
    @given(at=st.integers(0, len(data) - 1), junk=st.binary(min_size=1, max_size=64))
    def prop(at, junk):
        path = work / "history.sqlite"
        path.write_bytes(data[:at] + junk + data[at + len(junk):])
        _assert_clean(_perfgate("history", "list", "--history", str(path)), "history")
        _assert_clean(_perfgate("report", "--results", str(REAL_RESULTS), "--targets", str(FIXTURE_TARGETS),
                                "--report-dir", str(work / "hreport"), "--history", str(path)), "history")
        _assert_clean(_perfgate("history", "prune", "--history", str(path), "--keep", "2"), "history")

    prop()


def test_the_cases_reach_past_validation_as_well_as_into_it():
    """Runs last in this module: for every format some mutated files were judged or
    shown (exit 0 or 1), not only refused, or the fuzzer would test one check only."""
    assert set(SEEN) == {"results", "baseline", "targets", "verdict", "confirm", "history"}, SEEN
    for fmt, codes in SEEN.items():
        assert codes[2] > 0 and codes[0] + codes[1] > 0, (fmt, codes)
    print("fuzz cases and exit codes:", {fmt: dict(codes) for fmt, codes in SEEN.items()})
