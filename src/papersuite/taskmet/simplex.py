"""Euclidean projections onto the simplex and the capped simplex, and unrolled accelerated projected gradient
ascent: the differentiable solvers of the budget-allocation and portfolio decisions (TaskMet §5.1, the LODL
decision layers; docs/papers/taskmet.md, "Budget allocation" and "Portfolio").

Every function is batched over leading dimensions and differentiable by autograd: the projections are
piecewise linear in their input, and their autograd Jacobian is the exact one on each piece.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["project_simplex", "project_capped_simplex", "accelerated_pga"]


def project_simplex(v: Tensor, radius: float = 1.0) -> Tensor:
    """argmin_{x ≥ 0, Σx = r} ‖x − v‖² by sorting (Duchi et al., ICML 2008, Fig. 1): (..., n) -> (..., n)."""
    n = v.shape[-1]
    u = v.sort(dim=-1, descending=True).values  # (..., n)
    cssv = u.cumsum(dim=-1) - radius  # (..., n)
    ranks = torch.arange(1, n + 1, dtype=v.dtype, device=v.device)
    support = (u - cssv / ranks) > 0  # (..., n), true on a prefix
    rho = support.sum(dim=-1, keepdim=True).clamp_min(1)  # (..., 1), size of the support
    theta = cssv.gather(-1, rho - 1) / rho.to(v.dtype)  # (..., 1), differentiable through cssv
    return (v - theta).clamp_min(0.0)


def _capped_threshold(v: Tensor, k: float) -> Tensor:
    """The τ with Σ_i clip(v_i − τ, 0, 1) = k, exactly, by the breakpoints {v_i, v_i − 1}: (..., n) -> (..., 1)."""
    breaks = torch.cat([v - 1.0, v], dim=-1).sort(dim=-1).values  # (..., 2n), ascending
    mass = (v.unsqueeze(-2) - breaks.unsqueeze(-1)).clamp(0.0, 1.0).sum(-1)  # (..., 2n), non-increasing
    # the last breakpoint with mass ≥ k; the next one has mass < k (mass = n at the first, 0 at the last)
    m = ((mass >= k).sum(dim=-1, keepdim=True) - 1).clamp(0, breaks.shape[-1] - 2)  # (..., 1)
    t0, t1 = breaks.gather(-1, m), breaks.gather(-1, m + 1)
    h0, h1 = mass.gather(-1, m), mass.gather(-1, m + 1)
    return t0 + (h0 - k) / (h0 - h1).clamp_min(torch.finfo(v.dtype).tiny) * (t1 - t0)  # mass is linear between


def project_capped_simplex(v: Tensor, k: float) -> Tensor:
    """argmin_{0 ≤ z ≤ 1, Σz = k} ‖z − v‖² (LODL's `_project`, Karimi et al. 2017): (..., n) -> (..., n).

    The threshold τ is found exactly with no gradient; the result is then rebuilt on its active set
    (free coordinates z = v − τ with τ = (Σ_free v + #upper − k)/#free, the others at 0 or 1), so that
    autograd gives the exact Jacobian of the projection.
    """
    if not 0 < k < v.shape[-1]:
        raise ValueError(f"capped simplex needs 0 < k < n; got k={k}, n={v.shape[-1]}")
    with torch.no_grad():
        z = (v - _capped_threshold(v, float(k))).clamp(0.0, 1.0)
        upper, free = z >= 1.0, (z > 0.0) & (z < 1.0)
    n_free = free.sum(dim=-1, keepdim=True)  # (..., 1)
    n_upper = upper.sum(dim=-1, keepdim=True).to(v.dtype)
    tau = ((v * free).sum(dim=-1, keepdim=True) + n_upper - k) / n_free.clamp_min(1).to(v.dtype)
    return torch.where(free, v - tau, upper.to(v.dtype))


def accelerated_pga(
    grad: Callable[[Tensor], Tensor],
    project: Callable[[Tensor], Tensor],
    z0: Tensor,
    step: Tensor | float,
    momentum: Tensor | float,
    n_steps: int,
) -> Tensor:
    """Projected gradient ascent with Nesterov momentum, unrolled so autograd differentiates through it.

    w_t = z_t + β(z_t − z_{t−1}),  z_{t+1} = Π(w_t + η ∇g(w_t)), z_{−1} = z_0 (LODL's `OptimiseSubmodular`
    forward pass). ``step`` η and ``momentum`` β are floats or tensors broadcastable to z.
    """
    z_prev, z = z0, z0
    for _ in range(n_steps):
        w = z + momentum * (z - z_prev)
        z_prev, z = z, project(w + step * grad(w))
    return z
