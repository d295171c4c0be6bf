"""Known answers of the alignment score (docs/papers/lagot.md, "Known answers": alignment)."""

from __future__ import annotations

import math

import pytest
import torch

from papersuite.lagot.alignment import alignment_score, cheap_directions, eigenvectors, grid
from papersuite.lagot.geometry import make_geometry

D64 = torch.float64


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Single-threaded torch (tests/conftest.py)."""


def _direction_metric(angle: torch.Tensor, eps: float = 0.1):
    """A(x) = I − (1 − ε)vvᵀ with v = (cos a, sin a) per grid point (angle (N,))."""
    v = torch.stack([angle.cos(), angle.sin()], dim=-1)  # (N, 2)

    def metric(x: torch.Tensor) -> torch.Tensor:
        return torch.eye(2, dtype=D64) - (1.0 - eps) * v[:, :, None] * v[:, None, :]

    return metric


@pytest.mark.parametrize("name", ["circle", "vee", "xpath"])
def test_true_metric_scores_one_and_rotated_zero(name):
    """align(A, A) = 1; the field rotated by 90° (R_90ᵀ A R_90) scores 0 wherever A is anisotropic."""
    truth = make_geometry(name)
    points = grid(truth.bounds, 60).to(D64)
    assert alignment_score(truth.metric, truth.metric, points) == pytest.approx(1.0, abs=1e-12)
    rot = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=D64)

    def rotated(x):
        return rot.T @ truth.metric(x).to(D64) @ rot

    aniso = (truth.metric(points).to(D64) - torch.eye(2, dtype=D64)).abs().amax((-1, -2)) > 1e-3
    score = alignment_score(truth.metric, rotated, points[aniso])
    assert score == pytest.approx(0.0, abs=1e-9)


def test_random_directions_score_two_over_pi():
    """Uniform random directions: E|cos φ| = 2/π ≈ 0.6366; on a 100 × 100 grid measured 0.6376 (seed 0),
    se ≈ sqrt(1/2 − 4/π²)/100 = 0.0031."""
    truth = make_geometry("circle")
    points = grid(truth.bounds, 100).to(D64)
    angle = torch.rand(len(points), generator=torch.Generator().manual_seed(0), dtype=D64) * math.pi
    score = alignment_score(truth.metric, _direction_metric(angle), points)
    assert abs(score - 2.0 / math.pi) < 0.012  # 4 se


def test_learned_metric_form_and_cheap_direction():
    """R(θ)ᵀ diag(1, 0.1) R(θ) has eigenvalues (0.1, 1), eigh recovers them; the circle's cheap direction at
    (1, 0) is (0, ±1)."""
    learned = make_geometry("learned")
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(1))
    A = learned.metric(x).double()
    vals = torch.linalg.eigvalsh(A)
    torch.testing.assert_close(vals, torch.tensor([0.1, 1.0], dtype=D64).expand(50, 2), atol=1e-6, rtol=0)
    e = eigenvectors(learned.metric, x)
    torch.testing.assert_close((e @ A @ e.transpose(-1, -2)).diagonal(dim1=-2, dim2=-1), vals, atol=1e-6, rtol=0)
    circle = make_geometry("circle")
    cheap = cheap_directions(circle.metric, torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(cheap.abs(), torch.tensor([[0.0, 1.0]], dtype=D64), atol=1e-6, rtol=0)
