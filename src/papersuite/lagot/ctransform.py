"""The c-transform g^c(x) = min_y c(x, y) − g(y) by batched L-BFGS refinement of an amortized guess (Pooladian et
al., UAI 2024, c-transform amortization; docs/papers/lagot.md, "c-transform").

Every sample i has its own problem min_y f_i(y) = c(x_i, clip(y)) − g(clip(y)), clip = the geometry's box bounds
(the authors' objective). The problems are independent, so one autograd pass over Σ_i f_i gives every per-sample
gradient (or, where the caller gives the cost's gradient in closed form, one autograd pass through g alone), and
each sample keeps its own curvature pairs (s, y), its own two-loop direction and its own backtracking line search
(Armijo, step ×0.66 per trial, as the authors' jaxopt `decrease_factor`; the backtracking trials are evaluated
without gradients, and the gradient is taken at the accepted step only). A sample stops when its
gradient norm is below `tol`, or when its line search fails to decrease f (it then keeps its last point).
The solution is clipped to the bounds and detached: gradients never flow through the solver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "CTransformResult",
    "clip_to_bounds",
    "clip_slope",
    "ctransform_objective",
    "ctransform_value_and_grad",
    "solve_ctransform",
    "half_sq_euclidean",
]

CostFn = Callable[[Tensor, Tensor], Tensor]  # (B, D), (B, D) -> (B,)
CostGradFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]  # (B, D), (B, D) -> c (B,), ∇ᵧc (B, D)
PotentialFn = Callable[[Tensor], Tensor]  # (B, D) -> (B,)
Bounds = Sequence[tuple[float, float]] | None
_ROUNDOFF = 8.0  # Armijo slack in ulps of |f|: near the optimum float32 cannot resolve the required decrease


class CTransformResult(NamedTuple):
    """Refined argmins ŷ* (B, D) (clipped, detached), their objective c(x, ŷ*) − g(ŷ*) (B,), iterations used (B,)."""

    solution: Tensor
    value: Tensor
    num_iter: Tensor


def half_sq_euclidean(x: Tensor, y: Tensor) -> Tensor:
    """The closed-form cost c(x, y) = ½|x − y|²: (B, D), (B, D) -> (B,)."""
    return 0.5 * (x - y).pow(2).sum(-1)


@lru_cache(maxsize=32)
def _bound_tensors(bounds: tuple[tuple[float, float], ...], dtype: torch.dtype, device: torch.device):
    """(low (D,), high (D,)) as tensors, cached: the solver clips at every evaluation (read-only)."""
    low = torch.tensor([b[0] for b in bounds], dtype=dtype, device=device)
    high = torch.tensor([b[1] for b in bounds], dtype=dtype, device=device)
    return low, high


def _bounds_like(bounds: Sequence[tuple[float, float]], y: Tensor) -> tuple[Tensor, Tensor]:
    """Low and high bounds (D,) in y's dtype and device."""
    key = tuple((float(lo), float(hi)) for lo, hi in bounds)
    return _bound_tensors(key, y.dtype, y.device)


def clip_to_bounds(y: Tensor, bounds: Bounds) -> Tensor:
    """Clamp each coordinate of y (..., D) to its (low, high) bounds; None leaves y unchanged."""
    if bounds is None:
        return y
    low, high = _bounds_like(bounds, y)  # (D,), (D,)
    return torch.maximum(torch.minimum(y, high), low)


def clip_slope(y: Tensor, bounds: Bounds) -> Tensor | None:
    """∂clip(y)/∂y per coordinate as autograd takes it through clip_to_bounds: 1 inside, 0 outside and ½ exactly on
    a bound (torch.minimum/maximum split a tie's gradient): (B, D), or None without bounds."""
    if bounds is None:
        return None
    low, high = _bounds_like(bounds, y)  # (D,), (D,)
    inside = ((y > low) & (y < high)).to(y.dtype)
    on_bound = ((y == low) | (y == high)).to(y.dtype)
    return inside + 0.5 * on_bound


