"""Regenerated snapshot data (docs/papers/lagot.md, "Data: snapshots"): shapes of the original files,
determinism, the closed circle loop, and motion along the true metric's cheap direction."""

from __future__ import annotations

import pytest
import torch

from papersuite.lagot.geometry import make_geometry, path_cost
from papersuite.lagot.snapshots import SNAPSHOT_SHAPES, make_snapshots, particle_positions


@pytest.mark.parametrize("name", ["circle", "vee", "xpath"])
def test_shapes_and_determinism(name):
    """Shapes (25,100,2), (10,100,2), (10,200,2) in float64; the same seed gives the same data, another seed not."""
    data = make_snapshots(name, seed=0)
    assert tuple(data.shape) == (*SNAPSHOT_SHAPES[name], 2) and data.dtype == torch.float64
    assert torch.equal(data, make_snapshots(name, seed=0))
    assert not torch.equal(data, make_snapshots(name, seed=1))


def test_circle_loop_and_radius():
    """The circle data is a closed loop (last = first) of N(point on the unit circle, 0.1²) snapshots."""
    data = make_snapshots("circle", seed=0)
    assert torch.equal(data[-1], data[0])
    centres = data.mean(1)  # (25, 2)
    assert (centres.norm(dim=-1) - 1.0).abs().max() < 0.05  # measured 0.012
    assert (data.std(1) - 0.1).abs().max() < 0.03  # measured 0.002


def test_vee_splits_the_mass():
    """Mass split: N(0, I) at the start, half near (10, 10) and half near (10, −10) at the end."""
    data = make_snapshots("vee", seed=0)
    end = data[-1]
    upper = end[:, 1] > 0
    assert 30 < int(upper.sum()) < 70
    assert (end[upper].mean(0) - torch.tensor([10.0, 10.8], dtype=torch.float64)).abs().max() < 1.0
    assert (end[~upper].mean(0) - torch.tensor([10.0, -10.8], dtype=torch.float64)).abs().max() < 1.0


@pytest.mark.parametrize("name", ["circle", "vee"])
def test_particles_move_along_the_cheap_direction(name):
    """Each particle's curve between consecutive snapshots costs ≈ ε × its Euclidean cost under the true metric
    (ε = 1e-3): the curves follow the cheap direction. Measured ratio 1.0e-3 (circle), 1.0e-3 (vee)."""
    x0 = make_snapshots(name, seed=0)[0]
    n_snapshots = SNAPSHOT_SHAPES[name][0]
    s = torch.linspace(0.0, 1.0 / (n_snapshots - 1), 41, dtype=torch.float64)  # the first pair, densely
    paths = particle_positions(name, x0, s).transpose(0, 1)  # (N, 41, 2)
    true_cost = path_cost(make_geometry(name, metric_eps=1e-3), paths)
    euclid_cost = 0.5 * ((paths[:, 1:] - paths[:, :-1]).norm(dim=-1).sum(-1)) ** 2
    assert (true_cost / euclid_cost).max() < 2e-3
