"""The statistics of the gate: how two sets of repetitions are compared.

Contract: ``compare`` (unpaired) and ``compare_paired`` (A/B rounds) take the
baseline's and the current run's values of one metric and return a Comparison: the
relative change of the medians (of the per-round ratios, when paired), a p-value
when the data allow a test, and why not otherwise. They never decide pass or fail
(decide.py does); ``beyond`` and ``gross`` state the two bounds decide compares a
change with.

The methods, in short (the reasoning and the self-test figures behind them are in
tools/perfgate/README.md, "Statistics"):

* medians, not means (repetitions on a shared VM have 20-70% outliers);
* a two-sided Mann-Whitney U test, exact for small samples without ties, with at
  least MIN_REPETITIONS per side (fewer can never reach p < 0.05);
* for paired rounds, an exact two-sided sign test on the per-round ratios, with at
  least MIN_PAIRS rounds;
* deterministic metrics (MetricRule.u_test False: instruction counts) on the median
  alone, no test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.stats import binomtest, mannwhitneyu

# Fewest repetitions per side for which a two-sided U test can reach p < 0.05
# (see the module docstring for the arithmetic).
MIN_REPETITIONS = 4
# Below this many samples per side (and without ties) the exact distribution of U
# is cheap and more accurate than the normal approximation.
EXACT_LIMIT = 8
# Fewest paired rounds for which a two-sided sign test can reach p < 0.05.
MIN_PAIRS = 6
DEFAULT_ALPHA = 0.05
DEFAULT_THRESHOLD = 0.10
# A change is beyond its threshold when larger by more than this relative tolerance:
# (110 - 100) / 100 is 0.10000000000000009 in floating point, and "more than 10%"
# must not include exactly 10%.
THRESHOLD_TOLERANCE = 1e-9
# The gross bound: a change of more than this factor either way (x3 slower, or a third
# of the time) is beyond any noise seen on the shared runners (the committed-baseline
# self-test's worst A/A change was +82%, its worst median move between runs about 2.3x),
# so it is judged on the change alone when too few repetitions leave no test (asv does
# the same with its factor when it cannot test).
GROSS_FACTOR = 3.0


@dataclass(frozen=True)
class MetricRule:
    """How one metric is compared. ``lower_is_better`` for every metric we have."""

    label: str
    unit: str
    u_test: bool  # False: deterministic, compared on the median alone
    default_threshold: float | None = None  # None: the gate's --threshold


# The metrics that get a relative (baseline vs current) verdict. Instruction counts
# (benchrun instr, callgrind) are deterministic: compared on the median, 2% threshold.
METRIC_RULES: dict[str, MetricRule] = {
    "real_time": MetricRule("time", "ns", u_test=True),
    "instructions_per_op": MetricRule("instructions", "instr", u_test=False, default_threshold=0.02),
}


@dataclass(frozen=True)
class Comparison:
    """What the numbers of one benchmark x metric show."""

    base_median: float
    current_median: float
    delta: float  # (current - base) / base; +0.10 = 10% slower
    p_value: float | None  # None when no test was possible or needed
    n_base: int
    n_current: int
    testable: bool  # a U test was possible and done (or the metric is deterministic)
    reason: str = ""  # why no test, when testable is False


def relative_delta(base: float, current: float) -> float:
    """Relative change of current over base; 0 when both are 0; inf when only base is 0."""
    if base == 0:
        return 0.0 if current == 0 else math.inf
    return (current - base) / base


def beyond(delta: float, threshold: float) -> bool:
    """True when the relative change `delta` is beyond `threshold` (more than, with
    THRESHOLD_TOLERANCE: a change of exactly the threshold is not beyond it)."""
    return abs(delta) > threshold * (1 + THRESHOLD_TOLERANCE)


def gross(delta: float) -> bool:
    """True when the change is beyond the gross bound: the ratio current/base above
    GROSS_FACTOR or below 1/GROSS_FACTOR (a zero baseline with a non-zero current included)."""
    ratio = 1 + delta
    return ratio > GROSS_FACTOR * (1 + THRESHOLD_TOLERANCE) or ratio < 1 / GROSS_FACTOR / (1 + THRESHOLD_TOLERANCE)


def _method(base: np.ndarray, current: np.ndarray) -> str | None:
    """scipy's method for one pair, or None when the samples are identical (p = 1)."""
    both = np.concatenate([base, current])
    if np.array_equal(np.sort(base), np.sort(current)) or np.ptp(both) == 0:
        return None  # identical samples: scipy warns and may return nan on all-equal input
    has_ties = len(np.unique(both)) < len(both)
    small = max(len(base), len(current)) <= EXACT_LIMIT
    return "exact" if small and not has_ties else "asymptotic"


