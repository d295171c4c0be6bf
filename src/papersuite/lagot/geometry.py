"""The `Geometry` interface and the discretised Lagrangian cost of a path (Pooladian et al., UAI 2024).

A geometry supplies a metric tensor A(x) and a potential U(x); the cost of a path γ: [0,1] → R^D is
  mode "lagrangian":   the action  ∫₀¹ ½ γ̇ᵀA(γ)γ̇ − U(γ) dt            (the paper's Lagrangian cost, obstacles)
  mode "sq_geodesic":  ½ (∫₀¹ sqrt(γ̇ᵀA(γ)γ̇) dt)²                        (Riemannian metrics, metric learning)
discretised on n points with the midpoint rule. This is the continuous, properly scaled action: a straight
line under A = I, U = 0 costs ½|x−y|² in both modes. The original code's action, Σᵢ ½ΔᵢᵀA(xᵢ)Δᵢ − U(xᵢ)
over n = 20 left points, equals Δt·[kinetic − Σ (U/Δt²) Δt]: its barrier U acts as U·(n−1)² here, so the
obstacle registry multiplies the original barrier strengths by (n−1)² = 361 (docs/papers/lagot.md).
A user adds a geometry by writing a class with the attributes of `Geometry` and registering a factory in
`GEOMETRIES`; the solvers (amortizer, c-transform, dual) only call `path_cost`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from . import metrics, obstacles

__all__ = [
    "Geometry",
    "MODES",
    "path_cost",
    "squared_lengths",
    "straight_path",
    "clip_to_bounds",
    "GEOMETRIES",
    "make_geometry",
]

MODES = ("lagrangian", "sq_geodesic")
LENGTH_EPS = 1e-12  # floor under each squared segment length so sqrt has a finite gradient at Δ = 0


@runtime_checkable
class Geometry(Protocol):
    """What the solvers need from a geometry (the paper's Lagrangian L(x, v) = ½vᵀA(x)v − U(x))."""

    name: str
    dim: int
    bounds: tuple[tuple[float, float], ...]  # per-dimension (low, high); c-transform argmins are clipped to it
    mode: str  # "lagrangian" or "sq_geodesic"

    def metric(self, x: Tensor) -> Tensor:
        """A(x), symmetric positive definite: (..., D) -> (..., D, D)."""
        ...

    def potential(self, x: Tensor, anneal: float = 1.0) -> Tensor:
        """U(x) with the barrier schedule at progress anneal ∈ [0, 1]: (..., D) -> (...); zero for metrics."""
        ...


def _quadratic_form(A: Tensor, v: Tensor) -> Tensor:
    """vᵀ A v for A (..., D, D), v (..., D) -> (...)."""
    return torch.einsum("...i,...ij,...j->...", v, A, v)


def squared_lengths(geometry: Geometry, x: Tensor, v: Tensor) -> Tensor:
    """vᵀA(x)v: (..., D), (..., D) -> (...). A geometry may define the optional `quadratic_form(x, v)` (the same
    value in closed form, e.g. |v|² for A = I) to skip building the (..., D, D) tensors; else A comes from metric."""
    form = getattr(geometry, "quadratic_form", None)
    return form(x, v) if form is not None else _quadratic_form(geometry.metric(x), v)


def path_cost(geometry: Geometry, path: Tensor, anneal: float = 1.0) -> Tensor:
    """Midpoint-rule cost of paths (B, n, D) -> (B,) in the geometry's mode (module docstring)."""
    n = path.shape[-2]
    if n < 2:
        raise ValueError(f"a path needs at least 2 points, got {n}")
    dt = 1.0 / (n - 1)
    steps = path[..., 1:, :] - path[..., :-1, :]  # (B, n−1, D)
    midpoints = 0.5 * (path[..., 1:, :] + path[..., :-1, :])  # (B, n−1, D)
    sq_lengths = squared_lengths(geometry, midpoints, steps)  # (B, n−1) = Δᵀ A Δ
    if geometry.mode == "lagrangian":
        kinetic = 0.5 * sq_lengths.sum(-1) / dt  # Σ ½ (Δ/Δt)ᵀA(Δ/Δt) Δt
        return kinetic - geometry.potential(midpoints, anneal).sum(-1) * dt
    if geometry.mode == "sq_geodesic":
        length = torch.sqrt(sq_lengths.clamp_min(LENGTH_EPS)).sum(-1)  # (B,)
        return 0.5 * length**2
    raise ValueError(f"unknown geometry mode {geometry.mode!r}; expected one of {MODES}")


def straight_path(x: Tensor, y: Tensor, n_points: int) -> Tensor:
    """The chord (1−t)x + t y on t = linspace(0, 1, n): (B, D), (B, D) -> (B, n, D)."""
    t = torch.linspace(0.0, 1.0, n_points, dtype=x.dtype, device=x.device).view(1, -1, 1)  # (1, n, 1)
    return (1.0 - t) * x.unsqueeze(-2) + t * y.unsqueeze(-2)


def clip_to_bounds(geometry: Geometry, x: Tensor) -> Tensor:
    """Clamp points (..., D) to the geometry's box bounds (the original clips c-transform argmins)."""
    low = torch.tensor([b[0] for b in geometry.bounds], dtype=x.dtype, device=x.device)
    high = torch.tensor([b[1] for b in geometry.bounds], dtype=x.dtype, device=x.device)
    return torch.maximum(torch.minimum(x, high), low)


GEOMETRIES: dict[str, Callable[..., Geometry]] = {
    **obstacles.OBSTACLE_GEOMETRIES,  # euclidean (lagrangian), box, slit, hill, well, gmm, vneck, stunnel, babymaze
    **metrics.METRIC_GEOMETRIES,  # sq_euclidean, circle, vee, xpath, learned
}


def make_geometry(name: str, **kwargs: object) -> Geometry:
    """Build a registered geometry by name; kwargs go to its factory (e.g. M_end, temp_end, metric_eps)."""
    if name not in GEOMETRIES:
        raise KeyError(f"unknown geometry {name!r}; registered: {sorted(GEOMETRIES)}")
    return GEOMETRIES[name](**kwargs)
