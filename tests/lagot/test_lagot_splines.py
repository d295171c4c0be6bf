"""Known answers of the fixed-end cubic-spline paths (docs/papers/lagot.md, "Known answers")."""

from __future__ import annotations

import pytest
import torch

from papersuite.lagot import splines

D64 = torch.float64


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Single-threaded (tests/conftest.py)."""


def random_params(batch: int, n_params: int, dim: int, seed: int) -> torch.Tensor:
    """Random spline parameters (B, K, D) in float64."""
    return torch.randn(batch, n_params, dim, generator=torch.Generator().manual_seed(seed), dtype=D64)


@pytest.mark.parametrize("n_params", [2, 10, 30])
def test_null_space_dimension_is_the_knot_count(n_params):
    """K knots ⇒ K − 1 cubic segments, 3K − 4 constraints of rank 3K − 4, null space of dimension K."""
    basis = splines.spline_basis(n_params)
    assert basis.shape == (4 * (n_params - 1), n_params)
    assert torch.allclose(basis.T @ basis, torch.eye(n_params, dtype=D64), atol=1e-12)  # orthonormal
    assert torch.allclose(splines._constraints(n_params) @ basis, torch.zeros(1, dtype=D64), atol=1e-12)


def test_ends_are_exact():
    """γ(0) = x and γ(1) = y bit for bit, whatever the parameters (float32 and float64)."""
    for dtype in (torch.float32, D64):
        params = random_params(5, 10, 3, 0).to(dtype) * 10
        x = torch.randn(5, 3, dtype=dtype)
        y = torch.randn(5, 3, dtype=dtype)
        path = splines.spline_path(x, y, params, n_points=17)
        assert path.shape == (5, 17, 3)
        assert torch.equal(path[:, 0], x) and torch.equal(path[:, -1], y)


def test_deviation_vanishes_at_ends_before_pinning():
    """The basis itself is zero at t = 0 and 1 (the ends are pinned only against rounding)."""
    phi = splines.basis_at(30, 20, D64, "cpu")  # (n, K)
    assert phi[0].abs().max() < 1e-12 and phi[-1].abs().max() < 1e-12


def test_zero_parameters_give_the_chord():
    """params = 0 ⇒ γ(t) = (1 − t)x + t y."""
    x, y = torch.tensor([[-1.0, 0.5]], dtype=D64), torch.tensor([[2.0, -1.0]], dtype=D64)
    path = splines.spline_path(x, y, torch.zeros(1, 8, 2, dtype=D64), n_points=11)
    t = torch.linspace(0, 1, 11, dtype=D64).unsqueeze(-1)
    assert torch.allclose(path[0], (1 - t) * x + t * y, atol=1e-15)


def test_c0_c1_c2_continuity_at_knots():
    """Values, slopes and curvatures of neighbouring segments agree at every interior knot to 1e-10
    (measured ≈ 1e-13 for K = 30 and parameters of scale 10); the original's family is only C¹."""
    coeffs = splines.spline_coefficients(random_params(4, 30, 2, 1) * 10)  # (B, S, 4, D), local u ∈ [0, 1]
    left, right = coeffs[:, :-1], coeffs[:, 1:]
    value = left.sum(2) - right[:, :, 0]
    slope = (left * torch.tensor([0.0, 1, 2, 3], dtype=D64).view(1, 1, 4, 1)).sum(2) - right[:, :, 1]
    curvature = (left * torch.tensor([0.0, 0, 2, 6], dtype=D64).view(1, 1, 4, 1)).sum(2) - 2 * right[:, :, 2]
    for gap in (value, slope, curvature):
        assert gap.abs().max() < 1e-10


def test_derivative_basis_matches_finite_differences():
    """d/dt of the evaluated spline equals a central finite difference of the values."""
    params = random_params(1, 10, 1, 2)[0, :, 0]  # (K,)
    n = 2001
    values = splines.basis_at(10, n, D64, "cpu") @ params
    slopes = splines.basis_at(10, n, D64, "cpu", derivative=1) @ params
    h = 1.0 / (n - 1)
    central = (values[2:] - values[:-2]) / (2 * h)
    assert torch.allclose(central, slopes[1:-1], atol=1e-3)


def test_basis_is_canonical():
    """The basis does not depend on which orthonormal null-space basis the SVD returns: a rotated one
    canonicalises to the same matrix."""
    basis = splines.spline_basis(12)
    rotation, _ = torch.linalg.qr(torch.randn(12, 12, generator=torch.Generator().manual_seed(3), dtype=D64))
    assert torch.allclose(splines._canonical(basis @ rotation), basis, atol=1e-12)
