"""Change-point detection on a benchmark's history: where did its level move?

Method: e-divisive means (Matteson & James, "A Nonparametric Approach for
Multiple Change Point Analysis of Multivariate Data", JASA 2014) with the
simplifications Apache Otava (formerly Hunter, Daly et al. 2020) made for
performance series: the split statistic only looks at "everything before"
against "everything after" the candidate (no search over the segment end), and
every change point is re-tested against its neighbours once all are found.

Per series (one benchmark x metric x machine x profile, in commit order):

1. The values are log-transformed when all are positive, so a step is a ratio
   and a +10% step is the same size at 5 ns and at 5 ms.
2. Binary segmentation: in a segment, the values are clipped to its median
   +- 3 MAD (so one outlier run weighs no more than a 3-sigma point; ranks,
   the other option, lose the edges: a 4-run step at the end of 24 runs is
   then never significant), and the split tau maximising the energy
   statistic Q(tau) (alpha = 1: mean absolute differences, which does not
   assume normal noise) is a candidate; a permutation test of max Q over all
   splits gives its p-value. Significant -> split and recurse on both sides.
   Segments longer than ``window`` are searched in overlapping windows (the
   cost of the test is quadratic in its length).
3. Pruning (the guard against a level shift found twice and against windows):
   candidates closer than ``min_segment`` keep the stronger one; then each
   change point is re-tested with a fixed-split permutation test between the
   points since the previous change and the points up to the next one; the
   weakest insignificant one is dropped and the rest re-tested until all pass.
4. Guards: every segment keeps at least ``min_segment`` points, so one outlier
   run (or the last one or two runs of the history) never forms a level of its
   own, and a change at the very end is reported once ``min_segment`` runs
   confirm it. A change smaller than ``min_change`` is not reported.

Size: the Hodges-Lehmann estimate of the shift between the two neighbouring
segments (median of all pairwise differences, on the log scale a ratio) with
its distribution-free confidence interval (order statistics of the pairwise
differences at the Mann-Whitney critical value).

Deterministic: the permutations come from a generator seeded by ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

# A series or a sample: a list of floats or a 1-D array of them.
Values = Sequence[float] | np.ndarray
# A statistic of a batch of distance matrices (R, n, n): one value per matrix (R,).
BatchStatistic = Callable[[np.ndarray], np.ndarray]

# Two-sided 95% normal quantile, for the Hodges-Lehmann interval.
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Settings:
    """Detection parameters; the defaults are what README's detection table measured."""

    alpha: float = 0.01          # significance of each permutation test
    permutations: int = 199      # permutation test size (p resolution 1/(permutations + 1))
    min_segment: int = 4         # fewest points a level may have (outlier and edge guard)
    window: int = 60             # longest segment searched at once (cost is quadratic in it)
    min_change: float = 0.0      # smallest |relative change| reported (0: every significant one)
    seed: int = 20140101         # seeds the permutations: same series -> same answer
    ranks: bool = False          # test on the ranks of the values in the segment
    clip: float = 3.0            # else clip values beyond median +- clip x MAD of the segment (0: off)

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), not {self.alpha}")
        if self.min_segment < 2:
            raise ValueError(f"min_segment must be >= 2, not {self.min_segment}")
        if self.window < 4 * self.min_segment:
            raise ValueError(f"window ({self.window}) must be at least 4 x min_segment ({self.min_segment})")
        if self.permutations < 1:
            raise ValueError(f"permutations must be >= 1, not {self.permutations}")


@dataclass(frozen=True)
class ChangePoint:
    """A level change: points [index, ...) are the new level, [..., index) the old one."""

    index: int
    p_value: float
    before: float            # median of the old level (original units)
    after: float             # median of the new level
    change: float            # relative change (after/before - 1), Hodges-Lehmann estimate
    ci_low: float            # 95% confidence interval of `change`
    ci_high: float
    relative: bool = True    # False when the series has values <= 0: change is then after - before
    segment_before: tuple[int, int] = field(default=(0, 0))   # the points compared, [start, end)
    segment_after: tuple[int, int] = field(default=(0, 0))


