"""The prioritized replay buffer (paper Sec. 3.2; torchrl's PrioritizedSampler in the original): zero priorities
dropped, FIFO overwrite at capacity, sampling frequencies proportional to p^1.5."""

from __future__ import annotations

import numpy as np
from scipy import stats

from papersuite.advprompter.replay import PrioritizedReplay


def test_zero_priority_items_are_not_added():
    buf = PrioritizedReplay(capacity=4)
    assert not buf.add("a", 0.0) and not buf.add("b", -1.0)
    assert buf.add("c", 0.5) and len(buf) == 1


def test_fifo_overwrite_at_capacity():
    buf = PrioritizedReplay(capacity=256)
    for i in range(300):
        buf.add(i, 1.0)
    assert len(buf) == 256
    assert sorted(buf.items) == list(range(44, 300))  # the 44 oldest were overwritten
    assert buf.items[:44] == list(range(256, 300))


def test_sampling_frequencies_follow_p_to_the_alpha():
    """Chi-square goodness of fit of 20000 draws to p^1.5 / sum p^1.5 (fixed seed; fails if alpha is ignored)."""
    priorities = [0.5, 1.0, 2.0, 4.0]
    buf = PrioritizedReplay(capacity=8, alpha=1.5, seed=0)
    for i, p in enumerate(priorities):
        buf.add(i, p)
    draws = buf.sample(20000)
    counts = np.bincount(draws, minlength=4)
    expected = np.array(priorities) ** 1.5 / np.sum(np.array(priorities) ** 1.5) * 20000
    assert stats.chisquare(counts, expected).pvalue > 0.01
    linear = np.array(priorities) / sum(priorities) * 20000
    assert stats.chisquare(counts, linear).pvalue < 1e-6
