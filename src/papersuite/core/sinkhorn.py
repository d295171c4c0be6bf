"""Batched log-domain Sinkhorn and greedy rounding of a plan to a permutation (paper-independent).

Used by WFM's point-cloud matching (Haviv et al. 2025, point-cloud WFM; its public code: entropic OT with
ε = 0.002 after dividing the cost by its max, 200 log-domain iterations, then a rounded matching; see
docs/papers/wfm.md) and by any paper that needs an entropic plan in torch.

Zero weights mark padding: their log-weight is −∞, so their rows/columns of the plan are exactly zero, and
every update is guarded so that −∞ − (−∞) never produces NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["scale_cost", "log_sinkhorn", "log_sinkhorn_plan", "greedy_round"]

_NEG_INF = float("-inf")
_EXP_FLOOR = -87.0  # exp(-87) ≈ 1.6e-38, just above float32's smallest normal number


def scale_cost(cost: Tensor, a: Tensor, b: Tensor, scale: str | None = "max") -> Tensor:
    """cost (B,n,m) divided by its max over the real entries (a_i > 0 and b_j > 0) of each batch element
    (OTT's scale_cost="max_cost", restricted to the support so that padding cannot change the scale).
    scale=None returns the cost unchanged."""
    if scale is None:
        return cost
    if scale != "max":
        raise ValueError(f"scale must be 'max' or None, got {scale!r}")
    support = (a > 0).unsqueeze(-1) & (b > 0).unsqueeze(-2)  # (B, n, m)
    cmax = torch.where(support, cost, 0.0).amax(dim=(-2, -1), keepdim=True)
    # an all-zero cost (identical points) stays zero instead of 0/0
    return cost / torch.where(cmax > 0, cmax, 1.0)


def _safe_log(w: Tensor) -> Tensor:
    return torch.where(w > 0, torch.log(w.clamp_min(torch.finfo(w.dtype).tiny)), torch.full_like(w, _NEG_INF))


def _masked_lse(z: Tensor, support: Tensor | None, dim: int) -> Tensor:
    """log Σ exp(z) over `dim`, counting only `support` entries (others may be −∞); −∞ for an empty support.
    support=None: every entry counts and none is −∞ (the fast path without padding).

    exp of arguments below ≈ −87 takes a slow path in torch's CPU kernels (8× slower at ε = 0.002, where
    −C/ε reaches −500), so arguments are clamped at the float32 underflow limit first. That changes the sum by
    at most n·e^−87 relative to its largest term (≈1e−36): invisible in float32 and float64 alike."""
    zmax = z.amax(dim=dim, keepdim=True)
    if support is not None:  # a fully masked row has max −∞; shift it by 0 instead (its terms are zeroed below)
        zmax = torch.where(torch.isfinite(zmax), zmax, 0.0)
    terms = (z - zmax).clamp_min_(_EXP_FLOOR).exp_()
    if support is not None:
        terms = terms * support  # exact zeros off the support
    return terms.sum(dim=dim).log_().add_(zmax.squeeze(dim))


def log_sinkhorn_plan(
    cost: Tensor, a: Tensor, b: Tensor, eps: float, n_iters: int = 200, scale: str | None = None
) -> Tensor:
    """Log of the entropic OT plan: log P (B,n,m), −∞ on rows/columns of zero weight.

    Sinkhorn in the log domain (as WFM's code with `lse=True`): with K = −C/ε, alternate
    log u = log a − LSE_j(K_ij + log v_j) and log v = log b − LSE_i(K_ij + log u_i), starting from log v = 0,
    then log P_ij = log u_i + K_ij + log v_j. The last update is on v, so column sums equal b exactly and the
    row-sum error measures convergence. `scale="max"` first divides the cost by its max (see scale_cost)."""
    if cost.dim() != 3 or a.shape != cost.shape[:2] or b.shape != (cost.shape[0], cost.shape[2]):
        raise ValueError(f"shapes disagree: cost {tuple(cost.shape)}, a {tuple(a.shape)}, b {tuple(b.shape)}")
    if eps <= 0 or n_iters < 1:
        raise ValueError(f"need eps > 0 and n_iters >= 1, got eps={eps}, n_iters={n_iters}")
    cost = scale_cost(cost, a, b, scale)
    log_a, log_b = _safe_log(a), _safe_log(b)  # (B, n), (B, m)
    real_a, real_b = a > 0, b > 0
    support = real_a.unsqueeze(-1) & real_b.unsqueeze(-2)  # (B, n, m)
    # padding rows/columns are cut out of the kernel, so whatever cost sits there never matters
    K = (-cost / eps).masked_fill(~support, _NEG_INF)  # (B, n, m)
    log_u = torch.zeros_like(log_a)
    log_v = torch.where(real_b, torch.zeros_like(log_b), log_b)
    if bool(support.all()):  # no padding: plain updates
        for _ in range(n_iters):
            log_u = log_a - _masked_lse(K + log_v.unsqueeze(-2), None, -1)
            log_v = log_b - _masked_lse(K + log_u.unsqueeze(-1), None, -2)
    else:
        for _ in range(n_iters):
            # a row (column) of zero weight has LSE = −∞: keep it at −∞ explicitly instead of −∞ − (−∞)
            log_u = torch.where(real_a, log_a - _masked_lse(K + log_v.unsqueeze(-2), support, -1), log_a)
            log_v = torch.where(real_b, log_b - _masked_lse(K + log_u.unsqueeze(-1), support, -2), log_b)
    return log_u.unsqueeze(-1) + K + log_v.unsqueeze(-2)


def log_sinkhorn(
    cost: Tensor, a: Tensor, b: Tensor, eps: float, n_iters: int = 200, scale: str | None = None
) -> Tensor:
    """Entropic OT plan P (B,n,m) between weights a (B,n) and b (B,m) for cost (B,n,m), ε-regularised
    (ε = 0.002 with scale="max" is the WFM default, docs/papers/wfm.md). Zero weights get exactly zero mass."""
    return log_sinkhorn_plan(cost, a, b, eps, n_iters, scale).exp()


def greedy_round(plan: Tensor, mask: Tensor | None = None) -> Tensor:
    """Round a plan (B,n,n) to a permutation perm (B,n), i ↦ perm[i] (WFM's `rounded_matching`).

    Repeatedly take the global argmax entry of each batch element, assign its row to its column and blank both.
    Works on the plan or on its log (argmax is unchanged by a monotone map; the log does not underflow at small
    ε). `mask` (B,n), shared by rows and columns (both clouds have the same support): only real rows and columns
    are matched among themselves, and padding rows keep perm[i] = i, so perm is a permutation of range(n)."""
    if plan.dim() != 3 or plan.shape[1] != plan.shape[2]:
        raise ValueError(f"plan must be (B, n, n), got {tuple(plan.shape)}")
    B, n, _ = plan.shape
    if mask is None:
        mask = torch.ones(B, n, dtype=torch.bool, device=plan.device)
    mask = mask.bool()
    scores = plan.masked_fill(~(mask.unsqueeze(-1) & mask.unsqueeze(-2)), _NEG_INF).clone()  # (B, n, n)
    perm = torch.arange(n, device=plan.device).expand(B, n).clone()
    batch = torch.arange(B, device=plan.device)
    for _ in range(int(mask.sum(-1).max()) if n else 0):
        remaining = mask.sum(-1) > 0  # per batch element: any real row left?
        flat = scores.reshape(B, n * n).argmax(dim=-1)  # (B,)
        i, j = flat // n, flat % n
        b_act, i_act, j_act = batch[remaining], i[remaining], j[remaining]
        perm[b_act, i_act] = j_act
        scores[b_act, i_act, :] = _NEG_INF
        scores[b_act, :, j_act] = _NEG_INF
        mask = mask.clone()
        mask[b_act, i_act] = False
    return perm
