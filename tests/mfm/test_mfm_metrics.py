"""Known answers of the evaluation metrics (docs/papers/mfm.md, "Metrics", "Known answers")."""

from __future__ import annotations

import math

import numpy as np
import pytest

from papersuite.mfm.metrics import average_metrics, marker_correlation_r, mmd_rbf, population_metrics, w1, w2

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 3))
Y = RNG.normal(size=(50, 3)) * 1.5 + 0.3


def test_w2_of_a_cloud_with_itself_is_zero_and_a_shift_is_its_norm():
    assert w2(X, X) == pytest.approx(0.0, abs=1e-7)
    c = np.array([0.5, -1.0, 2.0])
    assert w2(X, X + c) == pytest.approx(np.linalg.norm(c), rel=1e-9)
    assert w1(X, X + c) == pytest.approx(np.linalg.norm(c), rel=1e-9)


def test_w1_at_most_w2():
    assert w1(X, Y) <= w2(X, Y) + 1e-12


def test_one_dimensional_w2_is_the_sorted_sample_formula():
    a, b = RNG.normal(size=(80, 1)), RNG.exponential(size=(80, 1))
    assert w2(a, b) == pytest.approx(math.sqrt(np.mean((np.sort(a[:, 0]) - np.sort(b[:, 0])) ** 2)), rel=1e-9)


def test_mmd_is_zero_on_equal_clouds_symmetric_and_positive_otherwise():
    assert mmd_rbf(X, X) == pytest.approx(0.0, abs=1e-12)
    assert mmd_rbf(X, Y) == pytest.approx(mmd_rbf(Y, X), rel=1e-12)
    assert mmd_rbf(X, Y) > 1e-3


def test_mmd_matches_its_definition_for_one_gamma():
    """mean K_xx + mean K_yy − 2 mean K_xy with K = exp(−γ‖x − y‖²), written out with loops."""
    x, y = X[:7], Y[:5]

    def k(a, b):
        return math.exp(-0.5 * float(((a - b) ** 2).sum()))

    def mean_k(a, b):
        return sum(k(p, q) for p in a for q in b) / (len(a) * len(b))

    expected = mean_k(x, x) + mean_k(y, y) - 2 * mean_k(x, y)
    assert mmd_rbf(x, y, gammas=(0.5,)) == pytest.approx(expected, rel=1e-10)


def test_marker_correlation_r():
    assert marker_correlation_r(X, X) == pytest.approx(1.0)
    scaled = X * np.array([2.0, 0.5, 3.0]) + 1.0  # correlations do not change under per-marker affine maps
    assert marker_correlation_r(scaled, X) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="3 markers"):
        marker_correlation_r(X[:, :2], X[:, :2])


def test_average_over_populations_with_standard_error():
    per = [population_metrics(X, X + i, with_r=True) for i in range(3)]
    avg = average_metrics(per)
    assert avg["w2"] == pytest.approx(np.mean([0.0, math.sqrt(3), math.sqrt(12)]), rel=1e-7)
    assert avg["r"] == pytest.approx(1.0) and avg["w2_se"] > 0
