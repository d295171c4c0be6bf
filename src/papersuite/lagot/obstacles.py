"""Obstacle geometries: A = I and a barrier potential U with an annealing schedule (paper Figs. 1-2, Table 1).

The barriers are the NLSB (Koshizuka & Sato 2023) box, slit, hill and well and the GSB (Liu et al. 2022) GMM,
V-neck and S-tunnel, plus the original code's baby maze. U ≤ 0 inside an obstacle, so the action
∫ ½|γ̇|² − U dt pays M per unit time there. Barrier strengths M are the original code's values times
(n−1)² = 361 (n = 20 points), because the original's action has no Δt factors (geometry.py docstring,
docs/papers/lagot.md). The schedule moves (M, temp) from their start to their end values over the first
training steps with s = sigmoid(10(progress − ½)), snapped to 0 / 1 within 1e-3 of the ends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "ORIGINAL_TO_CONTINUOUS",
    "anneal_fraction",
    "annealed_barrier",
    "box_indicator",
    "BarrierGeometry",
    "OBSTACLE_GEOMETRIES",
]

ORIGINAL_TO_CONTINUOUS = 19.0**2  # (n−1)² for the original's n = 20 points: its U acts as 361·U in the action

BarrierFn = Callable[[Tensor, float, float], Tensor]  # (x (..., 2), M, temp) -> U (...)
BarrierGradFn = Callable[[Tensor, float, float], tuple[Tensor, Tensor]]  # -> U (...), ∇U (..., 2)


def anneal_fraction(progress: float) -> float:
    """Schedule value s ∈ [0, 1] at training progress ∈ [0, 1]: sigmoid(10(p − ½)), exact 0 / 1 near the ends."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"anneal progress must lie in [0, 1], got {progress}")
    if 1.0 - progress < 1e-3:
        return 1.0
    if progress < 1e-3:
        return 0.0
    return 1.0 / (1.0 + math.exp(-10.0 * (progress - 0.5)))


def annealed_barrier(
    progress: float, M_bounds: tuple[float, float], temp_bounds: tuple[float, float]
) -> tuple[float, float]:
    """(M, temp) at training progress: linear in the schedule value between (start, end) (the original's)."""
    s = anneal_fraction(progress)
    M = (1.0 - s) * M_bounds[0] + s * M_bounds[1]  # exact end values at s = 0 and s = 1
    temp = (1.0 - s) * temp_bounds[0] + s * temp_bounds[1]
    return M, temp


def _window(z: Tensor, low: float, high: float, temp: float) -> Tensor:
    """Smooth indicator of low < z < high: σ((z − low)/temp) − σ((z − high)/temp)."""
    return torch.sigmoid((z - low) / temp) - torch.sigmoid((z - high) / temp)


def _window_and_slope(z: Tensor, low: float, high: float, temp: float) -> tuple[Tensor, Tensor]:
    """The window W(z) and its derivative W'(z) = [σ_low(1 − σ_low) − σ_high(1 − σ_high)]/temp."""
    s_low, s_high = torch.sigmoid((z - low) / temp), torch.sigmoid((z - high) / temp)
    return s_low - s_high, (s_low * (1.0 - s_low) - s_high * (1.0 - s_high)) / temp


def box_indicator(x: Tensor, half_width: float) -> Tensor:
    """Hard indicator of the axis-aligned square [−w, w]² for points (..., 2) -> (...) bool (obstacle checks)."""
    return (x.abs() <= half_width).all(-1)


def _box(x: Tensor, M: float, temp: float) -> Tensor:
    """NLSB box: −M inside [−0.5, 0.5]²."""
    return -M * _window(x[..., 0], -0.5, 0.5, temp) * _window(x[..., 1], -0.5, 0.5, temp)


def _box_grad(x: Tensor, M: float, temp: float) -> tuple[Tensor, Tensor]:
    """U of `_box` and ∇U = −M (W₁'W₂, W₁W₂'): (..., 2) -> (...), (..., 2)."""
    w1, d1 = _window_and_slope(x[..., 0], -0.5, 0.5, temp)
    w2, d2 = _window_and_slope(x[..., 1], -0.5, 0.5, temp)
    return -M * w1 * w2, torch.stack([-M * d1 * w2, -M * w1 * d2], dim=-1)


