"""Riemannian metric geometries, cost ½ length² (the paper's metric learning; Scarvelis & Solomon 2023's metrics).

The Scarvelis metrics are A(x) = I − (1 − ε) v(x)v(x)ᵀ with a unit (or sub-unit) direction field v: motion
along v is cheap (ε = 1e-3), motion across it costs as in Euclidean space.
  circle: v = (−x₂, x₁)/max(|x|, 1e-6)       (tangent to circles around the origin)
  vee:    v = (1, sign x₂)/√2                   (the mass-split fan)
  xpath:  v = [a(1,1)/√2 + b(1,−1)/√2]/1.25, a = 1.25 tanh(relu(x₁x₂)), b = −1.25 tanh(relu(−x₁x₂))
The paper's learned metric is A(x) = R(θ)ᵀ diag(1, 0.1) R(θ) with θ = atan2 of a leaky-ReLU MLP's two
outputs: fixed eigenvalues, so the metric cannot collapse; only its eigen-directions are learned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = [
    "circle_field",
    "vee_field",
    "xpath_field",
    "MetricGeometry",
    "LearnedMetricGeometry",
    "METRIC_GEOMETRIES",
    "grid_points",
    "eigen_directions",
]

DIV_EPS = 1e-6  # floor under |x| in the circle field (the original's)


def circle_field(x: Tensor) -> Tensor:
    """Unit tangent of the circle through x: (..., 2) -> (..., 2)."""
    norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(DIV_EPS)
    return torch.stack([-x[..., 1], x[..., 0]], dim=-1) / norm


def vee_field(x: Tensor) -> Tensor:
    """Mass-split direction (1, sign x₂)/√2: (..., 2) -> (..., 2)."""
    return torch.stack([torch.ones_like(x[..., 0]), torch.sign(x[..., 1])], dim=-1) / math.sqrt(2.0)


def xpath_field(x: Tensor) -> Tensor:
    """X-paths direction: diagonal (1,1)/√2 where x₁x₂ > 0, anti-diagonal where x₁x₂ < 0, scaled by tanh."""
    prod = x[..., 0] * x[..., 1]
    a = torch.tanh(torch.relu(prod))  # 1.25·tanh(...)/1.25
    b = -torch.tanh(torch.relu(-prod))
    s = 1.0 / math.sqrt(2.0)
    return torch.stack([s * (a + b), s * (a - b)], dim=-1)


@dataclass
class MetricGeometry:
    """A(x) = I − (1 − ε) v vᵀ (I when field is None), sq-geodesic cost (the paper's Riemannian examples)."""

    name: str
    field: Callable[[Tensor], Tensor] | None
    bounds: tuple[tuple[float, float], ...]
    metric_eps: float = 1e-3
    dim: int = 2
    mode: str = "sq_geodesic"

    def metric(self, x: Tensor) -> Tensor:
        """A(x): (..., D) -> (..., D, D)."""
        eye = torch.eye(self.dim, dtype=x.dtype, device=x.device).expand(*x.shape[:-1], self.dim, self.dim)
        if self.field is None:
            return eye
        v = self.field(x)  # (..., D)
        return eye - (1.0 - self.metric_eps) * v.unsqueeze(-1) * v.unsqueeze(-2)

    def quadratic_form(self, x: Tensor, v: Tensor) -> Tensor:
        """vᵀA(x)v = |v|² − (1 − ε)(f(x)·v)²: (..., D), (..., D) -> (...) (path_cost's closed form)."""
        sq = (v * v).sum(-1)
        if self.field is None:
            return sq
        return sq - (1.0 - self.metric_eps) * (self.field(x) * v).sum(-1).pow(2)

    def potential(self, x: Tensor, anneal: float = 1.0) -> Tensor:
        """No potential for a Riemannian metric: (..., D) -> (...) zeros."""
        return torch.zeros_like(x[..., 0])


class LearnedMetricGeometry(nn.Module):
    """A_φ(x) = R(θ)ᵀ diag(1, λ_min) R(θ), θ = atan2(MLP_φ(x)) (NeuralNetMetric of the code)."""

    mode = "sq_geodesic"
    dim = 2

    def __init__(
        self,
        hidden: Sequence[int] = (128, 128),
        bounds: tuple[tuple[float, float], ...] = ((-2.0, 2.0), (-2.0, 2.0)),
        min_eigenvalue: float = 0.1,
        name: str = "learned",
    ) -> None:
        super().__init__()
        self.name = name
        self.bounds = tuple(tuple(float(v) for v in b) for b in bounds)
        self.min_eigenvalue = float(min_eigenvalue)
        layers: list[nn.Module] = []
        width = self.dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU()]
            width = h
        layers.append(nn.Linear(width, 2))
        self.net = nn.Sequential(*layers)

    def angle(self, x: Tensor) -> Tensor:
        """θ(x) = atan2(o₁, o₂) of the MLP's outputs (the original's arctan2(*out)): (..., 2) -> (...)."""
        out = self.net(x)  # (..., 2)
        return torch.atan2(out[..., 0], out[..., 1])

    def metric(self, x: Tensor) -> Tensor:
        """A(x) = Rᵀ diag(1, λ_min) R with R = [[cos θ, −sin θ], [sin θ, cos θ]]: (..., 2) -> (..., 2, 2)."""
        theta = self.angle(x)
        c, s = torch.cos(theta), torch.sin(theta)
        lam = self.min_eigenvalue
        # Rᵀ diag(1, λ) R = [[c² + λs², (λ − 1)cs], [(λ − 1)cs, s² + λc²]]
        off = (lam - 1.0) * c * s
        row0 = torch.stack([c * c + lam * s * s, off], dim=-1)
        row1 = torch.stack([off, s * s + lam * c * c], dim=-1)
        return torch.stack([row0, row1], dim=-2)

    def quadratic_form(self, x: Tensor, v: Tensor) -> Tensor:
        """vᵀA(x)v = |R v|² weighted by diag(1, λ): (c v₁ − s v₂)² + λ(s v₁ + c v₂)² (path_cost's closed form,
        without the (..., 2, 2) matrices): (..., 2), (..., 2) -> (...)."""
        theta = self.angle(x)
        c, s = torch.cos(theta), torch.sin(theta)
        v1, v2 = v[..., 0], v[..., 1]
        return (c * v1 - s * v2).pow(2) + self.min_eigenvalue * (s * v1 + c * v2).pow(2)

    def potential(self, x: Tensor, anneal: float = 1.0) -> Tensor:
        """No potential: (..., D) -> (...) zeros."""
        return torch.zeros_like(x[..., 0])


