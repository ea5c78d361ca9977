"""The decision: baseline x current x targets -> a Verdict of rows.

Contract: ``decide`` is a pure function of loaded data (RunData, Targets and
Settings); it reads no files and prints nothing, and raises PerfGateError only for
inputs that cannot be judged together (a target naming a benchmark the results lack,
instruction counts from another compiler). The renderer only shows what it returns.

Rows: one relative row per benchmark x metric of analyse.METRIC_RULES present in the
current run (statuses and their rules: the status table in tools/perfgate/README.md,
"Verdicts"; names in status.py), and one target row per applicable target (ok,
breach, skipped).

Settings:

* ``mode``: "baseline" (a committed baseline, possibly from another machine: a
  cross-machine warning) or "ab" (the base build measured in the same job; when both
  sides hold the same rounds, times are compared round by round, analyse.compare_paired;
  a target breach the base shows too is inherited and does not fail).
* ``confirm_from``: the statuses of a first pass; every benchmark that regressed then
  gets ``confirmation`` "confirmed" or "not reproduced".
* ``fail_on_timing`` False (--no-fail-on-timing): timing regressions, timing breaches
  and missing benchmarks become warnings; only allocation breaches fail.

Results of ``benchrun instr`` (context ``statestore_metric: instructions``) get
instruction rows only (deterministic: 2% threshold, no test).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import NamedTuple

import numpy as np

from perfgate import analyse, status
from perfgate.errors import PerfGateError
from perfgate.results import RunData
from perfgate.targets import EMPTY_TARGETS, Target, Targets

FAILING_RELATIVE = status.FAILING_RELATIVE
STATUS_ORDER = status.ORDER


@dataclass
class Settings:
    threshold: float = analyse.DEFAULT_THRESHOLD
    alpha: float = analyse.DEFAULT_ALPHA
    mode: str = "baseline"  # "baseline" | "ab"
    fail_on_timing: bool = True
    confirm_from: dict[str, str] | None = None  # benchmark -> first-pass status


@dataclass
class VerdictRow:
    """A relative verdict for one benchmark x metric."""

    benchmark: str
    metric: str
    status: str
    fails: bool = False
    baseline: float | None = None  # median (ns for time)
    current: float | None = None
    delta_pct: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    n_baseline: int = 0
    n_current: int = 0
    note: str = ""
    cross_machine: bool = False
    confirmation: str | None = None  # "confirmed" | "not reproduced" (A/B confirm pass)
    # A/B: delta_pct is the median of the per-round ratios head/base, which can
    # differ from the ratio of the two medians shown beside it.
    paired: bool = False


@dataclass
class TargetRow:
    """One F-PERF-001 target checked against the current run."""

    benchmark: str
    metric: str  # median | mean | p99 | allocs
    limit: float
    unit: str
    status: str  # ok | breach | skipped
    fails: bool = False
    value: float | None = None
    source: str = ""
    note: str = ""


@dataclass
class Verdict:
    mode: str
    rows: list[VerdictRow]
    targets: list[TargetRow]
    warnings: list[str] = field(default_factory=list)
    cross_machine: bool = False
    profile: str = ""
    threshold: float = analyse.DEFAULT_THRESHOLD
    alpha: float = analyse.DEFAULT_ALPHA
    fail_on_timing: bool = True

    @property
    def failed(self) -> bool:
        return any(r.fails for r in self.rows) or any(t.fails for t in self.targets)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        for t in self.targets:
            key = "breach" if t.status == "breach" else f"target_{t.status}"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def headline(self) -> str:
        """The verdict line, e.g. 'FAIL: 2 regressions (state_get_inmemory/1000 +14.2% p=0.004), 1 target breach'."""
        regressed = [r for r in self.rows if r.status == "regressed"]
        inherited = [t for t in self.targets if t.status == "breach" and t.note == INHERITED_BREACH]
        breaches = [t for t in self.targets if t.status == "breach" and t not in inherited]
        missing = [r for r in self.rows if r.status == "missing"]
        parts: list[str] = []
        if regressed:
            shown = ", ".join(_regression_brief(r) for r in regressed[:3])
            more = f", +{len(regressed) - 3} more" if len(regressed) > 3 else ""
            parts.append(f"{_plural(len(regressed), 'regression')} ({shown}{more})")
        if breaches:
            shown = ", ".join(f"{t.benchmark} {t.metric}" for t in breaches[:3])
            more = f", +{len(breaches) - 3} more" if len(breaches) > 3 else ""
            parts.append(f"{_plural(len(breaches), 'target breach', 'target breaches')} ({shown}{more})")
        if missing:
            parts.append(f"{len(missing)} missing ({', '.join(r.benchmark for r in missing[:3])})")
        if self.failed:
            return "FAIL: " + ", ".join(parts)
        counts = self.counts()
        quiet = [f"{counts[s]} {s}" for s in ("unchanged", "improved", "noise", "insufficient", "new", "skipped")
                 if counts.get(s)]
        met = sum(1 for t in self.targets if t.status == "ok")
        checked = sum(1 for t in self.targets if t.status in ("ok", "breach"))
        quiet.append(f"{met} of {checked} targets met" if met < checked else
                     f"{met} targets met" if checked else "no targets checked")
        if inherited:
            shown = ", ".join(f"{t.benchmark} {t.metric}" for t in inherited[:3])
            more = f", +{len(inherited) - 3} more" if len(inherited) > 3 else ""
            quiet.append(f"{_plural(len(inherited), 'target breach', 'target breaches')} inherited from the base "
                         f"({shown}{more})")
        if parts:  # failures demoted to warnings by --no-fail-on-timing
            return "PASS (timing not enforced): " + ", ".join(parts) + "; " + ", ".join(quiet)
        return "PASS: " + ", ".join(quiet)

    def to_dict(self) -> dict:
        return {
            "verdict": "fail" if self.failed else "pass",
            "exit_code": self.exit_code,
            "headline": self.headline(),
            "mode": self.mode,
            "profile": self.profile,
            "threshold": self.threshold,
            "alpha": self.alpha,
            "fail_on_timing": self.fail_on_timing,
            "cross_machine": self.cross_machine,
            "warnings": list(self.warnings),
            "counts": self.counts(),
            "rows": [_clean(r) for r in self.rows],
            "targets": [_clean(t) for t in self.targets],
        }


def _clean(row: VerdictRow | TargetRow) -> dict:
    """The row as a flat dict (its fields are plain values), non-finite floats as None."""
    d = {f.name: getattr(row, f.name) for f in fields(row)}
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _regression_brief(r: VerdictRow) -> str:
    p = "" if r.p_value is None else (" p<0.001" if r.p_value < 0.001 else f" p={r.p_value:.3f}")
    metric = "" if r.metric == "real_time" else f" [{r.metric}]"
    delta = f"{r.delta_pct:+.1f}%" if r.delta_pct is not None else "from a zero baseline"
    return f"{r.benchmark}{metric} {delta}{p}"


status_rank = status.rank


# --------------------------------------------------------------------------- decide

def decide(baseline: RunData | None, current: RunData, targets: Targets = EMPTY_TARGETS,
           settings: Settings | None = None) -> Verdict:
    """Judges `current` against `baseline` (None: no relative verdicts) and the targets."""
    settings = settings or Settings()
    warnings: list[str] = []
    cross_machine = False
    if baseline is not None and settings.mode == "baseline":
        if baseline.machine and current.machine and baseline.machine != current.machine:
            cross_machine = True
            warnings.append(
                f"CROSS-MACHINE: the baseline was recorded on '{baseline.machine}', this run on "
                f"'{current.machine}'; relative verdicts compare different machines"
            )
        elif not baseline.machine or not current.machine:
            warnings.append("the baseline or the results carry no machine fingerprint (statestore_machine): "
                            "cannot tell whether they come from the same machine")
        if baseline.profile and current.profile and baseline.profile != current.profile:
            warnings.append(f"the baseline is of profile '{baseline.profile}', the results of '{current.profile}'")
    if current.ctx("statestore_build_type") == "":
        warnings.append(f"results file {current.path} does not say its build type (statestore_build_type)")
    if current.ctx("statestore_git_dirty") == "true":
        warnings.append("the results come from a working tree with uncommitted changes")
    if current.ctx("statestore_slowdown") not in ("", "none"):
        warnings.append(f"the results were built with an injected slowdown ({current.ctx('statestore_slowdown')})")

    if baseline is not None and is_instruction_run(current):
        for key in ("statestore_compiler", "statestore_cxx_flags"):
            if baseline.ctx(key) != current.ctx(key):
                raise PerfGateError(
                    f"instruction counts depend on the compiler and flags: the baseline has {key} "
                    f"'{baseline.ctx(key)}', the results '{current.ctx(key)}'; record a new baseline")
    rows = _relative_rows(baseline, current, targets, settings, cross_machine) if baseline is not None else []
    # F-PERF-001 targets are times and allocations, which an instruction run does not measure.
    base_for_targets = baseline if settings.mode == "ab" else None
    target_rows = [] if is_instruction_run(current) else _target_rows(current, targets, settings, base_for_targets)
    if not settings.fail_on_timing:
        demoted = [r for r in rows if r.status in FAILING_RELATIVE] + \
                  [t for t in target_rows if t.status == "breach" and t.metric != "allocs"
                   and t.note != INHERITED_BREACH]
        if demoted:
            warnings.append(f"--no-fail-on-timing: {len(demoted)} timing failure(s) reported as warnings")
    return Verdict(settings.mode, rows, target_rows, warnings, cross_machine, current.profile,
                   settings.threshold, settings.alpha, settings.fail_on_timing)


class _Pending(NamedTuple):
    """A benchmark x metric present on both sides, waiting for its comparison."""

    name: str
    metric: str
    rule: analyse.MetricRule
    threshold: float


def is_instruction_run(run: RunData) -> bool:
    """Results of state_instr under callgrind (benchrun instr): their real_time is a
    placeholder holding the instruction count, so only instructions_per_op is judged."""
    return run.ctx("statestore_metric") == "instructions"


def _relative_rows(baseline: RunData, current: RunData, targets: Targets, settings: Settings,
                   cross_machine: bool) -> list[VerdictRow]:
    rows: list[VerdictRow | _Pending] = []
    in_current = set(current.order)
    names = list(current.order) + [b for b in baseline.order if b not in in_current]
    for name in names:
        in_base, in_cur = baseline.has(name), current.has(name)
        if name in current.skipped:
            rows.append(VerdictRow(name, "real_time", "skipped", note=current.skipped[name]))
            continue
        if not in_cur:
            if in_base:
                rows.append(VerdictRow(name, "real_time", "missing", fails=settings.fail_on_timing,
                                       baseline=baseline.center(name, "real_time"),
                                       note="in the baseline but not in the results"))
            continue  # skipped in the baseline and absent now: nothing to say
        metrics = [m for m in analyse.METRIC_RULES if m in current.metrics_of(name)
                   and not (m == "real_time" and is_instruction_run(current))]
        for metric in metrics:
            rule = analyse.METRIC_RULES[metric]
            if not in_base or metric not in baseline.metrics_of(name):
                note = f"skipped in the baseline: {baseline.skipped[name]}" if name in baseline.skipped else ""
                rows.append(VerdictRow(name, metric, "new", current=current.center(name, metric), note=note,
                                       n_current=len(current.values(name, metric))))
                continue
            fallback = rule.default_threshold if rule.default_threshold is not None else settings.threshold
            threshold = targets.threshold_for(name, fallback) if metric == "real_time" else fallback
            rows.append(_Pending(name, metric, rule, threshold))
    # Judge the pending rows with all their U tests in one batch (fast for 500 benchmarks).
    pending = {i: r for i, r in enumerate(rows) if isinstance(r, _Pending) and r.rule.u_test}
    tests = [i for i, r in pending.items()
             if analyse.needs_u_test(baseline.values(r.name, r.metric), current.values(r.name, r.metric))]
    pvalues = dict(zip(tests, analyse.u_test_p_values(
        [(baseline.values(pending[i].name, pending[i].metric), current.values(pending[i].name, pending[i].metric))
         for i in tests])))
    sides = _Sides(baseline, current, settings, cross_machine)
    return [_judge(sides, r, pvalues.get(i)) if isinstance(r, _Pending) else r for i, r in enumerate(rows)]


def _paired_rounds(baseline: RunData, current: RunData, name: str,
                   metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(base, head) values ordered by round when both sides hold exactly the same
    rounds (repetition indices), at least analyse.MIN_PAIRS of them; else None."""
    base = baseline.samples_by_repetition(name, metric)
    head = current.samples_by_repetition(name, metric)
    if set(base) != set(head) or len(base) < analyse.MIN_PAIRS:
        return None
    rounds = sorted(base)
    return np.array([base[r] for r in rounds]), np.array([head[r] for r in rounds])