def ctransform_value_and_grad(
    cost_and_grad: CostGradFn,
    potential: PotentialFn,
    x: Tensor,
    y: Tensor,
    bounds: Bounds,
    groups: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """f(y) = c(x, clip(y)) − g(clip(y)) (B,) and ∇f (B, D) from the cost's closed-form gradient: autograd runs
    through g alone (the same values as autograd through ctransform_objective, to rounding)."""
    y_clip = clip_to_bounds(y.detach(), bounds)
    cost, cost_grad = cost_and_grad(x, y_clip)  # (B,), (B, D)
    with torch.enable_grad():
        yg = y_clip.requires_grad_(True)
        g = potential(yg) if groups is None else potential(yg, groups)
        (g_grad,) = torch.autograd.grad(g.sum(), yg)
    grad = cost_grad - g_grad
    slope = clip_slope(y, bounds)
    return (cost - g).detach(), (grad if slope is None else grad * slope).detach()


def ctransform_objective(
    cost_fn: CostFn, potential: PotentialFn, x: Tensor, y: Tensor, bounds: Bounds, groups: Tensor | None = None
) -> Tensor:
    """f(y) = c(x, clip(y)) − g(clip(y)): (B, D), (B, D) -> (B,); with groups (B,), g is called as g(y, groups)
    (one potential per group, e.g. per snapshot pair in metric learning)."""
    y_clip = clip_to_bounds(y, bounds)
    g = potential(y_clip) if groups is None else potential(y_clip, groups)
    return cost_fn(x, y_clip) - g


def _value_and_grad(fn: Callable[[Tensor, Tensor], Tensor], idx: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample values (b,) and gradients (b, D) of fn(idx, y) at y (b, D), with no graph kept."""
    with torch.enable_grad():
        y = y.detach().requires_grad_(True)
        value = fn(idx, y)  # (b,)
        (grad,) = torch.autograd.grad(value.sum(), y)
    return value.detach(), grad.detach()


def _two_loop(grad: Tensor, s: Tensor, yk: Tensor, valid: Tensor) -> Tensor:
    """L-BFGS direction −H∇f per sample: grad (b, D), pairs s, yk (b, m, D) oldest first, valid (b, m)."""
    sy = (s * yk).sum(-1)  # (b, m)
    rho = torch.where(valid, 1.0 / torch.where(valid, sy, 1.0), 0.0)  # (b, m); 0 for empty slots
    q = grad.clone()
    alphas = []
    for i in range(s.shape[1] - 1, -1, -1):  # newest to oldest
        a = rho[:, i] * (s[:, i] * q).sum(-1)  # (b,)
        q = q - a[:, None] * yk[:, i]
        alphas.append(a)
    yy = (yk[:, -1] * yk[:, -1]).sum(-1)
    gamma = torch.where(valid[:, -1], sy[:, -1] / torch.where(valid[:, -1], yy, 1.0), 1.0)  # (b,) initial scale
    r = gamma[:, None] * q
    for i, a in zip(range(s.shape[1]), reversed(alphas), strict=True):  # oldest to newest
        beta = rho[:, i] * (yk[:, i] * r).sum(-1)
        r = r + (a - beta)[:, None] * s[:, i]
    return -r


def _armijo(f_trial: Tensor, f0: Tensor, step: Tensor, slope: Tensor, c1: float) -> Tensor:
    """Sufficient decrease f(y + t d) ≤ f(y) + c1 t ∇fᵀd, with a few ulps of slack (float32 near an optimum)."""
    slack = _ROUNDOFF * torch.finfo(f0.dtype).eps * (1.0 + f0.abs())
    return torch.isfinite(f_trial) & (f_trial <= f0 + c1 * step * slope + slack)


def _line_search(value_and_grad, value, idx, y, f0, g0, direction, max_trials: int, decrease: float, c1: float):
    """Backtracking Armijo search per sample, steps 1, decrease, decrease², ...: the unit step for every sample in
    one batched evaluation with gradients, then all remaining steps of the samples that failed it in a second one,
    values only (the first step that satisfies Armijo is taken), and the gradient at the accepted steps alone.
    Returns (accepted (b,), new y, new f, new grad)."""
    slope = (g0 * direction).sum(-1)  # (b,) < 0 for a descent direction
    f_new, g_new = value_and_grad(idx, y + direction)
    accepted = _armijo(f_new, f0, torch.ones_like(f0), slope, c1)
    y_new = torch.where(accepted[:, None], y + direction, y)
    f_new = torch.where(accepted, f_new, f0)
    g_new = torch.where(accepted[:, None], g_new, g0)
    todo = (~accepted).nonzero().squeeze(-1)  # (r,)
    if todo.numel() == 0 or max_trials < 2:
        return accepted, y_new, f_new, g_new
    steps = decrease ** torch.arange(1, max_trials, dtype=y.dtype, device=y.device)  # (k,)
    trial = y[todo, None] + steps[None, :, None] * direction[todo, None]  # (r, k, D)
    r, k, dim = trial.shape
    flat_idx, flat_trial = idx[todo].repeat_interleave(k), trial.reshape(r * k, dim)
    if value is None:  # gradients as cheap as values: every trial's in this one call
        f_t, g_t = value_and_grad(flat_idx, flat_trial)  # (r·k,), (r·k, D)
    else:  # values only, no graph for the rejected steps
        f_t, g_t = value(flat_idx, flat_trial), None
    ok = _armijo(f_t.view(r, k), f0[todo, None], steps[None, :], slope[todo, None], c1)  # (r, k)
    first = torch.where(ok.any(-1), ok.float().argmax(-1), -1)  # (r,) first acceptable step, −1: none
    hit = first >= 0
    rows, cols = todo[hit], first[hit]
    if rows.numel() == 0:
        return accepted, y_new, f_new, g_new
    pick = hit.nonzero().squeeze(-1) * k + cols  # flat index into (r·k)
    y_pick = trial.reshape(r * k, dim)[pick]  # (h, D)
    g_pick = g_t[pick] if g_t is not None else value_and_grad(idx[rows], y_pick)[1]  # where a step was taken
    y_new[rows], f_new[rows], g_new[rows] = y_pick, f_t[pick], g_pick
    accepted[rows] = True
    return accepted, y_new, f_new, g_new


def solve_ctransform(
    cost_fn: CostFn,
    potential: PotentialFn,
    x: Tensor,
    y_init: Tensor,
    bounds: Bounds = None,
    max_iter: int = 20,
    tol: float = 1e-5,
    history: int = 10,
    max_linesearch: int = 20,
    decrease: float = 0.66,
    armijo: float = 1e-4,
    groups: Tensor | None = None,
    cost_and_grad: CostGradFn | None = None,
) -> CTransformResult:
    """argmin_y c(x, y) − g(y) per sample from y_init (B, D) by batched L-BFGS (the authors' LBFGS:
    maxiter 20, tol 1e-5, backtracking with decrease factor 0.66). max_iter = 0 returns clip(y_init).
    groups (B,) long: sample i uses the potential g(·, groups[i]) (many transport problems in one batch).
    cost_and_grad(x, y) -> (c, ∇ᵧc), the same cost as cost_fn with its gradient in closed form, replaces autograd
    through the cost (the gradient of g is still autograd's)."""
    x, y = x.detach(), y_init.detach().clone()
    batch, dim = y.shape

    def fn(idx: Tensor, y_sub: Tensor) -> Tensor:
        return ctransform_objective(cost_fn, potential, x[idx], y_sub, bounds, None if groups is None else groups[idx])

    def value(idx: Tensor, y_sub: Tensor) -> Tensor:
        with torch.no_grad():
            return fn(idx, y_sub)

    def value_and_grad(idx: Tensor, y_sub: Tensor) -> tuple[Tensor, Tensor]:
        if cost_and_grad is None:
            return _value_and_grad(fn, idx, y_sub)
        sub_groups = None if groups is None else groups[idx]
        return ctransform_value_and_grad(cost_and_grad, potential, x[idx], y_sub, bounds, sub_groups)

    # Backtracking trials: values alone where the gradient costs an autograd pass through the cost, else with it.
    trial_values = value if cost_and_grad is None else None
    all_idx = torch.arange(batch, device=y.device)
    f, g = value_and_grad(all_idx, y)
    s_hist = y.new_zeros(batch, history, dim)
    y_hist = y.new_zeros(batch, history, dim)
    valid = torch.zeros(batch, history, dtype=torch.bool, device=y.device)
    active = g.norm(dim=-1) > tol  # (B,)
    num_iter = torch.zeros(batch, dtype=torch.long, device=y.device)
    for it in range(max_iter):
        filled = max(1, min(it, history))  # slots that can hold a pair after `it` iterations (≥ 1: gamma's slot)
        idx = active.nonzero().squeeze(-1)
        if idx.numel() == 0:
            break
        # Pairs enter at the newest slot, so at most `filled` newest slots hold any: the older, empty ones add
        # exactly 0 to the two-loop recursion, which then skips them.
        direction = _two_loop(g[idx], s_hist[idx, -filled:], y_hist[idx, -filled:], valid[idx, -filled:])
        descent = (direction * g[idx]).sum(-1) < 0
        direction = torch.where(descent[:, None], direction, -g[idx])  # reset to steepest descent
        ok, y_n, f_n, g_n = _line_search(
            value_and_grad, trial_values, idx, y[idx], f[idx], g[idx], direction, max_linesearch, decrease, armijo
        )
        step_s, step_y = y_n - y[idx], g_n - g[idx]
        keep_pair = ok & ((step_s * step_y).sum(-1) > 1e-10)  # curvature condition for a positive-definite H
        shifted_s = torch.cat([s_hist[idx, 1:], step_s[:, None]], dim=1)
        shifted_y = torch.cat([y_hist[idx, 1:], step_y[:, None]], dim=1)
        shifted_v = torch.cat([valid[idx, 1:], keep_pair[:, None]], dim=1)
        s_hist[idx] = torch.where(keep_pair[:, None, None], shifted_s, s_hist[idx])
        y_hist[idx] = torch.where(keep_pair[:, None, None], shifted_y, y_hist[idx])
        valid[idx] = torch.where(keep_pair[:, None], shifted_v, valid[idx])
        y[idx], f[idx], g[idx] = y_n, f_n, g_n
        num_iter[idx] += 1
        active[idx] = ok & (g_n.norm(dim=-1) > tol)
    solution = clip_to_bounds(y, bounds).detach()
    return CTransformResult(solution, f.detach(), num_iter)
