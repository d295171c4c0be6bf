"""Known answers of the reward combination, retrieval and ONI-Ranking's normalisation (docs/papers/oni.md)."""

from __future__ import annotations

import numpy as np
import pytest

from papersuite.oni.messages import EpisodeMessageCounts
from papersuite.oni.rewards import (
    RetrievalTable,
    RunningMeanStd,
    combine_rewards,
    ranking_intrinsic,
    threshold_normalised,
)


def test_combination_on_an_A_A_B_A_episode():
    counts = EpisodeMessageCounts()
    n = np.array([counts.observe(m) for m in "AABA"])
    r_ext = np.array([0.0, 50.0, -20.0, 0.5])
    r_int = np.array([1.0, 1.0, 0.0, 1.0])
    got = combine_rewards(r_ext, r_int, n, c_ext=10.0, c_int=0.4, beta=3.0)
    expected = 10.0 * np.array([0.0, 10.0, -10.0, 0.5]) + 0.4 * np.array([1.0, 1 / 8, 0.0, 1 / 27])
    np.testing.assert_allclose(got, expected)


def test_reward_scale_applies_before_the_clip_and_c_int_0_is_extrinsic_only():
    got = combine_rewards(np.array([50.0, 5.0]), np.ones(2), np.ones(2), c_ext=1.0, c_int=0.0, reward_scale=0.1)
    np.testing.assert_allclose(got, [5.0, 0.5])


def test_retrieval_gives_0_until_the_label_arrives_and_lists_each_unseen_message_once():
    table = RetrievalTable()
    reward, unseen = table.rewards(["gold", "wall", "gold"])
    np.testing.assert_array_equal(reward, [0, 0, 0])
    assert unseen == ["gold", "wall"]
    table.update({"gold": 1, "wall": 0})
    reward, unseen = table.rewards(["gold", "wall", "door"])
    np.testing.assert_array_equal(reward, [1, 0, 0])
    assert unseen == ["door"]


def test_running_moments_match_the_concatenated_data():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=n) for n in (5, 100, 1, 37)]
    stats = RunningMeanStd(epsilon=0.0 + 1e-12)
    for b in batches:
        stats.update(b)
    data = np.concatenate(batches)
    assert stats.mean == pytest.approx(data.mean(), rel=1e-9)
    assert stats.var == pytest.approx(data.var(), rel=1e-6)


def test_threshold_zeroes_values_at_or_below_minus_half_a_standard_deviation():
    stats = RunningMeanStd(epsilon=1e-12)
    stats.update(np.array([-1.0, 1.0]))  # mean 0, var 1
    got = threshold_normalised(np.array([-2.0, -0.6, -0.4, 0.0, 2.0]), stats, threshold=-0.5)
    np.testing.assert_allclose(got, [0.0, 0.0, -0.4, 0.0, 2.0], atol=1e-6)


def test_released_code_typo_returns_the_raw_reward():
    raw = np.array([5.0, 7.0, 9.0])
    np.testing.assert_array_equal(ranking_intrinsic(raw, RunningMeanStd(), released_code_typo=True), raw)
    intended = ranking_intrinsic(raw, RunningMeanStd(epsilon=1e-12))
    np.testing.assert_allclose(intended, [0.0, 0.0, np.sqrt(1.5)], atol=1e-6)