@dataclass(frozen=True)
class _Sides:
    """What every relative row of one decision is judged with."""

    baseline: RunData
    current: RunData
    settings: Settings
    cross_machine: bool


def _compare(sides: _Sides, pending: _Pending, p_value: float | None) -> analyse.Comparison:
    name, metric, rule = pending.name, pending.metric, pending.rule
    base, cur = sides.baseline, sides.current
    pairs = _paired_rounds(base, cur, name, metric) if sides.settings.mode == "ab" and rule.u_test else None
    if pairs is not None:
        return analyse.compare_paired(*pairs)
    return analyse.compare(base.values(name, metric), cur.values(name, metric), u_test=rule.u_test,
                           base_median=base.center(name, metric), current_median=cur.center(name, metric),
                           p_value=p_value)


def _classify(cmp: analyse.Comparison, threshold: float, alpha: float) -> tuple[str, str]:
    """(status, note) of one comparison; the status table is in tools/perfgate/README.md."""
    if not analyse.beyond(cmp.delta, threshold):
        return status.UNCHANGED, ""
    direction = status.REGRESSED if cmp.delta > 0 else status.IMPROVED
    if not cmp.testable:
        if analyse.gross(cmp.delta):
            return direction, (f"{cmp.reason}; judged on the change alone: beyond the gross bound "
                               f"(x{analyse.GROSS_FACTOR:g} either way)")
        return status.INSUFFICIENT, cmp.reason
    if cmp.p_value is None or cmp.p_value < alpha:
        return direction, "consider refreshing the baseline" if direction == status.IMPROVED else ""
    spread = "the per-round ratios" if cmp.reason == "paired rounds" else "the repetitions"
    return status.NOISE, f"p={cmp.p_value:.3f} >= alpha {alpha:g}: within the spread of {spread}"


