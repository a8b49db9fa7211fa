"""Pure statistics, checked against numbers worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edgecheck.bench.stats import (
    Estimate,
    SampleStats,
    StatsError,
    bootstrap,
    ratio_of_medians,
)

SKEWED = [1.0, 2.0, 3.0, 4.0, 100.0]


def test_location_and_spread_of_a_skewed_sample():
    s = SampleStats(SKEWED)
    assert s.n == 5
    assert s.median == 3.0
    assert s.mean == 22.0
    assert (s.min, s.max) == (1.0, 100.0)
    # linear interpolation: q1 at position 1 -> 2.0, q3 at position 3 -> 4.0
    assert (s.q1, s.q3, s.iqr) == (2.0, 4.0, 2.0)
    # |x - 3| = 2, 1, 0, 1, 97 -> median 1
    assert s.mad == 1.0
    # sum of squared deviations 7610 over n - 1 = 4
    assert s.stddev == pytest.approx(math.sqrt(7610 / 4))
    assert s.cov == pytest.approx(math.sqrt(7610 / 4) / 22.0)


def test_percentiles_interpolate_linearly():
    s = SampleStats(SKEWED)
    assert s.percentile(90) == pytest.approx(61.6)  # position 3.6: 4 + 0.6 * 96
    assert s.percentile(0) == 1.0 and s.percentile(100) == 100.0
    assert s.percentiles[50] == 3.0
    assert s.percentiles[95] == pytest.approx(80.8)  # position 3.8
    assert s.percentiles[99] == pytest.approx(96.16)  # position 3.96
    assert list(s.percentiles) == [50, 90, 95, 99]
    with pytest.raises(StatsError, match="percentile 101"):
        s.percentile(101)


def test_even_count_median_and_quartiles():
    s = SampleStats([4.0, 1.0, 3.0, 2.0])
    assert s.median == 2.5
    assert (s.q1, s.q3) == (1.75, 3.25)  # positions 0.75 and 2.25


def test_bootstrap_interval_contains_the_median_and_is_reproducible():
    rng = np.random.default_rng(7)
    samples = 1e-3 * (1 + 0.05 * rng.standard_normal(200))
    a, b = SampleStats(samples, seed=1), SampleStats(samples, seed=1)
    assert a.ci.low <= a.median <= a.ci.high
    assert a.ci.contains(a.median)
    assert (a.ci.low, a.ci.high) == (b.ci.low, b.ci.high)
    assert a.ci.confidence == 0.95 and a.ci.n_boot == 2000
    assert 0 < a.relative_ci_width < 0.05


def test_interval_narrows_with_more_samples():
    rng = np.random.default_rng(3)
    few = SampleStats(1 + 0.1 * rng.standard_normal(20))
    many = SampleStats(1 + 0.1 * rng.standard_normal(2000))
    assert many.relative_ci_width < few.relative_ci_width


def test_single_sample_has_a_degenerate_interval():
    s = SampleStats([0.5])
    assert (s.ci.low, s.ci.high, s.ci.n_boot) == (0.5, 0.5, 0)
    assert s.stddev == 0.0 and s.iqr == 0.0 and s.mad == 0.0


def test_constant_samples_have_zero_width():
    s = SampleStats([2e-3] * 50)
    assert s.ci.width == 0.0 and s.relative_ci_width == 0.0 and s.cov == 0.0


def test_bad_samples_are_refused_with_the_reason():
    with pytest.raises(StatsError, match="no values"):
        SampleStats([])
    with pytest.raises(StatsError, match="1 of 3 values are NaN or infinite"):
        SampleStats([1.0, float("nan"), 2.0])


def test_samples_are_copied_not_shared():
    values = [1.0, 2.0, 3.0]
    s = SampleStats(values)
    values[0] = 100.0
    assert s.max == 3.0
    with pytest.raises(ValueError):
        s.data[0] = 5.0


def test_as_dict_is_json_ready_and_complete():
    d = SampleStats(SKEWED).as_dict()
    json.dumps(d)
    for key in ("n", "median", "mean", "min", "max", "iqr", "mad", "cov", "p50", "p90", "p95",
                "p99", "ci_low", "ci_high", "relative_ci_width"):  # fmt: skip
        assert key in d
    assert d["median"] == 3.0 and d["p90"] == pytest.approx(61.6)


def test_ratio_of_medians_of_exact_samples():
    r = ratio_of_medians([2.0, 2.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0])
    assert (r.value, r.low, r.high) == (2.0, 2.0, 2.0)
    assert r.method == "paired"
    r = ratio_of_medians([10.0, 12.0, 11.0], [5.0, 6.0, 5.5])
    assert r.value == pytest.approx(2.0)  # 11 / 5.5


def test_ratio_interval_contains_the_true_speedup():
    rng = np.random.default_rng(11)
    one_core = 2e-3 * (1 + 0.03 * rng.standard_normal(300))
    two_cores = 1e-3 * (1 + 0.03 * rng.standard_normal(300))
    r = ratio_of_medians(one_core, two_cores)
    assert r.low <= r.value <= r.high
    assert r.contains(2.0)
    assert r.relative_width < 0.05


def test_pairing_cancels_drift_shared_by_both_configurations():
    # A machine that slows down halfway: both configurations see the same drift, round by round.
    drift = np.repeat([1.0, 1.6], 100)
    rng = np.random.default_rng(5)
    a = 2.0 * drift * (1 + 0.01 * rng.standard_normal(200))
    b = 1.0 * drift * (1 + 0.01 * rng.standard_normal(200))
    paired = ratio_of_medians(a, b, paired=True)
    independent = ratio_of_medians(a, b, paired=False)
    assert paired.method == "paired" and independent.method == "independent"
    assert paired.contains(2.0)
    assert paired.width < independent.width


def test_paired_needs_equal_lengths_and_auto_falls_back():
    with pytest.raises(StatsError, match="equal length"):
        ratio_of_medians([1.0, 2.0], [1.0], paired=True)
    assert ratio_of_medians([1.0, 2.0, 3.0], [1.0, 1.0]).method == "independent"
    with pytest.raises(StatsError, match="median is 0"):
        ratio_of_medians([1.0], [0.0])


def test_bootstrap_of_a_custom_statistic_difference_of_speedups():
    # speedup(b4) - speedup(b1): 3.0 - 1.5 = 1.5 on exact samples.
    t1_b1, t2_b1 = [3.0] * 10, [2.0] * 10
    t1_b4, t2_b4 = [6.0] * 10, [2.0] * 10

    def gain(a, b, c, d):
        med = np.median
        return med(c, axis=-1) / med(d, axis=-1) - med(a, axis=-1) / med(b, axis=-1)

    e = bootstrap([t1_b1, t2_b1, t1_b4, t2_b4], gain)
    assert isinstance(e, Estimate)
    assert (e.value, e.low, e.high) == (1.5, 1.5, 1.5)
    assert e.as_dict()["value"] == 1.5


def test_bootstrap_rejects_bad_settings():
    with pytest.raises(StatsError, match="confidence"):
        bootstrap([[1.0, 2.0]], lambda a: np.median(a, axis=-1), confidence=1.0)
    with pytest.raises(StatsError, match="n_boot"):
        bootstrap([[1.0, 2.0]], lambda a: np.median(a, axis=-1), n_boot=0)
    with pytest.raises(StatsError, match="at least one sample set"):
        bootstrap([], lambda: np.zeros(1))


def test_large_samples_are_bootstrapped_in_bounded_chunks():
    # 50,000 samples x 2,000 resamples would be 800 MB at once; chunks keep it small.
    rng = np.random.default_rng(0)
    s = SampleStats(1 + 0.01 * rng.standard_normal(50_000), n_boot=200)
    assert s.ci.low < s.median < s.ci.high


def test_paired_ratio_pairs_rounds_so_common_drift_cancels():
    from edgecheck.bench.stats import paired_ratio, per_round, ratio_of_medians

    rng = np.random.default_rng(3)
    drift = np.repeat(rng.uniform(0.7, 1.6, 60), 5)  # each round's machine speed, 5 calls each
    one = 2.0e-3 * drift * (1 + 0.01 * rng.standard_normal(300))
    two = 1.0e-3 * drift * (1 + 0.01 * rng.standard_normal(300))
    assert per_round(one, 5).shape == (60,)
    paired = paired_ratio(one, two, block=5)
    assert paired.value == pytest.approx(2.0, rel=0.01)
    assert paired.relative_width < 0.02  # drift cancelled round by round
    assert ratio_of_medians(one, two, paired=False).relative_width > 5 * paired.relative_width
    with pytest.raises(StatsError, match="rounds of 7"):
        per_round(one, 7)
    with pytest.raises(StatsError, match="same rounds"):
        paired_ratio(one, two[:-5], block=5)
