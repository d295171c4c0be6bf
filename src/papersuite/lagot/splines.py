"""Cubic-spline paths with fixed ends (the paper's amortized spline paths; docs/papers/lagot.md).

γ(t) = (1 − t)x + t y + s(t), where s is a cubic spline on K − 1 equal segments of [0, 1] with s(0) = s(1) = 0
and C⁰, C¹, C² continuity at the K − 2 interior knots. That space has dimension K per output dimension, and
its K parameters are coordinates in an orthonormal basis of the null space of those constraints (the original
builds the same kind of basis with stochman's CubicSpline, whose second-derivative row [0, 0, 6t, 2] should be
[0, 0, 2, 6t]: its family is C¹ but not C²; ours is C²). Each segment's cubic is written in its local variable
u = (K − 1)t − k ∈ [0, 1] (the original uses global t), which keeps the constraint matrix well conditioned.
The basis is built in float64, canonicalised so that it does not depend on the SVD's choice of null-space basis,
and cached per (K, dtype, device).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

__all__ = ["spline_basis", "spline_coefficients", "basis_at", "spline_path", "DEGREE"]

DEGREE = 4  # coefficients per cubic segment: 1, u, u², u³


def _constraints(n_params: int) -> Tensor:
    """Rows of linear constraints on the (S·4) local coefficients, S = K − 1 segments (float64)."""
    S = n_params - 1
    rows: list[Tensor] = []

    def row() -> Tensor:
        r = torch.zeros(S * DEGREE, dtype=torch.float64)
        rows.append(r)
        return r

    row()[0] = 1.0  # s(0) = 0: first segment's constant
    row()[(S - 1) * DEGREE : S * DEGREE] = 1.0  # s(1) = 0: last segment at u = 1
    for k in range(S - 1):  # knot between segment k (u = 1) and k + 1 (u = 0)
        left, right = k * DEGREE, (k + 1) * DEGREE
        value = row()
        value[left : left + 4] = torch.tensor([1.0, 1.0, 1.0, 1.0])
        value[right] = -1.0
        slope = row()
        slope[left : left + 4] = torch.tensor([0.0, 1.0, 2.0, 3.0])
        slope[right + 1] = -1.0
        curvature = row()
        curvature[left : left + 4] = torch.tensor([0.0, 0.0, 2.0, 6.0])
        curvature[right + 2] = -2.0
    return torch.stack(rows)


@lru_cache(maxsize=16)
def _basis64(n_params: int) -> Tensor:
    """Orthonormal null-space basis (S·4, K) in float64, canonical: QR of the projector applied to fixed columns."""
    if n_params < 2:
        raise ValueError(f"a spline needs at least 2 parameters per dimension, got {n_params}")
    C = _constraints(n_params)  # (3S − 1, 4S)
    _, sing, Vh = torch.linalg.svd(C, full_matrices=True)
    rank = int((sing > 1e-10 * sing[0]).sum())
    null = Vh[rank:].T  # (4S, K)
    if null.shape[1] != n_params:
        raise RuntimeError(f"spline null space has dimension {null.shape[1]}, expected {n_params}")
    return _canonical(null)


def _canonical(null: Tensor) -> Tensor:
    """The same orthonormal basis (4S, K) for any orthonormal basis `null` of one subspace (float64)."""
    projector = null @ null.T  # unique, whatever basis the SVD returned
    gen = torch.Generator().manual_seed(0)
    probe = torch.randn(null.shape[0], null.shape[1], generator=gen, dtype=torch.float64)
    Q, R = torch.linalg.qr(projector @ probe)
    return Q * torch.sign(torch.diagonal(R)).unsqueeze(0)  # positive diag(R): a unique orthonormal basis


def spline_basis(n_params: int, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> Tensor:
    """Basis (S·4, K) mapping K parameters to the segments' local cubic coefficients."""
    return _basis64(n_params).to(dtype=dtype, device=device)


def spline_coefficients(params: Tensor) -> Tensor:
    """Local cubic coefficients of the deviation s: params (B, K, D) -> (B, S, 4, D), s_k(u) = Σ_p c_p u^p."""
    B, K, D = params.shape
    coeffs = torch.einsum("ck,bkd->bcd", spline_basis(K, params.dtype, params.device), params)  # (B, 4S, D)
    return coeffs.reshape(B, K - 1, DEGREE, D)


@lru_cache(maxsize=64)
def _basis_at64(n_params: int, n_points: int, derivative: int) -> Tensor:
    """Values (or t-derivatives) of the K basis functions at t = linspace(0, 1, n): (n, K) in float64."""
    S = n_params - 1
    t = torch.linspace(0.0, 1.0, n_points, dtype=torch.float64)
    seg = torch.clamp(torch.floor(t * S), 0, S - 1).long()  # (n,)
    u = t * S - seg  # local variable in [0, 1]
    powers = torch.arange(DEGREE, dtype=torch.float64)
    if derivative == 0:
        feats = u.unsqueeze(-1) ** powers  # (n, 4)
    elif derivative == 1:
        feats = powers * u.unsqueeze(-1).clamp_min(0) ** (powers - 1).clamp_min(0) * S  # d/dt = S d/du
        feats[:, 0] = 0.0
    else:
        raise ValueError(f"derivative must be 0 or 1, got {derivative}")
    basis = _basis64(n_params).reshape(S, DEGREE, n_params)  # (S, 4, K)
    return torch.einsum("np,npk->nk", feats, basis[seg])


@lru_cache(maxsize=64)
def basis_at(
    n_params: int, n_points: int, dtype: torch.dtype, device: torch.device | str, derivative: int = 0
) -> Tensor:
    """Evaluation matrix Φ (n, K): s(t_i) = Σ_k Φ[i, k] params[k] on t = linspace(0, 1, n). Cached per
    arguments (the solvers evaluate paths thousands of times): treat it as read-only."""
    return _basis_at64(n_params, n_points, derivative).to(dtype=dtype, device=device)


@lru_cache(maxsize=64)
def _times(n_points: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """t = linspace(0, 1, n) as (1, n, 1), cached (read-only)."""
    return torch.linspace(0.0, 1.0, n_points, dtype=dtype, device=device).view(1, -1, 1)


def spline_path(x: Tensor, y: Tensor, params: Tensor, n_points: int) -> Tensor:
    """Path (1 − t)x + t y + s(t) on n points: (B, D), (B, D), (B, K, D) -> (B, n, D); exact ends (spline paths)."""
    phi = basis_at(params.shape[1], n_points, params.dtype, params.device)  # (n, K)
    t = _times(n_points, x.dtype, x.device)  # (1, n, 1)
    chord = (1.0 - t) * x.unsqueeze(-2) + t * y.unsqueeze(-2)  # (B, n, D)
    deviation = torch.einsum("nk,bkd->bnd", phi, params)  # (B, n, D)
    path = chord + deviation
    # The deviation vanishes at t = 0, 1 only to rounding; pin the ends so they are exactly x and y.
    return torch.cat([x.unsqueeze(-2), path[:, 1:-1], y.unsqueeze(-2)], dim=-2)
