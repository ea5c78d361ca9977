"""The statistics of the gate: how two sets of repetitions are compared.

One function does the work, ``compare``: given the baseline's and the current
run's per-repetition values of one metric, it returns the relative change of the
medians and, when the data allow, a Mann-Whitney U p-value. It never decides
pass or fail (decide.py does); it only says what the numbers show.

Choices, and why:

* Medians, not means. Repetitions on a shared VM have 20-70% outliers (a
  preempted repetition); the median moves only when most repetitions move.

* Mann-Whitney U, two-sided. The U test makes no normality assumption, which
  matters with 5-10 skewed samples. We test two-sided because the same test also
  backs "improved" verdicts, and because a two-sided test at alpha = 0.05 is
  the conservative choice on a noisy machine (for the regression direction it
  is a one-sided test at 0.025): a false alarm costs an engineer an
  investigation, so we spend sensitivity on fewer false alarms. The direction
  comes from the median delta, which must also exceed the threshold.

* MIN_REPETITIONS = 4 per side. With n = m = 4 and no ties the smallest
  two-sided exact p-value is 2 / C(8,4) = 0.029 < 0.05; with 3 vs 3 it is
  2 / C(6,3) = 0.10, so a test with fewer than four repetitions a side can
  never reach significance at 0.05 and would silently read as "noise". Below
  the limit we say "insufficient repetitions" instead of guessing.

* Exact p-values for small samples without ties (scipy's method="exact"
  below EXACT_LIMIT per side), the normal approximation with tie correction
  otherwise (scipy's method="asymptotic").

* Paired rounds in A/B mode (``compare_paired``). A same-run A/B measures
  base and head in alternating rounds, each round a base run next to a head
  run; the machine's slow spells (2-3x, minutes long) hit both runs of a round
  alike. The per-round ratio head/base cancels them, which the unpaired U test
  cannot: its samples carry the whole between-round spread. So when both sides
  hold the same rounds (repetition indices), the change is the median of the
  per-round ratios and the test is the exact two-sided sign test on them (how
  many rounds head was slower). Not Wilcoxon's signed-rank test: a spell that
  slows one side of one round by 2x gives that round the largest rank, and two
  such rounds out of 16 sank a real +30% to p = 0.058 in the self-test; the
  sign test counts them as two rounds and says p = 0.004. MIN_PAIRS = 6: with
  n pairs the smallest two-sided p is 2 / 2^n, 0.0625 for 5 and 0.031 for 6.

* Deterministic metrics (MetricRule.u_test = False, e.g. callgrind instruction
  counts, issue 6) are compared on the median alone: identical inputs give
  identical counts, so any change beyond the threshold is real and no test is
  needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


# The metrics that get a relative (baseline vs current) verdict. Issue 6's
# instruction counts are already a rule: deterministic, 2% threshold.
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
    return float({"median": np.median, "mean": np.mean, "max": np.max, "min": np.min}[name](values))
