"""Change-point detection: steps found where they are, once; outliers, edges and noise left alone."""

import numpy as np
import pytest

from perfgate import changepoints
from perfgate.changepoints import Settings, detect, hodges_lehmann


def noisy(n, sd=0.03, seed=1, level=100.0):
    return level * np.exp(np.random.default_rng(seed).normal(0, sd, n))


def test_a_ten_percent_step_is_found_at_its_commit_with_its_size():
    x = noisy(60)
    x[30:] *= 1.10
    (cp,) = detect(x)
    assert abs(cp.index - 30) <= 2
    assert cp.ci_low < 0.10 < cp.ci_high
    assert 0.07 < cp.change < 0.13 and cp.p_value < Settings().alpha
    assert cp.before < cp.after and cp.relative


def test_an_improvement_is_a_negative_change():
    x = noisy(50, seed=2)
    x[25:] *= 0.8
    (cp,) = detect(x)
    assert cp.index == 25 and cp.change < 0 and cp.ci_high < 0


def test_pure_noise_has_no_change_point():
    assert all(detect(noisy(200, seed=s)) == [] for s in range(5))


def test_one_outlier_run_in_the_middle_is_not_a_change():
    x = noisy(60, seed=3)
    x[31] *= 3
    assert detect(x) == []


@pytest.mark.parametrize("where", [0, 1, -2, -1])
def test_an_outlier_at_the_edge_of_the_history_is_not_a_change(where):
    x = noisy(60, seed=4)
    x[where] *= 2.5
    assert detect(x) == []


def test_a_step_in_the_last_min_segment_runs_is_found_at_its_commit():
    settings = Settings()
    y = noisy(40, seed=5, sd=0.01)
    y[-settings.min_segment:] *= 1.3
    assert [c.index for c in detect(y, settings)] == [40 - settings.min_segment]


def test_a_step_in_a_long_series_is_found_once_across_overlapping_windows():
    x = noisy(400, seed=6)
    x[200:] *= 1.10
    cps = detect(x)
    assert len(cps) == 1 and abs(cps[0].index - 200) <= 2


def test_a_slow_ramp_split_in_two_is_not_reported_twice_within_min_segment():
    x = noisy(80, seed=7, sd=0.01)
    x[40:] *= 1.1
    x[41:] *= 1.02
    idx = [c.index for c in detect(x)]
    assert len(idx) == 1 and idx[0] in (40, 41)


def test_up_then_down_are_two_change_points():
    x = noisy(90, seed=8)
    x[30:60] *= 1.2
    cps = detect(x)
    assert [c.index for c in cps] == [30, 60]
    assert cps[0].change > 0 > cps[1].change
    assert cps[0].segment_after == (30, 60) and cps[1].segment_before == (30, 60)


def test_an_exact_instruction_count_step_is_found_at_the_exact_commit():
    x = np.full(30, 1234.0)
    x[17:] = 1260.0
    (cp,) = detect(x)
    assert cp.index == 17 and cp.change == pytest.approx(26 / 1234)


def test_a_constant_series_has_no_change():
    assert detect(np.full(50, 7.0)) == []
    assert detect(np.zeros(50)) == []


def test_zero_allocations_becoming_one_is_an_absolute_change():
    x = np.zeros(30)
    x[12:] = 1.0
    (cp,) = detect(x)
    assert cp.index == 12 and not cp.relative and cp.change == 1.0


def test_a_series_too_short_for_two_levels_has_none():
    assert detect([1.0, 2.0, 2.0, 2.0, 2.0]) == []


def test_the_same_series_gives_the_same_answer():
    x = noisy(100, seed=9)
    x[50:] *= 1.05
    assert detect(x) == detect(x)


def test_min_change_hides_significant_but_small_steps():
    x = noisy(60, seed=10, sd=0.002)
    x[30:] *= 1.01
    assert len(detect(x)) == 1
    assert detect(x, Settings(min_change=0.02)) == []


def test_bad_series_and_settings_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        detect([1.0, float("nan")] * 10)
    with pytest.raises(ValueError, match="alpha"):
        Settings(alpha=1.5)
    with pytest.raises(ValueError, match="window"):
        Settings(window=10, min_segment=4)


def test_hodges_lehmann_is_the_median_pairwise_shift():
    est, lo, hi = hodges_lehmann([1, 2, 3, 4, 5, 6], [11, 12, 13, 14, 15, 16])
    assert est == 10 and lo <= 10 <= hi and hi - lo < 10


def test_the_split_statistic_matches_its_definition():
    seg = np.random.default_rng(11).normal(size=14)
    m, n = 3, 14
    dist = np.abs(seg[:, None] - seg[None, :])
    q = changepoints._q_statistic(dist[None], m)[0]
    for j, tau in enumerate(range(m, n - m + 1)):
        a, b = seg[:tau], seg[tau:]
        energy = (2 * np.mean(np.abs(a[:, None] - b[None, :]))
                  - np.abs(a[:, None] - a[None, :]).sum() / (tau * (tau - 1))
                  - np.abs(b[:, None] - b[None, :]).sum() / ((n - tau) * (n - tau - 1)))
        assert q[j] == pytest.approx(energy * tau * (n - tau) / n)
