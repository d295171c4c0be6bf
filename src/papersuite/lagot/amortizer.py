"""Amortized spline geodesics: an MLP predicts the spline of the optimal path between x and y.

The amortizer φ maps (x, y) to spline parameters (K, D) and is trained to minimise the mean path cost of its
predicted paths over pairs (Adam, lr 1e-4, global-norm clip 1.0 in the original). The cost c(x, y) is the
cost of the predicted path with the parameters detached: by the envelope theorem (the path is a minimiser),
∇ₓc, ∇ᵧc and the gradient to a learned metric only need the explicit dependence through the chord and the
cost integrand; no gradient reaches φ from c.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import torch
from torch import Tensor, nn

from .geodesic import refine_paths
from .geometry import Geometry, path_cost
from .splines import spline_path

__all__ = [
    "SplineAmortizer",
    "amortized_cost",
    "amortized_cost_and_grad",
    "has_closed_form_cost_grad",
    "amortized_path",
    "make_amortizer_optimizer",
    "amortizer_step",
    "fit_amortizer",
    "refine_paths",
]

PairsSampler = Callable[[torch.Generator | None], tuple[Tensor, Tensor]]  # generator -> x (B, D), y (B, D)


class SplineAmortizer(nn.Module):
    """MLP (x, y) -> spline parameters (B, K, D): concat → [Linear, ReLU] × len(hidden) → Linear (SplineMLP)."""

    def __init__(self, dim: int = 2, n_params: int = 30, hidden: Sequence[int] = (1024, 1024)) -> None:
        super().__init__()
        self.dim = int(dim)
        self.n_params = int(n_params)
        layers: list[nn.Module] = []
        width = 2 * self.dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, self.n_params * self.dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """(B, D), (B, D) -> (B, K, D)."""
        out = self.net(torch.cat([x, y], dim=-1))  # (B, K·D)
        return out.reshape(*out.shape[:-1], self.n_params, self.dim)


def amortized_path(amortizer: SplineAmortizer, x: Tensor, y: Tensor, n_points: int = 20) -> Tensor:
    """Predicted path with detached spline parameters: (B, D), (B, D) -> (B, n, D); differentiable in x, y."""
    with torch.no_grad():
        params = amortizer(x.detach(), y.detach())  # (B, K, D)
    return spline_path(x, y, params, n_points)


def amortized_cost(
    geometry: Geometry, amortizer: SplineAmortizer, x: Tensor, y: Tensor, anneal: float = 1.0, n_points: int = 20
) -> Tensor:
    """c(x, y) ≈ cost of the amortizer's path, parameters detached (envelope theorem): (B,D),(B,D) -> (B,)."""
    return path_cost(geometry, amortized_path(amortizer, x, y, n_points), anneal)


def has_closed_form_cost_grad(geometry: Geometry) -> bool:
    """Whether `amortized_cost_and_grad` applies: a Lagrangian geometry with A = I and a `potential_and_grad`."""
    return (
        geometry.mode == "lagrangian"
        and bool(getattr(geometry, "identity_metric", False))
        and callable(getattr(geometry, "potential_and_grad", None))
    )


