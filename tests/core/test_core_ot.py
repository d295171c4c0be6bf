"""papersuite.core.ot against closed forms: W2 between two equal-size sets is the optimal assignment's mean squared
distance (scipy), W1 of a translated set is the translation's length, W2 of 1-D samples is the sorted matching,
and the MMD vanishes for identical sets and matches a direct double sum."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from papersuite.core import ot as core_ot


def test_w2_equals_the_optimal_assignment_for_equal_sizes():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.normal(1.0, 2.0, size=(40, 3))
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    assert core_ot.w2(x, y) == pytest.approx(math.sqrt(cost[rows, cols].mean()), rel=1e-12)


def test_w1_of_a_translation_and_w2_in_one_dimension():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 2))
    shift = np.array([3.0, 4.0])
    assert core_ot.w1(x, x + shift) == pytest.approx(5.0, rel=1e-12)  # |shift| when the translation is optimal
    a, b = rng.normal(size=(50, 1)), rng.exponential(size=(50, 1))
    sorted_w2 = math.sqrt(np.mean((np.sort(a[:, 0]) - np.sort(b[:, 0])) ** 2))
    assert core_ot.w2(a, b) == pytest.approx(sorted_w2, rel=1e-12)


def test_mmd_is_zero_on_identical_sets_and_matches_the_double_sum():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(20, 2)), rng.normal(0.5, 1.0, size=(25, 2))
    assert core_ot.mmd_rbf(x, x) == pytest.approx(0.0, abs=1e-12)

    def k(a, b, g):
        return np.mean([[math.exp(-g * np.sum((p - q) ** 2)) for q in b] for p in a])

    direct = np.mean([k(x, x, g) + k(y, y, g) - 2 * k(x, y, g) for g in core_ot.MMD_GAMMAS])
    assert core_ot.mmd_rbf(x, y) == pytest.approx(direct, rel=1e-10)