def _judge(sides: _Sides, pending: _Pending, p_value: float | None) -> VerdictRow:
    settings = sides.settings
    cmp = _compare(sides, pending, p_value)
    verdict_status, note = _classify(cmp, pending.threshold, settings.alpha)
    row = VerdictRow(
        benchmark=pending.name, metric=pending.metric, status=verdict_status,
        fails=verdict_status == status.REGRESSED and settings.fail_on_timing,
        baseline=cmp.base_median, current=cmp.current_median,
        delta_pct=cmp.delta * 100 if math.isfinite(cmp.delta) else None,
        p_value=cmp.p_value, threshold=pending.threshold, n_baseline=cmp.n_base, n_current=cmp.n_current,
        note=note, cross_machine=sides.cross_machine, paired=cmp.reason == "paired rounds" and cmp.testable,
    )
    if settings.confirm_from is not None and settings.confirm_from.get(pending.name) == status.REGRESSED:
        row.confirmation = status.CONFIRMED if verdict_status == status.REGRESSED else status.NOT_REPRODUCED
    return row


INHERITED_BREACH = "the base build breaches it too: not caused by this change"


def _target_rows(current: RunData, targets: Targets, settings: Settings,
                 base: RunData | None = None) -> list[TargetRow]:
    """Target rows of `current`. `base` (A/B mode): a breach that the base build
    shows as well is reported but does not fail, since the change did not cause it."""
    rows: list[TargetRow] = []
    profile = current.profile
    for target in targets.targets:
        if not target.applies_to(profile):
            continue
        if target.benchmark in current.skipped:
            rows.append(TargetRow(target.benchmark, target.metric, target.limit, target.unit, "skipped",
                                  source=target.source, note=current.skipped[target.benchmark]))
            continue
        if not current.has(target.benchmark):
            which = f"profile '{profile}'" if profile else "these results (no statestore_profile)"
            raise PerfGateError(
                f"targets file {targets.path}: target {target.benchmark} ({target.metric}) applies to {which} "
                f"but the results file {current.path} has no such benchmark"
            )
        value = _target_value(current, target)
        if value is None:
            raise PerfGateError(
                f"targets file {targets.path}: target {target.benchmark} ({target.metric}) needs counter "
                f"{target.sample_metric}, which the results file {current.path} does not report for it"
            )
        breach = value > target.limit
        fails = breach and (settings.fail_on_timing or target.metric == "allocs")
        note = ""
        if breach and base is not None and base.has(target.benchmark):
            base_value = _target_value(base, target)
            if base_value is not None and base_value > target.limit:
                fails, note = False, INHERITED_BREACH
        rows.append(TargetRow(target.benchmark, target.metric, target.limit, target.unit,
                              "breach" if breach else "ok", fails=fails, value=value, source=target.source,
                              note=note))
    return rows


def _target_value(run: RunData, target: Target) -> float | None:
    values = run.values(target.benchmark, target.sample_metric)
    if len(values):
        return analyse.statistic(values, target.statistic)
    # Aggregate-only results: the matching aggregate is the best we have.
    stat = "mean" if target.statistic == "mean" else "median"
    value = run.aggregate(target.benchmark, target.sample_metric, stat)
    if value is None and target.statistic != "mean":
        value = run.aggregate(target.benchmark, target.sample_metric, "mean")
    return value
