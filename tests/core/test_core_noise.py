"""papersuite.core.noise against independent computations (scipy.stats, closed forms)."""

import math

import numpy as np
import pytest
from scipy import stats

from papersuite.core import noise as N


def test_mean_se_is_scipy_sem():
    x = np.random.default_rng(0).normal(size=37)
    mean, se = N.mean_se(x)
    assert mean == pytest.approx(x.mean()) and se == pytest.approx(stats.sem(x))
    assert math.isnan(N.mean_se([1.5])[1])
    with pytest.raises(ValueError, match="no samples"):
        N.mean_se([])


def test_rate_se_binomial():
    assert N.rate_se(184, 200) == pytest.approx((0.92, math.sqrt(0.92 * 0.08 / 200)))  # 0.01918
    assert N.rate_se(200, 200) == (1.0, 0.0)
    with pytest.raises(ValueError, match="outside"):
        N.rate_se(3, 2)


def test_paired_difference_uses_the_pairing():
    base = np.linspace(0.0, 10.0, 20)
    a, b = base + 0.5, base  # a constant shift: the paired se is 0, the unpaired one is large
    diff, se = N.paired_difference_se(a, b)
    assert diff == pytest.approx(0.5) and se == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="items against"):
        N.paired_difference_se([1.0], [1.0, 2.0])


def test_ratio_se_matches_monte_carlo():
    rng = np.random.default_rng(1)
    num, den = rng.normal(2.0, 0.02, 400_000), rng.normal(4.0, 0.08, 400_000)
    ratio, se = N.ratio_se(2.0, 0.02, 4.0, 0.08)
    assert ratio == 0.5 and se == pytest.approx(np.std(num / den), rel=0.01)


def test_bootstrap_se_of_the_mean_is_near_sem():
    x = np.random.default_rng(2).exponential(size=300)
    assert N.bootstrap_se(np.mean, x, n_boot=2000, seed=3) == pytest.approx(stats.sem(x), rel=0.08)
    assert math.isnan(N.bootstrap_se(np.mean, x[:1]))


def test_combine_takes_the_larger_noise():
    spread = N.combine([1.0, 2.0, 3.0])
    assert spread == N.Estimate(2.0, pytest.approx(stats.sem([1.0, 2.0, 3.0])), 3)
    own = N.combine([1.0, 1.0, 1.0], [0.3, 0.3, 0.3])  # identical seeds cannot hide the evaluation noise
    assert own.se == pytest.approx(0.3 / math.sqrt(3))
    one = N.combine([0.7])
    assert not one.known and N.combine([0.7], [0.0]).se == 0.0  # 0.0 declares an exact metric
    assert math.isnan(N.combine([1.0, 2.0], [0.1, math.nan]).se) is False  # spread still known


def test_format_estimate():
    assert N.format_estimate(0.000177912, 3.1e-6) == "0.0001779 ± 3.1e-06"
    assert N.format_estimate(0.92, math.nan) == "0.92"