def _slit(x: Tensor, M: float, temp: float) -> Tensor:
    """NLSB slit: a wall at |x₁| < 0.1 with an opening at |x₂| < 0.25 (−M on the wall)."""
    return M * _window(x[..., 0], -0.1, 0.1, temp) * (_window(x[..., 1], -0.25, 0.25, temp) - 1.0)


def _slit_grad(x: Tensor, M: float, temp: float) -> tuple[Tensor, Tensor]:
    """U of `_slit` and ∇U = M (W₁'(W₂ − 1), W₁W₂'): (..., 2) -> (...), (..., 2)."""
    w1, d1 = _window_and_slope(x[..., 0], -0.1, 0.1, temp)
    w2, d2 = _window_and_slope(x[..., 1], -0.25, 0.25, temp)
    return M * w1 * (w2 - 1.0), torch.stack([M * d1 * (w2 - 1.0), M * w1 * d2], dim=-1)


def _hill(x: Tensor, M: float, temp: float) -> Tensor:
    """NLSB hill: −M exp(−|x|²), a bump at the origin (temp unused)."""
    return -M * torch.exp(-(x**2).sum(-1))


def _well(x: Tensor, M: float, temp: float) -> Tensor:
    """NLSB well: −M|x|², the action pays M|x|² and paths are drawn to the origin (temp unused)."""
    return -M * (x**2).sum(-1)


def _gmm(x: Tensor, M: float, temp: float) -> Tensor:
    """GSB GMM: three discs of radius 1.5 at (6,6), (6,−6), (−6,−6)."""
    centers = torch.tensor([[6.0, 6.0], [6.0, -6.0], [-6.0, -6.0]], dtype=x.dtype, device=x.device)  # (3, 2)
    dist = torch.linalg.vector_norm(x.unsqueeze(-2) - centers, dim=-1)  # (..., 3)
    return -M * torch.sigmoid((1.5 - dist) / temp).sum(-1)


def _vneck(x: Tensor, M: float, temp: float) -> Tensor:
    """GSB V-neck: −M where 5x₁² − x₂² < −0.36 (two wedges above and below a neck at x₁ = 0)."""
    d = 5.0 * x[..., 0] ** 2 - x[..., 1] ** 2
    return -M * torch.sigmoid((-0.36 - d) / temp)


def _stunnel(x: Tensor, M: float, temp: float) -> Tensor:
    """GSB S-tunnel: two ellipses 20(x₁ − c₁)² + (x₂ − c₂)² < 90 at (5, 6) and (−5, −6)."""
    U = torch.zeros_like(x[..., 0])
    for c1, c2 in ((5.0, 6.0), (-5.0, -6.0)):
        d = 20.0 * (x[..., 0] - c1) ** 2 + (x[..., 1] - c2) ** 2
        U = U - M * torch.sigmoid((90.0 - d) / temp)
    return U


def _babymaze(x: Tensor, M: float, temp: float) -> Tensor:
    """The original code's baby maze: walls x₁ ∈ [−0.5,−0.3], x₂ < −0.15 and x₁ ∈ [0.3,0.5], x₂ > 0.15."""
    wall_low = _window(x[..., 0], -0.5, -0.3, temp) * (_window(x[..., 1], -1.99, -0.15, temp) - 1.0)
    wall_high = _window(x[..., 0], 0.3, 0.5, temp) * (_window(x[..., 1], 0.15, 1.99, temp) - 1.0)
    return M * (wall_low + wall_high)


def _zero(x: Tensor, M: float, temp: float) -> Tensor:
    """No potential: the Euclidean kinetic Lagrangian."""
    return torch.zeros_like(x[..., 0])


def _zero_grad(x: Tensor, M: float, temp: float) -> tuple[Tensor, Tensor]:
    """U = 0 and ∇U = 0: (..., 2) -> (...), (..., 2)."""
    return torch.zeros_like(x[..., 0]), torch.zeros_like(x)


