"""The neural dual with amortized c-transforms (Pooladian et al., UAI 2024; docs/papers/lagot.md, "Method").

Dual:  max_g  E_α[g^c(X)] + E_β[g(Y)],  g^c(x) = min_y c(x, y) − g(y).
The argmin is amortized by ŷ_θ(x) and refined by L-BFGS (ctransform.py) to ŷ*(x), detached. Then
- dual loss  = −[mean_x (c(x, ŷ*) − g(ŷ*)) + mean_y g(y)]   (its gradient reaches g, and the cost's parameters
  when the caller asks for them: the metric-learning outer loss);
- regression amortization loss = mean ‖ŷ_θ(x) − ŷ*‖² over samples and coordinates (the authors' `.mean()`);
  its gradient reaches θ only.
The transport map is T(x) = ŷ*(x): an optimisation from ŷ_θ(x), never an ODE solve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .ctransform import Bounds, CostFn, CostGradFn, CTransformResult, solve_ctransform

__all__ = ["DualLosses", "dual_loss", "regression_amortization_loss", "refine_map", "nlot_losses", "transport_map"]

CTRANSFORM_DEFAULTS: dict[str, Any] = {
    "max_iter": 20,  # L-BFGS iterations per c-transform (the authors' maxiter)
    "tol": 1e-5,  # stop a sample when its gradient norm is below this
    "history": 10,  # curvature pairs kept per sample
    "max_linesearch": 20,  # backtracking trials per iteration
    "decrease": 0.66,  # step factor per failed trial (the authors' decrease_factor)
}


class DualLosses(NamedTuple):
    """Total loss, its dual part, its amortization part, and the dual objective's value (the OT-cost estimate)."""

    loss: Tensor
    dual_loss: Tensor
    amor_loss: Tensor
    dual_value: Tensor


def dual_loss(cost_at_argmin: Tensor, potential_at_argmin: Tensor, potential_at_target: Tensor) -> Tensor:
    """−[mean(c(x, ŷ*) − g(ŷ*)) + mean g(y)] from (B,), (B,), (B',) (the negated dual objective)."""
    return -((cost_at_argmin - potential_at_argmin).mean() + potential_at_target.mean())


def regression_amortization_loss(y_amortized: Tensor, y_refined: Tensor) -> Tensor:
    """mean ‖ŷ_θ(x) − ŷ*(x)‖² over (B, D) entries, with ŷ* detached (regression amortization)."""
    return (y_amortized - y_refined.detach()).pow(2).mean()


def refine_map(
    cost_fn: CostFn, potential: Callable[[Tensor], Tensor], y_amortized: Tensor, x: Tensor, bounds: Bounds, **solver
) -> CTransformResult:
    """ŷ*(x): L-BFGS on c(x, y) − g(y) from the amortized guess ŷ_θ(x) (B, D), clipped to bounds, detached."""
    return solve_ctransform(cost_fn, potential, x, y_amortized.detach(), bounds, **solver)


def transport_map(
    cost_fn: CostFn,
    potential: nn.Module,
    source_map: nn.Module,
    x: Tensor,
    bounds: Bounds,
    solver: Mapping[str, Any] | None = None,
    cost_and_grad: CostGradFn | None = None,
) -> Tensor:
    """T(x) = L-BFGS-refined argmin of c(x, ·) − g from ŷ_θ(x): (B, D) -> (B, D), detached; no ODE solver.
    cost_and_grad: the cost with its y-gradient in closed form, if the caller has it (solve_ctransform)."""
    with torch.no_grad():
        y0 = source_map(x)
    solver = {**CTRANSFORM_DEFAULTS, **(solver or {})}
    return refine_map(cost_fn, potential, y0, x, bounds, cost_and_grad=cost_and_grad, **solver).solution


def nlot_losses(
    cost_fn: CostFn,
    potential: nn.Module,
    source_map: nn.Module,
    x: Tensor,
    y: Tensor,
    bounds: Bounds,
    solver: Mapping[str, Any] | None = None,
    cost_grad: bool = False,
    cost_and_grad: CostGradFn | None = None,
) -> tuple[DualLosses, CTransformResult]:
    """The authors' `loss_fn`: refine ŷ_θ(x) to ŷ*, then dual + regression losses. With cost_grad=False the
    cost at ŷ* is evaluated without a graph (it carries no gradient to g or θ); True keeps it for an outer step
    on the cost's own parameters (metric learning). cost_and_grad: as in transport_map."""
    y_amortized = source_map(x)  # (B, D)
    solver = {**CTRANSFORM_DEFAULTS, **(solver or {})}
    refined = refine_map(cost_fn, potential, y_amortized, x, bounds, cost_and_grad=cost_and_grad, **solver)
    y_star = refined.solution  # (B, D) detached
    with torch.set_grad_enabled(cost_grad and torch.is_grad_enabled()):
        cost = cost_fn(x, y_star)  # (B,)
    d_loss = dual_loss(cost, potential(y_star), potential(y))
    a_loss = regression_amortization_loss(y_amortized, y_star)
    return DualLosses(d_loss + a_loss, d_loss, a_loss, -d_loss.detach()), refined