def detect(values: Values, settings: Settings | None = None) -> list[ChangePoint]:
    """Change points of one series in order, oldest first. NaNs are not allowed."""
    settings = settings or Settings()
    raw = np.asarray(values, dtype=float)
    if raw.ndim != 1:
        raise ValueError("detect takes one series")
    if not np.all(np.isfinite(raw)):
        raise ValueError("series has NaN or infinite values")
    n = len(raw)
    if n < 2 * settings.min_segment:
        return []
    relative = bool(np.all(raw > 0))
    series = _Series(raw, np.log(raw) if relative else raw, relative)
    rng = np.random.default_rng(settings.seed)
    candidates: dict[int, float] = {}
    for start, end in _windows(n, settings.window):
        _segment(series.x, start, end, settings, rng, candidates)
    points = _dedupe(candidates, settings.min_segment)
    points = _prune(series.x, points, settings, rng)
    out = []
    for i, (cp, p) in enumerate(points):
        lo = points[i - 1][0] if i else 0
        hi = points[i + 1][0] if i + 1 < len(points) else n
        lo = max(lo, cp - settings.window // 2)
        hi = min(hi, cp + settings.window // 2)
        out.append(_describe(series, cp, (lo, hi), p))
    return [c for c in out if abs(c.change) >= settings.min_change or not c.relative]


@dataclass(frozen=True)
class _Series:
    """A series as detection sees it: its values (`raw`), and `x`, what the tests run on: their
    logarithms when all are positive (`relative`: a change is then a ratio), else `raw` itself."""

    raw: np.ndarray
    x: np.ndarray
    relative: bool


def _windows(n: int, window: int) -> list[tuple[int, int]]:
    if n <= window:
        return [(0, n)]
    step = window // 2
    starts = list(range(0, n - window + 1, step))
    if starts[-1] + window < n:
        starts.append(n - window)
    return [(s, s + window) for s in starts]


def _segment(x: np.ndarray, start: int, end: int, settings: Settings, rng: np.random.Generator,
             found: dict[int, float]) -> None:
    """Binary segmentation of x[start:end]; adds {index: p} of significant splits to `found`."""
    m = settings.min_segment
    if end - start < 2 * m:
        return
    seg = _robust(x[start:end], settings)
    dist = np.abs(seg[:, None] - seg[None, :])
    q = _q_statistic(dist[None], m)[0]
    if not np.any(q > 0):
        return
    tau = int(np.argmax(q))
    p = _permutation_p(dist, float(q[tau]), settings, rng, lambda d: _q_statistic(d, m).max(axis=1))
    if p >= settings.alpha:
        return
    cp = start + m + tau
    found[cp] = min(p, found.get(cp, 1.0))
    _segment(x, start, cp, settings, rng, found)
    _segment(x, cp, end, settings, rng, found)


def _robust(v: np.ndarray, settings: Settings) -> np.ndarray:
    if settings.ranks:
        return _ranks(v)
    if settings.clip:
        med = np.median(v)
        mad = 1.4826 * np.median(np.abs(v - med))
        if mad > 0:
            return np.clip(v, med - settings.clip * mad, med + settings.clip * mad)
    return v


def _ranks(v: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of v, ties sharing their mean rank."""
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    ranks[order] = np.arange(len(v), dtype=float)
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    if len(counts) < len(v):  # average the ranks of ties
        sums = np.bincount(inverse, weights=ranks)
        ranks = (sums / counts)[inverse]
    return ranks


def _q_statistic(dist: np.ndarray, m: int) -> np.ndarray:
    """Q(tau) of e-divisive means (alpha = 1) for tau = m .. n - m, per matrix of a batch (R, n, n).

    Q(tau) = tau (n - tau) / n * [2/(tau (n-tau)) sum|X-Y| - 1/C(tau,2) sum_{i<k}|X_i-X_k|
                                  - 1/C(n-tau,2) sum_{j<k}|Y_j-Y_k|]
    """
    n = dist.shape[-1]
    rows = dist.sum(axis=2)                              # (R, n): sum_j |x_i - x_j|
    upper = np.triu(dist, 1).sum(axis=1)                 # (R, n): sum_{i<t} |x_i - x_t|
    within_left = np.concatenate([np.zeros((dist.shape[0], 1)), np.cumsum(upper, axis=1)], axis=1)  # pairs in [0,tau)
    row_cum = np.concatenate([np.zeros((dist.shape[0], 1)), np.cumsum(rows, axis=1)], axis=1)
    total = within_left[:, -1:]                          # all pairs i<k
    tau = np.arange(m, n - m + 1)
    wl = within_left[:, tau]
    cross = row_cum[:, tau] - 2 * wl                     # sum over i<tau<=j of |x_i - x_j|
    wr = total - wl - cross
    left, right = tau.astype(float), (n - tau).astype(float)
    energy = (2 * cross / (left * right) - wl / (left * (left - 1) / 2) - wr / (right * (right - 1) / 2))
    return left * right / n * energy


def _permutation_p(dist: np.ndarray, observed: float, settings: Settings, rng: np.random.Generator,
                   statistic: BatchStatistic) -> float:
    """(1 + #{permuted >= observed}) / (1 + permutations), stopping as soon as p >= alpha is certain."""
    n = dist.shape[0]
    limit = math.ceil(settings.alpha * (settings.permutations + 1))  # this many exceedances: p >= alpha
    exceed = done = 0
    batch = 16
    tolerance = 1e-12 * max(1.0, abs(observed))
    while done < settings.permutations:
        k = min(batch, settings.permutations - done)
        perms = np.argsort(rng.random((k, n)), axis=1)
        permuted = dist[perms[:, :, None], perms[:, None, :]]
        exceed += int(np.sum(statistic(permuted) >= observed - tolerance))
        done += k
        if exceed >= limit:  # p >= alpha whatever the remaining permutations give: not significant
            return max(settings.alpha, (1 + exceed) / (1 + done))
        batch *= 2
    return (1 + exceed) / (1 + settings.permutations)


def _dedupe(candidates: dict[int, float], min_segment: int) -> list[tuple[int, float]]:
    """Candidates closer than min_segment (found by overlapping windows) keep the most significant."""
    kept: list[tuple[int, float]] = []
    for cp, p in sorted(candidates.items(), key=lambda kv: (kv[1], kv[0])):
        if all(abs(cp - other) >= min_segment for other, _ in kept):
            kept.append((cp, p))
    return sorted(kept)


def _prune(x: np.ndarray, points: list[tuple[int, float]], settings: Settings,
           rng: np.random.Generator) -> list[tuple[int, float]]:
    """Re-tests each change point between its neighbours; drops the weakest failing one until all pass."""
    half = settings.window // 2
    while points:
        tested = []
        for i, (cp, _) in enumerate(points):
            lo = points[i - 1][0] if i else 0
            hi = points[i + 1][0] if i + 1 < len(points) else len(x)
            lo, hi = max(lo, cp - half), min(hi, cp + half)
            tested.append((cp, _fixed_split_p(x[lo:hi], cp - lo, settings, rng)))
        worst = max(range(len(tested)), key=lambda i: tested[i][1])
        if tested[worst][1] < settings.alpha:
            return tested
        points = [pt for i, pt in enumerate(tested) if i != worst]
    return []


def _fixed_split_p(seg: np.ndarray, tau: int, settings: Settings, rng: np.random.Generator) -> float:
    """Permutation p-value of the energy statistic of seg[:tau] against seg[tau:]."""
    n = len(seg)
    if min(tau, n - tau) < 2:
        return 1.0
    seg = _robust(seg, settings)
    dist = np.abs(seg[:, None] - seg[None, :])
    q_at = _fixed_q(tau)
    observed = float(q_at(dist[None])[0])
    if observed <= 0:
        return 1.0
    return _permutation_p(dist, observed, settings, rng, q_at)


def _fixed_q(tau: int) -> BatchStatistic:
    """The energy statistic of the split at `tau`, per matrix of a batch."""
    def q(dist: np.ndarray) -> np.ndarray:
        n = dist.shape[-1]
        left, right = float(tau), float(n - tau)
        cross = dist[:, :tau, tau:].sum(axis=(1, 2))
        wl = dist[:, :tau, :tau].sum(axis=(1, 2)) / 2
        wr = dist[:, tau:, tau:].sum(axis=(1, 2)) / 2
        energy = 2 * cross / (left * right) - wl / (left * (left - 1) / 2) - wr / (right * (right - 1) / 2)
        return left * right / n * energy
    return q


def _describe(series: _Series, cp: int, segment: tuple[int, int], p: float) -> ChangePoint:
    """The change at `cp` between the points of `segment`, [lo, hi), on either side of it."""
    lo, hi = segment
    shift, low, high = hodges_lehmann(series.x[lo:cp], series.x[cp:hi])
    if series.relative:
        shift, low, high = math.expm1(shift), math.expm1(low), math.expm1(high)
    return ChangePoint(index=cp, p_value=p, before=float(np.median(series.raw[lo:cp])),
                       after=float(np.median(series.raw[cp:hi])), change=shift, ci_low=low, ci_high=high,
                       relative=series.relative, segment_before=(lo, cp), segment_after=(cp, hi))


def hodges_lehmann(before: Values, after: Values) -> tuple[float, float, float]:
    """Shift estimate of `after` over `before` and its 95% distribution-free interval."""
    a, b = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    diffs = np.sort((b[None, :] - a[:, None]).ravel())
    m, n = len(a), len(b)
    estimate = float(np.median(diffs))
    k = int(math.floor(m * n / 2 - Z_95 * math.sqrt(m * n * (m + n + 1) / 12)))
    if k < 0:
        return estimate, float(diffs[0]), float(diffs[-1])
    return estimate, float(diffs[k]), float(diffs[len(diffs) - 1 - k])
