"""aigc_lib.evaluation.intervals: the intervals behind every headline number (issue 21)."""
import math

import numpy as np
import pytest
from scipy import stats

from aigc_lib.evaluation.intervals import (Interval, bootstrap_interval, format_headline, seed_interval,
                                           seeds_and_samples_interval, wilson_interval)


def test_format_headline_is_the_course_form():
    assert (format_headline("guided label accuracy", 0.992, 0.985, 0.996, 1000, 3)
            == "guided label accuracy: 0.992 (95% interval 0.985–0.996; 1,000 samples, 3 seeds)")
    assert (format_headline("FID ratio", 0.41, 0.33, 0.52, 250, 1, unit="test digits", digits=2)
            == "FID ratio: 0.41 (95% interval 0.33–0.52; 250 test digits, 1 seed)")
    assert "-0.11 to 0.02" in format_headline("gap", -0.05, -0.11, 0.02, 10)


@pytest.mark.parametrize("bad", [dict(low=2.0), dict(n=0), dict(n=2.5), dict(k=True), dict(value=float("nan"))])
def test_bad_input_is_refused(bad):
    args = dict(value=1.0, low=0.5, high=1.5, n=10, k=1) | bad
    with pytest.raises(ValueError):
        Interval(**args)


def test_seed_interval_is_students_t():
    values = [159.1, 163.8, 139.6]
    ours = seed_interval(values, n=300)
    low, high = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    assert math.isclose(ours.low, low) and math.isclose(ours.high, high) and (ours.n, ours.k) == (300, 3)


def test_seed_interval_covers_95_percent_and_a_normal_quantile_does_not():
    """With 3 seeds the t-interval covers the true mean ~95 % of the time; z = 1.96 (the broken variant) ~80 %."""
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(4000, 3))
    covered = np.mean([seed_interval(d).contains(0.0) for d in draws[:1000]])
    half_z = 1.96 * draws.std(axis=1, ddof=1) / math.sqrt(3)
    covered_z = np.mean(np.abs(draws.mean(axis=1)) <= half_z)
    assert 0.93 < covered < 0.97 and covered_z < 0.85, (covered, covered_z)


@pytest.mark.parametrize("k, n", [(980, 1000), (1000, 1000), (0, 50), (7, 20)])
def test_wilson_matches_scipy(k, n):
    ours = wilson_interval(k, n)
    ref = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    assert math.isclose(ours.low, ref.low, abs_tol=1e-12) and math.isclose(ours.high, ref.high, abs_tol=1e-12)
    assert ours.value == k / n
    with pytest.raises(ValueError):
        wilson_interval(n + 1, n)


def test_bootstrap_of_a_mean_is_close_to_the_normal_interval():
    x = np.random.default_rng(1).normal(2.0, 1.0, size=2000)
    ours = bootstrap_interval(np.mean, x, n_boot=2000)
    half = 1.96 * x.std(ddof=1) / math.sqrt(len(x))
    assert abs(ours.low - (x.mean() - half)) < 0.01 and abs(ours.high - (x.mean() + half)) < 0.01
    assert ours.value == x.mean() and ours.n == 2000


def test_bootstrap_resamples_two_sets_independently():
    rng = np.random.default_rng(2)
    a, b = rng.normal(1.0, 1.0, 500), rng.normal(3.0, 1.0, 500)
    ratio = bootstrap_interval(lambda u, v: u.mean() / v.mean(), a, b, n_boot=500)
    assert ratio.contains(1 / 3) and ratio.high - ratio.low < 0.1


def test_seeds_and_samples_counts_the_spread_between_seeds():
    """Seeds whose means differ by far more than their within-seed noise: the two-level interval is wide,
    a bootstrap that pools the samples (the broken variant) is far too narrow and misses the truth."""
    rng = np.random.default_rng(3)
    seed_means = rng.normal(0.0, 1.0, size=3)
    per_seed = [m + rng.normal(0.0, 0.1, 1000) for m in seed_means]
    both = seeds_and_samples_interval(np.mean, per_seed, n_boot=500)
    pooled = bootstrap_interval(np.mean, np.concatenate(per_seed), n_boot=500)
    assert both.k == 3 and both.n == 3000
    assert (both.high - both.low) > 10 * (pooled.high - pooled.low)
