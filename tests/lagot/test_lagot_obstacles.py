"""Known answers of amortized paths around obstacles (docs/papers/lagot.md, "Known answers"; paper Fig. 2).

The amortizer (K = 10, MLP 128-128) is fitted for 1500 Adam steps on line → line pairs (source
U([−1.25, −1] × [−1, 1]), target U([1, 1.25] × [−1, 1]), the NLSB data) while the barrier anneals over the
first 1000 steps, and is then evaluated on horizontal pairs (−1.1, y₀) → (1.1, y₀), y₀ ∈ [−0.9, 0.9].
"""

from __future__ import annotations

import pytest
import torch

from papersuite.lagot import amortizer as amo
from papersuite.lagot import geometry as geo
from papersuite.lagot.obstacles import box_indicator


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Single-threaded (tests/conftest.py)."""


def line_pairs(gen: torch.Generator, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """NLSB line → line pairs."""
    x = torch.stack([-1.25 + 0.25 * torch.rand(batch, generator=gen), 2 * torch.rand(batch, generator=gen) - 1], -1)
    y = torch.stack([1.0 + 0.25 * torch.rand(batch, generator=gen), 2 * torch.rand(batch, generator=gen) - 1], -1)
    return x, y


def horizontal_paths(name: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(amortized paths, chords, costs) for 19 horizontal pairs, amortizer fitted with annealing."""
    geometry = geo.make_geometry(name)
    torch.manual_seed(seed)
    amortizer = amo.SplineAmortizer(2, 10, (128, 128))
    anneal = lambda step: min(1.0, step / 1000)  # noqa: E731
    gen = torch.Generator().manual_seed(seed)
    amo.fit_amortizer(geometry, amortizer, line_pairs, 1500, lr=1e-3, anneal=anneal, generator=gen)
    y0 = torch.linspace(-0.9, 0.9, 19)
    x = torch.stack([torch.full_like(y0, -1.1), y0], -1)
    y = torch.stack([torch.full_like(y0, 1.1), y0], -1)
    return (
        amo.amortized_path(amortizer, x, y),
        geo.straight_path(x, y, 20),
        amo.amortized_cost(geometry, amortizer, x, y),
    )


def crossings(paths: torch.Tensor) -> torch.Tensor:
    """Height where each path (B, n, 2) first crosses x₁ = 0 (linear interpolation): (B,)."""
    after = (paths[..., 0] >= 0).float().argmax(1)  # first index with x₁ ≥ 0
    rows = torch.arange(paths.shape[0])
    a, b = paths[rows, after - 1], paths[rows, after]
    w = -a[:, 0] / (b[:, 0] - a[:, 0])
    return a[:, 1] + w * (b[:, 1] - a[:, 1])


def test_box_paths_go_around():
    """Fewer than 5% of path points inside [−0.45, 0.45]² (measured 1.3%; chords: 19%)."""
    paths, chords, _ = horizontal_paths("box")
    assert box_indicator(chords, 0.45).float().mean() > 0.15
    assert box_indicator(paths, 0.45).float().mean() < 0.05


def test_slit_paths_pass_through_the_opening():
    """Every path crosses x₁ = 0 at |x₂| < 0.3 (opening |x₂| < 0.25; measured max 0.18)."""
    paths, _, _ = horizontal_paths("slit")
    assert crossings(paths).abs().max() < 0.3


def test_hill_paths_avoid_the_origin():
    """min |γ| exceeds the chord's for the pairs passing nearest the hill (measured 1.10 vs 0.06-0.12)."""
    paths, chords, _ = horizontal_paths("hill")
    middle = slice(8, 11)  # y₀ ∈ {−0.1, 0, 0.1}
    assert (paths[middle].norm(dim=-1).min(1).values > chords[middle].norm(dim=-1).min(1).values).all()


def test_well_paths_bend_to_the_origin():
    """Each path's midpoint is closer to the origin than its chord's (measured mean 0.24 vs 0.48, 19/19 pairs)."""
    paths, chords, _ = horizontal_paths("well")
    mid_path, mid_chord = paths[:, 10].norm(dim=-1), chords[:, 10].norm(dim=-1)  # point 10 of 20, t ≈ 0.53
    assert (mid_path < mid_chord).all()
