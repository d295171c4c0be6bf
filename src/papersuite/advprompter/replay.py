"""The prioritized replay buffer of AdvPrompterTrain (paper Sec. 3.2; the original uses torchrl's ListStorage and
PrioritizedSampler, alpha 1.5, capacity 256, oldest overwritten; importance weights unused)."""

from __future__ import annotations

import numpy as np


class PrioritizedReplay:
    """FIFO storage of (item, priority); samples with replacement with probability proportional to priority^alpha."""

    def __init__(self, capacity: int = 256, alpha: float = 1.5, seed: int = 0):
        self.capacity, self.alpha = capacity, alpha
        self.items: list = []
        self.priorities: list[float] = []
        self.n_added = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item, priority: float) -> bool:
        """Store an item with priority > 0 (zero-priority items are dropped), overwriting the oldest when full."""
        if not priority > 0:
            return False
        if len(self.items) < self.capacity:
            self.items.append(item)
            self.priorities.append(float(priority))
        else:
            slot = self.n_added % self.capacity
            self.items[slot], self.priorities[slot] = item, float(priority)
        self.n_added += 1
        return True

    def probabilities(self) -> np.ndarray:
        """Sampling probabilities p_i^alpha / sum_j p_j^alpha: (len,)."""
        weights = np.asarray(self.priorities) ** self.alpha
        return weights / weights.sum()

    def sample(self, n: int) -> list:
        """n items drawn with replacement by priority."""
        idx = self.rng.choice(len(self.items), size=n, replace=True, p=self.probabilities())
        return [self.items[i] for i in idx]
