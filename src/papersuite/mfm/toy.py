"""The re-centring toy: a known answer that needs population information (docs/papers/mfm.md, "Known answers").

Population i: p0 = N(μ_i, σ_i² I) in 2-D with μ_i ~ U[−3, 3]², σ_i ~ U[0.3, 1]; p1 = p0 − mean(p0), point by point
(paired). The map x ↦ x − mean(p0) depends on the whole population: a flow that sees only x (FM) can learn at best
an average shift, a flow conditioned on φ(p0) (MFM) can learn each population's own shift.
"""

from __future__ import annotations

import torch

from .populations import Population

__all__ = ["recentring_populations"]


def recentring_populations(
    n_populations: int, n_points: int, seed: int, first_index: int | None = 0
) -> list[Population]:
    """n_populations re-centring pairs of n_points 2-D points each, from a seeded generator; ids from first_index
    (None: unseen populations, id −1)."""
    gen = torch.Generator().manual_seed(seed)
    pops = []
    for i in range(n_populations):
        mu = torch.rand(2, generator=gen) * 6.0 - 3.0
        sigma = 0.3 + 0.7 * torch.rand((), generator=gen)
        x0 = mu + sigma * torch.randn(n_points, 2, generator=gen)  # (n, 2)
        pops.append(
            Population(
                source=x0, target=x0 - x0.mean(0), index=-1 if first_index is None else first_index + i, name=f"toy{i}"
            )
        )
    return pops
