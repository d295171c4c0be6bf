"""Alignment of a learned metric with the true one (Pooladian et al., UAI 2024, metric learning, the
alignment scores of Table 2; docs/papers/lagot.md, "Metric learning").

On a grid over the data bounds, both metric tensors are eigen-decomposed (eigh, eigenvalues ascending, so the
cheap direction comes first in both) and the score is the mean over grid points and over both eigenvectors of
|⟨e_true, e_learned⟩|. In 2-D both terms equal |cos φ|, φ the angle between the cheap directions: 1 for the true
metric, 0 for a field rotated by 90°, and E|cos φ| = 2/π ≈ 0.637 for uniformly random directions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["grid", "eigenvectors", "alignment_score", "cheap_directions"]

MetricFn = Callable[[Tensor], Tensor]  # (N, D) -> (N, D, D)


def grid(bounds: Sequence[tuple[float, float]], n: int = 100) -> Tensor:
    """n × n grid over 2-D bounds, (n², 2), x varying fastest (the authors' 100 × 100 grid)."""
    (x0, x1), (y0, y1) = bounds
    xs, ys = torch.linspace(float(x0), float(x1), n), torch.linspace(float(y0), float(y1), n)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)


def eigenvectors(metric: MetricFn, points: Tensor) -> Tensor:
    """Eigenvectors of A(x) as rows, eigenvalues ascending: (N, D) -> (N, D, D), row i the i-th eigenvector."""
    with torch.no_grad():
        A = metric(points).double()  # (N, D, D)
        A = 0.5 * (A + A.transpose(-1, -2))
        _, vecs = torch.linalg.eigh(A)  # columns are eigenvectors
    return vecs.transpose(-1, -2)


def cheap_directions(metric: MetricFn, points: Tensor) -> Tensor:
    """Unit eigenvector of the smallest eigenvalue (the cheap direction) at each point: (N, D) -> (N, D)."""
    return eigenvectors(metric, points)[:, 0]


def alignment_score(true_metric: MetricFn, learned_metric: MetricFn, points: Tensor) -> float:
    """Mean over points and eigenvectors of |⟨e_true, e_learned⟩| (1: aligned, 2/π: random, 0: orthogonal)."""
    dots = (eigenvectors(true_metric, points) * eigenvectors(learned_metric, points)).sum(-1)  # (N, D)
    return float(dots.abs().mean())