def u_test_p_values(pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    """Two-sided Mann-Whitney U p-values of many (base, current) pairs, each side at
    least MIN_REPETITIONS. Pairs of equal sizes and method go to scipy as one 2-D
    call (axis=1), which is what keeps 500 benchmarks fast."""
    result = [1.0] * len(pairs)
    groups: dict[tuple[int, int, str], list[int]] = {}
    arrays = [(np.asarray(b, dtype=float), np.asarray(c, dtype=float)) for b, c in pairs]
    for i, (b, c) in enumerate(arrays):
        method = _method(b, c)
        if method is not None:
            groups.setdefault((len(b), len(c), method), []).append(i)
    for (_nb, _nc, method), idx in groups.items():
        base = np.vstack([arrays[i][0] for i in idx])
        current = np.vstack([arrays[i][1] for i in idx])
        pvalues = np.atleast_1d(mannwhitneyu(current, base, alternative="two-sided", method=method, axis=1).pvalue)
        for i, p in zip(idx, pvalues):
            result[i] = float(p)
    return result


def u_test_p_value(base: np.ndarray, current: np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value of two samples (each at least MIN_REPETITIONS)."""
    return u_test_p_values([(base, current)])[0]


def needs_u_test(base: np.ndarray, current: np.ndarray) -> bool:
    """True when compare() would run a U test on these samples."""
    return len(base) >= MIN_REPETITIONS and len(current) >= MIN_REPETITIONS


def compare(base: np.ndarray, current: np.ndarray, *, u_test: bool = True,
            base_median: float | None = None, current_median: float | None = None,
            p_value: float | None = None) -> Comparison:
    """Compares per-repetition values (lower is better).

    ``base_median``/``current_median``: the medians when already computed (they must be
    the medians of the samples), or, for a side without repetitions (an aggregate-only
    file), its median or mean aggregate; no test is then possible.
    ``p_value``: the U test's result when already computed in a batch
    (u_test_p_values); computed here otherwise.
    """
    base = np.asarray(base, dtype=float)
    current = np.asarray(current, dtype=float)
    bm = float(np.median(base)) if base.size and base_median is None else base_median
    cm = float(np.median(current)) if current.size and current_median is None else current_median
    if bm is None or cm is None:
        raise ValueError("compare needs samples or a median for each side")
    delta = relative_delta(bm, cm)
    nb, nc = int(base.size), int(current.size)
    if not u_test:
        return Comparison(bm, cm, delta, None, nb, nc, testable=True)
    if nb == 0 or nc == 0:
        return Comparison(bm, cm, delta, None, nb, nc, testable=False,
                          reason="aggregate-only results: no repetitions, U test impossible")
    if nb < MIN_REPETITIONS or nc < MIN_REPETITIONS:
        return Comparison(bm, cm, delta, None, nb, nc, testable=False,
                          reason=f"insufficient repetitions ({nb} vs {nc}; a U test needs "
                                 f">= {MIN_REPETITIONS} per side)")
    p = p_value if p_value is not None else u_test_p_value(base, current)
    return Comparison(bm, cm, delta, p, nb, nc, testable=True)


def compare_paired(base: np.ndarray, current: np.ndarray) -> Comparison:
    """Compares paired samples (base[i] and current[i] measured in the same round).

    The change is the median per-pair ratio; the p-value comes from an exact
    two-sided sign test of the ratios (pairs with equal values carry no sign and
    are left out). Needs at least MIN_PAIRS pairs of positive values; with fewer
    it falls back to compare()."""
    base = np.asarray(base, dtype=float)
    current = np.asarray(current, dtype=float)
    if base.shape != current.shape:
        raise ValueError("compare_paired needs samples of equal length")
    bm, cm = float(np.median(base)), float(np.median(current))
    n = int(base.size)
    if n < MIN_PAIRS or np.any(base <= 0) or np.any(current <= 0):
        cmp = compare(base, current)
        return Comparison(cmp.base_median, cmp.current_median, cmp.delta, cmp.p_value, n, n, cmp.testable,
                          cmp.reason)
    logs = np.log(current / base)
    delta = float(np.exp(np.median(logs))) - 1.0
    slower, faster = int(np.sum(logs > 0)), int(np.sum(logs < 0))
    if slower + faster == 0:
        return Comparison(bm, cm, delta, 1.0, n, n, testable=True, reason="paired rounds")
    p = float(binomtest(slower, slower + faster, 0.5, alternative="two-sided").pvalue)
    return Comparison(bm, cm, delta, p, n, n, testable=True, reason="paired rounds")


def statistic(values: np.ndarray, name: str) -> float:
    """median, mean, max or min of a non-empty sample."""
    values = np.asarray(values, dtype=float)
    functions: dict[str, Callable[[np.ndarray], Any]] = {"median": np.median, "mean": np.mean, "max": np.max,
                                                         "min": np.min}
    return float(functions[name](values))
