"""The cubic top-k task of LODL (Shah et al., NeurIPS 2022), TaskMet's first experiment (paper §5.1, Fig. 2).

Each instance has n items with one feature x ~ U[−1, 1] and value y = 10(x³ − 0.65x); the decision picks
the k items of highest predicted value and earns the sum of their true values. A linear predictor cannot
fit the cubic; least squares gives slope −0.5 (docs/papers/taskmet.md, "Cubic known answers") and picks
the worst items, while any positive slope picks the best ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from .task import Split

__all__ = ["CubicTopK", "cubic_values", "illustration", "make_data", "make_task", "soft_topk", "hard_topk"]


def cubic_values(x: Tensor) -> Tensor:
    """y = 10(x³ − 0.65x), LODL's `CubicTopK` generator."""
    return 10.0 * (x.pow(3) - 0.65 * x)


def make_data(config: Mapping, seed: int) -> dict[str, Split]:
    """Train/val/test splits of ``config["n_train"|"n_val"|"n_test"]`` instances × ``n_items`` items.

    Features x ~ U[−1, 1] (I, n, 1) from one generator seeded with ``seed``: train and val are drawn
    together (LODL splits its train draw by val_frac), test after them.
    """
    n_items = int(config["n_items"])
    sizes = {name: int(config[f"n_{name}"]) for name in ("train", "val", "test")}
    gen = torch.Generator().manual_seed(int(seed))
    splits = {}
    for name, n_inst in sizes.items():
        x = 2.0 * torch.rand(n_inst, n_items, 1, generator=gen) - 1.0  # (I, n, 1)
        splits[name] = Split(x, cubic_values(x), {})
    return splits


def hard_topk(scores: Tensor, k: int) -> Tensor:
    """One-hot indicator of the k largest scores along the last axis: (B, n) -> (B, n)."""
    idx = scores.topk(k, dim=-1).indices
    return torch.zeros_like(scores).scatter_(-1, idx, 1.0)


def soft_topk(scores: Tensor, k: int, eps: float = 0.01, n_iters: int = 200) -> Tensor:
    """Entropic-OT soft top-k (Xie et al., NeurIPS 2020; LODL's `TopK_custom`): (B, n) -> (B, n) in [0, 1].

    The negated scores are transported to anchors {0, 1} with masses (k/n, (n−k)/n) under the squared
    cost divided by its max; item i's share of anchor 0, times n, is its soft selection. It sums to k
    and tends to the hard top-k as ε → 0. Log-domain Sinkhorn as core.sinkhorn.log_sinkhorn_plan,
    specialised to two anchors (a logaddexp over them, 2.2× faster; the test checks both agree), and
    differentiated by autograd through the unrolled iterations (LODL: a hand-written implicit backward;
    docs/papers/taskmet.md, deviations).
    """
    n = scores.shape[-1]
    anchors = torch.tensor([0.0, 1.0], dtype=scores.dtype, device=scores.device)
    cost = (-scores.unsqueeze(-1) - anchors) ** 2  # (B, n, 2)
    cost = cost / cost.amax(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(cost.dtype).tiny)
    K = -cost / eps  # (B, n, 2)
    log_mu = math.log(1.0 / n)
    log_nu = torch.tensor([k / n, (n - k) / n], dtype=scores.dtype, device=scores.device).log()  # (2,)
    log_v = torch.zeros_like(K[:, 0, :])  # (B, 2)
    log_u = torch.zeros_like(K[..., 0])  # (B, n)
    for _ in range(n_iters):
        log_u = log_mu - torch.logaddexp(K[..., 0] + log_v[:, :1], K[..., 1] + log_v[:, 1:])  # (B, n)
        log_v = log_nu - torch.logsumexp(K + log_u.unsqueeze(-1), dim=1)  # (B, 2)
    return n * (log_u + K[..., 0] + log_v[:, :1]).exp()


class CubicTopK:
    """Pick ``budget`` of the n items; g(z, y) = Σ_i z_i y_i (LODL `CubicTopK`, TaskMet §5.1)."""

    name = "cubic"
    output_dim = 1

    def __init__(self, budget: int = 1, eps: float = 0.01, sinkhorn_iters: int = 200):
        self.budget, self.eps, self.sinkhorn_iters = int(budget), float(eps), int(sinkhorn_iters)

    def decision_relaxed(self, y_hat: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
        """Soft top-k of the predictions (B, n, 1) -> (B, n, 1)."""
        return soft_topk(y_hat.squeeze(-1), self.budget, self.eps, self.sinkhorn_iters).unsqueeze(-1)

    def decision_hard(self, y_hat: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
        """Hard top-k of the predictions (B, n, 1) -> (B, n, 1) in {0, 1}."""
        return hard_topk(y_hat.squeeze(-1), self.budget).unsqueeze(-1)

    def objective(self, z: Tensor, y: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
        """Σ_i z_i y_i per instance (B,)."""
        return (z * y).sum(dim=(-2, -1))


def make_task(config: Mapping) -> CubicTopK:
    """The cubic task from ``config``: budget (k), sinkhorn_eps, sinkhorn_iters."""
    return CubicTopK(int(config["budget"]), float(config["sinkhorn_eps"]), int(config["sinkhorn_iters"]))


def illustration(predictor: torch.nn.Module, metric: torch.nn.Module | None, n_grid: int = 201) -> dict[str, list]:
    """The cubic figure's curves (TaskMet Fig. 2): on a grid of x in [−1, 1], the true y, the prediction and
    the learned scalar metric A_φ(x) (1 everywhere for MSE, whose metric is the identity)."""
    x = torch.linspace(-1.0, 1.0, n_grid).unsqueeze(-1)  # (G, 1)
    with torch.no_grad():
        y_hat = predictor(x).squeeze(-1)  # (G,)
        weight = torch.ones(n_grid) if metric is None else metric(x).reshape(n_grid)  # d = 1: A is 1 × 1
    return {
        "x": x.squeeze(-1).tolist(),
        "y": cubic_values(x).squeeze(-1).tolist(),
        "y_hat": y_hat.tolist(),
        "metric": weight.tolist(),
    }