@dataclass
class BarrierGeometry:
    """A = I, U = barrier(x; M, temp) with (M, temp) annealed from start to end values (paper Fig. 2 settings)."""

    name: str
    barrier: BarrierFn
    bounds: tuple[tuple[float, float], ...]
    M_bounds: tuple[float, float]
    temp_bounds: tuple[float, float]
    dim: int = 2
    mode: str = "lagrangian"
    barrier_grad: BarrierGradFn | None = None  # closed-form (U, ∇U); None: ∇U by autograd through `barrier`
    identity_metric = True  # A = I: amortizer.amortized_cost_and_grad's closed-form gradient applies

    def metric(self, x: Tensor) -> Tensor:
        """Identity metric: (..., D) -> (..., D, D)."""
        eye = torch.eye(self.dim, dtype=x.dtype, device=x.device)
        return eye.expand(*x.shape[:-1], self.dim, self.dim)

    def quadratic_form(self, x: Tensor, v: Tensor) -> Tensor:
        """vᵀA(x)v = |v|² for A = I: (..., D), (..., D) -> (...) (path_cost's closed form)."""
        return (v * v).sum(-1)

    def potential(self, x: Tensor, anneal: float = 1.0) -> Tensor:
        """U(x) at schedule progress anneal ∈ [0, 1]: (..., D) -> (...)."""
        M, temp = annealed_barrier(anneal, self.M_bounds, self.temp_bounds)
        return self.barrier(x, M, temp)

    def potential_and_grad(self, x: Tensor, anneal: float = 1.0) -> tuple[Tensor, Tensor]:
        """U(x) and ∇U(x), detached: (..., D) -> (...), (..., D) (closed form where the barrier has one)."""
        M, temp = annealed_barrier(anneal, self.M_bounds, self.temp_bounds)
        if self.barrier_grad is not None:
            return self.barrier_grad(x, M, temp)
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            value = self.barrier(xr, M, temp)
            (grad,) = torch.autograd.grad(value.sum(), xr)  # U is per point: the sum's gradient is ∇U at each
        return value.detach(), grad


# name: (barrier, half-width of the square bounds or per-dim bounds, original M_end, (temp_start, temp_end))
_SPECS: dict[str, tuple[BarrierFn, tuple[tuple[float, float], ...], float, tuple[float, float]]] = {
    "euclidean_lagrangian": (_zero, ((-2.0, 2.0),) * 2, 0.0, (0.1, 0.01)),
    "box": (_box, ((-1.5, 1.5),) * 2, 0.01, (0.1, 0.01)),
    "slit": (_slit, ((-1.5, 1.5),) * 2, 1.0, (0.1, 0.01)),
    "hill": (_hill, ((-2.0, 2.0),) * 2, 0.05, (0.1, 0.01)),
    "well": (_well, ((-2.0, 2.0),) * 2, 0.01, (0.1, 0.01)),
    "gmm": (_gmm, ((-20.0, 20.0),) * 2, 0.1, (1.0, 0.1)),
    "vneck": (_vneck, ((-10.0, 10.0), (-8.0, 8.0)), 0.1, (1.0, 0.1)),
    "stunnel": (_stunnel, ((-15.0, 15.0), (-7.5, 7.5)), 0.1, (1.0, 0.1)),
    "babymaze": (_babymaze, ((-2.0, 2.0),) * 2, 10.0, (0.1, 0.01)),
}


_BARRIER_GRADS: dict[str, BarrierGradFn] = {"euclidean_lagrangian": _zero_grad, "box": _box_grad, "slit": _slit_grad}


def _factory(name: str) -> Callable[..., BarrierGeometry]:
    """Factory for a named obstacle; M_end is in continuous units (default: original M_end × 361)."""
    barrier, bounds, original_M_end, temps = _SPECS[name]

    def build(
        M_end: float | None = None, temp_start: float | None = None, temp_end: float | None = None
    ) -> BarrierGeometry:
        M = original_M_end * ORIGINAL_TO_CONTINUOUS if M_end is None else float(M_end)
        temp_bounds = (temps[0] if temp_start is None else temp_start, temps[1] if temp_end is None else temp_end)
        return BarrierGeometry(name, barrier, bounds, (0.0, M), temp_bounds, barrier_grad=_BARRIER_GRADS.get(name))

    return build


OBSTACLE_GEOMETRIES: dict[str, Callable[..., BarrierGeometry]] = {name: _factory(name) for name in _SPECS}
