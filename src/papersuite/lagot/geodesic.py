"""Per-pair spline geodesics by direct optimisation (the optional refinement; the original's SplineSolver).

The original refines each predicted spline with Adam under a cosine learning rate but disables it in both
configs (max_iter 0); here it is an option (`refine_paths`) and also a stand-alone solver of the true
geodesics (`solve_geodesics`, from the chord) that the snapshot generator and the tests use. Pairs are
independent, so the batch's summed cost is minimised: each pair's parameters get their own gradient.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .geometry import Geometry, path_cost
from .splines import spline_path

__all__ = ["refine_paths", "solve_geodesics"]


def refine_paths(
    geometry: Geometry,
    x: Tensor,
    y: Tensor,
    init_params: Tensor,
    steps: int,
    lr: float = 1e-2,
    n_points: int = 20,
    anneal: float = 1.0,
    grad_tol: float | None = 1e-5,
) -> Tensor:
    """Adam with cosine lr on spline parameters (B, K, D) from init_params; returns refined detached params.

    Stops early when the largest per-pair gradient norm falls below grad_tol (the original's tolerance 1e-5).
    Neither x, y nor the geometry receive gradient.
    """
    x, y = x.detach(), y.detach()
    params = init_params.detach().clone().requires_grad_(True)  # (B, K, D)
    optimizer = torch.optim.Adam([params], lr=lr)
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / max(steps, 1)))
        cost = path_cost(geometry, spline_path(x, y, params, n_points), anneal).sum()
        (grad,) = torch.autograd.grad(cost, [params])
        if grad_tol is not None and torch.linalg.vector_norm(grad.flatten(1), dim=1).max() < grad_tol:
            break
        params.grad = grad
        optimizer.step()
    return params.detach()


def solve_geodesics(
    geometry: Geometry,
    x: Tensor,
    y: Tensor,
    n_params: int = 10,
    steps: int = 500,
    lr: float = 1e-2,
    n_points: int = 20,
    anneal: float = 1.0,
    init_scale: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Geodesic splines for pairs (B, D), (B, D) by refining from the chord (plus init_scale noise, which
    breaks the symmetry of a chord that sits on a saddle, e.g. through the circle metric's centre).

    Returns (paths (B, n, D), costs (B,)), both detached.
    """
    noise = torch.randn(x.shape[0], n_params, x.shape[1], generator=generator, dtype=x.dtype)
    init = init_scale * noise.to(x.device)  # (B, K, D)
    params = refine_paths(geometry, x, y, init, steps, lr, n_points, anneal, grad_tol=None)
    path = spline_path(x.detach(), y.detach(), params, n_points)
    with torch.no_grad():
        cost = path_cost(geometry, path, anneal)
    return path, cost
