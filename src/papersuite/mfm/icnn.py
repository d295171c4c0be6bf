"""The ICNN / CellOT baseline (Bunne et al., Nature Methods 2023, as run by Atanackovic et al., ICLR 2025;
docs/papers/mfm.md, "Baselines"): two input-convex networks f, g; the map is T(x) = ∇g(x).

Minimax of the dual (Makkuva et al. 2020): n_inner steps of g on f(∇g(x)) − ⟨x, ∇g(x)⟩ (+ a Frobenius penalty on
g's negative hidden weights), then one step of f on f(y) − f(∇g(x)), after which f's hidden weights are clamped at
0. CellOT's settings: hidden 4 × 64, weights U(0, 0.1), zero biases, Adam lr 1e-4, β = (0.5, 0.9), 10 inner steps,
penalty 1. One pair (f, g) is trained on minibatches of all training populations, unconditioned, as in the paper.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from papersuite.core.checkpoint import TrainingCheckpoints, data_digest
from papersuite.core.runtime import seed_everything

from .populations import Population, sample_batch

__all__ = ["ICNN", "ICNN_DEFAULTS", "train_icnn", "icnn_transport"]

ICNN_DEFAULTS = {
    "hidden": [64, 64, 64, 64],
    "steps": 100_000,
    "n_inner": 10,
    "n_points": 1024,
    "lr": 1e-4,
    "betas": [0.5, 0.9],
    "fnorm_penalty": 1.0,
    "init_high": 0.1,
    "ckpt_every": 0,
}


class ICNN(nn.Module):
    """Input-convex network x (n, D) → (n,): z1 = leaky(A0 x)², z_{l+1} = leaky(W_l z_l + A_l x), out W z + A x."""

    def __init__(self, dim: int, hidden: list[int], init_high: float):
        super().__init__()
        units = [*hidden, 1]
        self.W = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(units[:-1], units[1:]))
        self.A = nn.ModuleList(nn.Linear(dim, u) for u in units)
        for layer in [*self.W, *self.A]:
            nn.init.uniform_(layer.weight, 0.0, init_high)
        for layer in self.A:
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        z = F.leaky_relu(self.A[0](x), 0.2) ** 2
        for W, A in zip(self.W[:-1], self.A[1:-1]):
            z = F.leaky_relu(W(z) + A(x), 0.2)
        return (self.W[-1](z) + self.A[-1](x)).squeeze(-1)

    def transport(self, x: Tensor, create_graph: bool = False) -> Tensor:
        """∇_x of the network at x (n, D): the map T(x) (n, D)."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self(x).sum(), x, create_graph=create_graph)
        return grad

    def negative_weight_penalty(self) -> Tensor:
        """Σ_l ‖relu(−W_l)‖_F: how far the hidden weights are from the convexity constraint."""
        return sum(F.relu(-W.weight).norm() for W in self.W)


def train_icnn(
    populations: list[Population],
    params: dict | None,
    seed: int,
    ckpt_dir: str | Path | None = None,
    device: torch.device | str = "cpu",
) -> tuple[ICNN, list[float]]:
    """Train (f, g) on the training populations; returns g (its gradient is the map) and the per-step f losses."""
    p = {**ICNN_DEFAULTS, **(params or {})}
    seed_everything(seed)
    dim = populations[0].source.shape[-1]
    f, g = ICNN(dim, p["hidden"], p["init_high"]).to(device), ICNN(dim, p["hidden"], p["init_high"]).to(device)
    opt_f = torch.optim.Adam(f.parameters(), lr=p["lr"], betas=tuple(p["betas"]))
    opt_g = torch.optim.Adam(g.parameters(), lr=p["lr"], betas=tuple(p["betas"]))
    digest = data_digest(*[t for pop in populations for t in (pop.source, pop.target)])
    run = TrainingCheckpoints(ckpt_dir, {"train": p, "seed": seed, "data": digest, "model": "icnn"}, p["ckpt_every"])
    ckpt, start, losses = run.resume(), 0, []
    if ckpt is not None:
        for obj, key in ((f, "f"), (g, "g"), (opt_f, "opt_f"), (opt_g, "opt_g")):
            obj.load_state_dict(ckpt[key])
        start, losses = int(ckpt["step"]), [float(v) for v in ckpt["losses"].tolist()]
    for step in range(start, p["steps"]):
        batch = sample_batch(populations, 1, p["n_points"], "independent").to(device)
        x, y = batch.x0[0], batch.x1[0]  # (n, D) each
        for _ in range(p["n_inner"]):
            tx = g.transport(x, create_graph=True)
            loss_g = (f(tx) - (x * tx).sum(-1)).mean() + p["fnorm_penalty"] * g.negative_weight_penalty()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
        loss_f = (f(y) - f(g.transport(x))).mean()
        opt_f.zero_grad(set_to_none=True)
        loss_f.backward()
        opt_f.step()
        with torch.no_grad():
            for W in f.W:
                W.weight.clamp_(min=0.0)
        losses.append(loss_f.item())
        if run.due(step + 1, p["steps"]):
            state = {"f": f.state_dict(), "g": g.state_dict(), "opt_f": opt_f.state_dict(), "opt_g": opt_g.state_dict()}
            run.save(step + 1, {**state, "losses": torch.tensor(losses, dtype=torch.float64)})
    return g, losses


def icnn_transport(g: ICNN, population: Population) -> Tensor:
    """The ICNN prediction ∇g(x) (n0, D) of a population's target from its source."""
    device = next(g.parameters()).device
    return g.transport(population.source.to(device)).detach().cpu()
