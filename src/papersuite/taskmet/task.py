"""The interface between TaskMet and a decision task (paper §2 "decision-focused learning", §3): a task
turns predictions ŷ into a decision z (relaxed and differentiable for training, hard at test time) and
scores z against the true y. A user adds a task by implementing :class:`Task` (docs/papers/taskmet.md,
"Adding a task"); nothing in the training loop changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from torch import Tensor

__all__ = ["Split", "Task", "index_split", "split_sizes"]


@dataclass(frozen=True)
class Split:
    """One split of a decision-focused dataset: I problem instances of n_items items each."""

    x: Tensor  # (I, n_items, p) features, float32
    y: Tensor  # (I, n_items, d) targets, float32
    aux: dict[str, Tensor] = field(default_factory=dict)  # per-instance extras, leading dim I

    def __post_init__(self) -> None:
        if self.x.dim() != 3 or self.y.dim() != 3 or self.x.shape[:2] != self.y.shape[:2]:
            raise ValueError(
                f"Split needs x (I, n, p) and y (I, n, d); got {tuple(self.x.shape)}, {tuple(self.y.shape)}"
            )
        for name, value in self.aux.items():
            if value.shape[0] != self.x.shape[0]:
                raise ValueError(f"aux[{name!r}] has {value.shape[0]} instances, x has {self.x.shape[0]}")

    @property
    def n_instances(self) -> int:
        return int(self.x.shape[0])


def index_split(split: Split, idx: Tensor) -> Split:
    """The instances ``idx`` (a LongTensor of instance indices) of ``split``, aux included."""
    return Split(split.x[idx], split.y[idx], {k: v[idx] for k, v in split.aux.items()})


def split_sizes(splits: Mapping[str, Split]) -> dict[str, int]:
    """Number of instances per split."""
    return {name: s.n_instances for name, s in splits.items()}


@runtime_checkable
class Task(Protocol):
    """A decision task (paper §2): decisions z from predictions ŷ, and the objective g(z, y) to maximise.

    Every method is batched over instances: ``y_hat`` and ``y`` are (B, n_items, d), ``aux`` holds the
    matching B instances' extras (``Split.aux`` indexed alike).
    """

    name: str
    output_dim: int  # d: the metric A_φ(x) is d × d per item

    def decision_relaxed(self, y_hat: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
        """Differentiable decision z(ŷ) used for training (B, n_items, d) -> z."""
        ...

    def decision_hard(self, y_hat: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
        """The test-time decision z*(ŷ) = argmax_z g(z, ŷ)."""
        ...

    def objective(self, z: Tensor, y: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
        """g(z, y) per instance (B,), higher is better."""
        ...
