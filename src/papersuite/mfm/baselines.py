"""The trivial baselines of the ICLR 2025 rebuttal (docs/papers/mfm.md, "Baselines"): predictions of p1 that need no
training beyond a mean.

- identity: the source population itself;
- train-mean shift: the source re-centred on the mean of all training target cells;
- ideal shift: the source re-centred on the true target's own mean (an oracle: it sees the answer's mean).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .populations import Population

__all__ = ["TRIVIAL", "identity", "train_mean_shift", "ideal_shift", "train_target_mean"]

TRIVIAL = ("identity", "train_mean_shift", "ideal_shift")


def identity(pop: Population) -> Tensor:
    """The source (n0, D) as the prediction."""
    return pop.source.clone()


def train_target_mean(train: list[Population]) -> Tensor:
    """Mean (D,) over every cell of every training target."""
    return torch.cat([p.target for p in train]).mean(0)


def train_mean_shift(pop: Population, mean: Tensor) -> Tensor:
    """The source moved so that its mean is `mean` (D,), the training targets' mean."""
    return pop.source - pop.source.mean(0) + mean


def ideal_shift(pop: Population) -> Tensor:
    """The source moved so that its mean is the true target's mean."""
    return pop.source - pop.source.mean(0) + pop.target.mean(0)