def grid_points(bounds: tuple[tuple[float, float], ...], n: int) -> Tensor:
    """An n × n grid over 2-D bounds, row-major (x₂ outer, x₁ inner): (n², 2) (alignment and quiver plots)."""
    axes = [torch.linspace(float(lo), float(hi), n, dtype=torch.float64) for lo, hi in bounds]
    x2, x1 = torch.meshgrid(axes[1], axes[0], indexing="ij")
    return torch.stack([x1.reshape(-1), x2.reshape(-1)], dim=-1)


def eigen_directions(geometry: MetricGeometry | LearnedMetricGeometry, points: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues (..., 2) ascending and unit eigenvectors (..., 2, 2) (columns) of A at points (..., 2)."""
    with torch.no_grad():
        return torch.linalg.eigh(geometry.metric(points))


def _metric_factory(
    name: str, field: Callable[[Tensor], Tensor] | None, bounds: tuple
) -> Callable[..., MetricGeometry]:
    """Factory for a fixed metric geometry; metric_eps is the cheap direction's eigenvalue ε."""

    def build(metric_eps: float = 1e-3) -> MetricGeometry:
        return MetricGeometry(name, field, bounds, float(metric_eps))

    return build


METRIC_GEOMETRIES: dict[str, Callable[..., MetricGeometry | LearnedMetricGeometry]] = {
    "euclidean": _metric_factory("euclidean", None, ((-2.0, 2.0),) * 2),
    "circle": _metric_factory("circle", circle_field, ((-1.5, 1.5),) * 2),
    "vee": _metric_factory("vee", vee_field, ((-2.5, 15.0), (-15.0, 15.0))),
    "xpath": _metric_factory("xpath", xpath_field, ((-1.5, 1.5),) * 2),
    "learned": LearnedMetricGeometry,
}
