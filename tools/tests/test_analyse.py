"""The statistics module on its own: medians, U-test limits, deterministic metrics."""

import numpy as np
import pytest

from perfgate import analyse


def test_four_fully_separated_repetitions_a_side_reach_significance():
    p = analyse.u_test_p_value(np.array([1.0, 2, 3, 4]), np.array([5.0, 6, 7, 8]))
    assert p == pytest.approx(2 / 70)  # the smallest two-sided exact p for 4 vs 4
    assert p < analyse.DEFAULT_ALPHA


def test_three_repetitions_a_side_could_never_reach_significance_so_the_minimum_is_four():
    from scipy.stats import mannwhitneyu
    best = mannwhitneyu([4.0, 5, 6], [1.0, 2, 3], alternative="two-sided", method="exact").pvalue
    assert best >= analyse.DEFAULT_ALPHA
    assert analyse.MIN_REPETITIONS == 4


def test_identical_samples_give_p_of_one():
    values = np.array([10.0, 11, 12, 13, 14])
    assert analyse.u_test_p_value(values, values.copy()) == 1.0
    assert analyse.u_test_p_value(np.full(5, 3.0), np.full(5, 3.0)) == 1.0


def test_ties_use_the_asymptotic_test_and_still_give_a_probability():
    p = analyse.u_test_p_value(np.array([1.0, 1, 2, 2, 3]), np.array([5.0, 5, 6, 6, 7]))
    assert 0 < p < 0.05


def test_compare_reports_the_relative_change_of_the_medians():
    cmp = analyse.compare(np.array([100.0, 101, 99, 100, 100]), np.array([120.0, 121, 119, 120, 120]))
    assert cmp.base_median == 100 and cmp.current_median == 120
    assert cmp.delta == pytest.approx(0.20)
    assert cmp.testable and cmp.p_value < 0.05
    assert (cmp.n_base, cmp.n_current) == (5, 5)


def test_compare_with_too_few_repetitions_says_so_instead_of_testing():
    cmp = analyse.compare(np.array([100.0, 101]), np.array([150.0, 151]))
    assert not cmp.testable and cmp.p_value is None
    assert cmp.reason == "insufficient repetitions (2 vs 2; a U test needs >= 4 per side)"


def test_compare_without_repetitions_uses_the_given_medians_and_says_no_test_is_possible():
    cmp = analyse.compare(np.empty(0), np.empty(0), base_median=10.0, current_median=13.0)
    assert cmp.delta == pytest.approx(0.3)
    assert cmp.reason == "aggregate-only results: no repetitions, U test impossible"


def test_a_deterministic_metric_is_compared_on_the_median_without_a_test():
    cmp = analyse.compare(np.array([1000.0]), np.array([1030.0]), u_test=False)
    assert cmp.testable and cmp.p_value is None
    assert cmp.delta == pytest.approx(0.03)
    assert analyse.METRIC_RULES["instructions_per_op"].default_threshold == 0.02


def test_relative_delta_handles_zero_baselines():
    assert analyse.relative_delta(0, 0) == 0
    assert analyse.relative_delta(0, 1) == float("inf")
    assert analyse.relative_delta(10, 5) == -0.5


def test_statistic_names():
    v = np.array([1.0, 2, 10])
    assert analyse.statistic(v, "median") == 2
    assert analyse.statistic(v, "mean") == pytest.approx(13 / 3)
    assert analyse.statistic(v, "max") == 10


def test_batched_u_tests_equal_one_by_one_tests():
    rng = np.random.default_rng(7)
    pairs = [(rng.normal(100, 3, 5), rng.normal(100 + shift, 3, 5)) for shift in range(0, 20, 2)]
    pairs += [(np.array([1.0, 1, 2, 2, 3]), np.array([5.0, 5, 6, 6, 7])),  # ties: asymptotic
              (np.full(6, 3.0), np.full(6, 3.0)),  # identical: 1.0
              (rng.normal(10, 1, 10), rng.normal(12, 1, 7))]  # other sizes
    from scipy.stats import mannwhitneyu
    batched = analyse.u_test_p_values(pairs)
    for (b, c), p in zip(pairs[:-2], batched):
        method = "asymptotic" if len(np.unique(np.concatenate([b, c]))) < len(b) + len(c) else "exact"
        assert p == pytest.approx(mannwhitneyu(c, b, alternative="two-sided", method=method).pvalue)
    assert batched[-2] == 1.0
    assert batched[-1] == pytest.approx(mannwhitneyu(pairs[-1][1], pairs[-1][0], alternative="two-sided",
                                                     method="asymptotic").pvalue)


def test_paired_rounds_see_through_a_slow_spell_that_hides_a_slowdown_from_the_u_test():
    # Real shape of an A/B on this VM: the machine's speed moves 3x between
    # rounds; inside each round head is 12% slower than base.
    speed = np.array([1.0, 1.4, 3.0, 1.1, 2.2, 1.0])
    base = 20.0 * speed
    head = base * 1.12
    unpaired = analyse.compare(base, head)
    assert unpaired.p_value > 0.05
    paired = analyse.compare_paired(base, head)
    assert paired.delta == pytest.approx(0.12)
    assert paired.p_value == pytest.approx(2 / 2 ** 6)
    assert paired.testable


def test_paired_rounds_of_identical_builds_show_no_change():
    rng = np.random.default_rng(7)
    base = 20.0 * rng.uniform(1.0, 3.0, 8)
    head = base * rng.uniform(0.97, 1.03, 8)
    paired = analyse.compare_paired(base, head)
    assert abs(paired.delta) < 0.03
    assert paired.p_value > 0.05


def test_too_few_pairs_fall_back_to_the_unpaired_comparison():
    base = np.array([10.0, 11.0, 10.5, 10.2, 10.8])
    head = base * 1.5
    paired = analyse.compare_paired(base, head)
    assert paired.reason != "paired rounds"
    assert paired.delta == pytest.approx(analyse.compare(base, head).delta)


def test_paired_rounds_count_an_outlier_round_as_one_round_not_as_the_biggest_rank():
    # Self-test trial, real numbers: head 25% slower, two rounds where a slow
    # spell doubled the base run. Signed ranks gave p = 0.058; the sign test
    # sees 14 of 16 rounds slower.
    ratios = np.array([1.39, 1.38, 1.42, 1.28, 1.34, 1.35, 1.28, 0.66, 1.37, 0.67, 1.21, 1.24, 1.29, 1.33,
                       1.35, 1.27])
    base = np.full(16, 250.0)
    paired = analyse.compare_paired(base, base * ratios)
    assert paired.p_value == pytest.approx(2 * (1 + 16 + 120) / 2 ** 16)
    assert paired.delta == pytest.approx(np.exp(np.median(np.log(ratios))) - 1)