@lru_cache(maxsize=16)
def _segment_weights(n_points: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """∂Δⱼ/∂y = tⱼ₊₁ − tⱼ and ∂mⱼ/∂y = (tⱼ + tⱼ₊₁)/2 on t = linspace(0, 1, n) (the path's chord weights): (n−1,)."""
    t = torch.linspace(0.0, 1.0, n_points, dtype=dtype)
    return (t[1:] - t[:-1]).unsqueeze(-1), (0.5 * (t[1:] + t[:-1])).unsqueeze(-1)  # (n−1, 1) each


def amortized_cost_and_grad(
    geometry: Geometry, amortizer: SplineAmortizer, x: Tensor, y: Tensor, anneal: float = 1.0, n_points: int = 20
) -> tuple[Tensor, Tensor]:
    """`amortized_cost` (B,) and its gradient in y (B, D) in closed form, for A = I (has_closed_form_cost_grad).

    With the spline parameters detached the path depends on y only through the chord, pⱼ = (1 − tⱼ)x + tⱼy + sⱼ,
    so for c = Σⱼ ½|Δⱼ|²/Δt − U(mⱼ)Δt:  ∇ᵧc = Σⱼ (tⱼ₊₁ − tⱼ) Δⱼ/Δt − Δt (tⱼ + tⱼ₊₁)/2 ∇U(mⱼ). This is the gradient
    autograd takes through `amortized_cost` (to rounding; tests/lagot/test_lagot_amortizer.py), without its graph.
    """
    path = amortized_path(amortizer, x.detach(), y.detach(), n_points)  # (B, n, D)
    dt = 1.0 / (n_points - 1)
    steps = path[:, 1:] - path[:, :-1]  # (B, n−1, D)
    midpoints = 0.5 * (path[:, 1:] + path[:, :-1])  # (B, n−1, D)
    potential, potential_grad = geometry.potential_and_grad(midpoints, anneal)  # (B, n−1), (B, n−1, D)
    cost = 0.5 * (steps * steps).sum(-1).sum(-1) / dt - potential.sum(-1) * dt  # path_cost's formula, A = I
    w_step, w_mid = (w.to(device=y.device) for w in _segment_weights(n_points, y.dtype))
    grad = (w_step * steps).sum(1) / dt - (w_mid * potential_grad).sum(1) * dt  # (B, D)
    return cost, grad


def make_amortizer_optimizer(amortizer: SplineAmortizer, lr: float = 1e-4) -> torch.optim.Adam:
    """Adam on the amortizer's parameters (the original: optax adam 1e-4 after a global-norm clip of 1.0)."""
    return torch.optim.Adam(amortizer.parameters(), lr=lr)


def amortizer_step(
    geometry: Geometry,
    amortizer: SplineAmortizer,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    y: Tensor,
    anneal: float = 1.0,
    n_points: int = 20,
    grad_clip: float = 1.0,
) -> tuple[float, float]:
    """One Adam step on mean path cost of predicted paths for pairs (B, D), (B, D); returns (loss, grad norm)."""
    x, y = x.detach(), y.detach()
    params = list(amortizer.parameters())
    energy = path_cost(geometry, spline_path(x, y, amortizer(x, y), n_points), anneal).mean()
    grads = torch.autograd.grad(energy, params)  # only the amortizer: a learned metric's grads stay untouched
    grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = torch.clamp(grad_clip / (grad_norm + 1e-6), max=1.0)  # optax.clip_by_global_norm
    for p, g in zip(params, grads):
        p.grad = g * scale
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(energy.detach()), float(grad_norm)


def fit_amortizer(
    geometry: Geometry,
    amortizer: SplineAmortizer,
    pairs_sampler: PairsSampler,
    steps: int,
    lr: float = 1e-4,
    optimizer: torch.optim.Optimizer | None = None,
    anneal: float | Callable[[int], float] = 1.0,
    n_points: int = 20,
    grad_clip: float = 1.0,
    grad_tol: float | None = None,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Fit the amortizer on sampled pairs for up to `steps` Adam steps; returns the energy per step.

    pairs_sampler(generator) -> (x (B, D), y (B, D)). Pass `optimizer` to keep Adam's state across calls
    (pretraining, one step per dual iteration, periodic refits); otherwise a fresh Adam(lr) is made. With
    grad_tol, stop once an EMA (0.9) of the global gradient norm falls below it (the original's early stop,
    there over the first parameter leaf only). `anneal` is the barrier progress, or a function of the step.
    """
    if optimizer is None:
        optimizer = make_amortizer_optimizer(amortizer, lr)
    energies: list[float] = []
    ema: float | None = None
    for step in range(steps):
        x, y = pairs_sampler(generator)
        progress = anneal(step) if callable(anneal) else anneal
        energy, grad_norm = amortizer_step(geometry, amortizer, optimizer, x, y, progress, n_points, grad_clip)
        energies.append(energy)
        ema = grad_norm if ema is None else 0.9 * ema + 0.1 * grad_norm
        if grad_tol is not None and ema < grad_tol:
            break
    return energies
