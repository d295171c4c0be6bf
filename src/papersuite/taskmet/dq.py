"""Decision quality (paper §5.1, Table 1; LODL's normalisation): DQ = g(z*(ŷ), y) with the hard test-time
decision, and normalized DQ = (DQ_model − DQ_random) / (DQ_optimal − DQ_random), where DQ_random uses
predictions drawn from U(0, 1) (averaged over draws) and DQ_optimal uses ŷ = y. Random ≡ 0, oracle ≡ 1.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from .task import Split, Task

__all__ = [
    "hard_objectives",
    "relaxed_task_loss",
    "random_objectives",
    "optimal_objectives",
    "normalize",
    "DQBaselines",
]

_RANDOM_STREAM = 0xD0  # the random-prediction baseline's RNG stream, apart from every data generator


def hard_objectives(task: Task, y_hat: Tensor, y: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
    """g(z*(ŷ), y) per instance (I,) with the hard decision, no gradient."""
    with torch.no_grad():
        return task.objective(task.decision_hard(y_hat, aux), y, aux)


def relaxed_task_loss(task: Task, y_hat: Tensor, y: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
    """The training task loss −mean g(z(ŷ), y) with the relaxed, differentiable decision (paper eq. 1)."""
    return -task.objective(task.decision_relaxed(y_hat, aux), y, aux).mean()


def random_objectives(task: Task, split: Split, n_random: int = 10, seed: int = 0) -> Tensor:
    """Per-instance DQ (I,) of predictions ~ U(0, 1), averaged over ``n_random`` draws (one batched call).

    The draws come from their own stream of ``seed``: a generator seeded with the data's own seed would
    replay the uniforms that made the features (cubic: x = 2u − 1) and rank items by x.
    """
    stream = np.random.SeedSequence([int(seed), _RANDOM_STREAM]).generate_state(1, dtype=np.uint64)[0]
    gen = torch.Generator().manual_seed(int(stream))
    draws = torch.rand((n_random, *split.y.shape), generator=gen, dtype=split.y.dtype)  # (R, I, n, d)
    aux = {k: v.repeat((n_random,) + (1,) * (v.dim() - 1)) for k, v in split.aux.items()}  # (R·I, ...)
    y = split.y.repeat(n_random, 1, 1)  # (R·I, n, d)
    values = hard_objectives(task, draws.flatten(0, 1), y, aux)  # (R·I,)
    return values.view(n_random, -1).mean(0)


def optimal_objectives(task: Task, split: Split) -> Tensor:
    """Per-instance DQ (I,) of the oracle prediction ŷ = y."""
    return hard_objectives(task, split.y, split.y, split.aux)


def normalize(dq_model: Tensor, dq_random: Tensor, dq_optimal: Tensor) -> float:
    """(mean DQ_model − mean DQ_random) / (mean DQ_optimal − mean DQ_random) over the instances."""
    gap = float(dq_optimal.mean() - dq_random.mean())
    if gap == 0.0:
        raise ValueError("normalized DQ undefined: the oracle is no better than random predictions")
    return float(dq_model.mean() - dq_random.mean()) / gap


class DQBaselines:
    """The random and oracle DQ of one split, computed once and reused for every validation."""

    def __init__(self, task: Task, split: Split, n_random: int = 10, seed: int = 0):
        self.random = random_objectives(task, split, n_random, seed)  # (I,)
        self.optimal = optimal_objectives(task, split)  # (I,)

    def normalized(self, dq_model: Tensor) -> float:
        """Normalized DQ of per-instance model DQ (I,)."""
        return normalize(dq_model, self.random, self.optimal)
